// The simulated CUB's work: radix sort, prefix sums and sums over device memory, with the
// checks a caller of the real CUB would want (see cudasim/cub_support.h for the protocol).
//
// Temp storage is carved as CUB carves it (each part at a 256-byte boundary of a base
// aligned to 256) but, unlike CUB's, its size grows strictly with every argument that
// matters, so that a size queried with other arguments than the call's is caught as
// soon as it is too small:
//   sort:  the digit histograms (one 8-byte bin per value of each 8-bit digit of
//          [begin_bit, end_bit), the last digit narrower), the alternate key buffer and
//          the alternate value buffer, plus 255 bytes of padding for each part and the
//          base; num_items == 0 needs 1 byte and does nothing, as in CUB.
//   scan/reduce: one descriptor (status, tile sum, inclusive prefix) per tile of 256
//          items plus 32, as CUB's decoupled look-back keeps.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>

#include "cudasim/cub_support.h"
#include "internal.h"

namespace cudasim {
namespace cub_support {
namespace {

constexpr size_t kAlign = 256;
constexpr int kDigitBits = 8;
constexpr long long kScanTile = 256;
constexpr long long kScanPadding = 32;

size_t round_up(size_t n, size_t a) { return (n + a - 1) / a * a; }

std::string hex(const void* p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%p", p);
  return buf;
}

struct Range {
  const char* name;
  const void* p;
  size_t bytes;
};

bool overlap(const Range& a, const Range& b) {
  if (a.bytes == 0 || b.bytes == 0) return false;
  const char* pa = static_cast<const char*>(a.p);
  const char* pb = static_cast<const char*>(b.p);
  return pa < pb + b.bytes && pb < pa + a.bytes;
}

std::string range_text(const Range& r) {
  return std::string(r.name) + " [" + hex(r.p) + ", +" + std::to_string(r.bytes) + ")";
}

// In the work: is each range device memory, suitably aligned? On failure the fault is
// sticky, as the kernel's would be on a device.
bool check_ranges(const char* api, const Range* ranges, const size_t* aligns, int count) {
  for (int i = 0; i < count; ++i) {
    const Range& r = ranges[i];
    if (r.bytes == 0) continue;
    std::string why;
    if (!device_accessible(r.p, r.bytes, &why)) {
      fail_sticky(cudaErrorIllegalAddress, std::string(api) + ": " + range_text(r) + " is not device memory: " + why);
      return false;
    }
    if (aligns[i] > 1 && reinterpret_cast<uintptr_t>(r.p) % aligns[i] != 0) {
      fail_sticky(cudaErrorMisalignedAddress, std::string(api) + ": " + r.name + " = " + hex(r.p) +
                                                  " is not aligned to its " + std::to_string(aligns[i]) +
                                                  "-byte items");
      return false;
    }
  }
  return true;
}

cudaError_t enqueue_checked(cudaStream_t stream, const char* api, std::function<void()> work) {
  const cudaError_t err = enqueue(stream, api, std::move(work));
  if (err != cudaSuccess) set_last_error(err);  // as a failed kernel launch inside CUB leaves it
  return err;
}

// ---------------------------------------------------------------------------------------
// Radix sort

struct SortLayout {
  int passes = 0;
  int width[64 / kDigitBits] = {};
  size_t hist_offset[64 / kDigitBits] = {};  // in uint64_t counts, from the aligned base
  size_t keys_off = 0, values_off = 0, needed = 0;
};

SortLayout sort_layout(long long n, size_t key_bytes, size_t value_bytes, int begin_bit, int end_bit) {
  SortLayout l;
  const int bits = end_bit - begin_bit;
  l.passes = (bits + kDigitBits - 1) / kDigitBits;
  size_t bins = 0;
  for (int p = 0; p < l.passes; ++p) {
    l.width[p] = std::min(kDigitBits, bits - p * kDigitBits);
    l.hist_offset[p] = bins;
    bins += size_t(1) << l.width[p];
  }
  if (n == 0) {
    l.needed = 1;  // as CUB: an empty sort needs (and touches) nothing
    return l;
  }
  // Each part starts at a 256-byte boundary; the size counts the worst-case padding of
  // each part (and of the base) instead of the padded sizes, so that it grows with every
  // item, bit and byte of the arguments.
  const size_t un = size_t(n), hist_bytes = bins * sizeof(uint64_t);
  l.keys_off = round_up(hist_bytes, kAlign);
  l.values_off = round_up(l.keys_off + un * key_bytes, kAlign);
  l.needed = hist_bytes + un * key_bytes + un * value_bytes + 3 * (kAlign - 1);
  return l;
}

template <class K>
uint64_t key_at(const unsigned char* keys, size_t i) {
  K k;
  std::memcpy(&k, keys + i * sizeof(K), sizeof(K));
  return uint64_t(k);
}

template <class K>
void sort_work(const SortArgs& a, size_t temp_bytes, const SortLayout& l) {
  const size_t n = size_t(a.n), kb = sizeof(K), vb = a.value_bytes;
  const bool pairs = vb != 0;
  const Range ranges[] = {{"d_keys_in", a.keys_in, n * kb},
                          {"d_keys_out", a.keys_out, n * kb},
                          {"d_values_in", a.values_in, pairs ? n * vb : 0},
                          {"d_values_out", a.values_out, pairs ? n * vb : 0},
                          {"d_temp_storage", a.temp, temp_bytes}};
  const size_t aligns[] = {kb, kb, a.value_align, a.value_align, 1};
  if (!check_ranges(a.api, ranges, aligns, 5)) return;
  std::memset(a.temp, kScratchMarker, temp_bytes);

  const auto* keys_in = static_cast<const unsigned char*>(a.keys_in);
  auto* keys_out = static_cast<unsigned char*>(a.keys_out);
  const auto* values_in = static_cast<const unsigned char*>(a.values_in);
  auto* values_out = static_cast<unsigned char*>(a.values_out);
  if (l.passes == 0) {  // no bits to compare: a copy, as CUB does
    std::memcpy(keys_out, keys_in, n * kb);
    if (pairs) std::memcpy(values_out, values_in, n * vb);
    return;
  }
  unsigned char* base = reinterpret_cast<unsigned char*>(round_up(reinterpret_cast<uintptr_t>(a.temp), kAlign));
  uint64_t* hist = reinterpret_cast<uint64_t*>(base);
  unsigned char* keys_alt = base + l.keys_off;
  unsigned char* values_alt = base + l.values_off;

  // One sweep counts the digits of every pass (the multiset of keys never changes), then
  // each histogram becomes the digit's first output position.
  const size_t bins_total = l.keys_off / sizeof(uint64_t);
  std::fill(hist, hist + bins_total, uint64_t(0));
  for (size_t i = 0; i < n; ++i) {
    const uint64_t k = key_at<K>(keys_in, i);
    for (int p = 0; p < l.passes; ++p) {
      const uint64_t d = (k >> (a.begin_bit + p * kDigitBits)) & ((uint64_t(1) << l.width[p]) - 1);
      ++hist[l.hist_offset[p] + d];
    }
  }
  for (int p = 0; p < l.passes; ++p) {
    uint64_t sum = 0;
    for (size_t d = 0; d < (size_t(1) << l.width[p]); ++d) {
      const uint64_t c = hist[l.hist_offset[p] + d];
      hist[l.hist_offset[p] + d] = sum;
      sum += c;
    }
  }
  // Stable scatter pass by pass, ping-ponging so that the last pass writes the outputs.
  const unsigned char* src_k = keys_in;
  const unsigned char* src_v = values_in;
  for (int p = 0; p < l.passes; ++p) {
    const bool to_out = (l.passes - 1 - p) % 2 == 0;
    unsigned char* dst_k = to_out ? keys_out : keys_alt;
    unsigned char* dst_v = to_out ? values_out : values_alt;
    uint64_t* h = hist + l.hist_offset[p];
    const int shift = a.begin_bit + p * kDigitBits;
    const uint64_t mask = (uint64_t(1) << l.width[p]) - 1;
    for (size_t i = 0; i < n; ++i) {
      const uint64_t k = key_at<K>(src_k, i);
      const size_t pos = size_t(h[(k >> shift) & mask]++);
      std::memcpy(dst_k + pos * kb, src_k + i * kb, kb);
      if (pairs) std::memcpy(dst_v + pos * vb, src_v + i * vb, vb);
    }
    src_k = dst_k;
    src_v = dst_v;
  }
}

// ---------------------------------------------------------------------------------------
// Scan and reduce

size_t type_bytes(NumType t) {
  switch (t) {
    case NumType::i8:
    case NumType::u8: return 1;
    case NumType::i16:
    case NumType::u16: return 2;
    case NumType::i32:
    case NumType::u32:
    case NumType::f32: return 4;
    case NumType::i64:
    case NumType::u64:
    case NumType::f64: return 8;
    default: return 0;
  }
}

template <class A, class T>
A load_one(const void* p, size_t i) {
  T v;
  std::memcpy(&v, static_cast<const unsigned char*>(p) + i * sizeof(T), sizeof(T));
  return static_cast<A>(v);
}

template <class A>
A load_as(NumType t, const void* p, size_t i) {
  switch (t) {
    case NumType::i8: return load_one<A, int8_t>(p, i);
    case NumType::u8: return load_one<A, uint8_t>(p, i);
    case NumType::i16: return load_one<A, int16_t>(p, i);
    case NumType::u16: return load_one<A, uint16_t>(p, i);
    case NumType::i32: return load_one<A, int32_t>(p, i);
    case NumType::u32: return load_one<A, uint32_t>(p, i);
    case NumType::i64: return load_one<A, int64_t>(p, i);
    case NumType::u64: return load_one<A, uint64_t>(p, i);
    case NumType::f32: return load_one<A, float>(p, i);
    case NumType::f64: return load_one<A, double>(p, i);
    default: return A();
  }
}

template <class T, class A>
void store_one(void* p, size_t i, A v) {
  const T t = static_cast<T>(v);
  std::memcpy(static_cast<unsigned char*>(p) + i * sizeof(T), &t, sizeof(T));
}

template <class A>
void store_as(NumType t, void* p, size_t i, A v) {
  switch (t) {
    case NumType::i8: return store_one<int8_t>(p, i, v);
    case NumType::u8: return store_one<uint8_t>(p, i, v);
    case NumType::i16: return store_one<int16_t>(p, i, v);
    case NumType::u16: return store_one<uint16_t>(p, i, v);
    case NumType::i32: return store_one<int32_t>(p, i, v);
    case NumType::u32: return store_one<uint32_t>(p, i, v);
    case NumType::i64: return store_one<int64_t>(p, i, v);
    case NumType::u64: return store_one<uint64_t>(p, i, v);
    case NumType::f32: return store_one<float>(p, i, v);
    case NumType::f64: return store_one<double>(p, i, v);
    default: return;
  }
}

// Integer sums wrap around (two's complement), as on the device.
template <class A>
A add(A x, A y) {
  if constexpr (std::is_integral<A>::value) {
    using U = std::make_unsigned_t<A>;
    return static_cast<A>(static_cast<U>(static_cast<U>(x) + static_cast<U>(y)));
  } else {
    return x + y;
  }
}

struct ScanLayout {
  long long tiles = 0;
  size_t slots = 0, aggregate_off = 0, inclusive_off = 0, needed = 0;
};

ScanLayout scan_layout(long long n, size_t accum_bytes) {
  ScanLayout l;
  l.tiles = (n + kScanTile - 1) / kScanTile;
  l.slots = size_t(l.tiles + kScanPadding);
  l.aggregate_off = l.slots * sizeof(uint64_t);
  l.inclusive_off = l.aggregate_off + l.slots * accum_bytes;
  l.needed = l.inclusive_off + l.slots * accum_bytes + kAlign - 1;
  return l;
}

template <class A>
void scan_work(const ScanArgs& a, size_t temp_bytes, const ScanLayout& l) {
  const size_t n = size_t(a.n), is = type_bytes(a.in_type), os = type_bytes(a.out_type);
  const bool reduce = a.kind == ScanKind::reduce_sum;
  const Range ranges[] = {
      {"d_in", a.in, n * is}, {"d_out", a.out, reduce ? os : n * os}, {"d_temp_storage", a.temp, temp_bytes}};
  const size_t aligns[] = {is, os, 1};
  if (!check_ranges(a.api, ranges, aligns, 3)) return;
  std::memset(a.temp, kScratchMarker, temp_bytes);

  // A decoupled look-back scan done in order: tile sums, their inclusive prefixes, then
  // each tile's items from its prefix. The descriptors live in the temp storage.
  unsigned char* base = reinterpret_cast<unsigned char*>(round_up(reinterpret_cast<uintptr_t>(a.temp), kAlign));
  auto* status = reinterpret_cast<uint64_t*>(base);
  auto put = [&](size_t off, size_t slot, A v) { std::memcpy(base + off + slot * sizeof(A), &v, sizeof(A)); };
  auto get = [&](size_t off, size_t slot) {
    A v;
    std::memcpy(&v, base + off + slot * sizeof(A), sizeof(A));
    return v;
  };
  const size_t pad = size_t(kScanPadding);
  for (size_t s = 0; s < l.slots; ++s) status[s] = 0;
  for (long long t = 0; t < l.tiles; ++t) {
    const size_t lo = size_t(t * kScanTile), hi = std::min(n, lo + size_t(kScanTile));
    A sum = A();
    for (size_t i = lo; i < hi; ++i) sum = add(sum, load_as<A>(a.in_type, a.in, i));
    put(l.aggregate_off, pad + size_t(t), sum);
    status[pad + size_t(t)] = 1;  // aggregate available
  }
  A prefix = A();
  for (long long t = 0; t < l.tiles; ++t) {
    prefix = add(prefix, get(l.aggregate_off, pad + size_t(t)));
    put(l.inclusive_off, pad + size_t(t), prefix);
    status[pad + size_t(t)] = 2;  // inclusive prefix available
  }
  if (reduce) {
    store_as<A>(a.out_type, a.out, 0, l.tiles ? get(l.inclusive_off, pad + size_t(l.tiles - 1)) : A());
    return;
  }
  for (long long t = 0; t < l.tiles; ++t) {
    const size_t lo = size_t(t * kScanTile), hi = std::min(n, lo + size_t(kScanTile));
    A run = t ? get(l.inclusive_off, pad + size_t(t - 1)) : A();
    for (size_t i = lo; i < hi; ++i) {
      const A x = load_as<A>(a.in_type, a.in, i);  // read before the write: in place is fine
      if (a.kind == ScanKind::exclusive_sum) {
        store_as<A>(a.out_type, a.out, i, run);
        run = add(run, x);
      } else {
        run = add(run, x);
        store_as<A>(a.out_type, a.out, i, run);
      }
    }
  }
}

std::string sort_args_text(const SortArgs& a) {
  std::string s = "num_items = " + std::to_string(a.n) + ", key bits [" + std::to_string(a.begin_bit) + ", " +
                  std::to_string(a.end_bit) + "), " + std::to_string(a.key_bytes) + "-byte keys";
  if (a.value_bytes) s += ", " + std::to_string(a.value_bytes) + "-byte values";
  return s;
}

constexpr long long kMaxItems = (1LL << 40);  // far beyond any device memory; guards size arithmetic

}  // namespace

cudaError_t radix_sort(const SortArgs& a) {
  const std::string api = a.api;
  if (!a.temp_bytes) {
    report(api + ": temp_storage_bytes is a null reference");
    return cudaErrorInvalidValue;
  }
  if (a.n < 0 || a.n > kMaxItems) {
    report(api + ": num_items = " + std::to_string(a.n) +
           (a.n < 0 ? " is negative (CUB would read it as a huge unsigned count)" : " is beyond any device's memory"));
    return cudaErrorInvalidValue;
  }
  const int key_bits = int(a.key_bytes * 8);
  if (a.begin_bit < 0 || a.begin_bit > a.end_bit || a.end_bit > key_bits) {
    report(api + ": bit range [begin_bit, end_bit) = [" + std::to_string(a.begin_bit) + ", " +
           std::to_string(a.end_bit) + ") is not within the " + std::to_string(key_bits) + " bits of the key " +
           "(need 0 <= begin_bit <= end_bit <= " + std::to_string(key_bits) + ")");
    return cudaErrorInvalidValue;
  }
  const SortLayout l = sort_layout(a.n, a.key_bytes, a.value_bytes, a.begin_bit, a.end_bit);
  if (a.temp == nullptr) {
    *a.temp_bytes = l.needed;
    return cudaSuccess;
  }
  if (a.n == 0) return cudaSuccess;  // as CUB: nothing to do, nothing checked
  const size_t temp_bytes = *a.temp_bytes;
  if (temp_bytes < l.needed) {
    report(api + ": temp_storage_bytes = " + std::to_string(temp_bytes) + ", this call needs " +
           std::to_string(l.needed) + " (" + sort_args_text(a) +
           "): query the size (d_temp_storage = nullptr) with the same num_items, bit range and types as the call");
    return cudaErrorInvalidValue;
  }
  const size_t n = size_t(a.n);
  const bool pairs = a.value_bytes != 0;
  const Range ranges[] = {{"d_keys_in", a.keys_in, n * a.key_bytes},
                          {"d_keys_out", a.keys_out, n * a.key_bytes},
                          {"d_values_in", a.values_in, pairs ? n * a.value_bytes : 0},
                          {"d_values_out", a.values_out, pairs ? n * a.value_bytes : 0},
                          {"d_temp_storage", a.temp, temp_bytes}};
  for (int i = 0; i < 5; ++i)
    for (int j = i + 1; j < 5; ++j)
      if (overlap(ranges[i], ranges[j])) {
        report(api + ": " + range_text(ranges[i]) + " overlaps " + range_text(ranges[j]) +
               ": CUB's radix sort does not work in place, and no range may overlap another or the temp storage");
        return cudaErrorInvalidValue;
      }
  const SortArgs args = a;  // the work may run later (graph replay): copy, and never touch *temp_bytes
  std::function<void()> work;
  switch (a.key_bytes) {
    case 1: work = [args, temp_bytes, l] { sort_work<uint8_t>(args, temp_bytes, l); }; break;
    case 2: work = [args, temp_bytes, l] { sort_work<uint16_t>(args, temp_bytes, l); }; break;
    case 4: work = [args, temp_bytes, l] { sort_work<uint32_t>(args, temp_bytes, l); }; break;
    case 8: work = [args, temp_bytes, l] { sort_work<uint64_t>(args, temp_bytes, l); }; break;
    default:
      report(api + ": " + std::to_string(a.key_bytes) + "-byte keys are not simulated");
      return cudaErrorInvalidValue;
  }
  return enqueue_checked(a.stream, a.api, std::move(work));
}

cudaError_t scan(const ScanArgs& a) {
  const std::string api = a.api;
  if (!a.temp_bytes) {
    report(api + ": temp_storage_bytes is a null reference");
    return cudaErrorInvalidValue;
  }
  const size_t is = type_bytes(a.in_type), os = type_bytes(a.out_type), as = type_bytes(a.accum_type);
  if (!is || !os || !as) {
    report(api + ": item type not simulated");
    return cudaErrorInvalidValue;
  }
  if (a.n < 0 || a.n > kMaxItems) {
    report(api + ": num_items = " + std::to_string(a.n) +
           (a.n < 0 ? " is negative (CUB would read it as a huge unsigned count)" : " is beyond any device's memory"));
    return cudaErrorInvalidValue;
  }
  const ScanLayout l = scan_layout(a.n, as);
  if (a.temp == nullptr) {
    *a.temp_bytes = l.needed;
    return cudaSuccess;
  }
  const size_t temp_bytes = *a.temp_bytes;
  if (temp_bytes < l.needed) {
    report(api + ": temp_storage_bytes = " + std::to_string(temp_bytes) + ", this call needs " +
           std::to_string(l.needed) + " (num_items = " + std::to_string(a.n) + ", " + std::to_string(as) +
           "-byte sums): query the size (d_temp_storage = nullptr) with the same num_items and types as the call");
    return cudaErrorInvalidValue;
  }
  const bool reduce = a.kind == ScanKind::reduce_sum;
  if (a.n == 0 && !reduce) return cudaSuccess;  // as CUB: nothing to scan
  const size_t n = size_t(a.n);
  const Range in{"d_in", a.in, n * is}, out{"d_out", a.out, reduce ? os : n * os},
      temp{"d_temp_storage", a.temp, temp_bytes};
  const bool in_place = !reduce && a.in == a.out && is == os;
  const Range* bad[2] = {nullptr, nullptr};
  if (!in_place && overlap(in, out))
    bad[0] = &in, bad[1] = &out;
  else if (overlap(in, temp))
    bad[0] = &in, bad[1] = &temp;
  else if (overlap(out, temp))
    bad[0] = &out, bad[1] = &temp;
  if (bad[0]) {
    report(api + ": " + range_text(*bad[0]) + " overlaps " + range_text(*bad[1]) +
           (reduce ? std::string(": the output may not overlap the input or the temp storage")
                   : std::string(": d_in == d_out scans in place, any other overlap (or one with the temp "
                                 "storage) is an error")));
    return cudaErrorInvalidValue;
  }
  const ScanArgs args = a;
  std::function<void()> work;
  switch (a.accum_type) {
    case NumType::i8: work = [args, temp_bytes, l] { scan_work<int8_t>(args, temp_bytes, l); }; break;
    case NumType::u8: work = [args, temp_bytes, l] { scan_work<uint8_t>(args, temp_bytes, l); }; break;
    case NumType::i16: work = [args, temp_bytes, l] { scan_work<int16_t>(args, temp_bytes, l); }; break;
    case NumType::u16: work = [args, temp_bytes, l] { scan_work<uint16_t>(args, temp_bytes, l); }; break;
    case NumType::i32: work = [args, temp_bytes, l] { scan_work<int32_t>(args, temp_bytes, l); }; break;
    case NumType::u32: work = [args, temp_bytes, l] { scan_work<uint32_t>(args, temp_bytes, l); }; break;
    case NumType::i64: work = [args, temp_bytes, l] { scan_work<int64_t>(args, temp_bytes, l); }; break;
    case NumType::u64: work = [args, temp_bytes, l] { scan_work<uint64_t>(args, temp_bytes, l); }; break;
    case NumType::f32: work = [args, temp_bytes, l] { scan_work<float>(args, temp_bytes, l); }; break;
    case NumType::f64: work = [args, temp_bytes, l] { scan_work<double>(args, temp_bytes, l); }; break;
    default: report(api + ": accumulator type not simulated"); return cudaErrorInvalidValue;
  }
  return enqueue_checked(a.stream, a.api, std::move(work));
}

}  // namespace cub_support
}  // namespace cudasim
