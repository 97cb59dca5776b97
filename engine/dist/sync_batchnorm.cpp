#include "engine/dist/sync_batchnorm.h"

#include "base/check.h"
#include "engine/autograd/functions.h"
#include "engine/ops/functional.h"

namespace engine::dist {

Variable all_reduce_sum(Communicator& comm, const Variable& x) {
  Tensor y = x.data().contiguous().clone();
  comm.all_reduce_sum(y);
  // The graph node is recorded as an add: the sum of the ranks' tensors.
  return Variable::make(y, OpKind::ADD, {x}, [&comm](std::vector<Variable>& in, const Tensor& g) {
    Tensor s = g.contiguous().clone();
    comm.all_reduce_sum(s);
    in[0].add_grad(s);
  });
}

Variable all_to_all(Communicator& comm, const Variable& x, const std::vector<int64_t>& send_counts,
                    std::vector<int64_t>* recv_counts) {
  std::vector<int64_t> from;
  Tensor y = comm.all_to_all(x.data().contiguous(), send_counts, &from);
  if (recv_counts) *recv_counts = from;
  return Variable::make(y, OpKind::COPY, {x}, [&comm, from](std::vector<Variable>& in, const Tensor& g) {
    in[0].add_grad(comm.all_to_all(g.contiguous(), from));
  });
}

Variable sync_batchnorm2d(Communicator& comm, const Variable& x, const Variable& residual, const Variable& gamma,
                          const Variable& beta, Tensor& running_mean, Tensor& running_var, bool relu, double momentum,
                          double eps) {
  ENGINE_CHECK(x.dim() == 4, "sync_batchnorm2d: expected NCHW input, got " << x.data().header());
  const int64_t c = x.size(1);
  const Shape per_channel = {1, c, 1, 1};
  Tensor rows = Tensor::full({1}, double(x.size(0) * x.size(2) * x.size(3)), DType::f64);
  comm.all_reduce_sum(rows);
  const double n = rows.item();
  ENGINE_CHECK(n > 1, "sync_batchnorm2d: batch norm needs more than one value per channel over all ranks, got " << n);
  Variable xd = ag::cast(x, DType::f64);
  Variable mean = ag::mul(all_reduce_sum(comm, ag::sum(xd, {0, 2, 3})), 1.0 / n);
  Variable centered = ag::sub(xd, ag::reshape(mean, per_channel));
  Variable var = ag::mul(all_reduce_sum(comm, ag::sum(ag::mul(centered, centered), {0, 2, 3})), 1.0 / n);
  Variable inv_std = ag::rsqrt(ag::add(var, eps));
  Variable y = ag::mul(centered, ag::reshape(ag::mul(inv_std, ag::cast(gamma, DType::f64)), per_channel));
  y = ag::cast(ag::add(y, ag::reshape(ag::cast(beta, DType::f64), per_channel)), x.dtype());
  if (residual.defined()) y = ag::add(y, residual);
  if (relu) y = ag::relu(y);
  {
    NoGradGuard no_grad;
    Tensor m = ops::add(ops::mul(running_mean.to(DType::f64), 1.0 - momentum), ops::mul(mean.data(), momentum));
    Tensor v =
        ops::add(ops::mul(running_var.to(DType::f64), 1.0 - momentum), ops::mul(var.data(), momentum * n / (n - 1)));
    running_mean.copy_from(m);
    running_var.copy_from(v);
  }
  return y;
}

}  // namespace engine::dist
