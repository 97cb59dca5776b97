#include "engine/dist/communicator.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "base/check.h"
#include "engine/dist/mpi_communicator.h"

namespace engine::dist {
namespace {

// A contiguous tensor on `where` holding t's values: t itself when it already is one.
Tensor staged(const Tensor& t, Device where) {
  if (t.device() == where && t.is_contiguous()) return t;
  return t.to(where).contiguous();
}

// Writes a staged host tensor back into t (nothing when it is t).
void write_back(Tensor& t, const Tensor& host) {
  if (host.shares_storage(t) && host.offset() == t.offset()) return;
  t.copy_from(host.to(t.device()));
}

void check_defined(const Tensor& t, const char* op) {
  ENGINE_CHECK(t.defined(), "dist::" << op << ": the tensor is undefined");
}

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  std::string backend() const override { return "single"; }
  void barrier() override {}
  [[noreturn]] void abort(const std::string& message, int code) override {
    std::cerr << message << std::endl;
    std::exit(code);
  }

 protected:
  void raw_all_reduce_sum(void*, int64_t, DType) override {}
  void raw_broadcast(void*, int64_t, int) override {}
  void raw_all_gather(const void* send, int64_t bytes, void* recv) override {
    if (bytes > 0) std::memcpy(recv, send, size_t(bytes));
  }
  void raw_all_to_all(const void* send, const std::vector<int64_t>& send_bytes, void* recv,
                      const std::vector<int64_t>&) override {
    if (send_bytes[0] > 0) std::memcpy(recv, send, size_t(send_bytes[0]));
  }
};

std::unique_ptr<Communicator>& world_slot() {
  static std::unique_ptr<Communicator> w = make_single_process();
  return w;
}

const char* launcher_size_variable() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"})
    if (std::getenv(v)) return v;
  return nullptr;
}

}  // namespace

void Communicator::all_reduce_sum(Tensor& t) {
  check_defined(t, "all_reduce_sum");
  ENGINE_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64 || t.dtype() == DType::i64,
               "dist::all_reduce_sum: " << dtype_name(t.dtype()) << " tensors are not reduced; give f32, f64 or i64");
  Tensor h = staged(t, buffer_device());
  raw_all_reduce_sum(h.data_ptr(), h.numel(), h.dtype());
  write_back(t, h);
}

namespace {
class Finished final : public Communicator::Pending {
 public:
  bool test() override { return true; }
  void wait() override {}
};
}  // namespace

std::unique_ptr<Communicator::Pending> Communicator::start_all_reduce_sum(Tensor& t) {
  all_reduce_sum(t);
  return std::make_unique<Finished>();
}

void Communicator::broadcast(Tensor& t, int root) {
  check_defined(t, "broadcast");
  ENGINE_CHECK(root >= 0 && root < size(), "dist::broadcast: root " << root << " is not a rank of " << size());
  Tensor h = staged(t, buffer_device());
  raw_broadcast(h.data_ptr(), int64_t(h.nbytes()), root);
  write_back(t, h);
}

Tensor Communicator::all_gather(const Tensor& t) {
  check_defined(t, "all_gather");
  ENGINE_CHECK(t.dim() >= 1, "dist::all_gather: needs a tensor of at least one dimension, got " << t.header());
  Tensor h = staged(t, buffer_device());
  Shape out_shape = t.shape();
  out_shape[0] *= size();
  Tensor out = Tensor::empty(out_shape, t.dtype(), buffer_device());
  raw_all_gather(h.data_ptr(), int64_t(h.nbytes()), out.data_ptr());
  return out.to(t.device());
}

Tensor Communicator::all_to_all(const Tensor& t, const std::vector<int64_t>& send_counts,
                                std::vector<int64_t>* recv_counts) {
  check_defined(t, "all_to_all");
  ENGINE_CHECK(t.dim() >= 1, "dist::all_to_all: needs a tensor of at least one dimension, got " << t.header());
  ENGINE_CHECK(int64_t(send_counts.size()) == size(),
               "dist::all_to_all: " << send_counts.size() << " send counts for " << size() << " ranks");
  int64_t total = 0;
  for (int64_t c : send_counts) {
    ENGINE_CHECK(c >= 0, "dist::all_to_all: a negative send count (" << c << ")");
    total += c;
  }
  ENGINE_CHECK(total == t.size(0),
               "dist::all_to_all: the send counts sum to " << total << " but the tensor has " << t.size(0) << " rows");
  int64_t row_bytes = t.size(0) > 0 ? int64_t(t.nbytes()) / t.size(0) : 0;
  if (t.size(0) == 0) {
    row_bytes = int64_t(t.element_size());
    for (int64_t d = 1; d < t.dim(); ++d) row_bytes *= t.size(d);
  }
  // Every rank learns how many rows each other rank sends it.
  Tensor counts = Tensor::from_data(send_counts.data(), {int64_t(send_counts.size())});
  Tensor all_counts = all_gather(counts).to(Device::cpu());  // [src * size + dst]
  const int64_t* ac = all_counts.data<int64_t>();
  const size_t n = size_t(size());
  std::vector<int64_t> from(n), send_bytes(n), recv_bytes(n);
  int64_t rows = 0;
  for (int r = 0; r < size(); ++r) {
    from[size_t(r)] = ac[r * size() + rank()];
    rows += from[size_t(r)];
    send_bytes[size_t(r)] = send_counts[size_t(r)] * row_bytes;
    recv_bytes[size_t(r)] = from[size_t(r)] * row_bytes;
  }
  Tensor h = staged(t, buffer_device());
  Shape out_shape = t.shape();
  out_shape[0] = rows;
  Tensor out = Tensor::empty(out_shape, t.dtype(), buffer_device());
  raw_all_to_all(h.data_ptr(), send_bytes, out.data_ptr(), recv_bytes);
  if (recv_counts) *recv_counts = from;
  return out.to(t.device());
}

void Communicator::broadcast_string(std::string& s, int root) {
  Tensor n = Tensor::from_data(std::vector<int64_t>{int64_t(s.size())}.data(), {1});
  broadcast(n, root);
  s.resize(size_t(n.data<int64_t>()[0]));
  if (s.empty()) return;
  Tensor bytes = Tensor::from_data(reinterpret_cast<const uint8_t*>(s.data()), {int64_t(s.size())});
  broadcast(bytes, root);
  std::memcpy(s.data(), bytes.data_ptr(), s.size());
}

std::unique_ptr<Communicator> make_single_process() { return std::make_unique<SingleProcess>(); }

Communicator& world() { return *world_slot(); }

bool launched_by_mpi_launcher() {
  const char* v = launcher_size_variable();
  return v && std::atoi(std::getenv(v)) > 1;
}

int local_rank() {
  for (const char* v : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
    if (const char* s = std::getenv(v)) return std::max(0, std::atoi(s));
  return 0;
}

bool built_with_mpi() { return detail::mpi_available(); }

void init(int* argc, char*** argv) {
  if (!launched_by_mpi_launcher()) return;
  const char* v = launcher_size_variable();
  ENGINE_CHECK(built_with_mpi(), "this program was started by an MPI launcher ("
                                     << v << "=" << std::getenv(v)
                                     << ") but was built without MPI, so its processes would train independently; "
                                        "install libopenmpi-dev and openmpi-bin and rebuild, or run it without mpirun");
  world_slot() = detail::make_mpi(argc, argv);
}

void finalize() {
  if (world().backend() == "mpi") world_slot() = make_single_process();
}

}  // namespace engine::dist
