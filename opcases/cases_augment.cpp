// AUGMENT_IMAGES: the device kernel must give the CPU kernel's floats exactly (both
// round the multiply, then the add), on odd image sizes, both stored layouts, several
// seeds and epochs, and repeated indices.
#include "base/rng.h"
#include "data/augment.h"
#include "data/registry.h"
#include "engine/ops/functional.h"
#include "opcases/op_cases.h"

namespace engine::opcases {
namespace {

using Ins = std::vector<Tensor>;

Tensor random_u8(const Shape& s, uint64_t seed) {
  Tensor t = Tensor::empty(s, DType::u8);
  uint8_t* p = t.data<uint8_t>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = uint8_t(philox_word(seed, uint64_t(i)) >> 24);
  return t;
}

Tensor random_indices(int64_t b, int64_t n, uint64_t seed) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < b; ++i) v.push_back(int64_t(philox_word(seed, uint64_t(i)) % uint64_t(n)));
  return Tensor::from_data(v.data(), {b});
}

struct Case {
  int64_t n, c, h, w, b, pad, cutout;
  bool flip, nhwc;
};

}  // namespace

void add_augment_cases(std::vector<OpCase>& v) {
  for (Case k : {Case{50, 3, 32, 32, 37, 4, 8, true, false}, Case{9, 3, 7, 13, 20, 3, 5, true, true},
                 Case{11, 1, 28, 28, 5, 0, 0, false, false}, Case{3, 4, 5, 3, 1, 6, 2, true, false},
                 Case{300, 3, 33, 31, 257, 2, 0, true, true}})
    for (uint64_t seed : {1u, 77u}) {
      auto make = [k, seed](DType) {
        Tensor images = random_u8({k.n, k.c, k.h, k.w}, seed + 3);
        return Ins{k.nhwc ? images.permute({0, 2, 3, 1}).contiguous() : images, random_indices(k.b, k.n, seed + 11)};
      };
      auto run = [k, seed](const Ins& in, DType, Device) {
        Outs o;
        for (int64_t epoch : {0, 5}) {
          data::AugmentOptions opt;
          opt.crop_padding = k.pad;
          opt.cutout_size = k.cutout;
          opt.horizontal_flip = k.flip;
          data::Normalization norm =
              k.c == 3 ? data::dataset_normalization("cifar10") : data::Normalization{{0.3f}, {0.6f}};
          kernels::AugmentParams p = data::augment_params(opt, norm, k.c, k.h, k.w, seed, epoch);
          p.nhwc = k.nhwc;
          o.push_back({"epoch " + std::to_string(epoch), ops::augment_images(in[0], in[1], p), Cmp::Exact});
        }
        return o;
      };
      std::string name = "augment_images N " + std::to_string(k.n) + " C " + std::to_string(k.c) + " H " +
                         std::to_string(k.h) + " W " + std::to_string(k.w) + " B " + std::to_string(k.b) +
                         (k.nhwc ? " nhwc" : " nchw") + " seed " + std::to_string(seed);
      OpCase c = op_case("augment", name, {OpKind::AUGMENT_IMAGES}, {DType::u8}, make, run);
      c.twin = false;
      v.push_back(c);
    }
}

}  // namespace engine::opcases
