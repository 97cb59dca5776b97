#pragma once
// CUDA-graph capture and replay of the work one function queues on a device's compute
// stream: a training step with static shapes is captured once and then replayed with
// one launch, with no per-op host work and no allocation.
//
// Rules for the captured function (breaking one makes capture() throw, and nothing is
// kept): it must have run once uncaptured with the same shapes (library handles,
// cuDNN algorithm choices and workspaces are set up then), it must not read device
// values on the host (loss.item(), MoE statistics), copy from the host, draw random
// numbers whose offsets should change between replays, or use the copy stream. Its
// inputs are tensors allocated before the capture whose contents are replaced in
// place between replays; tensors it creates (outputs, gradients) live in the graph's
// private memory pool and hold new values after each replay.
#include <cstdint>
#include <functional>

namespace engine::runtime {

class CudaGraph {
 public:
  // Throws when CUDA is unavailable.
  explicit CudaGraph(int device = 0);
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  // Runs fn once with the device's compute stream under capture (nothing executes)
  // and instantiates the graph. A second call replaces the graph.
  void capture(const std::function<void()>& fn);
  // Launches the captured work on the compute stream (asynchronous).
  void replay();
  bool captured() const { return exec_ != nullptr; }
  int device() const { return device_; }

 private:
  void reset();
  int device_;
  void* graph_ = nullptr;  // cudaGraph_t
  void* exec_ = nullptr;   // cudaGraphExec_t
  uint64_t pool_ = 0;      // private allocator pool id, 0 when none
};

}  // namespace engine::runtime
