#pragma once
// CIFAR-10 and CIFAR-100 in their official binary layouts.
//   CIFAR-10  (cifar-10-batches-bin/): data_batch_1..5.bin, test_batch.bin, 10,000 records
//             each of 1 label byte + 3,072 pixel bytes (R, G, B planes of 32x32, row-major);
//             class names in batches.meta.txt.
//   CIFAR-100 (cifar-100-binary/): train.bin (50,000 records), test.bin (10,000), records of
//             a coarse label byte, a fine label byte and 3,072 pixel bytes; names in
//             fine_label_names.txt and coarse_label_names.txt.
// scripts/fetch_cifar.sh puts these folders in place.
#include <string>

#include "data/dataset.h"

namespace engine::data {

struct CifarOptions {
  // Record range [begin, end) over the split's records in file order (the training
  // batches concatenated); end < 0 means through the last record.
  int64_t begin = 0;
  int64_t end = -1;
  // Require the official record count in every file (10,000 per CIFAR-10 batch;
  // 50,000 / 10,000 for CIFAR-100). Off for hand-made small files.
  bool check_counts = true;
};

enum class Cifar100Labels { fine, coarse };

// `dir` is the batches folder itself or a folder holding it (cifar-10-batches-bin,
// cifar-100-binary). Errors name the file and what is wrong: a size that is not a
// whole number of records, a wrong record count, a label out of range.
Dataset load_cifar10(const std::string& dir, bool train, const CifarOptions& options = {});
Dataset load_cifar100(const std::string& dir, bool train, Cifar100Labels labels = Cifar100Labels::fine,
                      const CifarOptions& options = {});

// Resolves `dir` to the folder holding the .bin files; throws naming what was looked for.
std::string find_cifar10_dir(const std::string& dir);
std::string find_cifar100_dir(const std::string& dir);

const std::vector<std::string>& cifar10_default_class_names();
const std::vector<std::string>& cifar100_fine_class_names();
const std::vector<std::string>& cifar100_coarse_class_names();

constexpr int64_t kCifarImageBytes = 3 * 32 * 32;
constexpr int64_t kCifar10RecordBytes = 1 + kCifarImageBytes;
constexpr int64_t kCifar100RecordBytes = 2 + kCifarImageBytes;

// "A-B" (inclusive, as in "test records 0-999") or "A" -> the half-open [A, B+1).
std::pair<int64_t, int64_t> parse_record_range(const std::string& text);

}  // namespace engine::data
