#include "engine/nn/moe/moe_layer.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>

#include "engine/nn/init.h"
#include "engine/nn/moe/aux_losses.h"

namespace engine::nn::moe {
namespace {

double safe_div(double a, double b) { return b > 0 ? a / b : 0.0; }

// One expert layer over the dispatched rows: grouped GEMM, then each row's expert bias.
Variable grouped_linear(const Variable& x, const Variable& w, const Variable& b, const Tensor& offsets,
                        const Tensor& row_expert) {
  return ag::add(ag::moe_grouped_matmul(x, w, offsets), ag::index_select(b, 0, row_expert));
}

void fill_stats(MoEStats& s, const RouterOutput& r, const ops::MoeRouteOutput& d, const Tensor& token_labels,
                int64_t num_classes, int64_t T, int64_t k, int64_t E) {
  s.steps = 1;
  s.tokens = T;
  s.slots = T * k;
  s.dropped = d.dropped;
  s.counts = d.counts.to(Device::cpu()).to_vector_as<int64_t>();
  std::vector<int64_t> off = d.offsets.to(Device::cpu()).to_vector_as<int64_t>();
  s.kept_counts.resize(size_t(E));
  for (int64_t e = 0; e < E; ++e) s.kept_counts[size_t(e)] = off[size_t(e) + 1] - off[size_t(e)];
  const Tensor& p = r.probs.data();
  if (T > 0) {
    // 0 log 0 = 0: probabilities are clamped away from 0 before the log.
    s.entropy_sum = -ops::sum(ops::mul(p, ops::log(ops::clamp(p, 1e-30, 1.0)))).item();
    s.top1_sum = ops::sum(r.top_probs.slice(1, 0, 1)).item();
  }
  if (token_labels.defined() && num_classes > 0) {
    ENGINE_CHECK(token_labels.numel() == T,
                 "moe layer: " << token_labels.numel() << " token labels for " << T << " tokens");
    std::vector<int64_t> labels = token_labels.to(Device::cpu()).to_vector_as<int64_t>();
    std::vector<int64_t> experts = r.experts.to(Device::cpu()).to_vector_as<int64_t>();
    s.num_classes = num_classes;
    s.expert_class.assign(size_t(E * num_classes), 0);
    for (int64_t slot = 0; slot < T * k; ++slot) {
      int64_t c = labels[size_t(slot / k)];
      ENGINE_CHECK(c >= 0 && c < num_classes, "moe layer: token label " << c << " outside [0, " << num_classes << ")");
      ++s.expert_class[size_t(experts[size_t(slot)] * num_classes + c)];
    }
  }
}

}  // namespace

void MoEStats::add(const MoEStats& s) {
  if (counts.empty()) {
    counts.assign(s.counts.size(), 0);
    kept_counts.assign(s.kept_counts.size(), 0);
  }
  ENGINE_CHECK(counts.size() == s.counts.size(),
               "MoEStats::add: " << counts.size() << " experts and " << s.counts.size());
  if (!s.expert_class.empty()) {
    if (expert_class.empty()) {
      num_classes = s.num_classes;
      expert_class.assign(s.expert_class.size(), 0);
    }
    ENGINE_CHECK(expert_class.size() == s.expert_class.size(), "MoEStats::add: expert x class tables differ");
    for (size_t i = 0; i < expert_class.size(); ++i) expert_class[i] += s.expert_class[i];
  }
  steps += s.steps;
  tokens += s.tokens;
  slots += s.slots;
  dropped += s.dropped;
  for (size_t e = 0; e < counts.size(); ++e) {
    counts[e] += s.counts[e];
    kept_counts[e] += s.kept_counts[e];
  }
  if (!s.group_names.empty()) {
    if (group_names.empty()) {
      group_names = s.group_names;
      group_tokens.assign(s.group_tokens.size(), 0);
      group_counts.assign(s.group_counts.size(), 0);
      group_entropy_sum.assign(s.group_entropy_sum.size(), 0.0);
    }
    ENGINE_CHECK(group_names == s.group_names, "MoEStats::add: token groups differ");
    for (size_t g = 0; g < group_tokens.size(); ++g) {
      group_tokens[g] += s.group_tokens[g];
      group_entropy_sum[g] += s.group_entropy_sum[g];
    }
    for (size_t i = 0; i < group_counts.size(); ++i) group_counts[i] += s.group_counts[i];
  }
  entropy_sum += s.entropy_sum;
  top1_sum += s.top1_sum;
  lb_sum += s.lb_sum;
  z_sum += s.z_sum;
  importance_sum += s.importance_sum;
}

double MoEStats::token_fraction(int64_t e) const { return safe_div(double(counts.at(size_t(e))), double(slots)); }

double MoEStats::max_token_fraction() const {
  double m = 0;
  for (size_t e = 0; e < counts.size(); ++e) m = std::max(m, token_fraction(int64_t(e)));
  return m;
}

double MoEStats::utilisation() const {
  if (counts.empty() || slots == 0) return 0.0;
  double h = 0;
  for (size_t e = 0; e < counts.size(); ++e) {
    double f = token_fraction(int64_t(e));
    if (f > 0) h -= f * std::log(f);
  }
  return std::exp(h) / double(counts.size());
}

double MoEStats::group_utilisation(size_t g) const {
  const size_t E = counts.size();
  int64_t slots_g = 0;
  for (size_t e = 0; e < E; ++e) slots_g += group_counts.at(g * E + e);
  if (E == 0 || slots_g == 0) return 0.0;
  double h = 0;
  for (size_t e = 0; e < E; ++e) {
    double f = double(group_counts[g * E + e]) / double(slots_g);
    if (f > 0) h -= f * std::log(f);
  }
  return std::exp(h) / double(E);
}

double MoEStats::group_gate_entropy(size_t g) const {
  return safe_div(group_entropy_sum.at(g), double(group_tokens.at(g)));
}

double MoEStats::dropped_fraction() const { return safe_div(double(dropped), double(slots)); }
double MoEStats::gate_entropy() const { return safe_div(entropy_sum, double(tokens)); }
double MoEStats::mean_top1() const { return safe_div(top1_sum, double(tokens)); }
double MoEStats::lb_loss() const { return safe_div(lb_sum, double(steps)); }
double MoEStats::z_loss() const { return safe_div(z_sum, double(steps)); }
double MoEStats::importance_loss() const { return safe_div(importance_sum, double(steps)); }

int64_t moe_layer_capacity(const MoEOptions& o, bool training, int64_t T) {
  if (training) return o.drop_tokens ? ops::moe_capacity(o.capacity_factor, T, o.top_k, o.num_experts) : -1;
  return o.eval_capacity_factor ? ops::moe_capacity(*o.eval_capacity_factor, T, o.top_k, o.num_experts) : -1;
}

MoEForward moe_forward(const Variable& x, const MoEParams& p, const MoEOptions& o, bool training,
                       const Tensor& token_labels, int64_t num_classes) {
  ENGINE_CHECK(x.dim() == 2, "moe layer: expected tokens [T, C], got " << shape_str(x.shape()));
  const int64_t T = x.size(0), C = x.size(1), E = o.num_experts, k = o.top_k;
  RouterOptions ro = o.router;
  ro.num_experts = E;
  ro.top_k = k;
  RouterOutput r = route(x, p.router, ro, training);

  int64_t capacity = moe_layer_capacity(o, training, T);
  Tensor priority = o.drop_priority == DropPriority::Probability ? r.top_probs : Tensor();
  ops::MoeRouteOutput d = ops::moe_route(r.experts, priority, E, capacity);

  Variable xe = ag::index_select(x, 0, d.row_token);
  Variable h = grouped_linear(xe, p.w1, p.b1, d.offsets, d.row_expert);
  h = o.activation == ExpertActivation::Relu ? ag::relu(h) : ag::gelu(h);
  Variable ye = grouped_linear(h, p.w2, p.b2, d.offsets, d.row_expert);
  // The router learns through the combine weights: each kept row is scaled by its slot's weight.
  Variable w_rows = ag::reshape(ag::index_select(ag::reshape(r.weights, {T * k}), 0, d.row_slot), {d.kept, 1});
  Variable combined = ag::mul(ye, w_rows);
  Variable zeros(Tensor::zeros({T, C}, x.dtype(), x.device()));

  MoEForward f;
  f.y = ag::index_add(zeros, 0, d.row_token, combined);
  f.probs = r.probs;
  f.experts = r.experts;
  f.lb_loss = load_balance_loss(r.probs, d.counts);
  f.z_loss = router_z_loss(r.logits);
  Variable gates = ag::scatter_add(Variable(Tensor::zeros({T, E}, x.dtype(), x.device())), 1, r.experts, r.weights);
  f.importance_loss = importance_loss(gates);
  // Terms with a zero coefficient stay out of the graph, so backward does not visit them.
  f.aux_loss = Variable(Tensor::zeros({}, x.dtype(), x.device()));
  for (auto [loss, coef] : {std::make_pair(f.lb_loss, o.lb_coef), std::make_pair(f.z_loss, o.z_coef),
                            std::make_pair(f.importance_loss, o.importance_coef)})
    if (coef != 0.0) f.aux_loss = ag::add(f.aux_loss, ag::mul(loss, coef));
  fill_stats(f.stats, r, d, token_labels, num_classes, T, k, E);
  f.stats.lb_sum = f.lb_loss.item();
  f.stats.z_sum = f.z_loss.item();
  f.stats.importance_sum = f.importance_loss.item();
  return f;
}

MoELayer::MoELayer(const MoEOptions& o) : opt_(o) {
  const int64_t C = o.dim, H = o.hidden, E = o.num_experts;
  ENGINE_CHECK(C >= 1 && H >= 1 && E >= 1 && o.top_k >= 1 && o.top_k <= E, "MoELayer: bad sizes (dim "
                                                                               << C << ", hidden " << H << ", experts "
                                                                               << E << ", top_k " << o.top_k << ")");
  ENGINE_CHECK(o.capacity_factor > 0, "MoELayer: capacity_factor = " << o.capacity_factor << ", expected > 0");
  ENGINE_CHECK(!o.eval_capacity_factor || *o.eval_capacity_factor > 0,
               "MoELayer: eval_capacity_factor = " << o.eval_capacity_factor.value_or(0) << ", expected > 0 or unset");
  opt_.router.num_experts = E;
  opt_.router.top_k = o.top_k;
  const DType dt = o.dtype;
  if (o.router.kind == RouterKind::Linear) {
    params.router.weight = register_parameter("router.weight", init::default_weight({E, C}, dt));
  } else {
    ENGINE_CHECK(o.router_dim >= 1, "MoELayer: router_dim = " << o.router_dim << ", expected >= 1");
    params.router.query = register_parameter("router.query", init::default_weight({o.router_dim, C}, dt));
    params.router.keys = register_parameter("router.keys", init::normal({E, o.router_dim}, 0.0, 1.0, dt));
  }
  // Zero noise weights start at softplus(0) = log 2, as in Shazeer et al.
  if (o.router.noisy && o.router.learned_noise)
    params.router.noise = register_parameter("router.noise", Tensor::zeros({E, C}, dt));
  // Each expert is initialised as a pair of nn.Linear layers would be.
  const double b1 = 1.0 / std::sqrt(double(C)), b2 = 1.0 / std::sqrt(double(H));
  params.w1 = register_parameter("experts.fc1.weight", init::uniform({E, C, H}, -b1, b1, dt));
  params.b1 = register_parameter("experts.fc1.bias", init::uniform({E, H}, -b1, b1, dt));
  params.w2 = register_parameter("experts.fc2.weight", init::uniform({E, H, C}, -b2, b2, dt));
  params.b2 = register_parameter("experts.fc2.bias", init::uniform({E, C}, -b2, b2, dt));
}

void MoELayer::set_labels(const Tensor& image_labels, int64_t num_classes) {
  labels_ = image_labels.defined() ? image_labels.to(Device::cpu()) : Tensor();
  num_classes_ = num_classes;
}

void MoELayer::check_input(const Variable& x) const {
  ENGINE_CHECK(x.dim() == 2 && x.size(1) == opt_.dim,
               "MoELayer: expected tokens [T, " << opt_.dim << "], got " << shape_str(x.shape()));
}

Variable MoELayer::forward_impl(const Variable& x) {
  Tensor token_labels;
  if (labels_.defined() && num_classes_ > 0) {
    const int64_t T = x.size(0), N = labels_.numel();
    ENGINE_CHECK(N > 0 && T % N == 0, "MoELayer: " << T << " tokens do not split evenly over " << N << " images");
    token_labels = labels_.reshape({N, 1}).expand({N, T / N}).reshape({T});
  }
  last_ = moe_forward(x, params, opt_, is_training(), token_labels, num_classes_);
  return last_.y;
}

namespace {

// The statistics of each group of tokens: tokens, entropy of their routing, slots per expert.
void add_group_stats(MoEStats& s, const MoEForward& f, const Tensor& groups, const std::vector<std::string>& names) {
  const int64_t T = f.probs.size(0), E = f.probs.size(1), k = f.experts.size(1), G = int64_t(names.size());
  ENGINE_CHECK(groups.numel() == T, "MoELayer: " << groups.numel() << " token groups for " << T << " tokens");
  const std::vector<int64_t> g = groups.to(Device::cpu()).to_vector_as<int64_t>();
  const std::vector<double> p = f.probs.data().to(Device::cpu()).to_vector();
  const std::vector<int64_t> experts = f.experts.to(Device::cpu()).to_vector_as<int64_t>();
  s.group_names = names;
  s.group_tokens.assign(size_t(G), 0);
  s.group_entropy_sum.assign(size_t(G), 0.0);
  s.group_counts.assign(size_t(G * E), 0);
  for (int64_t t = 0; t < T; ++t) {
    const int64_t grp = g[size_t(t)];
    ENGINE_CHECK(grp >= 0 && grp < G, "MoELayer: token group " << grp << " outside [0, " << G << ")");
    ++s.group_tokens[size_t(grp)];
    double h = 0;
    for (int64_t e = 0; e < E; ++e) {
      const double q = p[size_t(t * E + e)];
      if (q > 0) h -= q * std::log(q);
    }
    s.group_entropy_sum[size_t(grp)] += h;
    for (int64_t j = 0; j < k; ++j) ++s.group_counts[size_t(grp * E + experts[size_t(t * k + j)])];
  }
}

}  // namespace

Variable MoELayer::forward_tokens(const Variable& x, const Tensor& token_labels, const Tensor& groups,
                                  const std::vector<std::string>& group_names) {
  check_input(x);
  ENGINE_CHECK(!token_labels.defined() || token_labels.numel() == x.size(0),
               "MoELayer: " << token_labels.numel() << " token labels for " << x.size(0) << " tokens");
  last_ =
      moe_forward(x, params, opt_, is_training(), token_labels.defined() ? token_labels.to(Device::cpu()) : Tensor(),
                  token_labels.defined() ? num_classes_ : 0);
  if (groups.defined()) add_group_stats(last_.stats, last_, groups, group_names);
  return last_.y;
}

void MoELayer::add_aux_loss(const Variable& term) {
  ENGINE_CHECK(last_.aux_loss.defined(), "MoELayer: add_aux_loss before any forward pass");
  last_.aux_loss = ag::add(last_.aux_loss, term);
}

int64_t MoELayer::expert_parameters() const {
  const int64_t C = opt_.dim, H = opt_.hidden;
  return C * H + H + H * C + C;
}

int64_t MoELayer::inactive_parameters() const { return (opt_.num_experts - opt_.top_k) * expert_parameters(); }

int64_t MoELayer::flops_per_token() const {
  const int64_t C = opt_.dim, H = opt_.hidden, E = opt_.num_experts;
  const int64_t d = opt_.router_dim;
  int64_t router = opt_.router.kind == RouterKind::Linear ? 2 * C * E : 2 * C * d + 2 * d * E;
  return router + opt_.top_k * 4 * C * H;
}

std::vector<std::pair<std::string, MoELayer*>> find_moe_layers(Module& root) {
  std::vector<std::pair<std::string, MoELayer*>> out;
  std::function<void(const std::string&, Module&)> walk = [&](const std::string& prefix, Module& m) {
    if (auto* l = dynamic_cast<MoELayer*>(&m)) out.emplace_back(prefix, l);
    for (auto& [name, child] : m.named_children()) walk(prefix.empty() ? name : prefix + "." + name, *child);
  };
  walk("", root);
  return out;
}

}  // namespace engine::nn::moe
