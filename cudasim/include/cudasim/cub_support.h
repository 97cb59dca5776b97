#pragma once
// The type-erased half of the simulated CUB (cudasim/include/cub/cub.cuh). The CUB
// templates there check their types at compile time and reduce every call to one of
// the functions below, implemented in cudasim/src/cub.cpp, which do the checks, the
// size query, and enqueue the work on the stream.
//
// Protocol, as CUB's: with temp == nullptr a call only stores the temp storage it needs
// in *temp_bytes and returns cudaSuccess (pointers and stream are not looked at). With
// temp != nullptr it checks *temp_bytes against what it needs (too little: a report and
// cudaErrorInvalidValue, nothing enqueued) and enqueues the work; *temp_bytes is not
// changed. The work runs in stream order (or is recorded while the stream is captured),
// checks that every range it touches is device memory (else a sticky
// cudaErrorIllegalAddress), fills the whole temp storage with kScratchMarker, then uses
// it as its scratch.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace cudasim {
namespace cub_support {

// Stable LSD radix sort of n (key, value) pairs, ordered by key bits [begin_bit, end_bit)
// alone (bits outside the range are carried along, never compared). Keys: unsigned
// integers of key_bytes = 1, 2, 4 or 8 bytes. Values: value_bytes each, aligned to
// value_align; value_bytes == 0 sorts keys alone (values_in/values_out unused).
struct SortArgs {
  const char* api = "";  // "cub::DeviceRadixSort::SortPairs", for reports
  void* temp = nullptr;
  size_t* temp_bytes = nullptr;
  const void* keys_in = nullptr;
  void* keys_out = nullptr;
  const void* values_in = nullptr;
  void* values_out = nullptr;
  long long n = 0;  // num_items as given (a negative count is reported)
  size_t key_bytes = 0, value_bytes = 0, value_align = 1;
  int begin_bit = 0, end_bit = 0;
  cudaStream_t stream = nullptr;
};
cudaError_t radix_sort(const SortArgs& a);

// The arithmetic types the scans and reductions read, add in and write.
enum class NumType : int { i8, u8, i16, u16, i32, u32, i64, u64, f32, f64, unsupported };

enum class ScanKind { exclusive_sum, inclusive_sum, reduce_sum };

// Prefix sum of n items (exclusive_sum: out[i] = in[0] + ... + in[i-1], out[0] = 0;
// inclusive_sum: up to in[i]) or, for reduce_sum, their total in out[0] (0 when n == 0).
// Each item is converted to the accumulator type, added there (integers wrap around as
// on the device) and converted to the output type.
struct ScanArgs {
  const char* api = "";
  void* temp = nullptr;
  size_t* temp_bytes = nullptr;
  const void* in = nullptr;
  void* out = nullptr;
  long long n = 0;
  NumType in_type = NumType::unsupported, out_type = NumType::unsupported, accum_type = NumType::unsupported;
  ScanKind kind = ScanKind::exclusive_sum;
  cudaStream_t stream = nullptr;
};
cudaError_t scan(const ScanArgs& a);

}  // namespace cub_support
}  // namespace cudasim
