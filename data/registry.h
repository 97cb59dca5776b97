#pragma once
// The datasets the apps can train on, by name ("fashion_mnist", "cifar10", "cifar100"):
// how each is found on disk and loaded, its image shape and class count, and its
// normalisation. A dataset's mean and std are defined here and nowhere else, so that
// training, evaluation and the tests normalise alike.
#include <string>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"

namespace engine::data {

// What selects the files of a dataset (the data section of a config, as plain values).
struct DatasetSpec {
  std::string name;
  std::string path;                      // empty: the dataset's default directory
  std::string cifar100_labels = "fine";  // "fine" or "coarse" (cifar100 only)
};

struct TrainTestSets {
  Dataset train, test;
};

// Dataset names in the order they are listed in messages.
const std::vector<std::string>& dataset_names();

// Each throws naming the dataset and the known names when `name` is not one of them.
Normalization dataset_normalization(const std::string& name);
// Loads both splits from spec.path, or from the dataset's default directory (for CIFAR,
// $ENGINE_CIFAR10_DIR / $ENGINE_CIFAR100_DIR when set).
TrainTestSets load_dataset(const DatasetSpec& spec);
// [C, H, W] of one image and the number of classes, without reading any file.
std::vector<int64_t> dataset_image_shape(const std::string& name);
int64_t dataset_num_classes(const DatasetSpec& spec);
// The class names in label order, without reading a file (the names a CIFAR folder's
// label file usually holds, and Fashion-MNIST's).
std::vector<std::string> dataset_class_names(const DatasetSpec& spec);
// The stem of the dataset's class-description file, configs/labels/<stem>.json: the
// dataset's name, or "cifar100_coarse" for CIFAR-100's coarse labels.
std::string class_descriptions_stem(const DatasetSpec& spec);

}  // namespace engine::data
