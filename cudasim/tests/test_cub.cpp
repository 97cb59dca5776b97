// The simulated CUB (cudasim/include/cub/cub.cuh, cudasim/src/cub.cpp): results against
// std::stable_sort and serial sums, the temp storage protocol and the errors it reports.
#include <cuda_runtime.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <cub/cub.cuh>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "cudasim/cudasim.h"
#include "internal.h"  // kScratchMarker

namespace {

constexpr unsigned char kMarker = cudasim::kScratchMarker;

// A device buffer filled from / read back into host vectors with the real API.
template <class T>
struct DevBuf {
  T* p = nullptr;
  size_t n = 0;
  explicit DevBuf(size_t count) : n(count) {
    REQUIRE(cudaMalloc(reinterpret_cast<void**>(&p), std::max<size_t>(count, 1) * sizeof(T)) == cudaSuccess);
  }
  explicit DevBuf(const std::vector<T>& v) : DevBuf(v.size()) { put(v); }
  DevBuf(const DevBuf&) = delete;
  DevBuf& operator=(const DevBuf&) = delete;
  ~DevBuf() { cudaFree(p); }
  void put(const std::vector<T>& v) {
    REQUIRE(v.size() <= std::max<size_t>(n, 1));
    REQUIRE(cudaMemcpy(p, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice) == cudaSuccess);
  }
  std::vector<T> get(size_t count) const {
    std::vector<T> v(count);
    REQUIRE(cudaMemcpy(v.data(), p, count * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
    return v;
  }
  std::vector<T> get() const { return get(n); }
};

template <class K, class V>
size_t sort_pairs_bytes(int n, int begin_bit = 0, int end_bit = int(sizeof(K) * 8)) {
  size_t bytes = 0;
  REQUIRE(cub::DeviceRadixSort::SortPairs(nullptr, bytes, static_cast<const K*>(nullptr), static_cast<K*>(nullptr),
                                          static_cast<const V*>(nullptr), static_cast<V*>(nullptr), n, begin_bit,
                                          end_bit) == cudaSuccess);
  REQUIRE(bytes > 0);
  return bytes;
}

// Sorts (keys, values = 0..n-1) on the simulated device with the two-phase protocol and
// checks the result against std::stable_sort on the same bits.
template <class K>
void check_sort_pairs(const std::vector<K>& keys, int begin_bit, int end_bit) {
  const int n = int(keys.size());
  std::vector<int64_t> values(keys.size());
  std::iota(values.begin(), values.end(), int64_t(0));
  DevBuf<K> kin(keys), kout(keys.size());
  DevBuf<int64_t> vin(values), vout(keys.size());
  size_t bytes = 0;
  REQUIRE(cub::DeviceRadixSort::SortPairs(nullptr, bytes, kin.p, kout.p, vin.p, vout.p, n, begin_bit, end_bit) ==
          cudaSuccess);
  DevBuf<unsigned char> temp(bytes);
  const size_t given = bytes;
  REQUIRE(cub::DeviceRadixSort::SortPairs(temp.p, bytes, kin.p, kout.p, vin.p, vout.p, n, begin_bit, end_bit) ==
          cudaSuccess);
  REQUIRE(bytes == given);  // a real call leaves temp_storage_bytes alone
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);

  const int width = end_bit - begin_bit;
  const uint64_t mask = width >= 64 ? ~uint64_t(0) : (uint64_t(1) << width) - 1;
  auto digits = [&](K k) { return width == 0 ? uint64_t(0) : (uint64_t(k) >> begin_bit) & mask; };
  std::vector<int64_t> order(values);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return digits(keys[size_t(a)]) < digits(keys[size_t(b)]); });
  std::vector<K> want_keys(keys.size());
  for (size_t i = 0; i < order.size(); ++i) want_keys[i] = keys[size_t(order[i])];
  CHECK(vout.get() == order);
  CHECK(kout.get() == want_keys);
  CHECK(kin.get() == keys);  // the input is not altered
  CHECK(cudasim::last_report().empty());
}

template <class K>
std::vector<K> random_keys(size_t n, uint64_t seed, uint64_t distinct = 0) {
  std::mt19937_64 rng(seed);
  std::vector<K> keys(n);
  for (auto& k : keys) k = K(distinct ? rng() % distinct : rng());
  return keys;
}

}  // namespace

TEST_CASE("cub SortPairs is stable on 32-bit keys with many equal keys", "[cudasim]") {
  cudasim::clear_report();
  check_sort_pairs(random_keys<uint32_t>(5000, 1, 7), 0, 32);
  check_sort_pairs(random_keys<uint32_t>(777, 2), 0, 32);
  // Keys that differ only past the first digit, and descending runs.
  std::vector<uint32_t> keys;
  for (uint32_t i = 0; i < 600; ++i) keys.push_back((600 - i) << 20 | (i % 3));
  check_sort_pairs(keys, 0, 32);
}

TEST_CASE("cub SortPairs compares only the bits in begin_bit to end_bit", "[cudasim]") {
  cudasim::clear_report();
  // Garbage above end_bit is carried along but never compared.
  std::vector<uint32_t> keys = random_keys<uint32_t>(3001, 3);
  check_sort_pairs(keys, 0, 5);
  check_sort_pairs(keys, 0, 13);
  // ... and below begin_bit too.
  check_sort_pairs(keys, 7, 19);
  check_sort_pairs(keys, 31, 32);
  // No bits at all: a stable copy.
  check_sort_pairs(keys, 9, 9);
  // The MoE route's use: bucket ids below 2^bits, garbage above.
  std::vector<uint32_t> buckets = random_keys<uint32_t>(1024, 4, 9);
  for (size_t i = 0; i < buckets.size(); ++i) buckets[i] |= uint32_t(i) << 4;
  check_sort_pairs(buckets, 0, 4);
}

TEST_CASE("cub SortPairs sorts 64-bit keys on all or part of their bits", "[cudasim]") {
  cudasim::clear_report();
  std::vector<uint64_t> keys = random_keys<uint64_t>(4099, 5);
  keys[0] = ~uint64_t(0);
  keys[1] = 0;
  keys[2] = uint64_t(1) << 63;
  keys[3] = uint64_t(1) << 63;
  check_sort_pairs(keys, 0, 64);
  check_sort_pairs(keys, 0, 40);
  check_sort_pairs(keys, 33, 64);
  check_sort_pairs(random_keys<uint64_t>(2000, 6, 5), 0, 64);
}

TEST_CASE("cub SortPairs with 0, 1 and a large odd number of items", "[cudasim]") {
  cudasim::clear_report();
  check_sort_pairs(std::vector<uint32_t>{}, 0, 32);
  check_sort_pairs(std::vector<uint32_t>{42u}, 0, 32);
  check_sort_pairs(std::vector<uint64_t>{7u}, 0, 3);
  check_sort_pairs(random_keys<uint32_t>(200001, 7), 0, 32);
  check_sort_pairs(random_keys<uint64_t>(100003, 8, 1000), 0, 64);
  // As CUB: an empty sort needs one byte, and runs without looking at the pointers.
  CHECK(sort_pairs_bytes<uint32_t, int64_t>(0) == 1);
  size_t one = 1;
  unsigned char* temp = nullptr;
  REQUIRE(cudaMalloc(reinterpret_cast<void**>(&temp), 1) == cudaSuccess);
  CHECK(cub::DeviceRadixSort::SortPairs(temp, one, static_cast<const uint32_t*>(nullptr),
                                        static_cast<uint32_t*>(nullptr), static_cast<const int64_t*>(nullptr),
                                        static_cast<int64_t*>(nullptr), 0) == cudaSuccess);
  cudaFree(temp);
}

TEST_CASE("cub SortKeys sorts keys alone", "[cudasim]") {
  cudasim::clear_report();
  std::vector<uint16_t> keys = random_keys<uint16_t>(1001, 9);
  DevBuf<uint16_t> kin(keys), kout(keys.size());
  size_t bytes = 0;
  REQUIRE(cub::DeviceRadixSort::SortKeys(nullptr, bytes, kin.p, kout.p, int(keys.size())) == cudaSuccess);
  DevBuf<unsigned char> temp(bytes);
  REQUIRE(cub::DeviceRadixSort::SortKeys(temp.p, bytes, kin.p, kout.p, int(keys.size())) == cudaSuccess);
  std::sort(keys.begin(), keys.end());
  CHECK(kout.get() == keys);
}

TEST_CASE("cub temp storage size depends on num_items, bit range and key and value sizes", "[cudasim]") {
  const size_t base = sort_pairs_bytes<uint32_t, int64_t>(1000, 0, 4);
  CHECK(sort_pairs_bytes<uint32_t, int64_t>(1001, 0, 4) > base);
  CHECK(sort_pairs_bytes<uint32_t, int64_t>(1000, 0, 5) > base);
  CHECK(sort_pairs_bytes<uint32_t, int64_t>(1000, 0, 32) > sort_pairs_bytes<uint32_t, int64_t>(1000, 0, 31));
  CHECK(sort_pairs_bytes<uint64_t, int64_t>(1000, 0, 4) > base);
  CHECK(sort_pairs_bytes<uint32_t, int32_t>(1000, 0, 4) < base);
  // Fewer items or bits never need more (the engine sizes once for its largest call).
  CHECK(sort_pairs_bytes<uint32_t, int64_t>(999, 0, 4) <= base);
  CHECK(sort_pairs_bytes<uint32_t, int64_t>(1000, 0, 3) <= base);
  size_t s1 = 0, s2 = 0;
  REQUIRE(cub::DeviceScan::ExclusiveSum(nullptr, s1, static_cast<const int64_t*>(nullptr),
                                        static_cast<int64_t*>(nullptr), 100) == cudaSuccess);
  REQUIRE(cub::DeviceScan::ExclusiveSum(nullptr, s2, static_cast<const int64_t*>(nullptr),
                                        static_cast<int64_t*>(nullptr), 100000) == cudaSuccess);
  CHECK(s1 > 0);
  CHECK(s2 > s1);
}

TEST_CASE("cub SortPairs with too little temp storage reports and returns an error", "[cudasim]") {
  const int n = 1000;
  std::vector<uint32_t> keys = random_keys<uint32_t>(n + 1, 10, 16);
  DevBuf<uint32_t> kin(keys), kout(keys.size());
  DevBuf<int64_t> vin(keys.size()), vout(std::vector<int64_t>(keys.size(), -7));
  // Queried for fewer items than the call sorts.
  size_t bytes = sort_pairs_bytes<uint32_t, int64_t>(n, 0, 4);
  DevBuf<unsigned char> temp(bytes);
  cudasim::clear_report();
  CHECK(cub::DeviceRadixSort::SortPairs(temp.p, bytes, kin.p, kout.p, vin.p, vout.p, n + 1, 0, 4) ==
        cudaErrorInvalidValue);
  std::string r = cudasim::last_report();
  CHECK(r.find("cub::DeviceRadixSort::SortPairs") != std::string::npos);
  CHECK(r.find("temp_storage_bytes = " + std::to_string(bytes)) != std::string::npos);
  CHECK(r.find("needs") != std::string::npos);
  CHECK(vout.get() == std::vector<int64_t>(keys.size(), -7));  // nothing ran
  // Queried for fewer bits than the call compares.
  cudasim::clear_report();
  CHECK(cub::DeviceRadixSort::SortPairs(temp.p, bytes, kin.p, kout.p, vin.p, vout.p, n, 0, 32) ==
        cudaErrorInvalidValue);
  CHECK(cudasim::last_report().find("key bits [0, 32)") != std::string::npos);
  // The error is the call's, not the device's: the next call works.
  CHECK(cudaGetLastError() == cudaSuccess);
  cudasim::clear_report();
  CHECK(cub::DeviceRadixSort::SortPairs(temp.p, bytes, kin.p, kout.p, vin.p, vout.p, n, 0, 4) == cudaSuccess);
  CHECK(cudasim::last_report().empty());
}

TEST_CASE("cub fills the temp storage with the scratch marker", "[cudasim]") {
  cudasim::clear_report();
  const int n = 513;
  std::vector<uint32_t> keys = random_keys<uint32_t>(n, 11);
  DevBuf<uint32_t> kin(keys), kout{size_t(n)};
  DevBuf<int64_t> vin{size_t(n)}, vout{size_t(n)};
  const size_t needed = sort_pairs_bytes<uint32_t, int64_t>(n);
  const size_t extra = 1000;
  DevBuf<unsigned char> temp(std::vector<unsigned char>(needed + extra, 0));
  size_t bytes = needed + extra;
  REQUIRE(cub::DeviceRadixSort::SortPairs(temp.p, bytes, kin.p, kout.p, vin.p, vout.p, n) == cudaSuccess);
  std::vector<unsigned char> after = temp.get();
  // Past what the sort needs, every byte of the storage the caller handed over is the marker.
  CHECK(std::count(after.begin() + long(needed), after.end(), kMarker) == long(extra));

  size_t scan_bytes = 0;
  DevBuf<int32_t> in(std::vector<int32_t>(size_t(n), 1)), out{size_t(n)};
  REQUIRE(cub::DeviceScan::ExclusiveSum(nullptr, scan_bytes, in.p, out.p, n) == cudaSuccess);
  temp.put(std::vector<unsigned char>(scan_bytes, 0));
  REQUIRE(cub::DeviceScan::ExclusiveSum(temp.p, scan_bytes, in.p, out.p, n) == cudaSuccess);
  after = temp.get(scan_bytes);
  // At least the alignment slack (255 bytes) is never written after the marker fill.
  CHECK(std::count(after.begin(), after.end(), kMarker) >= 255);
}

TEST_CASE("cub SortPairs rejects overlapping ranges and a bad bit range", "[cudasim]") {
  const int n = 64;
  std::vector<uint32_t> keys = random_keys<uint32_t>(n, 12);
  DevBuf<uint32_t> k(keys), kout{size_t(n)};
  DevBuf<int64_t> v{size_t(n)}, vout{size_t(n)};
  size_t bytes = sort_pairs_bytes<uint32_t, int64_t>(n);
  DevBuf<unsigned char> temp(bytes);
  cudasim::clear_report();
  CHECK(cub::DeviceRadixSort::SortPairs(temp.p, bytes, k.p, k.p, v.p, vout.p, n) == cudaErrorInvalidValue);
  CHECK(cudasim::last_report().find("overlaps") != std::string::npos);
  cudasim::clear_report();
  size_t query = 0;
  CHECK(cub::DeviceRadixSort::SortPairs(nullptr, query, k.p, kout.p, v.p, vout.p, n, 0, 33) == cudaErrorInvalidValue);
  CHECK(cudasim::last_report().find("bit range") != std::string::npos);
  CHECK(query == 0);
  cudasim::clear_report();
  CHECK(cub::DeviceRadixSort::SortPairs(nullptr, query, k.p, kout.p, v.p, vout.p, -1) == cudaErrorInvalidValue);
  CHECK(cudasim::last_report().find("negative") != std::string::npos);
  cudasim::clear_report();
}

TEST_CASE("cub ExclusiveSum of int32 and int64, in place, 0, 1 and a large odd count", "[cudasim]") {
  cudasim::clear_report();
  for (int n : {0, 1, 2, 255, 256, 257, 100001}) {
    INFO("n = " << n);
    std::mt19937 rng{unsigned(n)};
    std::vector<int32_t> a(static_cast<size_t>(n));
    for (auto& x : a) x = int32_t(rng() % 2001) - 1000;
    std::vector<int64_t> b(static_cast<size_t>(n));
    for (auto& x : b) x = (int64_t(rng()) << 12) - (int64_t(1) << 43);  // sums need more than 32 bits
    std::vector<int32_t> want_a(a.size());
    std::vector<int64_t> want_b(b.size());
    std::exclusive_scan(a.begin(), a.end(), want_a.begin(), int32_t(0));
    std::exclusive_scan(b.begin(), b.end(), want_b.begin(), int64_t(0));

    DevBuf<int32_t> ain(a), aout(a.size());
    size_t bytes = 0;
    REQUIRE(cub::DeviceScan::ExclusiveSum(nullptr, bytes, ain.p, aout.p, n) == cudaSuccess);
    DevBuf<unsigned char> temp(bytes);
    REQUIRE(cub::DeviceScan::ExclusiveSum(temp.p, bytes, ain.p, aout.p, n) == cudaSuccess);
    CHECK(aout.get() == want_a);

    DevBuf<int64_t> bio(b);  // in place, as the engine's counts -> starts could be
    bytes = 0;
    REQUIRE(cub::DeviceScan::ExclusiveSum(nullptr, bytes, bio.p, bio.p, int64_t(n)) == cudaSuccess);
    DevBuf<unsigned char> temp2(bytes);
    REQUIRE(cub::DeviceScan::ExclusiveSum(temp2.p, bytes, static_cast<const int64_t*>(bio.p), bio.p, int64_t(n)) ==
            cudaSuccess);
    CHECK(bio.get() == want_b);
  }
  CHECK(cudasim::last_report().empty());
}

TEST_CASE("cub ExclusiveSum sizing as the MoE route does it: queried for E+1, run for E and E+1", "[cudasim]") {
  cudasim::clear_report();
  const int E = 37;
  size_t bytes = 0;
  REQUIRE(cub::DeviceScan::ExclusiveSum(nullptr, bytes, static_cast<const int64_t*>(nullptr),
                                        static_cast<int64_t*>(nullptr), E + 1) == cudaSuccess);
  DevBuf<unsigned char> temp(bytes);
  std::vector<int64_t> counts(E + 1);
  std::iota(counts.begin(), counts.end(), int64_t(3));
  DevBuf<int64_t> in(counts), out(counts.size());
  CHECK(cub::DeviceScan::ExclusiveSum(temp.p, bytes, in.p, out.p, E) == cudaSuccess);
  CHECK(cub::DeviceScan::ExclusiveSum(temp.p, bytes, in.p, out.p, E + 1) == cudaSuccess);
  std::vector<int64_t> want(counts.size());
  std::exclusive_scan(counts.begin(), counts.end(), want.begin(), int64_t(0));
  CHECK(out.get() == want);
  // Too little: a caller that queried for fewer items than it scans.
  size_t small = 0;
  REQUIRE(cub::DeviceScan::ExclusiveSum(nullptr, small, in.p, out.p, 1) == cudaSuccess);
  REQUIRE(cub::DeviceScan::ExclusiveSum(nullptr, bytes, in.p, out.p, 100000) == cudaSuccess);
  DevBuf<int64_t> big(100000);
  CHECK(cub::DeviceScan::ExclusiveSum(temp.p, small, big.p, big.p, 100000) == cudaErrorInvalidValue);
  CHECK(cudasim::last_report().find("cub::DeviceScan::ExclusiveSum: temp_storage_bytes = " + std::to_string(small)) !=
        std::string::npos);
  cudasim::clear_report();
  // Partial overlap of input and output (not in place) is an error.
  DevBuf<unsigned char> temp3(bytes);
  CHECK(cub::DeviceScan::ExclusiveSum(temp3.p, bytes, big.p, big.p + 1, 1000) == cudaErrorInvalidValue);
  CHECK(cudasim::last_report().find("overlaps") != std::string::npos);
  cudasim::clear_report();
}

TEST_CASE("cub InclusiveSum and DeviceReduce::Sum", "[cudasim]") {
  cudasim::clear_report();
  const int n = 1001;
  std::vector<int32_t> a(n);
  for (int i = 0; i < n; ++i) a[size_t(i)] = (i * 7919) % 101 - 50;
  std::vector<int32_t> want(a.size());
  std::inclusive_scan(a.begin(), a.end(), want.begin());
  DevBuf<int32_t> in(a), out(a.size());
  size_t bytes = 0;
  REQUIRE(cub::DeviceScan::InclusiveSum(nullptr, bytes, in.p, out.p, n) == cudaSuccess);
  DevBuf<unsigned char> temp(bytes);
  REQUIRE(cub::DeviceScan::InclusiveSum(temp.p, bytes, in.p, out.p, n) == cudaSuccess);
  CHECK(out.get() == want);

  DevBuf<int64_t> sum(1);
  bytes = 0;
  REQUIRE(cub::DeviceReduce::Sum(nullptr, bytes, in.p, sum.p, n) == cudaSuccess);
  DevBuf<unsigned char> temp2(bytes);
  REQUIRE(cub::DeviceReduce::Sum(temp2.p, bytes, in.p, sum.p, n) == cudaSuccess);
  CHECK(sum.get()[0] == std::accumulate(a.begin(), a.end(), int64_t(0)));
  // Zero items: the sum is 0.
  sum.put({123});
  REQUIRE(cub::DeviceReduce::Sum(temp2.p, bytes, in.p, sum.p, 0) == cudaSuccess);
  CHECK(sum.get()[0] == 0);
  // Integer sums wrap as on the device.
  DevBuf<uint32_t> u(std::vector<uint32_t>{0xFFFFFFFFu, 2u}), uout(2);
  REQUIRE(cub::DeviceScan::InclusiveSum(temp2.p, bytes, u.p, uout.p, 2) == cudaSuccess);
  CHECK(uout.get() == std::vector<uint32_t>{0xFFFFFFFFu, 1u});
  CHECK(cudasim::last_report().empty());
}

TEST_CASE("cub SortPairs and ExclusiveSum captured in a graph run at each replay", "[cudasim]") {
  cudasim::clear_report();
  const int n = 300;
  DevBuf<uint32_t> kin{size_t(n)}, kout{size_t(n)};
  DevBuf<int64_t> vin{size_t(n)}, vout{size_t(n)}, sums{size_t(n)};
  std::vector<int64_t> iota(static_cast<size_t>(n));
  std::iota(iota.begin(), iota.end(), int64_t(0));
  vin.put(iota);
  size_t sort_bytes = sort_pairs_bytes<uint32_t, int64_t>(n, 0, 6), scan_bytes = 0;
  REQUIRE(cub::DeviceScan::ExclusiveSum(nullptr, scan_bytes, vout.p, sums.p, n) == cudaSuccess);
  DevBuf<unsigned char> temp(std::max(sort_bytes, scan_bytes));
  cudaStream_t stream = nullptr;
  REQUIRE(cudaStreamCreate(&stream) == cudaSuccess);
  REQUIRE(cudaStreamBeginCapture(stream, cudaStreamCaptureModeGlobal) == cudaSuccess);
  {
    size_t bytes = temp.n;  // gone before the replays: the work must not read it then
    CHECK(cub::DeviceRadixSort::SortPairs(temp.p, bytes, kin.p, kout.p, vin.p, vout.p, n, 0, 6, stream) == cudaSuccess);
    CHECK(cub::DeviceScan::ExclusiveSum(temp.p, bytes, vout.p, sums.p, n, stream) == cudaSuccess);
  }
  cudaGraph_t graph = nullptr;
  REQUIRE(cudaStreamEndCapture(stream, &graph) == cudaSuccess);
  cudaGraphExec_t exec = nullptr;
  REQUIRE(cudaGraphInstantiate(&exec, graph, 0) == cudaSuccess);
  for (uint64_t seed : {21u, 22u}) {
    std::vector<uint32_t> keys = random_keys<uint32_t>(size_t(n), seed, 50);
    kin.put(keys);
    REQUIRE(cudaGraphLaunch(exec, stream) == cudaSuccess);
    REQUIRE(cudaStreamSynchronize(stream) == cudaSuccess);
    std::vector<int64_t> order(iota);
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return (keys[size_t(a)] & 63u) < (keys[size_t(b)] & 63u); });
    std::vector<int64_t> want(static_cast<size_t>(n));
    std::exclusive_scan(order.begin(), order.end(), want.begin(), int64_t(0));
    CHECK(vout.get() == order);
    CHECK(sums.get() == want);
  }
  CHECK(cudaGraphExecDestroy(exec) == cudaSuccess);
  CHECK(cudaGraphDestroy(graph) == cudaSuccess);
  CHECK(cudaStreamDestroy(stream) == cudaSuccess);
  CHECK(cudasim::last_report().empty());
}

TEST_CASE("cub SortPairs on host memory is an illegal address on the device", "[cudasim]") {
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  {
    const int n = 16;
    std::vector<uint32_t> host_keys = random_keys<uint32_t>(n, 13);
    DevBuf<uint32_t> kout{size_t(n)};
    DevBuf<int64_t> vin{size_t(n)}, vout{size_t(n)};
    size_t bytes = sort_pairs_bytes<uint32_t, int64_t>(n);
    DevBuf<unsigned char> temp(bytes);
    cudasim::clear_report();
    // The fault is the device's: the call may return it (the simulator runs the work at
    // once) or not (as an asynchronous launch), the next synchronization must.
    const cudaError_t call = cub::DeviceRadixSort::SortPairs(temp.p, bytes, host_keys.data(), kout.p, vin.p, vout.p, n);
    CHECK((call == cudaSuccess || call == cudaErrorIllegalAddress));
    CHECK(cudaDeviceSynchronize() == cudaErrorIllegalAddress);
    CHECK(cudasim::last_report().find("d_keys_in") != std::string::npos);
  }  // the buffers go (their cudaFree may see the sticky error) before the reset
  // The fault is sticky until the device is reset.
  CHECK(cudaDeviceReset() == cudaSuccess);
  CHECK(cudaGetLastError() == cudaSuccess);
  CHECK(cudaDeviceSynchronize() == cudaSuccess);
  cudasim::clear_report();
}
