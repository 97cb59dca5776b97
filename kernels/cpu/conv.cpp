#include "kernels/cpu/conv.h"

#include <algorithm>
#include <memory>

#include "kernels/cpu/linalg.h"

namespace engine::kernels {
namespace {

// Images are processed in chunks whose column matrix [C*R*S, chunk*P*Q] holds about
// this many elements: one GEMM per chunk and group keeps BLAS busy on small late-stage
// feature maps (P*Q = 16) without holding the columns of the whole batch.
constexpr int64_t kColumnBudget = int64_t(1) << 22;
// The column copies stay serial on purpose: BLAS (pthreads) threads the GEMMs, and an
// OpenMP team around the copies spins between regions and steals the cores the GEMM
// threads need (measured 2.5x slower on ResNet-18 layer shapes with 2 cores).

struct Geometry {
  int64_t Cg, Kg, RS, PQ, HW, crs_g;  // per-group channels/filters, taps, pixels, GEMM depth
  int64_t chunk;                      // images per chunk
  bool identity;                      // 1x1, stride 1, no padding: the columns are x itself
};

Geometry geometry(const Conv2dParams& p) {
  Geometry g;
  g.Cg = p.C / p.groups;
  g.Kg = p.K / p.groups;
  g.RS = p.R * p.S;
  g.PQ = p.P * p.Q;
  g.HW = p.H * p.W;
  g.crs_g = g.Cg * g.RS;
  g.identity = p.R == 1 && p.S == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0;
  int64_t per_image = std::max<int64_t>(p.C * g.RS * g.PQ, 1);
  g.chunk = g.identity ? 1 : std::clamp<int64_t>(kColumnBudget / per_image, 1, std::max<int64_t>(p.N, 1));
  return g;
}

template <class T>
std::unique_ptr<T[]> scratch(int64_t n) {
  return std::unique_ptr<T[]>(new T[size_t(std::max<int64_t>(n, 1))]);
}

// Output positions o whose input position o * stride + off lies in [0, size): [lo, hi).
void valid_range(int64_t off, int64_t stride, int64_t size, int64_t n_out, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
  hi = off > size - 1 ? 0 : (size - 1 - off) / stride + 1;
  lo = std::min(lo, n_out);
  hi = std::max(std::min(hi, n_out), lo);
}

// Rows r*S + s of col (leading dimension ldcol) get the P*Q input values that tap (r, s)
// of one channel plane sees; taps falling into the padding read 0.
template <class T>
void im2col_plane(const T* xc, T* col, int64_t ldcol, const Conv2dParams& p) {
  for (int64_t r = 0; r < p.R; ++r)
    for (int64_t s = 0; s < p.S; ++s) {
      T* row = col + (r * p.S + s) * ldcol;
      int64_t hoff = r * p.dil_h - p.pad_h, woff = s * p.dil_w - p.pad_w, plo, phi, qlo, qhi;
      valid_range(hoff, p.stride_h, p.H, p.P, plo, phi);
      valid_range(woff, p.stride_w, p.W, p.Q, qlo, qhi);
      for (int64_t op = 0; op < p.P; ++op) {
        T* dst = row + op * p.Q;
        if (op < plo || op >= phi) {
          std::fill(dst, dst + p.Q, T(0));
          continue;
        }
        const T* src = xc + (op * p.stride_h + hoff) * p.W + woff;
        std::fill(dst, dst + qlo, T(0));
        if (p.stride_w == 1) {
          std::copy(src + qlo, src + qhi, dst + qlo);
        } else {
          for (int64_t q = qlo; q < qhi; ++q) dst[q] = src[q * p.stride_w];
        }
        std::fill(dst + qhi, dst + p.Q, T(0));
      }
    }
}

// The adjoint of im2col_plane: every column value is added back to the input position
// it was read from. gxc (one channel plane) must be zeroed by the caller.
template <class T>
void col2im_plane(const T* col, int64_t ldcol, T* gxc, const Conv2dParams& p) {
  for (int64_t r = 0; r < p.R; ++r)
    for (int64_t s = 0; s < p.S; ++s) {
      const T* row = col + (r * p.S + s) * ldcol;
      int64_t hoff = r * p.dil_h - p.pad_h, woff = s * p.dil_w - p.pad_w, plo, phi, qlo, qhi;
      valid_range(hoff, p.stride_h, p.H, p.P, plo, phi);
      valid_range(woff, p.stride_w, p.W, p.Q, qlo, qhi);
      for (int64_t op = plo; op < phi; ++op) {
        const T* src = row + op * p.Q;
        T* dst = gxc + (op * p.stride_h + hoff) * p.W + woff;
        for (int64_t q = qlo; q < qhi; ++q) dst[q * p.stride_w] += src[q];
      }
    }
}

// col [C*R*S, b*P*Q] for images n0 .. n0+b-1: image i fills columns i*P*Q onwards.
template <class T>
void im2col_chunk(const T* x, T* col, int64_t n0, int64_t b, const Conv2dParams& p, const Geometry& g) {
  const int64_t L = b * g.PQ, jobs = b * p.C;
  for (int64_t j = 0; j < jobs; ++j) {
    int64_t i = j / p.C, c = j % p.C;
    im2col_plane(x + ((n0 + i) * p.C + c) * g.HW, col + c * g.RS * L + i * g.PQ, L, p);
  }
}

// m [K, b*P*Q] gathered from images n0 .. n0+b-1 of t [N, K, P*Q].
template <class T>
void nkpq_to_rows(const T* t, T* m, int64_t n0, int64_t b, const Conv2dParams& p, const Geometry& g) {
  const int64_t L = b * g.PQ, jobs = b * p.K;
  for (int64_t j = 0; j < jobs; ++j) {
    int64_t i = j / p.K, k = j % p.K;
    const T* src = t + ((n0 + i) * p.K + k) * g.PQ;
    std::copy(src, src + g.PQ, m + k * L + i * g.PQ);
  }
}

}  // namespace

template <class T>
void conv2d_fwd_cpu(T* y, const T* x, const T* w, const T* bias, const Conv2dParams& p) {
  const Geometry g = geometry(p);
  if (p.N == 0 || p.K == 0 || g.PQ == 0) return;
  std::unique_ptr<T[]> col, tmp;
  if (!g.identity) col = scratch<T>(p.C * g.RS * g.chunk * g.PQ);
  if (g.chunk > 1) tmp = scratch<T>(p.K * g.chunk * g.PQ);
  for (int64_t n0 = 0; n0 < p.N; n0 += g.chunk) {
    const int64_t b = std::min(g.chunk, p.N - n0), L = b * g.PQ;
    const T* cols = g.identity ? x + n0 * p.C * g.HW : col.get();
    if (!g.identity) im2col_chunk(x, col.get(), n0, b, p, g);
    // With one image the GEMM result [K, P*Q] already is y's layout.
    T* out = b == 1 ? y + n0 * p.K * g.PQ : tmp.get();
    for (int64_t gr = 0; gr < p.groups; ++gr)
      gemm_cpu<T>(false, false, g.Kg, L, g.crs_g, T(1), w + gr * g.Kg * g.crs_g, g.crs_g, cols + gr * g.crs_g * L, L,
                  T(0), out + gr * g.Kg * L, L);
    const int64_t jobs = b * p.K;
    for (int64_t j = 0; j < jobs; ++j) {
      int64_t i = j / p.K, k = j % p.K;
      T* dst = y + ((n0 + i) * p.K + k) * g.PQ;
      const T bk = bias ? bias[k] : T(0);
      if (b == 1) {
        if (bias)
          for (int64_t t = 0; t < g.PQ; ++t) dst[t] += bk;
      } else {
        const T* src = tmp.get() + k * L + i * g.PQ;
        for (int64_t t = 0; t < g.PQ; ++t) dst[t] = src[t] + bk;
      }
    }
  }
}

template <class T>
void conv2d_bwd_data_cpu(T* gx, const T* gy, const T* w, const Conv2dParams& p) {
  const Geometry g = geometry(p);
  if (p.N == 0 || p.C == 0 || g.HW == 0) return;
  if (p.K == 0 || g.PQ == 0) {
    std::fill(gx, gx + p.N * p.C * g.HW, T(0));
    return;
  }
  std::unique_ptr<T[]> gcol, rows;
  if (!g.identity) gcol = scratch<T>(p.C * g.RS * g.chunk * g.PQ);
  if (g.chunk > 1) rows = scratch<T>(p.K * g.chunk * g.PQ);
  for (int64_t n0 = 0; n0 < p.N; n0 += g.chunk) {
    const int64_t b = std::min(g.chunk, p.N - n0), L = b * g.PQ;
    const T* gyr = gy + n0 * p.K * g.PQ;
    if (b > 1) {
      nkpq_to_rows(gy, rows.get(), n0, b, p, g);
      gyr = rows.get();
    }
    // For a 1x1 stride-1 convolution the column gradient is gx itself.
    T* dcol = g.identity ? gx + n0 * p.C * g.HW : gcol.get();
    for (int64_t gr = 0; gr < p.groups; ++gr)
      gemm_cpu<T>(true, false, g.crs_g, L, g.Kg, T(1), w + gr * g.Kg * g.crs_g, g.crs_g, gyr + gr * g.Kg * L, L, T(0),
                  dcol + gr * g.crs_g * L, L);
    if (g.identity) continue;
    const int64_t jobs = b * p.C;
    for (int64_t j = 0; j < jobs; ++j) {
      int64_t i = j / p.C, c = j % p.C;
      T* gxc = gx + ((n0 + i) * p.C + c) * g.HW;
      std::fill(gxc, gxc + g.HW, T(0));
      col2im_plane(gcol.get() + c * g.RS * L + i * g.PQ, L, gxc, p);
    }
  }
}

template <class T>
void conv2d_bwd_filter_cpu(T* gw, const T* gy, const T* x, const Conv2dParams& p) {
  const Geometry g = geometry(p);
  const int64_t nw = p.K * g.crs_g;
  if (p.N == 0 || g.PQ == 0) {
    std::fill(gw, gw + nw, T(0));
    return;
  }
  std::unique_ptr<T[]> col, rows;
  if (!g.identity) col = scratch<T>(p.C * g.RS * g.chunk * g.PQ);
  if (g.chunk > 1) rows = scratch<T>(p.K * g.chunk * g.PQ);
  for (int64_t n0 = 0; n0 < p.N; n0 += g.chunk) {
    const int64_t b = std::min(g.chunk, p.N - n0), L = b * g.PQ;
    const T* cols = g.identity ? x + n0 * p.C * g.HW : col.get();
    if (!g.identity) im2col_chunk(x, col.get(), n0, b, p, g);
    const T* gyr = gy + n0 * p.K * g.PQ;
    if (b > 1) {
      nkpq_to_rows(gy, rows.get(), n0, b, p, g);
      gyr = rows.get();
    }
    // The first chunk overwrites gw, later ones accumulate into it.
    const T beta = n0 == 0 ? T(0) : T(1);
    for (int64_t gr = 0; gr < p.groups; ++gr)
      gemm_cpu<T>(false, true, g.Kg, g.crs_g, L, T(1), gyr + gr * g.Kg * L, L, cols + gr * g.crs_g * L, L, beta,
                  gw + gr * g.Kg * g.crs_g, g.crs_g);
  }
}

template void conv2d_fwd_cpu<float>(float*, const float*, const float*, const float*, const Conv2dParams&);
template void conv2d_fwd_cpu<double>(double*, const double*, const double*, const double*, const Conv2dParams&);
template void conv2d_bwd_data_cpu<float>(float*, const float*, const float*, const Conv2dParams&);
template void conv2d_bwd_data_cpu<double>(double*, const double*, const double*, const Conv2dParams&);
template void conv2d_bwd_filter_cpu<float>(float*, const float*, const float*, const Conv2dParams&);
template void conv2d_bwd_filter_cpu<double>(double*, const double*, const double*, const Conv2dParams&);

}  // namespace engine::kernels
