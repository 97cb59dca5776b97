#include "data/registry.h"

#include <cstdlib>
#include <functional>
#include <sstream>

#include "base/check.h"
#include "data/cifar.h"
#include "data/fashion_mnist.h"

namespace engine::data {
namespace {

struct DatasetEntry {
  std::string name;
  Normalization normalization;  // per-channel mean and std of the training images
  std::vector<int64_t> image_shape;
  std::function<TrainTestSets(const DatasetSpec&)> load;
  std::function<int64_t(const DatasetSpec&)> num_classes;
};

// spec.path, else the environment variable, else the default (relative to the working
// directory, where scripts/fetch_cifar.sh puts the files).
std::string cifar_dir(const DatasetSpec& spec, const char* env, const char* fallback) {
  if (!spec.path.empty()) return spec.path;
  if (const char* e = std::getenv(env)) return e;
  return fallback;
}

Cifar100Labels cifar100_labels(const DatasetSpec& spec) {
  return spec.cifar100_labels == "coarse" ? Cifar100Labels::coarse : Cifar100Labels::fine;
}

const std::vector<DatasetEntry>& entries() {
  static const std::vector<DatasetEntry> list = {
      {"fashion_mnist",
       {{0.2860f}, {0.3530f}},
       {1, 28, 28},
       [](const DatasetSpec& s) {
         std::string dir = s.path.empty() ? kFashionMnistDefaultDir : s.path;
         return TrainTestSets{load_fashion_mnist(dir, true), load_fashion_mnist(dir, false)};
       },
       [](const DatasetSpec&) { return int64_t(10); }},
      {"cifar10",
       {{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}},
       {3, 32, 32},
       [](const DatasetSpec& s) {
         std::string dir = cifar_dir(s, "ENGINE_CIFAR10_DIR", "data_cache/cifar-10-batches-bin");
         return TrainTestSets{load_cifar10(dir, true), load_cifar10(dir, false)};
       },
       [](const DatasetSpec&) { return int64_t(10); }},
      {"cifar100",
       {{0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}},
       {3, 32, 32},
       [](const DatasetSpec& s) {
         std::string dir = cifar_dir(s, "ENGINE_CIFAR100_DIR", "data_cache/cifar-100-binary");
         return TrainTestSets{load_cifar100(dir, true, cifar100_labels(s)),
                              load_cifar100(dir, false, cifar100_labels(s))};
       },
       [](const DatasetSpec& s) { return int64_t(cifar100_labels(s) == Cifar100Labels::coarse ? 20 : 100); }},
  };
  return list;
}

const DatasetEntry& entry(const std::string& name) {
  for (const DatasetEntry& e : entries())
    if (e.name == name) return e;
  std::ostringstream known;
  for (const std::string& n : dataset_names()) known << (known.tellp() > 0 ? ", " : "") << '"' << n << '"';
  ENGINE_THROW("unknown dataset \"" << name << "\" (known: " << known.str() << ")");
}

}  // namespace

const std::vector<std::string>& dataset_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const DatasetEntry& e : entries()) n.push_back(e.name);
    return n;
  }();
  return names;
}

Normalization dataset_normalization(const std::string& name) { return entry(name).normalization; }

TrainTestSets load_dataset(const DatasetSpec& spec) { return entry(spec.name).load(spec); }

std::vector<int64_t> dataset_image_shape(const std::string& name) { return entry(name).image_shape; }

int64_t dataset_num_classes(const DatasetSpec& spec) { return entry(spec.name).num_classes(spec); }

std::vector<std::string> dataset_class_names(const DatasetSpec& spec) {
  entry(spec.name);  // an unknown name is an error here too
  if (spec.name == "fashion_mnist") return fashion_mnist_class_names();
  if (spec.name == "cifar10") return cifar10_default_class_names();
  return cifar100_labels(spec) == Cifar100Labels::coarse ? cifar100_coarse_class_names() : cifar100_fine_class_names();
}

std::string class_descriptions_stem(const DatasetSpec& spec) {
  entry(spec.name);
  return spec.name == "cifar100" && cifar100_labels(spec) == Cifar100Labels::coarse ? "cifar100_coarse" : spec.name;
}

}  // namespace engine::data
