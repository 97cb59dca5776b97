#include "data/corruptions.h"

#include <algorithm>
#include <array>
#include <cmath>

#include "base/check.h"
#include "base/rng.h"

namespace engine::data {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Severity parameters, index severity - 1.
constexpr double kGaussianSigma[5] = {0.04, 0.06, 0.08, 0.09, 0.10};
constexpr double kShotLambda[5] = {500, 250, 100, 75, 50};
constexpr double kImpulseAmount[5] = {0.01, 0.02, 0.03, 0.05, 0.07};
constexpr double kDefocusRadius[5] = {0.75, 1.0, 1.25, 1.75, 2.25};
constexpr double kContrast[5] = {0.75, 0.5, 0.4, 0.3, 0.15};
constexpr double kBrightness[5] = {0.05, 0.1, 0.15, 0.2, 0.3};
constexpr double kPixelate[5] = {0.9, 0.8, 0.7, 0.6, 0.5};
constexpr int kJpegQuality[5] = {80, 65, 58, 50, 40};

// The example quantisation tables of the JPEG standard (ITU-T T.81, Annex K), row-major.
constexpr int kLumaTable[64] = {16, 11, 10, 16, 24,  40,  51,  61,  12, 12, 14, 19, 26,  58,  60,  55,
                                14, 13, 16, 24, 40,  57,  69,  56,  14, 17, 22, 29, 51,  87,  80,  62,
                                18, 22, 37, 56, 68,  109, 103, 77,  24, 35, 55, 64, 81,  104, 113, 92,
                                49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99};
constexpr int kChromaTable[64] = {17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99,
                                  24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99,
                                  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
                                  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99};

// One image as floats in [0, 1], CHW.
struct Image {
  int64_t c, h, w;
  std::vector<float> v;
  float& at(int64_t ch, int64_t y, int64_t x) { return v[size_t((ch * h + y) * w + x)]; }
  float at(int64_t ch, int64_t y, int64_t x) const { return v[size_t((ch * h + y) * w + x)]; }
};

// Mirror an index into [0, n) without repeating the edge pixel.
int64_t reflect(int64_t i, int64_t n) {
  if (n == 1) return 0;
  int64_t period = 2 * (n - 1);
  i = ((i % period) + period) % period;
  return i < n ? i : period - i;
}

// Poisson(mean): inversion for small means, a rounded normal for large ones.
double poisson(double mean, uint64_t key, uint64_t index) {
  if (mean <= 0) return 0;
  if (mean > 30) return std::max(0.0, std::round(mean + std::sqrt(mean) * philox_normal(key, index)));
  double u = philox_uniform(key, 2 * index), p = std::exp(-mean), cdf = p;
  int k = 0;
  while (u > cdf && k < 200) {
    ++k;
    p *= mean / k;
    cdf += p;
  }
  return k;
}

void defocus(Image& im, double radius) {
  int64_t r = int64_t(std::ceil(radius));
  int64_t side = 2 * r + 1;
  std::vector<double> kernel(size_t(side * side), 0.0);
  constexpr int kSub = 16;  // sub-samples per pixel side for the disc's area
  double total = 0;
  for (int64_t dy = -r; dy <= r; ++dy)
    for (int64_t dx = -r; dx <= r; ++dx) {
      int inside = 0;
      for (int sy = 0; sy < kSub; ++sy)
        for (int sx = 0; sx < kSub; ++sx) {
          double y = double(dy) - 0.5 + (sy + 0.5) / kSub, x = double(dx) - 0.5 + (sx + 0.5) / kSub;
          inside += x * x + y * y <= radius * radius;
        }
      double wgt = double(inside) / (kSub * kSub);
      kernel[size_t((dy + r) * side + dx + r)] = wgt;
      total += wgt;
    }
  Image out = im;
  for (int64_t ch = 0; ch < im.c; ++ch)
    for (int64_t y = 0; y < im.h; ++y)
      for (int64_t x = 0; x < im.w; ++x) {
        double s = 0;
        for (int64_t dy = -r; dy <= r; ++dy)
          for (int64_t dx = -r; dx <= r; ++dx)
            s += kernel[size_t((dy + r) * side + dx + r)] * im.at(ch, reflect(y + dy, im.h), reflect(x + dx, im.w));
        out.at(ch, y, x) = float(s / total);
      }
  im = std::move(out);
}

void pixelate(Image& im, double factor) {
  int64_t sh = std::max<int64_t>(1, int64_t(std::lround(double(im.h) * factor)));
  int64_t sw = std::max<int64_t>(1, int64_t(std::lround(double(im.w) * factor)));
  // Source extent of small pixel i along an axis of n pixels: [i n / s, (i + 1) n / s).
  auto overlap = [](double a0, double a1, int64_t p) {
    return std::max(0.0, std::min(a1, double(p + 1)) - std::max(a0, double(p)));
  };
  std::vector<float> small(size_t(im.c * sh * sw));
  for (int64_t ch = 0; ch < im.c; ++ch)
    for (int64_t i = 0; i < sh; ++i)
      for (int64_t j = 0; j < sw; ++j) {
        double y0 = double(i) * im.h / sh, y1 = double(i + 1) * im.h / sh;
        double x0 = double(j) * im.w / sw, x1 = double(j + 1) * im.w / sw;
        double s = 0, area = 0;
        for (int64_t y = int64_t(y0); y < im.h && y < y1; ++y)
          for (int64_t x = int64_t(x0); x < im.w && x < x1; ++x) {
            double a = overlap(y0, y1, y) * overlap(x0, x1, x);
            s += a * im.at(ch, y, x);
            area += a;
          }
        small[size_t((ch * sh + i) * sw + j)] = float(s / area);
      }
  for (int64_t ch = 0; ch < im.c; ++ch)
    for (int64_t y = 0; y < im.h; ++y)
      for (int64_t x = 0; x < im.w; ++x) {
        int64_t i = std::min(sh - 1, int64_t((double(y) + 0.5) * sh / im.h));
        int64_t j = std::min(sw - 1, int64_t((double(x) + 0.5) * sw / im.w));
        im.at(ch, y, x) = small[size_t((ch * sh + i) * sw + j)];
      }
}

// Quantises one plane (values 0..255) block by block; the plane is padded to whole
// 8x8 blocks by repeating its last row and column.
void jpeg_plane(std::vector<double>& plane, int64_t h, int64_t w, const int* table, int quality) {
  double scale = quality < 50 ? 5000.0 / quality : 200.0 - 2.0 * quality;
  std::array<double, 64> q;
  for (int k = 0; k < 64; ++k) q[size_t(k)] = std::clamp(std::floor((table[k] * scale + 50) / 100), 1.0, 255.0);
  static const auto basis = [] {
    std::array<double, 64> b{};  // b[u * 8 + x] = C(u) / 2 * cos((2x + 1) u pi / 16)
    for (int u = 0; u < 8; ++u)
      for (int x = 0; x < 8; ++x)
        b[size_t(u * 8 + x)] = (u == 0 ? std::sqrt(0.5) : 1.0) * 0.5 * std::cos((2 * x + 1) * u * kPi / 16);
    return b;
  }();
  for (int64_t by = 0; by < h; by += 8)
    for (int64_t bx = 0; bx < w; bx += 8) {
      double f[64], g[64], tmp[64];
      for (int y = 0; y < 8; ++y)
        for (int x = 0; x < 8; ++x)
          f[y * 8 + x] = plane[size_t(std::min(h - 1, by + y) * w + std::min(w - 1, bx + x))] - 128.0;
      // Separable forward DCT: rows, then columns.
      for (int y = 0; y < 8; ++y)
        for (int u = 0; u < 8; ++u) {
          double s = 0;
          for (int x = 0; x < 8; ++x) s += basis[size_t(u * 8 + x)] * f[y * 8 + x];
          tmp[y * 8 + u] = s;
        }
      for (int v = 0; v < 8; ++v)
        for (int u = 0; u < 8; ++u) {
          double s = 0;
          for (int y = 0; y < 8; ++y) s += basis[size_t(v * 8 + y)] * tmp[y * 8 + u];
          g[v * 8 + u] = std::round(s / q[size_t(v * 8 + u)]) * q[size_t(v * 8 + u)];
        }
      // Inverse: columns, then rows.
      for (int y = 0; y < 8; ++y)
        for (int u = 0; u < 8; ++u) {
          double s = 0;
          for (int v = 0; v < 8; ++v) s += basis[size_t(v * 8 + y)] * g[v * 8 + u];
          tmp[y * 8 + u] = s;
        }
      for (int y = 0; y < 8 && by + y < h; ++y)
        for (int x = 0; x < 8 && bx + x < w; ++x) {
          double s = 0;
          for (int u = 0; u < 8; ++u) s += basis[size_t(u * 8 + x)] * tmp[y * 8 + u];
          plane[size_t((by + y) * w + bx + x)] = s + 128.0;
        }
    }
}

void jpeg(Image& im, int quality) {
  size_t n = size_t(im.h * im.w);
  if (im.c == 1) {
    std::vector<double> y(n);
    for (size_t i = 0; i < n; ++i) y[i] = im.v[i] * 255.0;
    jpeg_plane(y, im.h, im.w, kLumaTable, quality);
    for (size_t i = 0; i < n; ++i) im.v[i] = float(y[i] / 255.0);
    return;
  }
  std::vector<double> Y(n), Cb(n), Cr(n);
  for (size_t i = 0; i < n; ++i) {
    double r = im.v[i] * 255.0, g = im.v[n + i] * 255.0, b = im.v[2 * n + i] * 255.0;
    Y[i] = 0.299 * r + 0.587 * g + 0.114 * b;
    Cb[i] = 128.0 - 0.168736 * r - 0.331264 * g + 0.5 * b;
    Cr[i] = 128.0 + 0.5 * r - 0.418688 * g - 0.081312 * b;
  }
  jpeg_plane(Y, im.h, im.w, kLumaTable, quality);
  jpeg_plane(Cb, im.h, im.w, kChromaTable, quality);
  jpeg_plane(Cr, im.h, im.w, kChromaTable, quality);
  for (size_t i = 0; i < n; ++i) {
    double y = Y[i], cb = Cb[i] - 128.0, cr = Cr[i] - 128.0;
    im.v[i] = float((y + 1.402 * cr) / 255.0);
    im.v[n + i] = float((y - 0.344136 * cb - 0.714136 * cr) / 255.0);
    im.v[2 * n + i] = float((y + 1.772 * cb) / 255.0);
  }
}

void apply(Image& im, Corruption c, int s, uint64_t key, uint64_t base) {
  size_t n = im.v.size(), plane = size_t(im.h * im.w);
  switch (c) {
    case Corruption::gaussian_noise:
      for (size_t i = 0; i < n; ++i) im.v[i] += float(kGaussianSigma[s] * philox_normal(key, base + i));
      break;
    case Corruption::shot_noise: {
      double lam = kShotLambda[s];
      for (size_t i = 0; i < n; ++i) im.v[i] = float(poisson(im.v[i] * lam, key, base + i) / lam);
      break;
    }
    case Corruption::impulse_noise:
      for (size_t i = 0; i < n; ++i)
        if (philox_uniform(key, base + 2 * i) < kImpulseAmount[s])
          im.v[i] = philox_uniform(key, base + 2 * i + 1) < 0.5f ? 0.0f : 1.0f;
      break;
    case Corruption::defocus_blur: defocus(im, kDefocusRadius[s]); break;
    case Corruption::contrast:
      for (int64_t ch = 0; ch < im.c; ++ch) {
        float* p = im.v.data() + size_t(ch) * plane;
        double mean = 0;
        for (size_t i = 0; i < plane; ++i) mean += p[i];
        mean /= double(plane);
        for (size_t i = 0; i < plane; ++i) p[i] = float((p[i] - mean) * kContrast[s] + mean);
      }
      break;
    case Corruption::brightness:
      for (size_t i = 0; i < plane; ++i) {
        double v = 0;
        for (int64_t ch = 0; ch < im.c; ++ch) v = std::max(v, double(im.v[size_t(ch) * plane + i]));
        double nv = std::min(1.0, v + kBrightness[s]);
        for (int64_t ch = 0; ch < im.c; ++ch) {
          float& p = im.v[size_t(ch) * plane + i];
          p = v > 0 ? float(p * nv / v) : float(nv);  // scaling every channel keeps hue and saturation
        }
      }
      break;
    case Corruption::pixelate: pixelate(im, kPixelate[s]); break;
    case Corruption::jpeg: jpeg(im, kJpegQuality[s]); break;
  }
}

}  // namespace

const std::vector<Corruption>& all_corruptions() {
  static const std::vector<Corruption> all = {
      Corruption::gaussian_noise, Corruption::shot_noise, Corruption::impulse_noise, Corruption::defocus_blur,
      Corruption::contrast,       Corruption::brightness, Corruption::pixelate,      Corruption::jpeg};
  return all;
}

std::string corruption_name(Corruption c) {
  switch (c) {
    case Corruption::gaussian_noise: return "gaussian_noise";
    case Corruption::shot_noise: return "shot_noise";
    case Corruption::impulse_noise: return "impulse_noise";
    case Corruption::defocus_blur: return "defocus_blur";
    case Corruption::contrast: return "contrast";
    case Corruption::brightness: return "brightness";
    case Corruption::pixelate: return "pixelate";
    case Corruption::jpeg: return "jpeg";
  }
  return "?";
}

Corruption corruption_from_name(const std::string& name) {
  std::string known;
  for (Corruption c : all_corruptions()) {
    if (corruption_name(c) == name) return c;
    known += (known.empty() ? "" : ", ") + corruption_name(c);
  }
  ENGINE_THROW("unknown corruption '" << name << "'; known: " << known);
}

Tensor corrupt_images(const Tensor& images, Corruption c, int severity, uint64_t seed, int64_t first_index) {
  ENGINE_CHECK(images.dtype() == DType::u8 && images.dim() == 4 && images.device().is_cpu(),
               "corrupt_images: expected u8 [N, C, H, W] on the CPU, got " << dtype_name(images.dtype()) << " "
                                                                           << shape_str(images.shape()));
  int64_t n = images.size(0), ch = images.size(1), h = images.size(2), w = images.size(3);
  ENGINE_CHECK(ch == 1 || ch == 3, "corrupt_images: expected 1 or 3 channels, got " << ch);
  ENGINE_CHECK(severity >= 1 && severity <= kNumSeverities,
               "corrupt_images: severity " << severity << " outside 1.." << kNumSeverities);
  ENGINE_CHECK(first_index >= 0, "corrupt_images: first_index " << first_index << " is negative");
  Tensor src = images.contiguous();
  Tensor out = Tensor::empty(images.shape(), DType::u8);
  const uint8_t* in = src.data<uint8_t>();
  uint8_t* dst = out.data<uint8_t>();
  int64_t per = ch * h * w;
  uint64_t key = derive_seed(seed, 0xC0AA0000u + uint64_t(c), uint64_t(severity));
#pragma omp parallel for schedule(dynamic, 16) if (n >= 64)
  for (int64_t i = 0; i < n; ++i) {
    Image im{ch, h, w, std::vector<float>(size_t(per))};
    for (int64_t k = 0; k < per; ++k) im.v[size_t(k)] = float(in[i * per + k]) / 255.0f;
    // Four random words per value and image keep the streams of images apart.
    apply(im, c, severity - 1, key, uint64_t(first_index + i) * uint64_t(per) * 4);
    for (int64_t k = 0; k < per; ++k)
      dst[i * per + k] = uint8_t(std::lround(std::clamp(double(im.v[size_t(k)]), 0.0, 1.0) * 255.0));
  }
  return out;
}

Dataset corrupt_dataset(const Dataset& d, Corruption c, int severity, uint64_t seed) {
  Dataset out = d;
  out.name = d.name + "-" + corruption_name(c) + "-" + std::to_string(severity);
  out.images = corrupt_images(d.images, c, severity, seed);
  return out;
}

}  // namespace engine::data
