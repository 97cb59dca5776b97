#include "data/fashion_mnist.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

namespace engine::data {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;
constexpr uint32_t kLabelsMagic = 0x00000801;

class GzFile {
 public:
  explicit GzFile(const std::string& path) : path_(path) {
    errno = 0;
    f_ = gzopen(path.c_str(), "rb");
    ENGINE_CHECK(f_ != nullptr,
                 "cannot open idx file '" << path << "': " << (errno ? std::strerror(errno) : "out of memory"));
  }
  ~GzFile() {
    if (f_) gzclose(f_);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads up to n bytes; returns how many were read (less only at the end of the data).
  size_t read(void* dst, size_t n) {
    char* p = static_cast<char*>(dst);
    size_t got = 0;
    while (got < n) {
      unsigned chunk = unsigned(std::min<size_t>(n - got, size_t(1) << 30));
      int r = gzread(f_, p + got, chunk);
      if (r < 0) {
        int code = 0;
        const char* msg = gzerror(f_, &code);
        ENGINE_THROW("idx file '" << path_ << "' is corrupt: " << (msg ? msg : "gzip read error"));
      }
      if (r == 0) break;
      got += size_t(r);
    }
    return got;
  }

 private:
  std::string path_;
  gzFile f_ = nullptr;
};

uint32_t be32(const unsigned char* b) {
  return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
}

// Reads an idx file of u8 elements with the given magic; returns dims and the bytes.
std::vector<uint8_t> read_idx(const std::string& path, uint32_t magic, const char* what, Shape& dims) {
  GzFile f(path);
  unsigned char head[4];
  ENGINE_CHECK(f.read(head, 4) == 4, "idx file '" << path << "' is truncated: no 4-byte magic number");
  uint32_t m = be32(head);
  if (m != magic) {
    char have[16], want[16];
    std::snprintf(have, sizeof have, "0x%08x", unsigned(m));
    std::snprintf(want, sizeof want, "0x%08x", unsigned(magic));
    ENGINE_THROW("idx file '" << path << "' has magic number " << have << ", expected " << want << " (" << what << ")");
  }
  const int ndim = int(magic & 0xff);
  std::vector<unsigned char> dim_bytes(size_t(4 * ndim));
  ENGINE_CHECK(f.read(dim_bytes.data(), dim_bytes.size()) == dim_bytes.size(),
               "idx file '" << path << "' is truncated inside its header (" << ndim << " dimensions expected)");
  dims.clear();
  uint64_t total = 1;
  for (int i = 0; i < ndim; ++i) {
    uint32_t d = be32(&dim_bytes[size_t(4 * i)]);
    dims.push_back(int64_t(d));
    total *= d;
    ENGINE_CHECK(total <= (uint64_t(1) << 36),
                 "idx file '" << path << "': header dimensions " << shape_str(dims) << " are implausibly large");
  }
  std::vector<uint8_t> data(static_cast<size_t>(total));
  size_t got = f.read(data.data(), data.size());
  ENGINE_CHECK(got == data.size(), "idx file '" << path << "' is truncated: header " << shape_str(dims) << " needs "
                                                << total << " data bytes, file has " << got);
  unsigned char extra;
  ENGINE_CHECK(f.read(&extra, 1) == 0, "idx file '" << path << "' has trailing bytes after the " << total
                                                    << " data bytes of " << shape_str(dims));
  return data;
}

bool file_exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string find_idx(const std::string& dir, const std::string& stem) {
  std::string plain = dir + "/" + stem;
  if (file_exists(plain)) return plain;
  if (file_exists(plain + ".gz")) return plain + ".gz";
  ENGINE_THROW("Fashion-MNIST: neither '" << plain << "' nor '" << plain << ".gz' exists (install the "
                                          << "dataset-fashion-mnist package or name a folder holding the idx files)");
}

}  // namespace

Tensor read_idx_images(const std::string& path) {
  Shape dims;
  std::vector<uint8_t> data = read_idx(path, kImagesMagic, "idx3 u8 images", dims);
  Tensor t = Tensor::empty({dims[0], 1, dims[1], dims[2]}, DType::u8);
  if (!data.empty()) std::memcpy(t.data_ptr(), data.data(), data.size());
  return t;
}

Tensor read_idx_labels(const std::string& path) {
  Shape dims;
  std::vector<uint8_t> data = read_idx(path, kLabelsMagic, "idx1 u8 labels", dims);
  Tensor t = Tensor::empty({dims[0]}, DType::i64);
  int64_t* p = t.data<int64_t>();
  for (size_t i = 0; i < data.size(); ++i) p[i] = data[i];
  return t;
}

const std::vector<std::string>& fashion_mnist_class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

Dataset load_fashion_mnist(const std::string& dir, bool train) {
  const std::string prefix = train ? "train" : "t10k";
  const std::string img_path = find_idx(dir, prefix + "-images-idx3-ubyte");
  const std::string lab_path = find_idx(dir, prefix + "-labels-idx1-ubyte");
  Dataset d;
  d.name = std::string("fashion_mnist/") + (train ? "train" : "test");
  d.images = read_idx_images(img_path);
  d.labels = read_idx_labels(lab_path);
  d.num_classes = 10;
  d.class_names = fashion_mnist_class_names();
  ENGINE_CHECK(d.images.size(0) == d.labels.size(0), "Fashion-MNIST: '" << img_path << "' holds " << d.images.size(0)
                                                                        << " images but '" << lab_path << "' holds "
                                                                        << d.labels.size(0) << " labels");
  const int64_t* l = d.labels.data<int64_t>();
  for (int64_t i = 0; i < d.labels.numel(); ++i)
    ENGINE_CHECK(l[i] < d.num_classes, "Fashion-MNIST: '" << lab_path << "': label " << l[i] << " of record " << i
                                                          << " is outside [0, " << d.num_classes << ")");
  return d;
}

}  // namespace engine::data
