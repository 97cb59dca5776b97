#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"
#include "engine/ops/functional.h"

namespace engine::ops {

Tensor augment_images(const Tensor& images, const Tensor& indices, const kernels::AugmentParams& options) {
  ENGINE_CHECK(images.dtype() == DType::u8 && images.dim() == 4,
               "augment_images: images must be u8 [N, C, H, W] or [N, H, W, C], got " << images.header());
  ENGINE_CHECK(indices.dtype() == DType::i64 && indices.dim() == 1,
               "augment_images: indices must be i64 [B], got " << indices.header());
  ENGINE_CHECK(images.device() == indices.device(),
               "augment_images: images on " << images.device().str() << " but indices on " << indices.device().str());
  ENGINE_CHECK(options.crop_padding >= 0 && options.cutout_size >= 0, "augment_images: crop_padding "
                                                                          << options.crop_padding << " and cutout_size "
                                                                          << options.cutout_size << " must be >= 0");
  AugmentImagesAttrs a{options};
  kernels::AugmentParams& p = a.p;
  p.N = images.size(0);
  p.C = options.nhwc ? images.size(3) : images.size(1);
  p.H = options.nhwc ? images.size(1) : images.size(2);
  p.W = options.nhwc ? images.size(2) : images.size(3);
  p.B = indices.size(0);
  ENGINE_CHECK(p.C >= 1 && p.C <= kernels::kAugmentMaxChannels,
               "augment_images: " << p.C << " channels in " << shape_str(images.shape()) << " (at most "
                                  << kernels::kAugmentMaxChannels << ")");
  Tensor out = Tensor::empty({p.B, p.C, p.H, p.W}, DType::f32, images.device());
  dispatch(OpCall{OpKind::AUGMENT_IMAGES, {images.contiguous(), indices.contiguous()}, {out}, &a});
  return out;
}

}  // namespace engine::ops
