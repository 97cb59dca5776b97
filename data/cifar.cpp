#include "data/cifar.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace engine::data {
namespace {

bool is_file(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

struct CifarLayout {
  const char* dataset;  // for messages
  int64_t record_bytes;
  int64_t label_bytes;                // bytes before the pixels
  int64_t label_offset;               // which of them is the label we keep
  std::vector<int64_t> label_limits;  // every label byte is checked against its limit
};

struct FileRecords {
  std::string path;
  int64_t count = 0;
};

// Reads records [begin, end) of the files taken as one sequence.
Dataset read_records(const std::vector<std::string>& paths, const CifarLayout& layout, const CifarOptions& opt,
                     int64_t expected_per_file) {
  std::vector<FileRecords> files;
  int64_t total = 0;
  for (const std::string& p : paths) {
    struct stat st;
    ENGINE_CHECK(::stat(p.c_str(), &st) == 0,
                 layout.dataset << ": cannot open '" << p << "': " << std::strerror(errno));
    const int64_t size = int64_t(st.st_size);
    ENGINE_CHECK(size % layout.record_bytes == 0,
                 layout.dataset << ": '" << p << "' has " << size << " bytes, not a whole number of "
                                << layout.record_bytes << "-byte records (truncated or corrupt file)");
    const int64_t count = size / layout.record_bytes;
    ENGINE_CHECK(!opt.check_counts || count == expected_per_file,
                 layout.dataset << ": '" << p << "' holds " << count << " records, expected " << expected_per_file
                                << " (truncated or wrong file)");
    files.push_back({p, count});
    total += count;
  }
  const int64_t begin = opt.begin, end = opt.end < 0 ? total : opt.end;
  ENGINE_CHECK(0 <= begin && begin <= end && end <= total,
               layout.dataset << ": record range [" << begin << ", " << end << ") is outside the " << total
                              << " records of '" << paths.front() << "'" << (paths.size() > 1 ? " and the rest" : ""));

  Dataset d;
  const int64_t n = end - begin;
  d.images = Tensor::empty({n, 3, 32, 32}, DType::u8);
  d.labels = Tensor::empty({n}, DType::i64);
  uint8_t* img = d.images.data<uint8_t>();
  int64_t* lab = d.labels.data<int64_t>();
  int64_t first = 0;  // index of the file's first record in the sequence
  std::vector<uint8_t> buf;
  for (const FileRecords& f : files) {
    const int64_t lo = std::max(begin, first), hi = std::min(end, first + f.count);
    if (lo < hi) {
      buf.resize(size_t((hi - lo) * layout.record_bytes));
      int fd = ::open(f.path.c_str(), O_RDONLY | O_CLOEXEC);
      ENGINE_CHECK(fd >= 0, layout.dataset << ": cannot open '" << f.path << "': " << std::strerror(errno));
      size_t got = 0;
      off_t off = off_t((lo - first) * layout.record_bytes);
      while (got < buf.size()) {
        ssize_t r = ::pread(fd, buf.data() + got, buf.size() - got, off + off_t(got));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += size_t(r);
      }
      int e = errno;
      ::close(fd);
      ENGINE_CHECK(got == buf.size(), layout.dataset << ": reading '" << f.path << "' failed after " << got
                                                     << " bytes: " << (got < buf.size() ? std::strerror(e) : ""));
      for (int64_t r = lo; r < hi; ++r) {
        const uint8_t* rec = buf.data() + size_t((r - lo) * layout.record_bytes);
        for (int64_t k = 0; k < layout.label_bytes; ++k)
          ENGINE_CHECK(rec[k] < layout.label_limits[size_t(k)],
                       layout.dataset << ": '" << f.path << "': record " << (r - first) << " has label " << int(rec[k])
                                      << ", outside [0, " << layout.label_limits[size_t(k)] << ")");
        lab[r - begin] = rec[layout.label_offset];
        std::memcpy(img + size_t((r - begin) * kCifarImageBytes), rec + layout.label_bytes, size_t(kCifarImageBytes));
      }
    }
    first += f.count;
  }
  return d;
}

// Non-empty lines of a names file, or nothing when the file is absent.
std::vector<std::string> read_names(const std::string& path) {
  std::vector<std::string> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) out.push_back(line);
  }
  return out;
}

std::vector<std::string> names_or_default(const std::string& path, const std::vector<std::string>& fallback) {
  std::vector<std::string> names = read_names(path);
  return names.size() == fallback.size() ? names : fallback;
}

}  // namespace

std::string find_cifar10_dir(const std::string& dir) {
  for (const std::string& d : {dir, dir + "/cifar-10-batches-bin"})
    if (is_file(d + "/data_batch_1.bin") || is_file(d + "/test_batch.bin")) return d;
  ENGINE_THROW("CIFAR-10: no data_batch_1.bin or test_batch.bin in '" << dir << "' or '" << dir
                                                                      << "/cifar-10-batches-bin' (run "
                                                                      << "scripts/fetch_cifar.sh cifar10 DEST)");
}

std::string find_cifar100_dir(const std::string& dir) {
  for (const std::string& d : {dir, dir + "/cifar-100-binary"})
    if (is_file(d + "/train.bin") || is_file(d + "/test.bin")) return d;
  ENGINE_THROW("CIFAR-100: no train.bin or test.bin in '" << dir << "' or '" << dir
                                                          << "/cifar-100-binary' (run scripts/fetch_cifar.sh "
                                                          << "cifar100 DEST)");
}

Dataset load_cifar10(const std::string& dir, bool train, const CifarOptions& options) {
  const std::string root = find_cifar10_dir(dir);
  std::vector<std::string> paths;
  if (train) {
    for (int i = 1; i <= 5; ++i) paths.push_back(root + "/data_batch_" + std::to_string(i) + ".bin");
  } else {
    paths.push_back(root + "/test_batch.bin");
  }
  const CifarLayout layout{"CIFAR-10", kCifar10RecordBytes, 1, 0, {10}};
  Dataset d = read_records(paths, layout, options, 10000);
  d.name = std::string("cifar10/") + (train ? "train" : "test");
  d.num_classes = 10;
  d.class_names = names_or_default(root + "/batches.meta.txt", cifar10_default_class_names());
  return d;
}

Dataset load_cifar100(const std::string& dir, bool train, Cifar100Labels labels, const CifarOptions& options) {
  const std::string root = find_cifar100_dir(dir);
  const bool fine = labels == Cifar100Labels::fine;
  const CifarLayout layout{"CIFAR-100", kCifar100RecordBytes, 2, fine ? 1 : 0, {20, 100}};
  Dataset d = read_records({root + (train ? "/train.bin" : "/test.bin")}, layout, options, train ? 50000 : 10000);
  d.name = std::string("cifar100") + (fine ? "" : "_coarse") + "/" + (train ? "train" : "test");
  d.num_classes = fine ? 100 : 20;
  d.class_names = fine ? names_or_default(root + "/fine_label_names.txt", cifar100_fine_class_names())
                       : names_or_default(root + "/coarse_label_names.txt", cifar100_coarse_class_names());
  return d;
}

std::pair<int64_t, int64_t> parse_record_range(const std::string& text) {
  auto parse = [&](const std::string& s) {
    ENGINE_CHECK(!s.empty() && s.find_first_not_of("0123456789") == std::string::npos && s.size() < 19,
                 "bad record range '" << text << "': expected A-B or A with non-negative integers");
    return int64_t(std::stoll(s));
  };
  size_t dash = text.find('-');
  int64_t a = parse(text.substr(0, dash));
  int64_t b = dash == std::string::npos ? a : parse(text.substr(dash + 1));
  ENGINE_CHECK(a <= b, "bad record range '" << text << "': the first record is after the last");
  return {a, b + 1};
}

const std::vector<std::string>& cifar10_default_class_names() {
  static const std::vector<std::string> names = {"airplane", "automobile", "bird",  "cat",  "deer",
                                                 "dog",      "frog",       "horse", "ship", "truck"};
  return names;
}

const std::vector<std::string>& cifar100_fine_class_names() {
  static const std::vector<std::string> names = {
      "apple",      "aquarium_fish", "baby",         "bear",       "beaver",      "bed",         "bee",
      "beetle",     "bicycle",       "bottle",       "bowl",       "boy",         "bridge",      "bus",
      "butterfly",  "camel",         "can",          "castle",     "caterpillar", "cattle",      "chair",
      "chimpanzee", "clock",         "cloud",        "cockroach",  "couch",       "crab",        "crocodile",
      "cup",        "dinosaur",      "dolphin",      "elephant",   "flatfish",    "forest",      "fox",
      "girl",       "hamster",       "house",        "kangaroo",   "keyboard",    "lamp",        "lawn_mower",
      "leopard",    "lion",          "lizard",       "lobster",    "man",         "maple_tree",  "motorcycle",
      "mountain",   "mouse",         "mushroom",     "oak_tree",   "orange",      "orchid",      "otter",
      "palm_tree",  "pear",          "pickup_truck", "pine_tree",  "plain",       "plate",       "poppy",
      "porcupine",  "possum",        "rabbit",       "raccoon",    "ray",         "road",        "rocket",
      "rose",       "sea",           "seal",         "shark",      "shrew",       "skunk",       "skyscraper",
      "snail",      "snake",         "spider",       "squirrel",   "streetcar",   "sunflower",   "sweet_pepper",
      "table",      "tank",          "telephone",    "television", "tiger",       "tractor",     "train",
      "trout",      "tulip",         "turtle",       "wardrobe",   "whale",       "willow_tree", "wolf",
      "woman",      "worm"};
  return names;
}

const std::vector<std::string>& cifar100_coarse_class_names() {
  static const std::vector<std::string> names = {"aquatic_mammals",
                                                 "fish",
                                                 "flowers",
                                                 "food_containers",
                                                 "fruit_and_vegetables",
                                                 "household_electrical_devices",
                                                 "household_furniture",
                                                 "insects",
                                                 "large_carnivores",
                                                 "large_man-made_outdoor_things",
                                                 "large_natural_outdoor_scenes",
                                                 "large_omnivores_and_herbivores",
                                                 "medium_mammals",
                                                 "non-insect_invertebrates",
                                                 "people",
                                                 "reptiles",
                                                 "small_mammals",
                                                 "trees",
                                                 "vehicles_1",
                                                 "vehicles_2"};
  return names;
}

}  // namespace engine::data
