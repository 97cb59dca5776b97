#pragma once
// Functions of the autograd graph that communicate (docs/DISTRIBUTED.md).
#include "engine/autograd/variable.h"
#include "engine/dist/communicator.h"

namespace engine::dist {

// The sum of every rank's x; its backward sums the gradients over the ranks as well
// (every rank's loss depends on every rank's x). Every rank must run the same graph.
Variable all_reduce_sum(Communicator& comm, const Variable& x);

// Synchronised batch norm in training: act(BN(x) + residual) with the mean and biased
// variance of channel c taken over the rows of every rank (two all-reduces, in f64), the
// running statistics updated with them (momentum; unbiased variance over all rows).
// residual may be undefined; act is relu or identity. With one rank it is batch norm.
Variable sync_batchnorm2d(Communicator& comm, const Variable& x, const Variable& residual, const Variable& gamma,
                          const Variable& beta, Tensor& running_mean, Tensor& running_var, bool relu, double momentum,
                          double eps);

}  // namespace engine::dist
