#pragma once
// Expert parallelism for the MoE layer (docs/DISTRIBUTED.md): rank q of N holds experts
// [q E/N, (q+1) E/N) and each rank its own tokens. Routing runs where the tokens are;
// the ranks share the routing choices (an all-gather of [T, k]) so that every rank
// computes the single-process dispatch of all ranks' tokens in rank order (the same
// capacity and the same dropped slots); tokens travel to their experts' ranks by
// all-to-all, the experts run there as grouped GEMMs, and a second all-to-all brings the
// rows back for the combine. The output, and the gradients of x, the local experts and
// (summed over the ranks) the router, equal moe_forward on the concatenated tokens with
// all experts; the aux losses and statistics are those of all tokens
// (distributed_losses_and_stats in moe_layer.h).
#include "engine/dist/communicator.h"
#include "engine/nn/moe/moe_layer.h"

namespace engine::nn::moe {

// p: the router (the same on every rank) and this rank's experts (w1 [E/N, C, H], b1
// [E/N, H], w2 [E/N, H, C], b2 [E/N, C]); E a multiple of N. token_labels: i64 [T] on
// the CPU (or undefined) for the expert x class counts.
//
// Training: x [T, C] is this rank's tokens (ranks may hold different T; the aux losses'
// gradients are exact when they hold the same), and the result is this rank's part.
// Evaluation (training false): every rank passes the same tokens, as the trainer's
// evaluation does; rank q routes rows [q T/N, (q+1) T/N) of them and the outputs are
// gathered, so every rank gets the single-process output of all T tokens (y, probs
// and experts of all T; no gradient flows back through an evaluation pass).
MoEForward moe_forward_expert_parallel(dist::Communicator& comm, const Variable& x, const MoEParams& p,
                                       const MoEOptions& o, bool training, const Tensor& token_labels = Tensor(),
                                       int64_t num_classes = 0);

}  // namespace engine::nn::moe
