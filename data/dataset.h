#pragma once
// An in-memory image classification dataset: u8 pixels in NCHW and i64 labels on the
// CPU. Readers (cifar.h, fashion_mnist.h) produce it; the Loader batches it.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/core/tensor.h"

namespace engine::data {

struct Dataset {
  std::string name;
  Tensor images;  // u8 [N, C, H, W] on the CPU
  Tensor labels;  // i64 [N] on the CPU
  int64_t num_classes = 0;
  std::vector<std::string> class_names;

  int64_t size() const { return labels.defined() ? labels.numel() : 0; }
  int64_t channels() const { return images.size(1); }
  int64_t height() const { return images.size(2); }
  int64_t width() const { return images.size(3); }
};

// Throws naming the dataset when dtypes, shapes, devices or label ranges are wrong.
void validate(const Dataset& d);

// Records [begin, end) as views of the same storage (no copy).
Dataset subset(const Dataset& d, int64_t begin, int64_t end);
// The given records, in the given order (a copy).
Dataset gather(const Dataset& d, const std::vector<int64_t>& indices);

// The records whose label is in `classes` (keep = true) or is not (keep = false), in
// their original order (a copy). Class ids outside [0, num_classes) are an error.
Dataset select_classes(const Dataset& d, const std::vector<int64_t>& classes, bool keep);

// Number of records per class.
std::vector<int64_t> class_histogram(const Dataset& d);

// A uniformly random permutation of [0, n), a pure function of (n, seed): Fisher-Yates
// driven by Philox.
std::vector<int64_t> random_permutation(int64_t n, uint64_t seed);

// A seeded split into (train, validation) with `val_size` records in validation,
// drawn by random_permutation; each part keeps the original relative order of its
// records, so the split does not shuffle anything.
std::pair<Dataset, Dataset> train_val_split(const Dataset& d, int64_t val_size, uint64_t seed);

// Mixes a user seed with stream tags (epoch, purpose) into an independent Philox key.
uint64_t derive_seed(uint64_t seed, uint64_t a, uint64_t b = 0);

}  // namespace engine::data
