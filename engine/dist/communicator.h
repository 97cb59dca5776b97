#pragma once
// Collective communication between the processes of a run (docs/DISTRIBUTED.md). A run
// started by mpirun has one process per rank and talks over MPI; any other run is one
// process whose communicator has one rank and copies (the run behaves as without it).
// Between CUDA devices, nccl_communicator.h gives one over NCCL, bootstrapped over MPI.
//
// Tensor collectives take contiguous tensors of the same dtype and shape on every rank
// (all_to_all: the same trailing shape). Tensors on the transport's buffer_device() go
// to it directly; others are staged through a copy there. Every rank must call the same collectives in the same
// order; the results are identical on every rank.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/tensor.h"

namespace engine::dist {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  // "single" (one process), "mpi" or "nccl".
  virtual std::string backend() const = 0;
  // Where the transport reads and writes: host memory (single, MPI) or a CUDA device
  // (NCCL). Tensors elsewhere are staged through a contiguous copy there.
  virtual Device buffer_device() const { return Device::cpu(); }

  // t = the sum of every rank's t, in place (f32, f64, i64).
  void all_reduce_sum(Tensor& t);
  // A collective started without waiting (start_all_reduce_sum): test() lets it progress
  // and says whether it has finished; wait() finishes it. Destroying an unfinished one
  // waits for it.
  class Pending {
   public:
    virtual ~Pending() = default;
    virtual bool test() = 0;
    virtual void wait() = 0;
  };
  // Starts t = the sum of every rank's t, in place, and returns at once where the
  // transport has non-blocking collectives (MPI); t must be contiguous on
  // buffer_device() and stay alive and untouched until the Pending has finished. Other
  // transports sum before returning (an already finished Pending). As every collective,
  // every rank starts the same ones in the same order.
  virtual std::unique_ptr<Pending> start_all_reduce_sum(Tensor& t);
  // t = root's t, in place (any dtype).
  void broadcast(Tensor& t, int root);
  // Every rank's t, in rank order, concatenated along dimension 0.
  Tensor all_gather(const Tensor& t);
  // Uneven all-to-all along dimension 0: rows [o_r, o_r + send_counts[r]) of t (o_r the
  // sum of the counts before r) go to rank r; returns what every rank sent here, in rank
  // order, and the count from each rank in *recv_counts when given. send_counts has one
  // entry per rank and sums to t.size(0).
  Tensor all_to_all(const Tensor& t, const std::vector<int64_t>& send_counts,
                    std::vector<int64_t>* recv_counts = nullptr);
  // Waits for every rank.
  virtual void barrier() = 0;
  // s = root's s.
  void broadcast_string(std::string& s, int root);
  // Ends every process of the run with `code`, after printing `message` on this one.
  [[noreturn]] virtual void abort(const std::string& message, int code) = 0;

 protected:
  // The transport: raw buffers on buffer_device(), counts in elements of `dtype` (bytes for the byte ops).
  virtual void raw_all_reduce_sum(void* data, int64_t count, DType dtype) = 0;
  virtual void raw_broadcast(void* data, int64_t bytes, int root) = 0;
  virtual void raw_all_gather(const void* send, int64_t bytes, void* recv) = 0;
  virtual void raw_all_to_all(const void* send, const std::vector<int64_t>& send_bytes, void* recv,
                              const std::vector<int64_t>& recv_bytes) = 0;
};

// The process's communicator, made by init() (a one-rank one until then).
Communicator& world();

// Whether the environment says an MPI launcher (mpirun, srun with PMIx) started this
// process as one of several.
bool launched_by_mpi_launcher();

// This process's rank among the ranks on its machine, as the launcher says
// (OMPI_COMM_WORLD_LOCAL_RANK, MPI_LOCALRANKID, SLURM_LOCALID); 0 when none does.
int local_rank();

// Whether this build has MPI.
bool built_with_mpi();

// Opens the process's communicator: MPI when an MPI launcher started the process, else
// one rank. Throws when a launcher started it but the build has no MPI. finalize() (or
// the Session destructor) closes it.
void init(int* argc, char*** argv);
void finalize();

// init() for a scope (main's): finalize() when it ends.
class Session {
 public:
  Session(int* argc, char*** argv) { init(argc, argv); }
  ~Session() { finalize(); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
};

// For tests: the one-rank communicator.
std::unique_ptr<Communicator> make_single_process();

}  // namespace engine::dist
