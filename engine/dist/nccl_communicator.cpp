#include "engine/dist/nccl_communicator.h"

#include "base/check.h"

#if ENGINE_HAS_NCCL
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstdlib>
#include <cstring>

namespace engine::dist {
namespace {

void check_nccl(ncclResult_t r, const char* call) {
  ENGINE_CHECK(r == ncclSuccess, "NCCL: " << call << " failed: " << ncclGetErrorString(r));
}

void check_cuda(cudaError_t e, const char* call) {
  ENGINE_CHECK(e == cudaSuccess, "NCCL communicator: " << call << " failed: " << cudaGetErrorString(e));
}

ncclDataType_t nccl_type(DType d) {
  switch (d) {
    case DType::f32: return ncclFloat32;
    case DType::f64: return ncclFloat64;
    case DType::i64: return ncclInt64;
    default: ENGINE_THROW("NCCL: no reduction for " << dtype_name(d));
  }
}

class Nccl final : public Communicator {
 public:
  Nccl(Communicator& bootstrap, int device) : bootstrap_(bootstrap), device_(device) {
    ncclUniqueId id;
    std::memset(&id, 0, sizeof id);
    if (bootstrap.rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    Tensor bytes = Tensor::from_data(reinterpret_cast<const uint8_t*>(id.internal), {int64_t(sizeof id.internal)});
    bootstrap.broadcast(bytes, 0);
    std::memcpy(id.internal, bytes.data_ptr(), sizeof id.internal);
    check_cuda(cudaSetDevice(device), "cudaSetDevice");
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    check_nccl(ncclCommInitRank(&comm_, bootstrap.size(), id, bootstrap.rank()), "ncclCommInitRank");
  }
  ~Nccl() override {
    ncclCommDestroy(comm_);
    cudaStreamDestroy(stream_);
  }
  int rank() const override { return bootstrap_.rank(); }
  int size() const override { return bootstrap_.size(); }
  std::string backend() const override { return "nccl"; }
  Device buffer_device() const override { return Device::cuda(device_); }
  void barrier() override { bootstrap_.barrier(); }
  [[noreturn]] void abort(const std::string& message, int code) override {
    bootstrap_.abort(message, code);
    std::_Exit(code);  // not reached
  }

 protected:
  void raw_all_reduce_sum(void* data, int64_t count, DType dtype) override {
    run("ncclAllReduce",
        [&] { return ncclAllReduce(data, data, size_t(count), nccl_type(dtype), ncclSum, comm_, stream_); });
  }
  void raw_broadcast(void* data, int64_t bytes, int root) override {
    run("ncclBroadcast", [&] { return ncclBroadcast(data, data, size_t(bytes), ncclUint8, root, comm_, stream_); });
  }
  void raw_all_gather(const void* send, int64_t bytes, void* recv) override {
    run("ncclAllGather", [&] { return ncclAllGather(send, recv, size_t(bytes), ncclUint8, comm_, stream_); });
  }
  void raw_all_to_all(const void* send, const std::vector<int64_t>& send_bytes, void* recv,
                      const std::vector<int64_t>& recv_bytes) override {
    run("ncclSend/ncclRecv", [&] {
      ncclResult_t r = ncclGroupStart();
      size_t so = 0, ro = 0;
      for (int peer = 0; peer < size() && r == ncclSuccess; ++peer) {
        size_t sb = size_t(send_bytes[size_t(peer)]), rb = size_t(recv_bytes[size_t(peer)]);
        if (sb > 0) r = ncclSend(static_cast<const char*>(send) + so, sb, ncclUint8, peer, comm_, stream_);
        if (r == ncclSuccess && rb > 0)
          r = ncclRecv(static_cast<char*>(recv) + ro, rb, ncclUint8, peer, comm_, stream_);
        so += sb;
        ro += rb;
      }
      ncclResult_t end = ncclGroupEnd();
      return r != ncclSuccess ? r : end;
    });
  }

 private:
  // The device's queued work first; the call complete before returning.
  template <class F>
  void run(const char* call, F&& f) {
    check_cuda(cudaSetDevice(device_), "cudaSetDevice");
    check_cuda(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    check_nccl(f(), call);
    check_cuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }

  Communicator& bootstrap_;
  int device_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
};

}  // namespace

bool nccl_available() { return true; }

std::unique_ptr<Communicator> make_nccl(Communicator& bootstrap, int device) {
  return std::make_unique<Nccl>(bootstrap, device);
}

}  // namespace engine::dist

#else

namespace engine::dist {

bool nccl_available() { return false; }

std::unique_ptr<Communicator> make_nccl(Communicator&, int) {
  ENGINE_THROW(
      "this build has no NCCL (it needs a CUDA build, or the simulator build, with MPI; "
      "docs/DISTRIBUTED.md)");
}

}  // namespace engine::dist

#endif
