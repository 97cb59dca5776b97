#pragma once
// The MPI communicator (mpi_communicator.cpp); in a build without MPI these say so.
#include <memory>

#include "engine/dist/communicator.h"

namespace engine::dist::detail {

bool mpi_available();
// Initialises MPI (once per process) and returns MPI_COMM_WORLD's communicator; its
// destructor finalises MPI.
std::unique_ptr<Communicator> make_mpi(int* argc, char*** argv);

}  // namespace engine::dist::detail
