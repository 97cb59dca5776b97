#pragma once
// A mixture-of-experts layer on tokens [T, C]: route (router.h), dispatch the kept
// slots into one expert-contiguous buffer (ops::moe_route), run each expert's MLP
// C -> H -> C as grouped GEMMs over that buffer, and combine: the expert outputs,
// scaled by their combine weights, are scatter-added back to their tokens. A dropped
// slot contributes zero (the surrounding residual connection carries its token).
//
// Parameter names (state_dict, under the layer's prefix):
//   router.weight [E, C]                         linear router
//   router.query [d, C], router.keys [E, d]      attentive router
//   router.noise [E, C]                          learned noise scale (noisy + learned_noise)
//   experts.fc1.weight [E, C, H], experts.fc1.bias [E, H]
//   experts.fc2.weight [E, H, C], experts.fc2.bias [E, C]
// Expert weights are stored [in, out] per expert: y = x @ W[e] + b[e].
//
// Training and evaluation differ in two things only: the router's noise (training only,
// router.h) and the capacity. In training an expert keeps at most
// ceil(capacity_factor T k / E) slots when drop_tokens; in evaluation none are dropped
// unless eval_capacity_factor is set, so that by default a token's output depends on
// that token alone and not on the others of its batch (nor on the batch size).
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/nn/module.h"
#include "engine/nn/moe/router.h"
#include "engine/ops/functional.h"

namespace engine::dist {
class Communicator;
}

namespace engine::nn::moe {

enum class DropPriority { Probability, Order };
enum class ExpertActivation { Relu, Gelu };

struct MoEOptions {
  int64_t dim = 0, hidden = 0, num_experts = 4, top_k = 1;
  RouterOptions router;           // num_experts and top_k are copied from above
  int64_t router_dim = 64;        // d of the attentive router
  double capacity_factor = 1.25;  // training, when drop_tokens
  bool drop_tokens = false;
  // Evaluation: unset = dropless; a factor = at most ceil(factor T k / E) slots per
  // expert, the rest dropped by drop_priority (whatever drop_tokens says).
  std::optional<double> eval_capacity_factor;
  DropPriority drop_priority = DropPriority::Probability;
  ExpertActivation activation = ExpertActivation::Relu;
  double lb_coef = 0.01, z_coef = 0.0, importance_coef = 0.0;
  DType dtype = DType::f32;
};

// Per-step statistics, kept as sums so that steps add up into an epoch (add()).
struct MoEStats {
  int64_t steps = 0, tokens = 0, slots = 0, dropped = 0;
  std::vector<int64_t> counts;                       // [E] slots routed to each expert, before dropping
  std::vector<int64_t> kept_counts;                  // [E] after dropping
  double entropy_sum = 0;                            // sum over tokens of -sum_e p log p
  double top1_sum = 0;                               // sum over tokens of the largest probability
  double lb_sum = 0, z_sum = 0, importance_sum = 0;  // loss values summed over steps
  int64_t num_classes = 0;
  std::vector<int64_t> expert_class;  // [E, num_classes] row-major: slots per (expert, token label)
  // Per named group of tokens (the multimodal model's image and text tokens), when the
  // caller gave groups (MoELayer::forward_tokens): tokens, routing entropy summed over
  // them, and slots per expert [G, E] row-major.
  std::vector<std::string> group_names;
  std::vector<int64_t> group_tokens, group_counts;
  std::vector<double> group_entropy_sum;

  void add(const MoEStats& s);
  double token_fraction(int64_t e) const;  // counts[e] / slots
  double max_token_fraction() const;
  // exp(entropy of the token fractions) / E: 1 when balanced, 1/E when one expert takes all.
  double utilisation() const;
  double dropped_fraction() const;
  double gate_entropy() const;  // mean over tokens
  double mean_top1() const;
  double lb_loss() const, z_loss() const, importance_loss() const;  // means over steps
  // As utilisation() and gate_entropy(), over group g's tokens only.
  double group_utilisation(size_t g) const;
  double group_gate_entropy(size_t g) const;
};

struct MoEParams {
  RouterParams router;
  Variable w1, b1, w2, b2;
};

struct MoEForward {
  Variable y;                                 // [T, C]
  Variable probs;                             // [T, E] router probabilities (for per-group losses)
  Tensor experts;                             // [T, k] i64 chosen experts in rank order
  Variable lb_loss, z_loss, importance_loss;  // scalars
  Variable aux_loss;                          // lb_coef * lb + z_coef * z + importance_coef * importance
  MoEStats stats;
};

// The most slots an expert keeps in this mode (training or evaluation), or -1: dropless.
int64_t moe_layer_capacity(const MoEOptions& o, bool training, int64_t T);

// The layer in a run of several ranks (docs/DISTRIBUTED.md), each training on its own
// tokens. Data parallel (comm set, expert_parallel false): every rank holds all experts
// and dispatches its own tokens (capacity per rank); a training pass's aux losses and
// statistics are those of every rank's tokens together: the load balance loss takes the
// slot fractions over all tokens, and each rank's loss value is the one of all tokens
// while its gradient is the rank's share of that loss's (data parallel averages the
// gradients). Expert parallel: see expert_parallel.h. An evaluation pass of a data
// parallel layer is the single-process one (every rank evaluates the same tokens).
struct MoEDist {
  dist::Communicator* comm = nullptr;
  bool expert_parallel = false;
  bool several_ranks() const;
};

// The layer as a function of its parameters. token_labels: i64 [T] on the CPU (or
// undefined) for the expert x class counts.
MoEForward moe_forward(const Variable& x, const MoEParams& p, const MoEOptions& o, bool training,
                       const Tensor& token_labels = Tensor(), int64_t num_classes = 0, const MoEDist& dist = {});

// The aux losses and statistics of a pass over several ranks' tokens (each rank its own,
// as many on every rank in training), given this rank's routing r and the dispatch d:
// of every rank's tokens (dispatch_is_global, expert parallel) or of this rank's (data
// parallel). Fills f's losses, aux_loss and stats (see MoEDist).
void distributed_losses_and_stats(dist::Communicator& comm, MoEForward& f, const RouterOutput& r,
                                  const ops::MoeRouteOutput& d, bool dispatch_is_global, const MoEOptions& o,
                                  const Tensor& token_labels, int64_t num_classes);

class MoELayer : public Module {
 public:
  explicit MoELayer(const MoEOptions& o);
  std::string type_name() const override { return "MoELayer"; }
  const MoEOptions& options() const { return opt_; }
  MoEParams params;

  // Labels of the images of the next forward pass (i64 [N], any device); token t of
  // T belongs to image t / (T / N). Cleared by passing an undefined tensor.
  void set_labels(const Tensor& image_labels, int64_t num_classes);
  // The forward pass with explicit labels per token (i64 [T] on the CPU, or undefined),
  // for callers whose tokens do not come T / N per image (text tokens beside image ones).
  // With groups (i64 [T] in [0, group_names.size())), the statistics are also kept per
  // group (MoEStats::group_*).
  Variable forward_tokens(const Variable& x, const Tensor& token_labels, const Tensor& groups = Tensor(),
                          const std::vector<std::string>& group_names = {});
  // The image labels of set_labels (undefined when none) and their class count.
  const Tensor& image_labels() const { return labels_; }
  int64_t label_classes() const { return num_classes_; }
  // Several ranks (MoEDist): training passes take their aux losses and statistics over
  // every rank's tokens; with expert_parallel this rank keeps only its experts [rank E/N,
  // (rank + 1) E/N) of the E it holds now (all ranks must hold the same ones) and tokens
  // travel to them (expert_parallel.h). comm must outlive the layer's passes.
  void distribute(dist::Communicator& comm, bool expert_parallel);
  // The parameters (names under this layer) of which this rank holds its own part along
  // dimension 0: the experts' under expert parallelism, else none.
  std::vector<std::string> rank_local_parameters() const;
  // Adds a term to the last pass's aux loss (a caller's own routing losses).
  void add_aux_loss(const Variable& term);
  // The last forward pass: output, router probabilities, choices, losses, statistics.
  const MoEForward& last_forward() const { return last_; }
  // The last forward pass's weighted aux loss (a scalar in the graph) and statistics.
  const Variable& aux_loss() const { return last_.aux_loss; }
  const MoEStats& last_stats() const { return last_.stats; }

  int64_t expert_parameters() const;    // parameters of one expert
  int64_t inactive_parameters() const;  // (E - k) experts' parameters: unused by any one token
  int64_t flops_per_token() const;      // multiply-adds x 2 of the router and the k experts

 protected:
  void check_input(const Variable& x) const override;
  Variable forward_impl(const Variable& x) override;

 private:
  MoEOptions opt_;
  MoEDist dist_;
  Tensor labels_;
  int64_t num_classes_ = 0;
  MoEForward last_;
};

// Every MoELayer in a module tree with its full name ("moe_layer3.moe").
std::vector<std::pair<std::string, MoELayer*>> find_moe_layers(Module& root);

}  // namespace engine::nn::moe
