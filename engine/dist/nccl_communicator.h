#pragma once
// The NCCL communicator: collectives between the CUDA devices of the ranks, its unique
// id made on rank 0 and broadcast over `bootstrap` (the MPI world). In the simulator
// build (ENGINE_CUDA=SIM) the NCCL calls are served by cudasim's simulated NCCL over
// MPI. Work is ordered after everything queued on the device (the device is
// synchronised before each call) and complete when the call returns.
#include <memory>

#include "engine/dist/communicator.h"

namespace engine::dist {

// Whether this build has NCCL (the real library, or the simulated one).
bool nccl_available();

// A communicator over NCCL on cuda:`device` with bootstrap's ranks; throws naming why
// when the build has no NCCL or NCCL refuses.
std::unique_ptr<Communicator> make_nccl(Communicator& bootstrap, int device);

}  // namespace engine::dist
