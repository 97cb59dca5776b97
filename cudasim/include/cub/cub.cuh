#pragma once
// The simulator's CUB. The real <cub/cub.cuh> does not compile in host C++, so the
// simulator build puts this directory first on the include path. It declares the
// device-wide algorithms the engine uses, with CUB's signatures and semantics:
//   cub::DeviceRadixSort::SortPairs / SortKeys   (unsigned keys, bit range [begin, end))
//   cub::DeviceScan::ExclusiveSum / InclusiveSum
//   cub::DeviceReduce::Sum
// each with CUB's two-phase temp storage protocol (d_temp_storage == nullptr: store the
// size needed in temp_storage_bytes and return). The work is done by the type-erased
// functions of cudasim/cub_support.h (cudasim/src/cub.cpp); see there for the checks.
// Anything else of CUB (block/warp primitives, iterators, DoubleBuffer) is absent on
// purpose: a use of it fails to compile, and is added here when the engine needs it.
#include <cuda_runtime.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "cudasim/cub_support.h"

#define CUB_CUDASIM 1

namespace cub {
namespace cudasim_detail {

template <class NumItemsT>
long long num_items_ll(NumItemsT n) {
  static_assert(std::is_integral<NumItemsT>::value && !std::is_same<std::remove_cv_t<NumItemsT>, bool>::value,
                "cub (cudasim): num_items must be an integral type, but not bool");
  if (std::is_unsigned<NumItemsT>::value &&
      static_cast<unsigned long long>(n) > static_cast<unsigned long long>(LLONG_MAX))
    return LLONG_MAX;
  return static_cast<long long>(n);
}

template <class KeyT>
constexpr void check_key() {
  static_assert(std::is_integral<KeyT>::value && std::is_unsigned<KeyT>::value &&
                    !std::is_same<std::remove_cv_t<KeyT>, bool>::value,
                "cub::DeviceRadixSort (cudasim): only unsigned integer keys are simulated (the engine sorts "
                "uint32_t and uint64_t keys). Signed and floating-point keys need CUB's key bit twiddling, "
                "which cudasim/include/cub/cub.cuh and cudasim/src/cub.cpp must add first.");
  static_assert(sizeof(KeyT) == 1 || sizeof(KeyT) == 2 || sizeof(KeyT) == 4 || sizeof(KeyT) == 8,
                "cub::DeviceRadixSort (cudasim): keys of 1, 2, 4 or 8 bytes");
}

template <class T>
struct num_type : std::integral_constant<cudasim::cub_support::NumType, cudasim::cub_support::NumType::unsupported> {};
#define CUB_CUDASIM_NUM_TYPE(T, code) \
  template <>                         \
  struct num_type<T> : std::integral_constant<cudasim::cub_support::NumType, cudasim::cub_support::NumType::code> {};
CUB_CUDASIM_NUM_TYPE(signed char, i8)
CUB_CUDASIM_NUM_TYPE(unsigned char, u8)
CUB_CUDASIM_NUM_TYPE(short, i16)
CUB_CUDASIM_NUM_TYPE(unsigned short, u16)
CUB_CUDASIM_NUM_TYPE(int, i32)
CUB_CUDASIM_NUM_TYPE(unsigned int, u32)
CUB_CUDASIM_NUM_TYPE(long, i64)
CUB_CUDASIM_NUM_TYPE(unsigned long, u64)
CUB_CUDASIM_NUM_TYPE(long long, i64)
CUB_CUDASIM_NUM_TYPE(unsigned long long, u64)
CUB_CUDASIM_NUM_TYPE(float, f32)
CUB_CUDASIM_NUM_TYPE(double, f64)
#undef CUB_CUDASIM_NUM_TYPE
static_assert(sizeof(long) == 8, "cub (cudasim): an LP64 host");

template <class T>
constexpr cudasim::cub_support::NumType num_type_v = num_type<std::remove_cv_t<T>>::value;

// What a scan or reduction over pointers InPtr -> OutPtr reads, adds in and writes. The
// accumulator type is CUB's: the type of init + item, with init of the input type for
// scans and of the output type for DeviceReduce::Sum.
template <class InPtr, class OutPtr, bool init_is_output>
struct ScanTypes {
  static_assert(std::is_pointer<InPtr>::value && std::is_pointer<OutPtr>::value,
                "cub::DeviceScan / DeviceReduce (cudasim): only plain pointers are simulated, no iterators");
  using In = std::remove_cv_t<std::remove_pointer_t<InPtr>>;
  using Out = std::remove_pointer_t<OutPtr>;
  static_assert(!std::is_const<Out>::value, "cub (cudasim): the output must be writable");
  using Init = std::conditional_t<init_is_output, Out, In>;
  using Accum = std::decay_t<decltype(std::declval<Init>() + std::declval<In>())>;
  static_assert(num_type_v<In> != cudasim::cub_support::NumType::unsupported &&
                    num_type_v<Out> != cudasim::cub_support::NumType::unsupported &&
                    num_type_v<Accum> != cudasim::cub_support::NumType::unsupported,
                "cub::DeviceScan / DeviceReduce (cudasim): only built-in integer and float/double items");
};

template <class InPtr, class OutPtr, bool init_is_output, class NumItemsT>
cudaError_t scan(const char* api, cudasim::cub_support::ScanKind kind, void* d_temp_storage, size_t& temp_storage_bytes,
                 InPtr d_in, OutPtr d_out, NumItemsT num_items, cudaStream_t stream) {
  using Types = ScanTypes<InPtr, OutPtr, init_is_output>;
  cudasim::cub_support::ScanArgs a;
  a.api = api;
  a.temp = d_temp_storage;
  a.temp_bytes = &temp_storage_bytes;
  a.in = d_in;
  a.out = d_out;
  a.n = num_items_ll(num_items);
  a.in_type = num_type_v<typename Types::In>;
  a.out_type = num_type_v<typename Types::Out>;
  a.accum_type = num_type_v<typename Types::Accum>;
  a.kind = kind;
  a.stream = stream;
  return cudasim::cub_support::scan(a);
}

}  // namespace cudasim_detail

struct DeviceRadixSort {
  // Sorts (key, value) pairs by key bits [begin_bit, end_bit), stably, into
  // d_keys_out/d_values_out. Input and output ranges must not overlap.
  template <typename KeyT, typename ValueT, typename NumItemsT>
  static cudaError_t SortPairs(void* d_temp_storage, size_t& temp_storage_bytes, const KeyT* d_keys_in,
                               KeyT* d_keys_out, const ValueT* d_values_in, ValueT* d_values_out, NumItemsT num_items,
                               int begin_bit = 0, int end_bit = sizeof(KeyT) * 8, cudaStream_t stream = 0) {
    cudasim_detail::check_key<KeyT>();
    static_assert(std::is_trivially_copyable<ValueT>::value,
                  "cub::DeviceRadixSort::SortPairs (cudasim): values must be trivially copyable");
    cudasim::cub_support::SortArgs a;
    a.api = "cub::DeviceRadixSort::SortPairs";
    a.temp = d_temp_storage;
    a.temp_bytes = &temp_storage_bytes;
    a.keys_in = d_keys_in;
    a.keys_out = d_keys_out;
    a.values_in = d_values_in;
    a.values_out = d_values_out;
    a.n = cudasim_detail::num_items_ll(num_items);
    a.key_bytes = sizeof(KeyT);
    a.value_bytes = sizeof(ValueT);
    a.value_align = alignof(ValueT);
    a.begin_bit = begin_bit;
    a.end_bit = end_bit;
    a.stream = stream;
    return cudasim::cub_support::radix_sort(a);
  }

  template <typename KeyT, typename NumItemsT>
  static cudaError_t SortKeys(void* d_temp_storage, size_t& temp_storage_bytes, const KeyT* d_keys_in, KeyT* d_keys_out,
                              NumItemsT num_items, int begin_bit = 0, int end_bit = sizeof(KeyT) * 8,
                              cudaStream_t stream = 0) {
    cudasim_detail::check_key<KeyT>();
    cudasim::cub_support::SortArgs a;
    a.api = "cub::DeviceRadixSort::SortKeys";
    a.temp = d_temp_storage;
    a.temp_bytes = &temp_storage_bytes;
    a.keys_in = d_keys_in;
    a.keys_out = d_keys_out;
    a.n = cudasim_detail::num_items_ll(num_items);
    a.key_bytes = sizeof(KeyT);
    a.begin_bit = begin_bit;
    a.end_bit = end_bit;
    a.stream = stream;
    return cudasim::cub_support::radix_sort(a);
  }
};

struct DeviceScan {
  // d_out[i] = d_in[0] + ... + d_in[i-1], d_out[0] = 0. d_in == d_out scans in place;
  // any other overlap is an error.
  template <typename InputIteratorT, typename OutputIteratorT, typename NumItemsT>
  static cudaError_t ExclusiveSum(void* d_temp_storage, size_t& temp_storage_bytes, InputIteratorT d_in,
                                  OutputIteratorT d_out, NumItemsT num_items, cudaStream_t stream = 0) {
    return cudasim_detail::scan<InputIteratorT, OutputIteratorT, false>(
        "cub::DeviceScan::ExclusiveSum", cudasim::cub_support::ScanKind::exclusive_sum, d_temp_storage,
        temp_storage_bytes, d_in, d_out, num_items, stream);
  }

  // d_out[i] = d_in[0] + ... + d_in[i].
  template <typename InputIteratorT, typename OutputIteratorT, typename NumItemsT>
  static cudaError_t InclusiveSum(void* d_temp_storage, size_t& temp_storage_bytes, InputIteratorT d_in,
                                  OutputIteratorT d_out, NumItemsT num_items, cudaStream_t stream = 0) {
    return cudasim_detail::scan<InputIteratorT, OutputIteratorT, false>(
        "cub::DeviceScan::InclusiveSum", cudasim::cub_support::ScanKind::inclusive_sum, d_temp_storage,
        temp_storage_bytes, d_in, d_out, num_items, stream);
  }
};

struct DeviceReduce {
  // d_out[0] = d_in[0] + ... + d_in[num_items - 1] (0 when num_items == 0).
  template <typename InputIteratorT, typename OutputIteratorT, typename NumItemsT>
  static cudaError_t Sum(void* d_temp_storage, size_t& temp_storage_bytes, InputIteratorT d_in, OutputIteratorT d_out,
                         NumItemsT num_items, cudaStream_t stream = 0) {
    return cudasim_detail::scan<InputIteratorT, OutputIteratorT, true>(
        "cub::DeviceReduce::Sum", cudasim::cub_support::ScanKind::reduce_sum, d_temp_storage, temp_storage_bytes, d_in,
        d_out, num_items, stream);
  }
};

}  // namespace cub
