#pragma once
// Expert parallelism for the MoE layer (docs/DISTRIBUTED.md): rank q of N holds experts
// [q E/N, (q+1) E/N) and each rank its own tokens. Routing runs where the tokens are;
// the ranks share the routing choices (an all-gather of [T, k]) so that every rank
// computes the single-process dispatch of all N T tokens (the same capacity and the same
// dropped slots); tokens travel to their experts' ranks by all-to-all, the experts run
// there as grouped GEMMs, and a second all-to-all brings the rows back for the combine.
// The output, and the gradients of x, the local experts and (summed over the ranks) the
// router, equal moe_forward on the concatenated tokens with all experts.
#include "engine/dist/communicator.h"
#include "engine/nn/moe/moe_layer.h"

namespace engine::nn::moe {

// x: this rank's tokens [T, C] (the same T on every rank). p: the router (the same on
// every rank) and this rank's experts (w1 [E/N, C, H], b1 [E/N, H], w2 [E/N, H, C],
// b2 [E/N, C]); E a multiple of N. Returns y [T, C] for this rank's tokens. The aux
// losses and statistics are not computed here yet.
Variable moe_forward_expert_parallel(dist::Communicator& comm, const Variable& x, const MoEParams& p,
                                     const MoEOptions& o, bool training);

}  // namespace engine::nn::moe
