#include "engine/dist/mpi_communicator.h"

#include "base/check.h"

#if ENGINE_HAS_MPI
// The C API only (Open MPI's C++ bindings would need their own library).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <iostream>

namespace engine::dist::detail {
namespace {

void check_mpi(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int n = 0;
  MPI_Error_string(rc, text, &n);
  ENGINE_THROW("MPI: " << call << " failed: " << std::string(text, size_t(n)));
}

int as_int(int64_t n, const char* what) {
  ENGINE_CHECK(n >= 0 && n <= INT_MAX,
               "MPI: " << what << " of " << n << " does not fit one MPI call (at most " << INT_MAX << ")");
  return int(n);
}

MPI_Datatype mpi_type(DType d) {
  switch (d) {
    case DType::f32: return MPI_FLOAT;
    case DType::f64: return MPI_DOUBLE;
    case DType::i64: return MPI_INT64_T;
    default: ENGINE_THROW("MPI: no reduction for " << dtype_name(d));
  }
}

class Mpi final : public Communicator {
 public:
  Mpi(int* argc, char*** argv) {
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
      int provided = 0;
      check_mpi(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
    }
    // Errors come back as codes, and become exceptions (then MPI_Abort in the app).
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~Mpi() override {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }
  void barrier() override { check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }
  [[noreturn]] void abort(const std::string& message, int code) override {
    std::cerr << message << std::endl;
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);  // MPI_Abort does not return; this is for the compiler
  }

 protected:
  void raw_all_reduce_sum(void* data, int64_t count, DType dtype) override {
    check_mpi(
        MPI_Allreduce(MPI_IN_PLACE, data, as_int(count, "an all-reduce"), mpi_type(dtype), MPI_SUM, MPI_COMM_WORLD),
        "MPI_Allreduce");
  }
  // MPI_Iallreduce in place; Open MPI moves non-blocking collectives on inside MPI
  // calls, so the caller tests it now and then (DataParallel does, at every gradient
  // that becomes ready).
  class Request final : public Pending {
   public:
    explicit Request(MPI_Request r) : req_(r) {}
    ~Request() override {
      if (req_ != MPI_REQUEST_NULL) MPI_Wait(&req_, MPI_STATUS_IGNORE);
    }
    bool test() override {
      if (req_ == MPI_REQUEST_NULL) return true;
      int done = 0;
      check_mpi(MPI_Test(&req_, &done, MPI_STATUS_IGNORE), "MPI_Test");
      return done != 0;
    }
    void wait() override {
      if (req_ != MPI_REQUEST_NULL) check_mpi(MPI_Wait(&req_, MPI_STATUS_IGNORE), "MPI_Wait");
    }

   private:
    MPI_Request req_ = MPI_REQUEST_NULL;
  };

  std::unique_ptr<Pending> start_all_reduce_sum(Tensor& t) override {
    ENGINE_CHECK(t.defined() && t.is_contiguous() && t.device() == buffer_device(),
                 "dist::start_all_reduce_sum: needs a contiguous tensor in host memory, got "
                     << (t.defined() ? t.header() : std::string("an undefined tensor")));
    MPI_Request r = MPI_REQUEST_NULL;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, t.data_ptr(), as_int(t.numel(), "an all-reduce"), mpi_type(t.dtype()),
                             MPI_SUM, MPI_COMM_WORLD, &r),
              "MPI_Iallreduce");
    return std::make_unique<Request>(r);
  }

  void raw_broadcast(void* data, int64_t bytes, int root) override {
    check_mpi(MPI_Bcast(data, as_int(bytes, "a broadcast"), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
  }
  void raw_all_gather(const void* send, int64_t bytes, void* recv) override {
    int n = as_int(bytes, "an all-gather");
    check_mpi(MPI_Allgather(send, n, MPI_BYTE, recv, n, MPI_BYTE, MPI_COMM_WORLD), "MPI_Allgather");
  }
  void raw_all_to_all(const void* send, const std::vector<int64_t>& send_bytes, void* recv,
                      const std::vector<int64_t>& recv_bytes) override {
    const size_t n = size_t(size_);
    std::vector<int> sc(n), sd(n), rc(n), rd(n);
    int64_t so = 0, ro = 0;
    for (size_t r = 0; r < n; ++r) {
      sc[r] = as_int(send_bytes[r], "an all-to-all part");
      rc[r] = as_int(recv_bytes[r], "an all-to-all part");
      sd[r] = as_int(so, "an all-to-all offset");
      rd[r] = as_int(ro, "an all-to-all offset");
      so += send_bytes[r];
      ro += recv_bytes[r];
    }
    check_mpi(MPI_Alltoallv(send, sc.data(), sd.data(), MPI_BYTE, recv, rc.data(), rd.data(), MPI_BYTE, MPI_COMM_WORLD),
              "MPI_Alltoallv");
  }

 private:
  int rank_ = 0, size_ = 1;
};

}  // namespace

bool mpi_available() { return true; }

std::unique_ptr<Communicator> make_mpi(int* argc, char*** argv) { return std::make_unique<Mpi>(argc, argv); }

}  // namespace engine::dist::detail

#else

namespace engine::dist::detail {

bool mpi_available() { return false; }

std::unique_ptr<Communicator> make_mpi(int*, char***) {
  ENGINE_THROW("this build has no MPI (configure found none; install libopenmpi-dev and openmpi-bin and rebuild)");
}

}  // namespace engine::dist::detail

#endif
