#include "engine/nn/moe/expert_parallel.h"

#include <algorithm>

#include "engine/autograd/functions.h"
#include "engine/dist/sync_batchnorm.h"
#include "engine/ops/functional.h"

namespace engine::nn::moe {
namespace {

Tensor i64_tensor(const std::vector<int64_t>& v, Device d) {
  if (v.empty()) return Tensor::empty({0}, DType::i64, d);
  return Tensor::from_data(v.data(), {int64_t(v.size())}, d);
}

// The global dispatch rows that concern one rank, in the orders the exchanges need.
struct Plan {
  // Sender side: my tokens' rows, grouped by the rank owning their expert, each group in
  // row order; their local token and local slot indices, and the count per destination.
  std::vector<int64_t> send_token, send_slot, send_counts;
  // Owner side: my experts' rows in row order (expert-contiguous); for each, its position
  // in the buffer received (grouped by source rank); local offsets and experts.
  std::vector<int64_t> recv_position, offsets, row_expert;
};

// The rank that holds global token t (start: each rank's first token, then the total).
int64_t owner(const std::vector<int64_t>& start, int64_t t) {
  return int64_t(std::upper_bound(start.begin(), start.end(), t) - start.begin()) - 1;
}

// Every rank's rows of t (their counts may differ), concatenated in rank order.
Tensor gather_rows(dist::Communicator& comm, const Tensor& t) {
  const size_t n = size_t(comm.size());
  Tensor part = t.contiguous();
  Tensor send = part.size(0) == 0 ? part : ops::concat(std::vector<Tensor>(n, part), 0);
  return comm.all_to_all(send, std::vector<int64_t>(n, part.size(0)));
}

Plan make_plan(const ops::MoeRouteOutput& d, int rank, int ranks, const std::vector<int64_t>& start, int64_t k,
               int64_t e_local) {
  std::vector<int64_t> token = d.row_token.to(Device::cpu()).to_vector_as<int64_t>();
  std::vector<int64_t> slot = d.row_slot.to(Device::cpu()).to_vector_as<int64_t>();
  std::vector<int64_t> expert = d.row_expert.to(Device::cpu()).to_vector_as<int64_t>();
  std::vector<int64_t> off = d.offsets.to(Device::cpu()).to_vector_as<int64_t>();
  Plan p;
  p.send_counts.assign(size_t(ranks), 0);
  for (int q = 0; q < ranks; ++q)
    for (int64_t row = off[size_t(q * e_local)]; row < off[size_t((q + 1) * e_local)]; ++row) {
      if (owner(start, token[size_t(row)]) != rank) continue;
      p.send_token.push_back(token[size_t(row)] - start[size_t(rank)]);
      p.send_slot.push_back(slot[size_t(row)] - start[size_t(rank)] * k);
      ++p.send_counts[size_t(q)];
    }
  // My experts' rows arrive grouped by source rank, each group in row order.
  const int64_t first = off[size_t(rank * e_local)], last = off[size_t((rank + 1) * e_local)];
  std::vector<int64_t> from_count(size_t(ranks), 0);
  for (int64_t row = first; row < last; ++row) ++from_count[size_t(owner(start, token[size_t(row)]))];
  std::vector<int64_t> at(size_t(ranks), 0), next(size_t(ranks), 0);
  for (int s = 1; s < ranks; ++s) at[size_t(s)] = at[size_t(s - 1)] + from_count[size_t(s - 1)];
  for (int64_t row = first; row < last; ++row) {
    int64_t s = owner(start, token[size_t(row)]);
    p.recv_position.push_back(at[size_t(s)] + next[size_t(s)]++);
    p.row_expert.push_back(expert[size_t(row)] - rank * e_local);
  }
  for (int64_t e = 0; e <= e_local; ++e) p.offsets.push_back(off[size_t(rank * e_local + e)] - first);
  return p;
}

Variable grouped_linear(const Variable& x, const Variable& w, const Variable& b, const Tensor& offsets,
                        const Tensor& row_expert) {
  return ag::add(ag::moe_grouped_matmul(x, w, offsets), ag::index_select(b, 0, row_expert));
}

// The pass over this rank's own tokens (training, or an evaluation pass's share).
MoEForward forward_own_tokens(dist::Communicator& comm, const Variable& x, const MoEParams& p, const MoEOptions& o,
                              bool training, const Tensor& token_labels, int64_t num_classes) {
  const int ranks = comm.size(), rank = comm.rank();
  const int64_t T = x.size(0), C = x.size(1), E = o.num_experts, k = o.top_k;
  ENGINE_CHECK(E % ranks == 0, "expert parallel moe: " << E << " experts do not split over " << ranks << " ranks");
  const int64_t e_local = E / ranks;
  ENGINE_CHECK(p.w1.size(0) == e_local,
               "expert parallel moe: rank " << rank << " holds " << p.w1.size(0) << " experts, expected " << e_local);
  std::vector<int64_t> start{0};
  for (int64_t t : comm.all_gather(Tensor::full({1}, double(T), DType::i64)).to_vector_as<int64_t>())
    start.push_back(start.back() + t);
  RouterOptions ro = o.router;
  ro.num_experts = E;
  ro.top_k = k;
  RouterOutput r = route(x, p.router, ro, training);
  const Device dev = x.device();
  // Every rank computes the dispatch of all tokens: the single-process capacity and drops.
  Tensor experts = gather_rows(comm, r.experts).to(dev);
  Tensor priority = o.drop_priority == DropPriority::Probability ? gather_rows(comm, r.top_probs).to(dev) : Tensor();
  ops::MoeRouteOutput d = ops::moe_route(experts, priority, E, moe_layer_capacity(o, training, start.back()));
  Plan plan = make_plan(d, rank, ranks, start, k, e_local);

  std::vector<int64_t> from;
  Variable xe =
      dist::all_to_all(comm, ag::index_select(x, 0, i64_tensor(plan.send_token, dev)), plan.send_counts, &from);
  xe = ag::index_select(xe, 0, i64_tensor(plan.recv_position, dev));  // row order
  Tensor offsets = i64_tensor(plan.offsets, dev), row_expert = i64_tensor(plan.row_expert, dev);
  Variable h = grouped_linear(xe, p.w1, p.b1, offsets, row_expert);
  h = o.activation == ExpertActivation::Relu ? ag::relu(h) : ag::gelu(h);
  Variable ye = grouped_linear(h, p.w2, p.b2, offsets, row_expert);
  // Back in the order received (by source rank), then home.
  std::vector<int64_t> inverse(plan.recv_position.size());
  for (size_t i = 0; i < inverse.size(); ++i) inverse[size_t(plan.recv_position[i])] = int64_t(i);
  Variable back = dist::all_to_all(comm, ag::index_select(ye, 0, i64_tensor(inverse, dev)), from);
  const int64_t n = int64_t(plan.send_token.size());
  Variable w_rows =
      ag::reshape(ag::index_select(ag::reshape(r.weights, {T * k}), 0, i64_tensor(plan.send_slot, dev)), {n, 1});
  Variable zeros(Tensor::zeros({T, C}, x.dtype(), dev));
  MoEForward f;
  f.y = ag::index_add(zeros, 0, i64_tensor(plan.send_token, dev), ag::mul(back, w_rows));
  f.probs = r.probs;
  f.experts = r.experts;
  distributed_losses_and_stats(comm, f, r, d, /*dispatch_is_global=*/true, o, token_labels, num_classes);
  return f;
}

}  // namespace

MoEForward moe_forward_expert_parallel(dist::Communicator& comm, const Variable& x, const MoEParams& p,
                                       const MoEOptions& o, bool training, const Tensor& token_labels,
                                       int64_t num_classes) {
  ENGINE_CHECK(x.dim() == 2, "expert parallel moe: expected tokens [T, C], got " << shape_str(x.shape()));
  if (training) return forward_own_tokens(comm, x, p, o, training, token_labels, num_classes);
  // Evaluation: every rank holds all T tokens; each routes its share, then every rank
  // gathers all outputs.
  const int64_t T = x.size(0), n = comm.size(), q = comm.rank();
  const int64_t lo = T * q / n, hi = T * (q + 1) / n;
  Tensor labels = token_labels.defined() ? token_labels.slice(0, lo, hi).contiguous() : Tensor();
  MoEForward f =
      forward_own_tokens(comm, Variable(x.data().slice(0, lo, hi).contiguous()), p, o, false, labels, num_classes);
  f.y = Variable(gather_rows(comm, f.y.data()).to(x.device()));
  f.probs = Variable(gather_rows(comm, f.probs.data()).to(x.device()));
  f.experts = gather_rows(comm, f.experts).to(x.device());
  return f;
}

}  // namespace engine::nn::moe
