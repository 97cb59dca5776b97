// cuda_graph.h in a build without the CUDA backend: constructing a graph throws,
// naming why CUDA is unavailable.
#ifndef ENGINE_HAS_CUDA
#include "base/check.h"
#include "engine/backends/cuda/graph.h"
#include "engine/core/backend.h"

namespace engine::runtime {

CudaGraph::CudaGraph(int device) : device_(device) {
  ENGINE_THROW("CUDA graphs need a GPU: CUDA is unavailable: " << cuda_unavailable_reason());
}
CudaGraph::~CudaGraph() = default;
void CudaGraph::capture(const std::function<void()>&) { ENGINE_THROW("CUDA graphs need a GPU"); }
void CudaGraph::replay() { ENGINE_THROW("CUDA graphs need a GPU"); }
void CudaGraph::reset() {}

}  // namespace engine::runtime
#endif
