#pragma once
// What the simulator's parts (runtime, kernel execution, cuBLAS, cuDNN, CUB) share.
// Not seen by the engine: the engine includes only the real CUDA headers (and, in
// .cu files, the force-included cudasim/device.h).
#include <cuda_runtime_api.h>

#include <cstddef>
#include <functional>
#include <string>

namespace cudasim {

// Runs `work` in the order of `stream`: at once (the simulator executes every stream
// synchronously, in issue order), or, while the stream is being captured into a CUDA
// graph, records it as a node that each replay runs. `what` names the work in reports
// ("kernel foo", "cublasGemmStridedBatchedEx"). Returns cudaSuccess, or the error that
// the call itself gets (an invalid stream, a capture that was invalidated).
// The work reports its own failures through fail_sticky().
cudaError_t enqueue(cudaStream_t stream, const char* what, std::function<void()> work);

// What a pointer is, for the checks every library call and kernel launch makes.
enum class MemKind { unknown, device, pinned };
struct MemRange {
  MemKind kind = MemKind::unknown;
  const char* base = nullptr;  // start of the allocation holding the pointer
  size_t size = 0;             // its size in bytes
};
MemRange find_allocation(const void* p);
// True when [p, p + bytes) lies inside one live device allocation or pinned (mapped,
// unified-address) host allocation; otherwise false with a sentence in *why.
bool device_accessible(const void* p, size_t bytes, std::string* why);

// Writes a report to stderr ("cudasim: ..."), keeps it for last_report(). Returns msg.
const std::string& report(const std::string& msg);
// A fault inside device work (an illegal address, a broken barrier): reported and made
// sticky, as a real device's fault poisons its context until cudaDeviceReset.
void fail_sticky(cudaError_t code, const std::string& msg);
// The error the next runtime call returns (cudaGetLastError clears non-sticky ones).
void set_last_error(cudaError_t code);

// Marker bytes written into workspace and temp storage the libraries hand out, so
// that code which reads scratch it never wrote sees garbage at once.
constexpr unsigned char kScratchMarker = 0xA5;

}  // namespace cudasim
