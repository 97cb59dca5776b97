#include <atomic>
#include <cstdio>

#include "base/check.h"
#include "engine/backends/cuda/allocator.h"
#include "engine/backends/cuda/device.h"
#include "engine/backends/cuda/graph.h"
#include "engine/core/backend.h"

namespace engine::runtime {
namespace {
std::atomic<uint64_t> g_next_pool{1};
}

CudaGraph::CudaGraph(int device) : device_(device) {
  ENGINE_CHECK(cuda_available(), "CUDA graphs need a GPU: CUDA is unavailable: " << cuda_unavailable_reason());
  cuda::check_device(device);
}

CudaGraph::~CudaGraph() {
  try {
    reset();
  } catch (const Error& e) {
    std::fprintf(stderr, "engine: releasing a CUDA graph failed: %s\n", e.what());
  }
}

void CudaGraph::reset() {
  cuda::DeviceGuard g(device_);
  cudaStream_t stream = cuda::compute_stream(device_);
  if (exec_ || graph_) {
    // A replay may still be running.
    ENGINE_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
  if (exec_) ENGINE_CUDA_CHECK(cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(exec_)));
  if (graph_) ENGINE_CUDA_CHECK(cudaGraphDestroy(static_cast<cudaGraph_t>(graph_)));
  exec_ = graph_ = nullptr;
  if (pool_) cuda::allocator(device_).release_private_pool(pool_, stream);
  pool_ = 0;
}

void CudaGraph::capture(const std::function<void()>& fn) {
  reset();
  cuda::DeviceGuard g(device_);
  // Queued work (copies of the inputs, the warm-up) must not overlap the capture.
  cuda::synchronize(device_);
  cudaStream_t stream = cuda::compute_stream(device_);
  cuda::CachingAllocator& alloc = cuda::allocator(device_);
  pool_ = g_next_pool.fetch_add(1);
  alloc.begin_private_pool(pool_, stream);
  cudaGraph_t graph = nullptr;
  // Any exit by exception must end the capture and the private pool, or every later op
  // on the device would be captured or served from the abandoned pool.
  auto abandon = [&] {
    (void)cudaStreamEndCapture(stream, &graph);
    if (graph) (void)cudaGraphDestroy(graph);
    (void)cudaGetLastError();  // capture errors are not sticky; clear the last one
    alloc.end_private_pool();
    alloc.release_private_pool(pool_, stream);
    pool_ = 0;
  };
  const cudaError_t begin = cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal);
  if (begin != cudaSuccess) {
    abandon();
    ENGINE_CUDA_CHECK(begin);
  }
  try {
    fn();
  } catch (const Error& e) {
    abandon();
    ENGINE_THROW("capturing a CUDA graph on cuda:"
                 << device_ << " failed: " << e.message()
                 << ". A captured step must not read device values on the host (loss.item(), MoE statistics), "
                    "copy from the host or synchronise; run the step uncaptured instead");
  } catch (...) {
    abandon();
    throw;
  }
  cudaError_t end = cudaStreamEndCapture(stream, &graph);
  alloc.end_private_pool();
  if (end != cudaSuccess) {
    (void)cudaGetLastError();
    if (graph) (void)cudaGraphDestroy(graph);
    alloc.release_private_pool(pool_, stream);
    pool_ = 0;
    ENGINE_THROW("capturing a CUDA graph on cuda:" << device_
                                                   << " failed at the end of the capture: " << cudaGetErrorString(end)
                                                   << " (something in the step was not capturable)");
  }
  graph_ = graph;
  cudaGraphExec_t exec = nullptr;
  ENGINE_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  exec_ = exec;
}

void CudaGraph::replay() {
  ENGINE_CHECK(exec_ != nullptr, "CudaGraph::replay: nothing has been captured");
  cuda::DeviceGuard g(device_);
  ENGINE_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(exec_), cuda::compute_stream(device_)));
}

}  // namespace engine::runtime
