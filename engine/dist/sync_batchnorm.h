#pragma once
// Functions of the autograd graph that communicate (docs/DISTRIBUTED.md): sums over the
// ranks, synchronised batch norm, the all-to-all of expert parallelism.
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

namespace engine::dist {

// Uneven all-to-all of rows (Communicator::all_to_all) in the autograd graph: its
// backward sends each row's gradient back to the rank it came from. *recv_counts gets
// the rows from each rank.
Variable all_to_all(Communicator& comm, const Variable& x, const std::vector<int64_t>& send_counts,
                    std::vector<int64_t>* recv_counts = nullptr);

}  // namespace engine::dist
