#include "apps/common/moe_tracker.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "apps/common/run_plots.h"
#include "metrics/plot/charts.h"
#include "metrics/tfevents.h"

namespace engine::app {
namespace {

std::string capacity_text(bool limited, double factor) {
  std::ostringstream o;
  if (limited)
    o << "capacity factor " << factor;
  else
    o << "dropless";
  return o.str();
}

}  // namespace

nn::moe::MoEOptions moe_options(const TrainConfig::Moe& m) {
  nn::moe::MoEOptions o;
  o.num_experts = m.num_experts;
  o.top_k = m.top_k;
  o.router.kind = m.router == "attentive" ? nn::moe::RouterKind::Attentive : nn::moe::RouterKind::Linear;
  o.router.noisy = m.noisy;
  o.router.learned_noise = m.learned_noise;
  o.router.noise_std = m.noise_std;
  o.router.temperature = m.temperature;
  o.router.renormalize = m.renormalize;
  o.router_dim = m.router_dim;
  o.capacity_factor = m.capacity_factor;
  o.drop_tokens = m.drop_tokens;
  o.eval_capacity_factor = m.eval_capacity_factor;
  o.drop_priority = m.drop_priority == "order" ? nn::moe::DropPriority::Order : nn::moe::DropPriority::Probability;
  o.activation = m.activation == "gelu" ? nn::moe::ExpertActivation::Gelu : nn::moe::ExpertActivation::Relu;
  o.lb_coef = m.lb_coef;
  o.z_coef = m.z_coef;
  o.importance_coef = m.importance_coef;
  return o;
}

MoeTracker::MoeTracker(nn::Module& model) : layers_(nn::moe::find_moe_layers(model)) { start_epoch(); }

void MoeTracker::set_labels(const Tensor& labels, int64_t num_classes) {
  for (auto& [name, l] : layers_) l->set_labels(labels, num_classes);
}

void MoeTracker::clear_labels() {
  for (auto& [name, l] : layers_) l->set_labels(Tensor(), 0);
}

Variable MoeTracker::aux_loss() const {
  Variable sum;
  for (const auto& [name, l] : layers_) sum = sum.defined() ? ag::add(sum, l->aux_loss()) : l->aux_loss();
  return sum;
}

void MoeTracker::start_epoch() {
  epoch_.assign(layers_.size(), nn::moe::MoEStats{});
  aux_sum_ = 0;
  steps_ = 0;
}

void MoeTracker::record_step(double aux_value) {
  for (size_t i = 0; i < layers_.size(); ++i) epoch_[i].add(layers_[i].second->last_stats());
  aux_sum_ += aux_value;
  ++steps_;
}

const std::vector<std::string>& MoeTracker::metric_columns() {
  static const std::vector<std::string> cols = {"moe_aux_loss",        "moe_lb_loss",     "moe_z_loss",
                                                "moe_max_expert_frac", "moe_utilisation", "moe_dropped_frac",
                                                "moe_gate_entropy",    "moe_top1_prob"};
  return cols;
}

std::vector<double> MoeTracker::epoch_metrics() const {
  double lb = 0, z = 0, max_frac = 0, util = 0, entropy = 0, top1 = 0, dropped = 0, slots = 0;
  for (const auto& s : epoch_) {
    lb += s.lb_loss();
    z += s.z_loss();
    max_frac = std::max(max_frac, s.max_token_fraction());
    util += s.utilisation();
    entropy += s.gate_entropy();
    top1 += s.mean_top1();
    dropped += double(s.dropped);
    slots += double(s.slots);
  }
  double n = double(std::max<size_t>(epoch_.size(), 1));
  std::vector<double> v = {steps_ > 0 ? aux_sum_ / double(steps_) : 0.0,
                           lb / n,
                           z / n,
                           max_frac,
                           util / n,
                           slots > 0 ? dropped / slots : 0.0,
                           entropy / n,
                           top1 / n};
  // Per token group: the means over the layers that keep that group.
  for (const std::string& g : group_names()) {
    double u = 0, h = 0, layers = 0;
    for (const auto& s : epoch_)
      for (size_t i = 0; i < s.group_names.size(); ++i)
        if (s.group_names[i] == g) {
          u += s.group_utilisation(i);
          h += s.group_gate_entropy(i);
          layers += 1;
        }
    v.push_back(layers > 0 ? u / layers : NAN);
    v.push_back(layers > 0 ? h / layers : NAN);
  }
  return v;
}

std::vector<std::string> MoeTracker::group_names() const {
  std::vector<std::string> names;
  for (const auto& s : epoch_)
    for (const std::string& g : s.group_names)
      if (std::find(names.begin(), names.end(), g) == names.end()) names.push_back(g);
  return names;
}

std::vector<std::string> MoeTracker::columns() const {
  std::vector<std::string> cols = metric_columns();
  for (const std::string& g : group_names()) {
    cols.push_back("moe_" + g + "_utilisation");
    cols.push_back("moe_" + g + "_gate_entropy");
  }
  return cols;
}

std::string MoeTracker::expert_class_csv() const {
  int64_t classes = 0;
  for (const auto& s : epoch_) classes = std::max(classes, s.num_classes);
  std::ostringstream t;
  t << "layer,expert";
  for (int64_t c = 0; c < classes; ++c) t << ",class_" << c;
  t << "\n";
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& s = epoch_[i];
    for (size_t e = 0; e < s.counts.size(); ++e) {
      t << layers_[i].first << "," << e;
      for (int64_t c = 0; c < classes; ++c)
        t << "," << (s.num_classes == classes ? s.expert_class[e * size_t(classes) + size_t(c)] : 0);
      t << "\n";
    }
  }
  return t.str();
}

const std::string& MoeTracker::layers_csv_header() {
  static const std::string header =
      "epoch,layer,experts,lb_loss,z_loss,importance_loss,max_expert_frac,utilisation,dropped_frac,gate_entropy,"
      "top1_prob,expert_fracs\n";
  return header;
}

std::string MoeTracker::layers_csv_rows(int64_t epoch) const {
  std::ostringstream f;
  f << std::setprecision(6);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& s = epoch_[i];
    f << epoch << "," << layers_[i].first << "," << s.counts.size() << "," << s.lb_loss() << "," << s.z_loss() << ","
      << s.importance_loss() << "," << s.max_token_fraction() << "," << s.utilisation() << "," << s.dropped_fraction()
      << "," << s.gate_entropy() << "," << s.mean_top1() << ",";
    // The per-expert fractions in one cell, so that the column count stays fixed.
    for (size_t e = 0; e < s.counts.size(); ++e) f << (e ? " " : "") << s.token_fraction(int64_t(e));
    f << "\n";
  }
  return f.str();
}

void MoeTracker::add_epoch_events(metrics::EventFileBuilder& events,
                                  const std::vector<std::string>& class_names) const {
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& s = epoch_[i];
    std::string tag = "moe/" + short_layer_name(layers_[i].first) + "/";
    for (const auto& [name, v] :
         std::vector<std::pair<const char*, double>>{{"lb_loss", s.lb_loss()},
                                                     {"z_loss", s.z_loss()},
                                                     {"importance_loss", s.importance_loss()},
                                                     {"max_expert_frac", s.max_token_fraction()},
                                                     {"utilisation", s.utilisation()},
                                                     {"dropped_frac", s.dropped_fraction()},
                                                     {"gate_entropy", s.gate_entropy()},
                                                     {"top1_prob", s.mean_top1()}})
      if (std::isfinite(v)) events.add_scalar(tag + name, v);
    std::vector<double> load(s.counts.begin(), s.counts.end());
    if (!load.empty()) events.add_histogram(tag + "expert_load", metrics::Histogram::per_index(load));
    if (s.num_classes <= 0 || s.counts.empty()) continue;
    std::vector<std::vector<double>> table(s.counts.size(), std::vector<double>(size_t(s.num_classes)));
    for (size_t e = 0; e < s.counts.size(); ++e)
      for (int64_t c = 0; c < s.num_classes; ++c)
        table[e][size_t(c)] = double(s.expert_class[e * size_t(s.num_classes) + size_t(c)]);
    events.add_image(
        tag + "expert_class",
        expert_class_heatmap(table, class_names, short_layer_name(layers_[i].first) + ": experts x classes").canvas);
  }
}

int64_t MoeTracker::active_parameters(int64_t total) const {
  for (const auto& [name, l] : layers_) total -= l->inactive_parameters();
  return total;
}

std::string MoeTracker::summary(int64_t total_params) const {
  std::ostringstream o;
  int64_t active = active_parameters(total_params);
  o << "  mixture of experts: " << total_params << " parameters, " << active << " active per token (" << std::fixed
    << std::setprecision(1) << 100.0 * double(active) / double(std::max<int64_t>(total_params, 1)) << "%)";
  for (const auto& [name, l] : layers_) {
    const auto& m = l->options();
    o << "\n  " << name << ": " << m.num_experts << " experts " << m.dim << "->" << m.hidden << "->" << m.dim
      << ", top-" << m.top_k << ", " << (m.router.kind == nn::moe::RouterKind::Linear ? "linear" : "attentive")
      << " router" << (m.router.noisy ? ", noisy" : "") << ", " << capacity_text(m.drop_tokens, m.capacity_factor)
      << " (evaluation " << capacity_text(bool(m.eval_capacity_factor), m.eval_capacity_factor.value_or(0)) << "); "
      << l->expert_parameters() << " parameters per expert, " << l->flops_per_token() << " FLOPs per token";
  }
  return o.str();
}

}  // namespace engine::app
