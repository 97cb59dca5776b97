// Simulated cuBLAS: the handle, stream and workspace calls and the GEMM extensions the
// engine uses, as checked reference implementations. Argument errors known at call time
// return cuBLAS's status and are reported; device work runs through cudasim::enqueue in
// the handle's stream order (or into a graph being captured) and checks every device
// range it touches, faulting like a GPU (a sticky illegal address) when one is not
// device memory.
//
// Numerics: column-major as cuBLAS; sums in f32 (f64 for CUBLAS_COMPUTE_64F) in
// ascending k; 16-bit inputs widened exactly, 16-bit outputs rounded to nearest even.
// CUBLAS_COMPUTE_32F_FAST_TF32 (and CUBLAS_COMPUTE_32F under CUBLAS_TF32_TENSOR_OP_MATH)
// round f32 inputs to TF32 first, FAST_16F / FAST_16BF to half / bfloat16, as tensor
// cores do, so a test too tight for the GPU's TF32 fails here too. NVIDIA_TF32_OVERRIDE=0
// turns TF32 off, as it does on a GPU. Host pointer mode reads alpha and beta when the
// call is made (what a captured graph replays); device pointer mode reads them when the
// GEMM runs.
#include <cublas_v2.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "gemm_core.h"
#include "internal.h"

struct cublasContext {
  cudaStream_t stream = nullptr;
  void* workspace = nullptr;  // user workspace; null: cuBLAS's own pool (nothing to fill)
  size_t workspace_bytes = 0;
  cublasMath_t math = CUBLAS_DEFAULT_MATH;
  cublasPointerMode_t pointer_mode = CUBLAS_POINTER_MODE_HOST;
};

namespace {

using namespace cudasim::numerics;

template <class... A>
std::string cat(const A&... a) {
  std::ostringstream o;
  (o << ... << a);
  return o.str();
}

// Handles alive (created and not destroyed), so a stale or foreign handle is caught.
std::mutex& handles_mu() {
  static std::mutex mu;
  return mu;
}
std::set<const cublasContext*>& handles() {
  static auto* s = new std::set<const cublasContext*>;
  return *s;
}

cublasStatus_t check_handle(const char* call, cublasHandle_t h) {
  if (!h) {
    cudasim::report(cat(call, ": handle is NULL; create one with cublasCreate"));
    return CUBLAS_STATUS_NOT_INITIALIZED;
  }
  std::lock_guard<std::mutex> lock(handles_mu());
  if (!handles().count(h)) {
    cudasim::report(cat(call, ": handle ", static_cast<const void*>(h), " was destroyed or never created"));
    return CUBLAS_STATUS_NOT_INITIALIZED;
  }
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t invalid(const std::string& msg) {
  cudasim::report(msg);
  return CUBLAS_STATUS_INVALID_VALUE;
}

const char* type_name(cudaDataType_t t) {
  switch (t) {
    case CUDA_R_32F: return "CUDA_R_32F";
    case CUDA_R_64F: return "CUDA_R_64F";
    case CUDA_R_16F: return "CUDA_R_16F";
    case CUDA_R_16BF: return "CUDA_R_16BF";
    default: return "an unsupported cudaDataType";
  }
}
size_t type_size(cudaDataType_t t) { return t == CUDA_R_64F ? 8 : t == CUDA_R_32F ? 4 : 2; }

// One GEMM as checked at call time: everything the device work needs, by value.
struct Gemm {
  cublasOperation_t ta = CUBLAS_OP_N, tb = CUBLAS_OP_N;
  int64_t m = 0, n = 0, k = 0, lda = 0, ldb = 0, ldc = 0;
  cudaDataType_t at = CUDA_R_32F, bt = CUDA_R_32F, ct = CUDA_R_32F;
  bool f64 = false;  // CUBLAS_COMPUTE_64F: sums and scalars in double
  Rounding rnd = Rounding::none;
  double alpha = 1, beta = 0;       // a float scalar is exact in a double
  const void* alpha_dev = nullptr;  // device pointer mode: read when the GEMM runs
  const void* beta_dev = nullptr;
};

bool valid_op(cublasOperation_t op) { return op == CUBLAS_OP_N || op == CUBLAS_OP_T || op == CUBLAS_OP_C; }

// cuBLAS's argument rules; `where` names the group in grouped calls.
cublasStatus_t check_shape(const char* call, const std::string& where, const Gemm& g) {
  if (!valid_op(g.ta)) return invalid(cat(call, ": transa", where, " = ", int(g.ta), " is not CUBLAS_OP_N, _T or _C"));
  if (!valid_op(g.tb)) return invalid(cat(call, ": transb", where, " = ", int(g.tb), " is not CUBLAS_OP_N, _T or _C"));
  if (g.m < 0) return invalid(cat(call, ": m", where, " = ", g.m, " is negative"));
  if (g.n < 0) return invalid(cat(call, ": n", where, " = ", g.n, " is negative"));
  if (g.k < 0) return invalid(cat(call, ": k", where, " = ", g.k, " is negative"));
  const int64_t rows_a = g.ta == CUBLAS_OP_N ? g.m : g.k, rows_b = g.tb == CUBLAS_OP_N ? g.k : g.n;
  if (g.lda < std::max<int64_t>(1, rows_a))
    return invalid(cat(call, ": lda", where, " = ", g.lda,
                       " < max(1, rows of A as stored) = ", std::max<int64_t>(1, rows_a), " (",
                       g.ta == CUBLAS_OP_N ? "m" : "k", " for transa = ", g.ta == CUBLAS_OP_N ? "N" : "T", ")"));
  if (g.ldb < std::max<int64_t>(1, rows_b))
    return invalid(cat(call, ": ldb", where, " = ", g.ldb,
                       " < max(1, rows of B as stored) = ", std::max<int64_t>(1, rows_b), " (",
                       g.tb == CUBLAS_OP_N ? "k" : "n", " for transb = ", g.tb == CUBLAS_OP_N ? "N" : "T", ")"));
  if (g.ldc < std::max<int64_t>(1, g.m))
    return invalid(cat(call, ": ldc", where, " = ", g.ldc, " < max(1, m) = ", std::max<int64_t>(1, g.m)));
  return CUBLAS_STATUS_SUCCESS;
}

// The type/compute combinations of cuBLAS's GemmEx table for real f16/bf16/f32/f64
// data; anything else is CUBLAS_STATUS_NOT_SUPPORTED.
cublasStatus_t check_types(const char* call, const cublasContext* h, cublasComputeType_t compute, Gemm& g) {
  const auto unsupported = [&] {
    cudasim::report(cat(call, ": Atype ", type_name(g.at), ", Btype ", type_name(g.bt), ", Ctype ", type_name(g.ct),
                        " with computeType ", int(compute),
                        " is not a supported combination (A = B = C = CUDA_R_64F with CUBLAS_COMPUTE_64F; "
                        "A = B in 32F/16F/16BF, C = A or 32F with CUBLAS_COMPUTE_32F; 32F with the FAST types)"));
    return CUBLAS_STATUS_NOT_SUPPORTED;
  };
  const auto real = [](cudaDataType_t t) {
    return t == CUDA_R_32F || t == CUDA_R_64F || t == CUDA_R_16F || t == CUDA_R_16BF;
  };
  if (!real(g.at) || !real(g.bt) || !real(g.ct) || g.at != g.bt) return unsupported();
  g.f64 = false;
  g.rnd = Rounding::none;
  switch (compute) {
    case CUBLAS_COMPUTE_64F:
    case CUBLAS_COMPUTE_64F_PEDANTIC:
      if (g.at != CUDA_R_64F || g.ct != CUDA_R_64F) return unsupported();
      g.f64 = true;
      return CUBLAS_STATUS_SUCCESS;
    case CUBLAS_COMPUTE_32F:
    case CUBLAS_COMPUTE_32F_PEDANTIC:
      if (g.at == CUDA_R_64F || (g.ct != g.at && g.ct != CUDA_R_32F)) return unsupported();
      // The handle's TF32 math mode lets plain 32F compute use TF32 tensor cores.
      if (compute == CUBLAS_COMPUTE_32F && g.at == CUDA_R_32F && (h->math & 0xf) == CUBLAS_TF32_TENSOR_OP_MATH &&
          tf32_allowed())
        g.rnd = Rounding::tf32;
      return CUBLAS_STATUS_SUCCESS;
    case CUBLAS_COMPUTE_32F_FAST_TF32:
    case CUBLAS_COMPUTE_32F_FAST_16F:
    case CUBLAS_COMPUTE_32F_FAST_16BF:
      if (g.at != CUDA_R_32F || g.ct != CUDA_R_32F) return unsupported();
      g.rnd = compute == CUBLAS_COMPUTE_32F_FAST_16F    ? Rounding::f16
              : compute == CUBLAS_COMPUTE_32F_FAST_16BF ? Rounding::bf16
              : tf32_allowed()                          ? Rounding::tf32
                                                        : Rounding::none;
      return CUBLAS_STATUS_SUCCESS;
    default: return unsupported();
  }
}

// The scalars: host pointer mode reads them now, device pointer mode when the GEMM runs.
cublasStatus_t read_scalars(const char* call, const cublasContext* h, const void* alpha, const void* beta, Gemm& g) {
  if (!alpha) return invalid(cat(call, ": alpha is NULL"));
  if (!beta) return invalid(cat(call, ": beta is NULL"));
  if (h->pointer_mode == CUBLAS_POINTER_MODE_DEVICE) {
    g.alpha_dev = alpha;
    g.beta_dev = beta;
  } else if (g.f64) {
    g.alpha = *static_cast<const double*>(alpha);
    g.beta = *static_cast<const double*>(beta);
  } else {
    g.alpha = *static_cast<const float*>(alpha);
    g.beta = *static_cast<const float*>(beta);
  }
  return CUBLAS_STATUS_SUCCESS;
}

// ---- device work ----------------------------------------------------------------------

bool accessible(const char* call, const std::string& what, const void* p, size_t bytes) {
  std::string why;
  if (cudasim::device_accessible(p, bytes, &why)) return true;
  cudasim::fail_sticky(cudaErrorIllegalAddress, cat(call, ": ", what, " (", bytes, " bytes at ", p, ") ", why));
  return false;
}

// Bytes a column-major rows x cols matrix with leading dimension ld spans.
size_t span(int64_t rows, int64_t cols, int64_t ld, size_t es) {
  return rows <= 0 || cols <= 0 ? 0 : size_t((cols - 1) * ld + rows) * es;
}

bool fill_workspace(const char* call, void* ws, size_t bytes) {
  if (!ws || !bytes) return true;
  if (!accessible(call, "the workspace set with cublasSetWorkspace", ws, bytes)) return false;
  std::memset(ws, cudasim::kScratchMarker, bytes);
  return true;
}

template <class Acc, class S>
void pack_left_as(int64_t rows, int64_t depth, const void* src, int64_t rs, int64_t cs, Rounding r, Acc* dst) {
  pack_left<Acc>(rows, depth, static_cast<const S*>(src), rs, cs, r, dst);
}
template <class Acc, class S>
void pack_right_as(int64_t depth, int64_t cols, const void* src, int64_t rs, int64_t cs, Rounding r, Acc* dst) {
  pack_right<Acc>(depth, cols, static_cast<const S*>(src), rs, cs, r, dst);
}

template <class Acc, class C>
void store_c(const Gemm& g, const Acc* out, void* cptr, Acc alpha, Acc beta) {
  C* c = static_cast<C*>(cptr);
  for (int64_t j = 0; j < g.n; ++j)
    for (int64_t i = 0; i < g.m; ++i) {
      C& dst = c[i + j * g.ldc];
      const Acc v = alpha * out[j * g.m + i];
      dst = narrow<C>(beta == Acc(0) ? v : v + beta * Acc(widen(dst)));  // beta == 0: C is not read
    }
}

// One matrix product. Column-major C (m x n) is row-major n x m, so the kernel computes
// out(j, i) = sum_p op(B)(p, j) op(A)(i, p) with op(B)^T on the left.
template <class Acc>
void gemm_one(const Gemm& g, const void* a, const void* b, void* c, Acc alpha, Acc beta) {
  thread_local std::vector<Acc> lp, rp, out;
  const int64_t rows = g.n, cols = g.m, depth = g.k;
  out.assign(size_t(rows * cols), Acc(0));
  if (depth > 0 && alpha != Acc(0)) {  // alpha == 0 or k == 0: A and B are not read
    lp.resize(size_t(left_size(rows, depth)));
    rp.resize(size_t(right_size(depth, cols)));
    const bool nb = g.tb == CUBLAS_OP_N, na = g.ta == CUBLAS_OP_N;
    const int64_t l_rs = nb ? g.ldb : 1, l_cs = nb ? 1 : g.ldb, r_rs = na ? g.lda : 1, r_cs = na ? 1 : g.lda;
    switch (g.bt) {
      case CUDA_R_64F: pack_left_as<Acc, double>(rows, depth, b, l_rs, l_cs, g.rnd, lp.data()); break;
      case CUDA_R_16F: pack_left_as<Acc, f16>(rows, depth, b, l_rs, l_cs, g.rnd, lp.data()); break;
      case CUDA_R_16BF: pack_left_as<Acc, bf16>(rows, depth, b, l_rs, l_cs, g.rnd, lp.data()); break;
      default: pack_left_as<Acc, float>(rows, depth, b, l_rs, l_cs, g.rnd, lp.data()); break;
    }
    switch (g.at) {
      case CUDA_R_64F: pack_right_as<Acc, double>(depth, cols, a, r_rs, r_cs, g.rnd, rp.data()); break;
      case CUDA_R_16F: pack_right_as<Acc, f16>(depth, cols, a, r_rs, r_cs, g.rnd, rp.data()); break;
      case CUDA_R_16BF: pack_right_as<Acc, bf16>(depth, cols, a, r_rs, r_cs, g.rnd, rp.data()); break;
      default: pack_right_as<Acc, float>(depth, cols, a, r_rs, r_cs, g.rnd, rp.data()); break;
    }
    gemm_packed<Acc>(rows, cols, depth, lp.data(), rp.data(), out.data(), cols);
  }
  switch (g.ct) {
    case CUDA_R_64F: store_c<Acc, double>(g, out.data(), c, alpha, beta); break;
    case CUDA_R_16F: store_c<Acc, f16>(g, out.data(), c, alpha, beta); break;
    case CUDA_R_16BF: store_c<Acc, bf16>(g, out.data(), c, alpha, beta); break;
    default: store_c<Acc, float>(g, out.data(), c, alpha, beta); break;
  }
}

// Runs one checked matrix product on device memory: range checks first, then the math.
// False after a fault (the device stops there, as a faulting kernel does).
bool run_gemm(const char* call, const std::string& which, const Gemm& g, const void* a, const void* b, void* c) {
  double alpha = g.alpha, beta = g.beta;
  const size_t ss = g.f64 ? 8 : 4;
  if (g.alpha_dev) {
    if (!accessible(call, "alpha (device pointer mode)", g.alpha_dev, ss) ||
        !accessible(call, "beta (device pointer mode)", g.beta_dev, ss))
      return false;
    alpha = g.f64 ? *static_cast<const double*>(g.alpha_dev) : *static_cast<const float*>(g.alpha_dev);
    beta = g.f64 ? *static_cast<const double*>(g.beta_dev) : *static_cast<const float*>(g.beta_dev);
  }
  if (g.k > 0 && alpha != 0) {
    const bool na = g.ta == CUBLAS_OP_N, nb = g.tb == CUBLAS_OP_N;
    if (!accessible(call, "A" + which, a, span(na ? g.m : g.k, na ? g.k : g.m, g.lda, type_size(g.at))) ||
        !accessible(call, "B" + which, b, span(nb ? g.k : g.n, nb ? g.n : g.k, g.ldb, type_size(g.bt))))
      return false;
  }
  if (!accessible(call, "C" + which, c, span(g.m, g.n, g.ldc, type_size(g.ct)))) return false;
  if (g.f64)
    gemm_one<double>(g, a, b, c, alpha, beta);
  else
    gemm_one<float>(g, a, b, c, float(alpha), float(beta));
  return true;
}

// A fault inside the work surfaces at the next synchronisation, as after an asynchronous
// launch; the call itself fails only when the work could not be issued (a bad stream, an
// earlier sticky error, an invalidated capture).
cublasStatus_t submit(const char* call, const cublasContext* h, std::function<void()> work) {
  auto ran = std::make_shared<bool>(false);
  const cudaError_t e = cudasim::enqueue(h->stream, call, [ran, work = std::move(work)] {
    *ran = true;
    work();
  });
  if (e == cudaSuccess || *ran) return CUBLAS_STATUS_SUCCESS;
  cudasim::report(cat(call, ": the GEMM could not be issued on the handle's stream: ", cudaGetErrorName(e)));
  return CUBLAS_STATUS_EXECUTION_FAILED;
}

}  // namespace

extern "C" {

cublasStatus_t cublasCreate_v2(cublasHandle_t* handle) {
  if (!handle) return invalid("cublasCreate: handle (the output pointer) is NULL");
  auto* h = new cublasContext;
  std::lock_guard<std::mutex> lock(handles_mu());
  handles().insert(h);
  *handle = h;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasDestroy_v2(cublasHandle_t handle) {
  if (auto s = check_handle("cublasDestroy", handle)) return s;
  {
    std::lock_guard<std::mutex> lock(handles_mu());
    handles().erase(handle);
  }
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetStream_v2(cublasHandle_t handle, cudaStream_t stream) {
  if (auto s = check_handle("cublasSetStream", handle)) return s;
  handle->stream = stream;
  // As in cuBLAS: setting the stream unconditionally resets the workspace to the
  // library's default pool, so a workspace must be set again after the stream.
  handle->workspace = nullptr;
  handle->workspace_bytes = 0;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetStream_v2(cublasHandle_t handle, cudaStream_t* stream) {
  if (auto s = check_handle("cublasGetStream", handle)) return s;
  if (!stream) return invalid("cublasGetStream: streamId (the output pointer) is NULL");
  *stream = handle->stream;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetWorkspace_v2(cublasHandle_t handle, void* workspace, size_t bytes) {
  if (auto s = check_handle("cublasSetWorkspace", handle)) return s;
  if (reinterpret_cast<uintptr_t>(workspace) % 256 != 0)
    return invalid(cat("cublasSetWorkspace: workspace = ", workspace, " is not aligned to 256 bytes"));
  if (!workspace && bytes)
    return invalid(cat("cublasSetWorkspace: workspace is NULL with a size of ", bytes, " bytes"));
  handle->workspace = workspace;
  handle->workspace_bytes = workspace ? bytes : 0;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode) {
  if (auto s = check_handle("cublasSetMathMode", handle)) return s;
  const int base = mode & 0xf, flags = mode & ~0xf;
  if (base > CUBLAS_FP32_EMULATED_BF16X9_MATH && base != CUBLAS_FP64_EMULATED_FIXEDPOINT_MATH)
    return invalid(cat("cublasSetMathMode: mode = ", int(mode), " is not a cublasMath_t"));
  if (flags & ~int(CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION))
    return invalid(cat("cublasSetMathMode: mode = ", int(mode), " has unknown flag bits"));
  handle->math = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetMathMode(cublasHandle_t handle, cublasMath_t* mode) {
  if (auto s = check_handle("cublasGetMathMode", handle)) return s;
  if (!mode) return invalid("cublasGetMathMode: mode (the output pointer) is NULL");
  *mode = handle->math;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasSetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t mode) {
  if (auto s = check_handle("cublasSetPointerMode", handle)) return s;
  if (mode != CUBLAS_POINTER_MODE_HOST && mode != CUBLAS_POINTER_MODE_DEVICE)
    return invalid(cat("cublasSetPointerMode: mode = ", int(mode), " is not a cublasPointerMode_t"));
  handle->pointer_mode = mode;
  return CUBLAS_STATUS_SUCCESS;
}

cublasStatus_t cublasGetPointerMode_v2(cublasHandle_t handle, cublasPointerMode_t* mode) {
  if (auto s = check_handle("cublasGetPointerMode", handle)) return s;
  if (!mode) return invalid("cublasGetPointerMode: mode (the output pointer) is NULL");
  *mode = handle->pointer_mode;
  return CUBLAS_STATUS_SUCCESS;
}

const char* cublasGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case CUBLAS_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case CUBLAS_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}

const char* cublasGetStatusString(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "the operation completed successfully";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "the library was not initialized";
    case CUBLAS_STATUS_ALLOC_FAILED: return "the resource allocation failed";
    case CUBLAS_STATUS_INVALID_VALUE: return "an invalid numeric value was used as an argument";
    case CUBLAS_STATUS_ARCH_MISMATCH: return "an absent device architectural feature is required";
    case CUBLAS_STATUS_MAPPING_ERROR: return "an access to GPU memory space failed";
    case CUBLAS_STATUS_EXECUTION_FAILED: return "the GPU program failed to execute";
    case CUBLAS_STATUS_INTERNAL_ERROR: return "an internal operation failed";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "the functionality requested is not supported";
    case CUBLAS_STATUS_LICENSE_ERROR: return "error detected trying to check the license";
  }
  return "unknown error";
}

cublasStatus_t cublasGemmStridedBatchedEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb,
                                          int m, int n, int k, const void* alpha, const void* A, cudaDataType Atype,
                                          int lda, long long strideA, const void* B, cudaDataType Btype, int ldb,
                                          long long strideB, const void* beta, void* C, cudaDataType Ctype, int ldc,
                                          long long strideC, int batchCount, cublasComputeType_t computeType,
                                          cublasGemmAlgo_t algo) {
  static const char* call = "cublasGemmStridedBatchedEx";
  if (auto s = check_handle(call, handle)) return s;
  Gemm g;
  g.ta = transa, g.tb = transb, g.m = m, g.n = n, g.k = k, g.lda = lda, g.ldb = ldb, g.ldc = ldc;
  g.at = Atype, g.bt = Btype, g.ct = Ctype;
  if (auto s = check_shape(call, "", g)) return s;
  if (batchCount < 0) return invalid(cat(call, ": batchCount = ", batchCount, " is negative"));
  if (!((algo >= CUBLAS_GEMM_DEFAULT && algo <= CUBLAS_GEMM_ALGO23) ||
        (algo >= CUBLAS_GEMM_DEFAULT_TENSOR_OP && algo <= CUBLAS_GEMM_ALGO15_TENSOR_OP) ||
        algo == CUBLAS_GEMM_AUTOTUNE))
    return invalid(cat(call, ": algo = ", int(algo), " is not a cublasGemmAlgo_t"));
  if (auto s = check_types(call, handle, computeType, g)) return s;
  if (auto s = read_scalars(call, handle, alpha, beta, g)) return s;
  if (m == 0 || n == 0 || batchCount == 0) return CUBLAS_STATUS_SUCCESS;  // nothing to do, nothing launched
  const size_t ea = type_size(Atype), eb = type_size(Btype), ec = type_size(Ctype);
  void* ws = handle->workspace;
  const size_t ws_bytes = handle->workspace_bytes;
  return submit(call, handle, [=] {
    if (!fill_workspace(call, ws, ws_bytes)) return;
    for (int i = 0; i < batchCount; ++i) {
      const std::string which = batchCount > 1 ? cat(" of batch ", i) : std::string();
      if (!run_gemm(call, which, g, static_cast<const char*>(A) + i * strideA * (long long)ea,
                    static_cast<const char*>(B) + i * strideB * (long long)eb,
                    static_cast<char*>(C) + i * strideC * (long long)ec))
        return;
    }
  });
}

cublasStatus_t cublasGemmEx(cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n,
                            int k, const void* alpha, const void* A, cudaDataType Atype, int lda, const void* B,
                            cudaDataType Btype, int ldb, const void* beta, void* C, cudaDataType Ctype, int ldc,
                            cublasComputeType_t computeType, cublasGemmAlgo_t algo) {
  return cublasGemmStridedBatchedEx(handle, transa, transb, m, n, k, alpha, A, Atype, lda, 0, B, Btype, ldb, 0, beta, C,
                                    Ctype, ldc, 0, 1, computeType, algo);
}

// Per group: transa, transb, m, n, k, lda, ldb, ldc, alpha, beta and group_size read from
// host arrays now; Aarray, Barray and Carray are device arrays of problem_count pointers
// (the sum of group_size) that the device work reads when it runs, as on a GPU.
cublasStatus_t cublasGemmGroupedBatchedEx(cublasHandle_t handle, const cublasOperation_t transa_array[],
                                          const cublasOperation_t transb_array[], const int m_array[],
                                          const int n_array[], const int k_array[], const void* alpha_array,
                                          const void* const Aarray[], cudaDataType_t Atype, const int lda_array[],
                                          const void* const Barray[], cudaDataType_t Btype, const int ldb_array[],
                                          const void* beta_array, void* const Carray[], cudaDataType_t Ctype,
                                          const int ldc_array[], int group_count, const int group_size[],
                                          cublasComputeType_t computeType) {
  static const char* call = "cublasGemmGroupedBatchedEx";
  if (auto s = check_handle(call, handle)) return s;
  if (group_count < 0) return invalid(cat(call, ": group_count = ", group_count, " is negative"));
  if (group_count == 0) return CUBLAS_STATUS_SUCCESS;
  const std::pair<const void*, const char*> host_arrays[] = {
      {transa_array, "transa_array"}, {transb_array, "transb_array"}, {m_array, "m_array"},
      {n_array, "n_array"},           {k_array, "k_array"},           {alpha_array, "alpha_array"},
      {lda_array, "lda_array"},       {ldb_array, "ldb_array"},       {beta_array, "beta_array"},
      {ldc_array, "ldc_array"},       {group_size, "group_size"}};
  for (const auto& a : host_arrays)
    if (!a.first) return invalid(cat(call, ": ", a.second, " is NULL with group_count = ", group_count));
  if (handle->pointer_mode == CUBLAS_POINTER_MODE_DEVICE) {
    cudasim::report(cat(call, ": the handle is in CUBLAS_POINTER_MODE_DEVICE; grouped GEMMs take host scalars only"));
    return CUBLAS_STATUS_NOT_SUPPORTED;
  }
  std::vector<Gemm> groups(static_cast<size_t>(group_count));
  std::vector<int> sizes(static_cast<size_t>(group_count));
  int64_t problems = 0;
  for (int i = 0; i < group_count; ++i) {
    Gemm& g = groups[size_t(i)];
    g.ta = transa_array[i], g.tb = transb_array[i], g.m = m_array[i], g.n = n_array[i], g.k = k_array[i];
    g.lda = lda_array[i], g.ldb = ldb_array[i], g.ldc = ldc_array[i], g.at = Atype, g.bt = Btype, g.ct = Ctype;
    const std::string where = cat("[", i, "]");
    if (auto s = check_shape(call, where, g)) return s;
    if (group_size[i] < 0) return invalid(cat(call, ": group_size[", i, "] = ", group_size[i], " is negative"));
    if (auto s = check_types(call, handle, computeType, g)) return s;
    if (g.f64) {
      g.alpha = static_cast<const double*>(alpha_array)[i];
      g.beta = static_cast<const double*>(beta_array)[i];
    } else {
      g.alpha = static_cast<const float*>(alpha_array)[i];
      g.beta = static_cast<const float*>(beta_array)[i];
    }
    sizes[size_t(i)] = group_size[i];
    problems += group_size[i];
  }
  if (problems == 0) return CUBLAS_STATUS_SUCCESS;
  void* ws = handle->workspace;
  const size_t ws_bytes = handle->workspace_bytes;
  return submit(call, handle, [=] {
    if (!fill_workspace(call, ws, ws_bytes)) return;
    const size_t bytes = size_t(problems) * sizeof(void*);
    if (!accessible(call, "Aarray (a device array of problem_count pointers)", Aarray, bytes) ||
        !accessible(call, "Barray (a device array of problem_count pointers)", Barray, bytes) ||
        !accessible(call, "Carray (a device array of problem_count pointers)", Carray, bytes))
      return;
    int64_t p = 0;
    for (size_t i = 0; i < groups.size(); ++i)
      for (int j = 0; j < sizes[i]; ++j, ++p) {
        const Gemm& g = groups[i];
        if (g.m == 0 || g.n == 0) continue;
        if (!run_gemm(call, cat(" of problem ", p, " (group ", i, ")"), g, Aarray[p], Barray[p], Carray[p])) return;
      }
  });
}

}  // extern "C"
