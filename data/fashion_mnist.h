#pragma once
// Fashion-MNIST in the idx format of the original MNIST files: big-endian u32 magic
// (0x00000803: u8 images, 3 dims; 0x00000801: u8 labels, 1 dim), big-endian u32
// dims, then the bytes. Plain or gzipped files read the same (zlib reads plain files
// transparently).
#include <string>

#include "data/dataset.h"

namespace engine::data {

// The folder of Debian's dataset-fashion-mnist package.
constexpr const char* kFashionMnistDefaultDir = "/usr/share/datasets/fashion-mnist";

// u8 [N, 1, H, W]; throws naming the file on a wrong magic, a truncated file or
// trailing bytes.
Tensor read_idx_images(const std::string& path);
// i64 [N]; same checks.
Tensor read_idx_labels(const std::string& path);

// Reads {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] from `dir` (the plain file
// when both exist) and checks that images and labels agree in count and that labels
// lie in [0, 10).
Dataset load_fashion_mnist(const std::string& dir = kFashionMnistDefaultDir, bool train = true);

const std::vector<std::string>& fashion_mnist_class_names();

}  // namespace engine::data
