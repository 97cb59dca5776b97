#pragma once
// The training loop's view of a model's Mixture-of-Experts layers: their aux losses,
// their statistics summed over an epoch, the metrics.csv columns and the per-epoch
// files in the run directory. With no MoE layer in the model it does nothing.
#include <string>
#include <utility>
#include <vector>

#include "apps/common/train_config.h"
#include "engine/nn/moe/moe_layer.h"

namespace engine::metrics {
class EventFileBuilder;
}

namespace engine::app {

nn::moe::MoEOptions moe_options(const TrainConfig::Moe& m);

class MoeTracker {
 public:
  explicit MoeTracker(nn::Module& model);
  bool active() const { return !layers_.empty(); }
  const std::vector<std::pair<std::string, nn::moe::MoELayer*>>& layers() const { return layers_; }

  // The labels [N] of the next training batch, for the expert x class counts.
  void set_labels(const Tensor& labels, int64_t num_classes);
  void clear_labels();
  // The sum of the layers' weighted aux losses from the last forward pass (a scalar in
  // the graph), or undefined without MoE layers.
  Variable aux_loss() const;
  void start_epoch();
  // After a training step: adds each layer's statistics and the aux loss value.
  void record_step(double aux_value);

  // Columns appended to metrics.csv, and their values for the epoch so far:
  // moe_aux_loss (the weighted aux loss added to the task loss, summed over layers, mean
  // over steps), moe_lb_loss and moe_z_loss (unweighted, mean over layers and steps),
  // moe_max_expert_frac (the largest expert token fraction of any layer),
  // moe_utilisation (exp(entropy of the token fractions) / E, mean over layers),
  // moe_dropped_frac (dropped slots / all slots, all layers), moe_gate_entropy and
  // moe_top1_prob (mean over tokens, then over layers).
  static const std::vector<std::string>& metric_columns();
  // metric_columns(), then for each group of tokens the layers keep apart (the multimodal
  // model's "image" and "text"): moe_<group>_utilisation and moe_<group>_gate_entropy,
  // over that group's tokens (means over the layers). epoch_metrics() in that order.
  std::vector<std::string> columns() const;
  std::vector<std::string> group_names() const;  // in the order first seen
  std::vector<double> epoch_metrics() const;
  const std::vector<nn::moe::MoEStats>& epoch_stats() const { return epoch_; }

  // The epoch's files, which the run directory publishes with the epoch:
  // moe_expert_class_epoch<N>.csv (layer,expert,class_0..: slots routed per expert and
  // label) and a row per layer for moe_layers.csv (per-expert token fractions).
  std::string expert_class_csv() const;
  static const std::string& layers_csv_header();
  std::string layers_csv_rows(int64_t epoch) const;
  // The epoch's TensorBoard values per layer (tags moe/<layer>/<metric>, with <layer> the
  // placement name, e.g. layer3): the metrics as scalars, tokens per expert as the
  // expert_load histogram and the expert x class heatmap as the expert_class image.
  void add_epoch_events(metrics::EventFileBuilder& events, const std::vector<std::string>& class_names) const;
  // Parameters one token uses: total minus the (E - k) unchosen experts of every layer.
  int64_t active_parameters(int64_t total) const;
  // Lines for the start of the run: per layer its experts, sizes and FLOPs per token.
  std::string summary(int64_t total_params) const;

 private:
  std::vector<std::pair<std::string, nn::moe::MoELayer*>> layers_;
  std::vector<nn::moe::MoEStats> epoch_;
  double aux_sum_ = 0;
  int64_t steps_ = 0;
};

}  // namespace engine::app
