#include "engine/nn/moe/moe_layer.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <utility>

#include "engine/dist/communicator.h"
#include "engine/dist/sync_batchnorm.h"
#include "engine/nn/init.h"
#include "engine/nn/moe/aux_losses.h"
#include "engine/nn/moe/expert_parallel.h"

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

namespace {

// Terms with a zero coefficient stay out of the graph, so backward does not visit them.
void weigh_aux_losses(MoEForward& f, const MoEOptions& o, DType dtype, Device device) {
  f.aux_loss = Variable(Tensor::zeros({}, dtype, device));
  for (auto [loss, coef] : {std::make_pair(f.lb_loss, o.lb_coef), std::make_pair(f.z_loss, o.z_coef),
                            std::make_pair(f.importance_loss, o.importance_coef)})
    if (coef != 0.0) f.aux_loss = ag::add(f.aux_loss, ag::mul(loss, coef));
}

// Gate values per token and expert [T, E]: each token's combine weights at its experts.
Variable token_gates(const RouterOutput& r, int64_t E, DType dtype, Device device) {
  return ag::scatter_add(Variable(Tensor::zeros({r.experts.size(0), E}, dtype, device)), 1, r.experts, r.weights);
}

// x's value moved to `value`, its gradient unchanged.
Variable with_value(const Variable& x, double value) {
  return ag::add(x, Variable(Tensor::full({}, value - x.item(), x.dtype(), x.device())));
}

}  // namespace

MoEForward moe_forward(const Variable& x, const MoEParams& p, const MoEOptions& o, bool training,
                       const Tensor& token_labels, int64_t num_classes, const MoEDist& dist) {
  ENGINE_CHECK(x.dim() == 2, "moe layer: expected tokens [T, C], got " << shape_str(x.shape()));
  if (dist.expert_parallel && dist.several_ranks())
    return moe_forward_expert_parallel(*dist.comm, x, p, o, training, token_labels, num_classes);
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
  if (training && dist.several_ranks()) {
    distributed_losses_and_stats(*dist.comm, f, r, d, /*dispatch_is_global=*/false, o, token_labels, num_classes);
    return f;
  }
  f.lb_loss = load_balance_loss(r.probs, d.counts);
  f.z_loss = router_z_loss(r.logits);
  f.importance_loss = importance_loss(token_gates(r, E, x.dtype(), x.device()));
  weigh_aux_losses(f, o, x.dtype(), x.device());
  fill_stats(f.stats, r, d, token_labels, num_classes, T, k, E);
  f.stats.lb_sum = f.lb_loss.item();
  f.stats.z_sum = f.z_loss.item();
  f.stats.importance_sum = f.importance_loss.item();
  return f;
}

bool MoEDist::several_ranks() const { return comm != nullptr && comm->size() > 1; }

// The load balance and z-losses are means over tokens of per-token terms (the former
// with the slot fractions of all tokens): their value over all tokens is the
// token-weighted mean of the ranks' values, and with as many tokens on every rank the
// mean over the ranks of their gradients is its gradient. The importance loss is not a
// mean: it is taken of the importance summed over the ranks, whose backward sums the
// gradients over the ranks in turn.
void distributed_losses_and_stats(dist::Communicator& comm, MoEForward& f, const RouterOutput& r,
                                  const ops::MoeRouteOutput& d, bool dispatch_is_global, const MoEOptions& o,
                                  const Tensor& token_labels, int64_t num_classes) {
  const int64_t T = r.probs.size(0), E = o.num_experts, k = o.top_k;
  const DType dt = r.weights.dtype();
  const Device dev = r.probs.device();
  ops::MoeRouteOutput all = d;  // counts, kept counts and drops of every rank's tokens
  if (!dispatch_is_global) {
    std::vector<int64_t> counts = d.counts.to(Device::cpu()).to_vector_as<int64_t>();
    std::vector<int64_t> off = d.offsets.to(Device::cpu()).to_vector_as<int64_t>();
    for (int64_t e = 0; e < E; ++e) counts.push_back(off[size_t(e) + 1] - off[size_t(e)]);
    counts.push_back(d.dropped);
    Tensor summed = Tensor::from_data(counts.data(), {2 * E + 1});
    comm.all_reduce_sum(summed);
    counts = summed.to_vector_as<int64_t>();
    all.counts = Tensor::from_data(counts.data(), {E}, dev);
    std::vector<int64_t> offsets{0};
    for (int64_t e = 0; e < E; ++e) offsets.push_back(offsets.back() + counts[size_t(E + e)]);
    all.offsets = Tensor::from_data(offsets.data(), {E + 1});
    all.dropped = counts[size_t(2 * E)];
  }
  const bool any = T > 0;  // an evaluation pass's share of the tokens can be empty
  if (any) {
    f.lb_loss = load_balance_loss(r.probs, all.counts);
    f.z_loss = router_z_loss(r.logits);
  }
  f.importance_loss = importance_loss(dist::all_reduce_sum(comm, ag::sum(token_gates(r, E, dt, dev), {0}, true)));

  MoEStats& s = f.stats;
  fill_stats(s, r, all, token_labels, num_classes, T, k, E);
  std::vector<double> v{double(T),
                        double(T * k),
                        s.entropy_sum,
                        s.top1_sum,
                        any ? double(T) * f.lb_loss.item() : 0.0,
                        any ? double(T) * f.z_loss.item() : 0.0};
  for (int64_t c : s.expert_class) v.push_back(double(c));
  Tensor sums = Tensor::from_data(v.data(), {int64_t(v.size())});
  comm.all_reduce_sum(sums);
  v = sums.to_vector();
  s.tokens = int64_t(v[0]);
  s.slots = int64_t(v[1]);
  s.entropy_sum = v[2];
  s.top1_sum = v[3];
  for (size_t i = 0; i < s.expert_class.size(); ++i) s.expert_class[i] = int64_t(v[6 + i]);
  s.lb_sum = s.tokens > 0 ? v[4] / double(s.tokens) : 0.0;
  s.z_sum = s.tokens > 0 ? v[5] / double(s.tokens) : 0.0;
  s.importance_sum = f.importance_loss.item();
  auto constant = [&](double value) { return Variable(Tensor::full({}, value, dt, dev)); };
  f.lb_loss = any ? with_value(f.lb_loss, s.lb_sum) : constant(s.lb_sum);
  f.z_loss = any ? with_value(f.z_loss, s.z_sum) : constant(s.z_sum);
  weigh_aux_losses(f, o, dt, dev);
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
  last_ = moe_forward(x, params, opt_, is_training(), token_labels, num_classes_, dist_);
  return last_.y;
}

void MoELayer::distribute(dist::Communicator& comm, bool expert_parallel) {
  ENGINE_CHECK(!dist_.comm, "MoELayer::distribute: the layer is distributed already");
  dist_.comm = &comm;
  dist_.expert_parallel = expert_parallel && comm.size() > 1;
  if (!dist_.expert_parallel) return;
  const int64_t E = opt_.num_experts, n = comm.size(), q = comm.rank();
  ENGINE_CHECK(E % n == 0, "MoELayer: " << E << " experts do not split evenly over " << n << " ranks");
  ENGINE_CHECK(params.w1.size(0) == E,
               "MoELayer::distribute: the layer holds " << params.w1.size(0) << " of its " << E << " experts");
  // The parameters' data are replaced in place, so that every holder of them (the
  // module's list, an optimizer) sees this rank's part.
  for (Variable* w : {&params.w1, &params.b1, &params.w2, &params.b2})
    w->data() = w->data().slice(0, q * E / n, (q + 1) * E / n).contiguous().clone();
}

std::vector<std::string> MoELayer::rank_local_parameters() const {
  if (!dist_.expert_parallel) return {};
  return {"experts.fc1.weight", "experts.fc1.bias", "experts.fc2.weight", "experts.fc2.bias"};
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
                  token_labels.defined() ? num_classes_ : 0, dist_);
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
