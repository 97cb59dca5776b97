#include "data/dataset.h"

#include <algorithm>
#include <cstring>

#include "base/rng.h"

namespace engine::data {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

constexpr uint64_t kSplitTag = 0x73706c6974ull;  // "split"

}  // namespace

uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b) { return splitmix64(splitmix64(splitmix64(seed) ^ a) ^ b); }

void validate(const Dataset& d) {
  const std::string& n = d.name;
  ENGINE_CHECK(d.images.defined() && d.labels.defined(), "dataset '" << n << "' has no images or labels");
  ENGINE_CHECK(d.images.dtype() == DType::u8 && d.images.dim() == 4 && d.images.device().is_cpu(),
               "dataset '" << n << "': images must be u8 [N, C, H, W] on the CPU, got " << d.images.header());
  ENGINE_CHECK(d.labels.dtype() == DType::i64 && d.labels.dim() == 1 && d.labels.device().is_cpu(),
               "dataset '" << n << "': labels must be i64 [N] on the CPU, got " << d.labels.header());
  ENGINE_CHECK(d.images.size(0) == d.labels.size(0),
               "dataset '" << n << "': " << d.images.size(0) << " images but " << d.labels.size(0) << " labels");
  ENGINE_CHECK(d.num_classes > 0, "dataset '" << n << "': num_classes is " << d.num_classes);
  ENGINE_CHECK(d.class_names.empty() || int64_t(d.class_names.size()) == d.num_classes,
               "dataset '" << n << "': " << d.class_names.size() << " class names for " << d.num_classes << " classes");
  Tensor l = d.labels.contiguous();
  const int64_t* p = l.data<int64_t>();
  for (int64_t i = 0; i < l.numel(); ++i)
    ENGINE_CHECK(p[i] >= 0 && p[i] < d.num_classes, "dataset '" << n << "': label " << p[i] << " of record " << i
                                                                << " is outside [0, " << d.num_classes << ")");
}

Dataset subset(const Dataset& d, int64_t begin, int64_t end) {
  ENGINE_CHECK(0 <= begin && begin <= end && end <= d.size(), "subset of dataset '"
                                                                  << d.name << "': range [" << begin << ", " << end
                                                                  << ") is outside [0, " << d.size() << ")");
  Dataset out = d;
  out.images = d.images.slice(0, begin, end);
  out.labels = d.labels.slice(0, begin, end);
  return out;
}

Dataset gather(const Dataset& d, const std::vector<int64_t>& indices) {
  Tensor src = d.images.contiguous();
  Tensor lab = d.labels.contiguous();
  const int64_t n = int64_t(indices.size());
  Shape shape = src.shape();
  shape[0] = n;
  const size_t per = size_t(shape_numel(Shape(shape.begin() + 1, shape.end())));
  Dataset out = d;
  out.images = Tensor::empty(shape, DType::u8);
  out.labels = Tensor::empty({n}, DType::i64);
  const uint8_t* s = src.data<uint8_t>();
  uint8_t* o = out.images.data<uint8_t>();
  const int64_t* ls = lab.data<int64_t>();
  int64_t* lo = out.labels.data<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    int64_t j = indices[size_t(i)];
    ENGINE_CHECK(j >= 0 && j < d.size(),
                 "gather from dataset '" << d.name << "': index " << j << " out of range [0, " << d.size() << ")");
    if (per > 0) std::memcpy(o + size_t(i) * per, s + size_t(j) * per, per);
    lo[i] = ls[j];
  }
  return out;
}

Dataset select_classes(const Dataset& d, const std::vector<int64_t>& classes, bool keep) {
  std::vector<char> chosen(static_cast<size_t>(std::max<int64_t>(d.num_classes, 0)), 0);
  for (int64_t c : classes) {
    ENGINE_CHECK(c >= 0 && c < d.num_classes,
                 "dataset '" << d.name << "': class " << c << " out of range [0, " << d.num_classes << ")");
    chosen[size_t(c)] = 1;
  }
  Tensor lab = d.labels.contiguous();
  const int64_t* l = lab.data<int64_t>();
  std::vector<int64_t> indices;
  for (int64_t i = 0; i < d.size(); ++i)
    if ((chosen[size_t(l[i])] != 0) == keep) indices.push_back(i);
  return gather(d, indices);
}

std::vector<int64_t> class_histogram(const Dataset& d) {
  std::vector<int64_t> h(static_cast<size_t>(std::max<int64_t>(d.num_classes, 0)), 0);
  Tensor l = d.labels.contiguous();
  const int64_t* p = l.data<int64_t>();
  for (int64_t i = 0; i < l.numel(); ++i) {
    ENGINE_CHECK(p[i] >= 0 && p[i] < d.num_classes,
                 "dataset '" << d.name << "': label " << p[i] << " outside [0, " << d.num_classes << ")");
    ++h[size_t(p[i])];
  }
  return h;
}

std::vector<int64_t> random_permutation(int64_t n, uint64_t seed) {
  ENGINE_CHECK(n >= 0, "random_permutation: negative size " << n);
  std::vector<int64_t> p(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) {
    // 64 random bits make the modulo bias negligible for any n that fits in memory.
    uint64_t r = (uint64_t(philox_word(seed, 2 * uint64_t(i))) << 32) | philox_word(seed, 2 * uint64_t(i) + 1);
    int64_t j = int64_t(r % uint64_t(i + 1));
    std::swap(p[size_t(i)], p[size_t(j)]);
  }
  return p;
}

std::pair<Dataset, Dataset> train_val_split(const Dataset& d, int64_t val_size, uint64_t seed) {
  const int64_t n = d.size();
  ENGINE_CHECK(val_size >= 0 && val_size <= n, "train/validation split of dataset '" << d.name << "': validation size "
                                                                                     << val_size << " is outside [0, "
                                                                                     << n << "]");
  std::vector<int64_t> perm = random_permutation(n, derive_seed(seed, kSplitTag));
  std::vector<int64_t> val(perm.begin(), perm.begin() + val_size);
  std::vector<int64_t> train(perm.begin() + val_size, perm.end());
  std::sort(val.begin(), val.end());
  std::sort(train.begin(), train.end());
  std::pair<Dataset, Dataset> out{gather(d, train), gather(d, val)};
  out.first.name = d.name + "/train";
  out.second.name = d.name + "/val";
  return out;
}

}  // namespace engine::data
