// The simulated cuDNN's convolution kernels: forward, backward data and backward filter
// of a checked Problem (cudnn_conv.h). Each image is widened once into a contiguous
// C x H x W buffer of the accumulator type (f32, f64 for double data), unfolded by
// im2col straight into the packed layout of the shared GEMM kernel (gemm_core.h), and
// multiplied per group; results are blended into the caller's layout through the
// descriptor strides. Sums run in f32 (f64 for double data) as cuDNN's do; 16-bit
// outputs are rounded to nearest even.
#include <vector>

#include "cudnn_internal.h"
#include "gemm_core.h"

namespace cudasim::dnn {
namespace {

using namespace numerics;

struct Dims {
  int64_t N, C, H, W, K, R, S, P, Q, G, Cg, Kg, crs, pq;
  explicit Dims(const Problem& p)
      : N(p.x.n),
        C(p.x.c),
        H(p.x.h),
        W(p.x.w),
        K(p.w.k),
        R(p.w.r),
        S(p.w.s),
        P(p.y.h),
        Q(p.y.w),
        G(p.groups),
        Cg(p.w.c),
        Kg(p.w.k / p.groups),
        crs(p.w.c * p.w.r * p.w.s),
        pq(p.y.h * p.y.w) {}
};

// Visits image n of a tensor as (index into a contiguous C x H x W buffer, element),
// walking memory in order for channels-innermost (NHWC) layouts as well.
template <class T, class F>
void each_element(const Tensor& t, T* base, int64_t n, F f) {
  T* img = base + n * t.sn;
  if (t.sc < t.sw) {
    for (int64_t h = 0; h < t.h; ++h)
      for (int64_t w = 0; w < t.w; ++w)
        for (int64_t c = 0; c < t.c; ++c) f((c * t.h + h) * t.w + w, img[h * t.sh + w * t.sw + c * t.sc]);
  } else {
    for (int64_t c = 0; c < t.c; ++c)
      for (int64_t h = 0; h < t.h; ++h)
        for (int64_t w = 0; w < t.w; ++w) f((c * t.h + h) * t.w + w, img[c * t.sc + h * t.sh + w * t.sw]);
  }
}

template <class Acc, class T>
void load_image(const Tensor& t, const T* base, int64_t n, Rounding rnd, Acc* out) {
  each_element(t, base, n, [&](int64_t i, const T& v) { out[i] = round_input(Acc(widen(v)), rnd); });
}

// Blends alpha * acc + beta * old into image n; beta == 0: the old value is not read.
template <class Acc, class T>
void store_image(const Tensor& t, T* base, int64_t n, const Acc* acc, Acc alpha, Acc beta) {
  each_element(t, base, n, [&](int64_t i, T& d) {
    const Acc v = alpha * acc[i];
    d = narrow<T>(beta == Acc(0) ? v : v + beta * Acc(widen(d)));
  });
}

// The filter as [k][c][r][s] in Acc, mirrored for CUDNN_CONVOLUTION so that every kernel
// below computes a cross-correlation.
template <class Acc, class T>
void load_filter(const Problem& p, const T* w, Rounding rnd, Acc* out) {
  const Filter& f = p.w;
  for (int64_t k = 0; k < f.k; ++k)
    for (int64_t c = 0; c < f.c; ++c)
      for (int64_t r = 0; r < f.r; ++r)
        for (int64_t s = 0; s < f.s; ++s) {
          const int64_t rr = p.flip ? f.r - 1 - r : r, ss = p.flip ? f.s - 1 - s : s;
          out[((k * f.c + c) * f.r + r) * f.s + s] =
              round_input(Acc(widen(w[k * f.sk + c * f.sc + rr * f.sr + ss * f.ss])), rnd);
        }
}

template <class Acc, class T>
void store_filter(const Problem& p, T* w, const Acc* acc, Acc alpha, Acc beta) {
  const Filter& f = p.w;
  for (int64_t k = 0; k < f.k; ++k)
    for (int64_t c = 0; c < f.c; ++c)
      for (int64_t r = 0; r < f.r; ++r)
        for (int64_t s = 0; s < f.s; ++s) {
          const int64_t rr = p.flip ? f.r - 1 - r : r, ss = p.flip ? f.s - 1 - s : s;
          T& d = w[k * f.sk + c * f.sc + rr * f.sr + ss * f.ss];
          const Acc v = alpha * acc[((k * f.c + c) * f.r + r) * f.s + s];
          d = narrow<T>(beta == Acc(0) ? v : v + beta * Acc(widen(d)));
        }
}

// im2col of one group's channels (img: Cg x H x W): put(row, col, v) for every
// row = (c, r, s) and col = (oh, ow), v the input tap or 0 in the padding.
template <class Acc, class Put>
void im2col(const Problem& p, const Dims& d, const Acc* img, Put put) {
  for (int64_t c = 0; c < d.Cg; ++c)
    for (int64_t r = 0; r < d.R; ++r)
      for (int64_t s = 0; s < d.S; ++s) {
        const int64_t row = (c * d.R + r) * d.S + s;
        for (int64_t oh = 0; oh < d.P; ++oh) {
          const int64_t ih = oh * p.stride_h - p.pad_h + r * p.dil_h;
          if (ih < 0 || ih >= d.H) {
            for (int64_t ow = 0; ow < d.Q; ++ow) put(row, oh * d.Q + ow, Acc(0));
            continue;
          }
          const Acc* line = img + (c * d.H + ih) * d.W;
          for (int64_t ow = 0; ow < d.Q; ++ow) {
            const int64_t iw = ow * p.stride_w - p.pad_w + s * p.dil_w;
            put(row, oh * d.Q + ow, iw >= 0 && iw < d.W ? line[iw] : Acc(0));
          }
        }
      }
}

// The adjoint of im2col: adds col (crs x pq) into the taps of img (Cg x H x W).
template <class Acc>
void col2im_add(const Problem& p, const Dims& d, const Acc* col, Acc* img) {
  for (int64_t c = 0; c < d.Cg; ++c)
    for (int64_t r = 0; r < d.R; ++r)
      for (int64_t s = 0; s < d.S; ++s) {
        const Acc* src = col + ((c * d.R + r) * d.S + s) * d.pq;
        for (int64_t oh = 0; oh < d.P; ++oh) {
          const int64_t ih = oh * p.stride_h - p.pad_h + r * p.dil_h;
          if (ih < 0 || ih >= d.H) continue;
          Acc* line = img + (c * d.H + ih) * d.W;
          for (int64_t ow = 0; ow < d.Q; ++ow) {
            const int64_t iw = ow * p.stride_w - p.pad_w + s * p.dil_w;
            if (iw >= 0 && iw < d.W) line[iw] += src[oh * d.Q + ow];
          }
        }
      }
}

// y[n, g] (Kg x pq) = w[g] (Kg x crs) * im2col(x[n, g]) (crs x pq)
template <class Acc, class T>
void forward_t(const Problem& p, const T* x, const T* w, T* y, Acc alpha, Acc beta) {
  const Dims d(p);
  const Rounding rnd = p.tf32 ? Rounding::tf32 : Rounding::none;
  std::vector<Acc> wk(size_t(d.K * d.crs));
  load_filter(p, w, rnd, wk.data());
  const int64_t lsize = left_size(d.Kg, d.crs);
  std::vector<Acc> lp(size_t(d.G * lsize));
  for (int64_t g = 0; g < d.G; ++g)
    pack_left<Acc>(d.Kg, d.crs, wk.data() + g * d.Kg * d.crs, d.crs, 1, Rounding::none, lp.data() + g * lsize);
  std::vector<Acc> img(size_t(d.C * d.H * d.W)), rp(size_t(right_size(d.crs, d.pq)), Acc(0)), out(size_t(d.K * d.pq));
  for (int64_t n = 0; n < d.N; ++n) {
    load_image(p.x, x, n, rnd, img.data());
    std::fill(out.begin(), out.end(), Acc(0));
    for (int64_t g = 0; g < d.G; ++g) {
      im2col(p, d, img.data() + g * d.Cg * d.H * d.W,
             [&](int64_t row, int64_t col, Acc v) { rp[size_t(right_index(d.crs, row, col))] = v; });
      gemm_packed<Acc>(d.Kg, d.pq, d.crs, lp.data() + g * lsize, rp.data(), out.data() + g * d.Kg * d.pq, d.pq);
    }
    store_image(p.y, y, n, out.data(), alpha, beta);
  }
}

// dx[n, g] = col2im(w[g]^T (crs x Kg) * dy[n, g] (Kg x pq))
template <class Acc, class T>
void backward_data_t(const Problem& p, const T* w, const T* dy, T* dx, Acc alpha, Acc beta) {
  const Dims d(p);
  const Rounding rnd = p.tf32 ? Rounding::tf32 : Rounding::none;
  std::vector<Acc> wk(size_t(d.K * d.crs));
  load_filter(p, w, rnd, wk.data());
  const int64_t lsize = left_size(d.crs, d.Kg);
  std::vector<Acc> lp(size_t(d.G * lsize));
  for (int64_t g = 0; g < d.G; ++g)
    pack_left<Acc>(d.crs, d.Kg, wk.data() + g * d.Kg * d.crs, 1, d.crs, Rounding::none, lp.data() + g * lsize);
  std::vector<Acc> dyimg(size_t(d.K * d.pq)), rp(size_t(right_size(d.Kg, d.pq))), col(size_t(d.crs * d.pq)),
      dximg(size_t(d.C * d.H * d.W));
  for (int64_t n = 0; n < d.N; ++n) {
    load_image(p.y, dy, n, rnd, dyimg.data());
    std::fill(dximg.begin(), dximg.end(), Acc(0));
    for (int64_t g = 0; g < d.G; ++g) {
      pack_right<Acc>(d.Kg, d.pq, dyimg.data() + g * d.Kg * d.pq, d.pq, 1, Rounding::none, rp.data());
      std::fill(col.begin(), col.end(), Acc(0));
      gemm_packed<Acc>(d.crs, d.pq, d.Kg, lp.data() + g * lsize, rp.data(), col.data(), d.pq);
      col2im_add(p, d, col.data(), dximg.data() + g * d.Cg * d.H * d.W);
    }
    store_image(p.x, dx, n, dximg.data(), alpha, beta);
  }
}

// dw[g] (Kg x crs) = sum over n of dy[n, g] (Kg x pq) * im2col(x[n, g])^T (pq x crs)
template <class Acc, class T>
void backward_filter_t(const Problem& p, const T* x, const T* dy, T* dw, Acc alpha, Acc beta) {
  const Dims d(p);
  const Rounding rnd = p.tf32 ? Rounding::tf32 : Rounding::none;
  std::vector<Acc> dwk(size_t(d.K * d.crs), Acc(0)), img(size_t(d.C * d.H * d.W)), dyimg(size_t(d.K * d.pq)),
      lp(size_t(left_size(d.Kg, d.pq))), rp(size_t(right_size(d.pq, d.crs)), Acc(0));
  for (int64_t n = 0; n < d.N; ++n) {
    load_image(p.x, x, n, rnd, img.data());
    load_image(p.y, dy, n, rnd, dyimg.data());
    for (int64_t g = 0; g < d.G; ++g) {
      pack_left<Acc>(d.Kg, d.pq, dyimg.data() + g * d.Kg * d.pq, d.pq, 1, Rounding::none, lp.data());
      im2col(p, d, img.data() + g * d.Cg * d.H * d.W,
             [&](int64_t row, int64_t col, Acc v) { rp[size_t(right_index(d.pq, col, row))] = v; });
      gemm_packed<Acc>(d.Kg, d.crs, d.pq, lp.data(), rp.data(), dwk.data() + g * d.Kg * d.crs, d.crs);
    }
  }
  store_filter(p, dw, dwk.data(), alpha, beta);
}

// Calls f(Acc{}, T{}) with the accumulator and element types of a data type.
template <class F>
void dispatch(cudnnDataType_t t, F f) {
  switch (t) {
    case CUDNN_DATA_DOUBLE: f(double{}, double{}); break;
    case CUDNN_DATA_HALF: f(float{}, f16{}); break;
    case CUDNN_DATA_BFLOAT16: f(float{}, bf16{}); break;
    default: f(float{}, float{}); break;  // CUDNN_DATA_FLOAT (cudnn.cpp admits nothing else)
  }
}

}  // namespace

void forward(const Problem& p, const void* x, const void* w, void* y, double alpha, double beta) {
  dispatch(p.x.type, [&](auto acc, auto elem) {
    using Acc = decltype(acc);
    using T = decltype(elem);
    forward_t<Acc>(p, static_cast<const T*>(x), static_cast<const T*>(w), static_cast<T*>(y), Acc(alpha), Acc(beta));
  });
}

void backward_data(const Problem& p, const void* w, const void* dy, void* dx, double alpha, double beta) {
  dispatch(p.x.type, [&](auto acc, auto elem) {
    using Acc = decltype(acc);
    using T = decltype(elem);
    backward_data_t<Acc>(p, static_cast<const T*>(w), static_cast<const T*>(dy), static_cast<T*>(dx), Acc(alpha),
                         Acc(beta));
  });
}

void backward_filter(const Problem& p, const void* x, const void* dy, void* dw, double alpha, double beta) {
  dispatch(p.x.type, [&](auto acc, auto elem) {
    using Acc = decltype(acc);
    using T = decltype(elem);
    backward_filter_t<Acc>(p, static_cast<const T*>(x), static_cast<const T*>(dy), static_cast<T*>(dw), Acc(alpha),
                           Acc(beta));
  });
}

}  // namespace cudasim::dnn
