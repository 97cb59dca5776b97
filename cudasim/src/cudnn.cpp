// Simulated cuDNN: handles, error strings, the output-size query, the _v7 algorithm
// queries, workspace sizes and the three convolutions, as checked reference
// implementations (descriptors: cudnn_desc.cpp). The convolution is computed from the descriptors alone
// (cudnn_conv.cpp), so what the engine's descriptor set-up says is what gets tested. Descriptor errors return cuDNN's
// status and are reported; device work runs through cudasim::enqueue on the handle's stream, checks every device range
// and fills the workspace with kScratchMarker.
//
// Algorithms: each direction offers three (all computed the same way), with distinct
// non-zero workspace sizes, the first with CUDNN_TENSOR_OP_MATH (not for double); the
// other algorithms of the enum are listed with CUDNN_STATUS_NOT_SUPPORTED, as the real
// heuristics list unusable ones. f32 data whose convolution math type is not
// CUDNN_FMA_MATH gets its inputs rounded to TF32, as on an Ampere-or-later GPU (unless
// NVIDIA_TF32_OVERRIDE=0). Data types: float, double, half and bfloat16 (half and
// bfloat16 with CUDNN_DATA_FLOAT compute); others are CUDNN_STATUS_NOT_SUPPORTED here.
#include <algorithm>
#include <cstring>
#include <memory>

#include "cudnn_internal.h"
#include "gemm_core.h"

using namespace cudasim::dnn;

namespace {

// Bytes a tensor spans in memory.
size_t span(const Tensor& t) {
  return size_t(1 + (t.n - 1) * t.sn + (t.c - 1) * t.sc + (t.h - 1) * t.sh + (t.w - 1) * t.sw) * type_size(t.type);
}

// A written tensor may not map two elements to one address (a data race on a GPU).
bool overlapping(const Tensor& t) {
  std::pair<int64_t, int64_t> d[4] = {{t.sn, t.n}, {t.sc, t.c}, {t.sh, t.h}, {t.sw, t.w}};
  std::sort(d, d + 4);
  int64_t extent = 1;
  for (const auto& [stride, size] : d) {
    if (size == 1) continue;
    if (stride < extent) return true;
    extent = stride * size;
  }
  return false;
}

// Output dims from the input, filter and convolution (cudnnGetConvolution2dForwardOutputDim).
cudnnStatus_t output_dims(const char* call, const cudnnConvolutionStruct& cd, const Tensor& x,
                          const cudasim::dnn::Filter& w, const char* xname, const char* wname, int64_t* p, int64_t* q) {
  if (x.c != w.c * cd.groups)
    return bad(cat(call, ": ", xname, " has C = ", x.c, " channels but ", wname, " has C = ", w.c,
                   " per group with groupCount = ", cd.groups, " (expected C = ", w.c * cd.groups, ")"));
  if (w.k % cd.groups != 0)
    return bad(
        cat(call, ": ", wname, " has K = ", w.k, " output channels, not a multiple of groupCount = ", cd.groups));
  const int64_t eff_r = (w.r - 1) * cd.dil_h + 1, eff_s = (w.s - 1) * cd.dil_w + 1;
  if (eff_r > x.h + 2 * cd.pad_h || eff_s > x.w + 2 * cd.pad_w)
    return bad(cat(call, ": the dilated filter (", eff_r, " x ", eff_s, ") is larger than the padded input (",
                   x.h + 2 * cd.pad_h, " x ", x.w + 2 * cd.pad_w, ")"));
  *p = (x.h + 2 * cd.pad_h - eff_r) / cd.u + 1;
  *q = (x.w + 2 * cd.pad_w - eff_s) / cd.v + 1;
  return CUDNN_STATUS_SUCCESS;
}

enum class Dir { fwd = 0, bwd_data = 1, bwd_filter = 2 };
struct Names {
  const char *x, *w, *y;     // descriptor argument names
  const char *xp, *wp, *yp;  // data argument names
};
const Names kNames[3] = {{"xDesc", "wDesc", "yDesc", "x", "w", "y"},
                         {"dxDesc", "wDesc", "dyDesc", "dx", "w", "dy"},
                         {"xDesc", "dwDesc", "dyDesc", "x", "dw", "dy"}};

// Everything the three convolutions check about their descriptors, and the problem.
cudnnStatus_t make_problem(const char* call, Dir dir, const cudnnTensorStruct* xd, const cudnnFilterStruct* wd,
                           const cudnnConvolutionStruct* cd, const cudnnTensorStruct* yd, Problem* out) {
  const Names& nm = kNames[int(dir)];
  if (auto s = check(call, nm.x, xd)) return s;
  if (auto s = check(call, nm.w, wd)) return s;
  if (auto s = check(call, "convDesc", cd)) return s;
  if (auto s = check(call, nm.y, yd)) return s;
  const Tensor &x = xd->t, &y = yd->t;
  const cudasim::dnn::Filter& w = wd->f;
  if (w.type != x.type || y.type != x.type)
    return bad(cat(call, ": data types differ: ", nm.x, " ", type_name(x.type), ", ", nm.w, " ", type_name(w.type),
                   ", ", nm.y, " ", type_name(y.type)));
  const cudnnDataType_t need = x.type == CUDNN_DATA_DOUBLE ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
  if (cd->compute != need)
    return unsupported(cat(call, ": convDesc computeType ", type_name(cd->compute), " with ", type_name(x.type),
                           " data; the simulator implements ", type_name(need), " compute for it"));
  int64_t p = 0, q = 0;
  if (auto s = output_dims(call, *cd, x, w, nm.x, nm.w, &p, &q)) return s;
  if (y.n != x.n || y.c != w.k || y.h != p || y.w != q)
    return bad(cat(call, ": ", nm.y, " is [", y.n, ", ", y.c, ", ", y.h, ", ", y.w, "] but the convolution of ", nm.x,
                   " with ", nm.w, " gives [", x.n, ", ", w.k, ", ", p, ", ", q,
                   "] (cudnnGetConvolution2dForwardOutputDim)"));
  const Tensor& written = dir == Dir::fwd ? y : x;
  if (dir != Dir::bwd_filter && overlapping(written))
    return bad(cat(call, ": ", dir == Dir::fwd ? nm.y : nm.x, " has strides that map several elements to one address"));
  out->x = x;
  out->y = y;
  out->w = w;
  out->pad_h = cd->pad_h, out->pad_w = cd->pad_w, out->stride_h = cd->u, out->stride_w = cd->v;
  out->dil_h = cd->dil_h, out->dil_w = cd->dil_w, out->groups = cd->groups;
  out->flip = cd->mode == CUDNN_CONVOLUTION;
  out->tf32 = x.type == CUDNN_DATA_FLOAT && cd->math != CUDNN_FMA_MATH && cudasim::numerics::tf32_allowed();
  return CUDNN_STATUS_SUCCESS;
}

// ---- algorithms -----------------------------------------------------------------------

const int kOffered[3][3] = {
    {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
     CUDNN_CONVOLUTION_FWD_ALGO_GEMM},
    {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING},
    {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3}};
const int kAlgoCount[3] = {CUDNN_CONVOLUTION_FWD_ALGO_COUNT, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                           CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT};
const char* const kDirName[3] = {"forward", "backward data", "backward filter"};

int slot_of(Dir dir, int algo) {
  for (int i = 0; i < 3; ++i)
    if (kOffered[int(dir)][i] == algo) return i;
  return -1;
}

// Workspace of offered algorithm `slot`: an index table, a 64-column im2col tile, a whole
// image's im2col; rounded so that the three always differ and are never zero.
size_t workspace_bytes(int slot, const Problem& p) {
  const size_t es = type_size(p.x.type), crs = size_t(p.w.c * p.w.r * p.w.s), pq = size_t(p.y.h * p.y.w);
  const size_t base = slot == 0 ? 8 * crs : slot == 1 ? es * 64 * crs : es * crs * pq;
  return (base + 1023) / 1024 * 1024 + 256 * size_t(slot + 1);
}

cudnnStatus_t check_algo(const char* call, Dir dir, int algo, int* slot) {
  if (algo < 0 || algo >= kAlgoCount[int(dir)])
    return bad(cat(call, ": algo = ", algo, " is not a ", kDirName[int(dir)], " algorithm (0..",
                   kAlgoCount[int(dir)] - 1, ")"));
  *slot = slot_of(dir, algo);
  if (*slot < 0)
    return unsupported(cat(call, ": ", kDirName[int(dir)], " algo ", algo,
                           " is not supported for this convolution; "
                           "the _v7 query lists it with CUDNN_STATUS_NOT_SUPPORTED"));
  return CUDNN_STATUS_SUCCESS;
}

template <class Perf>
cudnnStatus_t query(const char* call, Dir dir, cudnnHandle_t h, const cudnnTensorStruct* xd,
                    const cudnnFilterStruct* wd, const cudnnConvolutionStruct* cd, const cudnnTensorStruct* yd,
                    int requested, int* returned, Perf* perf) {
  if (auto s = check_handle(call, h)) return s;
  if (!returned) return bad(cat(call, ": returnedAlgoCount is NULL"));
  if (!perf) return bad(cat(call, ": perfResults is NULL"));
  if (requested <= 0) return bad(cat(call, ": requestedAlgoCount = ", requested, " must be positive"));
  Problem p;
  if (auto s = make_problem(call, dir, xd, wd, cd, yd, &p)) return s;
  using Algo = decltype(perf->algo);
  const int total = kAlgoCount[int(dir)];
  int order[16], n = 0;
  for (int i = 0; i < 3; ++i) order[n++] = kOffered[int(dir)][i];
  for (int a = 0; a < total; ++a)
    if (slot_of(dir, a) < 0) order[n++] = a;
  const int count = std::min(requested, total);
  for (int i = 0; i < count; ++i) {
    Perf& e = perf[i];
    std::memset(&e, 0, sizeof e);
    const int slot = slot_of(dir, order[i]);
    e.algo = Algo(order[i]);
    e.status = slot >= 0 ? CUDNN_STATUS_SUCCESS : CUDNN_STATUS_NOT_SUPPORTED;
    e.time = 0.25f * float(i + 1);  // ranked fastest first
    e.memory = slot >= 0 ? workspace_bytes(slot, p) : 0;
    const bool atomics = (dir != Dir::fwd && order[i] == 0) || (dir == Dir::bwd_filter && order[i] == 3);
    e.determinism = atomics ? CUDNN_NON_DETERMINISTIC : CUDNN_DETERMINISTIC;
    e.mathType = slot == 0 && p.x.type != CUDNN_DATA_DOUBLE ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
  }
  *returned = count;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t workspace_size(const char* call, Dir dir, cudnnHandle_t h, const cudnnTensorStruct* xd,
                             const cudnnFilterStruct* wd, const cudnnConvolutionStruct* cd, const cudnnTensorStruct* yd,
                             int algo, size_t* size) {
  if (auto s = check_handle(call, h)) return s;
  if (!size) return bad(cat(call, ": sizeInBytes is NULL"));
  Problem p;
  if (auto s = make_problem(call, dir, xd, wd, cd, yd, &p)) return s;
  int slot = -1;
  if (auto s = check_algo(call, dir, algo, &slot)) return s;
  *size = workspace_bytes(slot, p);
  return CUDNN_STATUS_SUCCESS;
}

// ---- the convolutions -----------------------------------------------------------------

bool accessible(const char* call, const char* what, const void* p, size_t bytes, size_t align) {
  std::string why;
  if (!cudasim::device_accessible(p, bytes, &why)) {
    cudasim::fail_sticky(cudaErrorIllegalAddress, cat(call, ": ", what, " (", bytes, " bytes at ", p, ") ", why));
    return false;
  }
  if (reinterpret_cast<uintptr_t>(p) % align != 0) {
    cudasim::fail_sticky(cudaErrorMisalignedAddress,
                         cat(call, ": ", what, " = ", p, " is not aligned to its ", align, "-byte elements"));
    return false;
  }
  return true;
}

// Checks a convolution call, reads alpha and beta now (host scalars, as cuDNN does), and
// enqueues the work. For each direction x, w, y are its (input/output) data pointers.
cudnnStatus_t convolve(const char* call, Dir dir, cudnnHandle_t h, const void* alpha, const void* beta,
                       const cudnnTensorStruct* xd, const void* x, const cudnnFilterStruct* wd, const void* w,
                       const cudnnConvolutionStruct* cd, const cudnnTensorStruct* yd, const void* y, int algo, void* ws,
                       size_t ws_bytes) {
  if (auto s = check_handle(call, h)) return s;
  Problem p;
  if (auto s = make_problem(call, dir, xd, wd, cd, yd, &p)) return s;
  if (!alpha) return bad(cat(call, ": alpha is NULL"));
  if (!beta) return bad(cat(call, ": beta is NULL"));
  int slot = -1;
  if (auto s = check_algo(call, dir, algo, &slot)) return s;
  const size_t need = workspace_bytes(slot, p);
  if (ws_bytes < need)
    return bad(cat(call, ": workSpaceSizeInBytes = ", ws_bytes, " is less than the ", need, " bytes algo ", algo,
                   " needs (see the WorkspaceSize query)"));
  if (!ws) return bad(cat(call, ": workSpace is NULL with workSpaceSizeInBytes = ", ws_bytes));
  const bool dbl = p.x.type == CUDNN_DATA_DOUBLE;
  const double a = dbl ? *static_cast<const double*>(alpha) : *static_cast<const float*>(alpha);
  const double b = dbl ? *static_cast<const double*>(beta) : *static_cast<const float*>(beta);
  const size_t es = type_size(p.x.type);
  const size_t x_bytes = span(p.x), y_bytes = span(p.y), w_bytes = size_t(p.w.k * p.w.c * p.w.r * p.w.s) * es;
  const Names nm = kNames[int(dir)];
  // As after an asynchronous launch, a fault inside the work surfaces at the next
  // synchronisation; the call fails only when the work could not be issued.
  auto ran = std::make_shared<bool>(false);
  const cudaError_t e = cudasim::enqueue(h->stream, call, [=] {
    *ran = true;
    if (!accessible(call, "workSpace", ws, need, 1)) return;
    std::memset(ws, cudasim::kScratchMarker, need);
    if (!accessible(call, nm.xp, x, x_bytes, es) || !accessible(call, nm.wp, w, w_bytes, es) ||
        !accessible(call, nm.yp, y, y_bytes, es))
      return;
    switch (dir) {
      case Dir::fwd: cudasim::dnn::forward(p, x, w, const_cast<void*>(y), a, b); break;
      case Dir::bwd_data: cudasim::dnn::backward_data(p, w, y, const_cast<void*>(x), a, b); break;
      case Dir::bwd_filter: cudasim::dnn::backward_filter(p, x, y, const_cast<void*>(w), a, b); break;
    }
  });
  if (e == cudaSuccess || *ran) return CUDNN_STATUS_SUCCESS;
  cudasim::report(cat(call, ": the convolution could not be issued on the handle's stream: ", cudaGetErrorName(e)));
  return CUDNN_STATUS_EXECUTION_FAILED;
}

}  // namespace

extern "C" {

size_t cudnnGetVersion(void) { return CUDNN_VERSION; }

const char* cudnnGetErrorString(cudnnStatus_t status) {
  switch (status) {
#define CASE(x) \
  case x: return #x;
    CASE(CUDNN_STATUS_SUCCESS)
    CASE(CUDNN_STATUS_NOT_INITIALIZED)
    CASE(CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH)
    CASE(CUDNN_STATUS_SERIALIZATION_VERSION_MISMATCH)
    CASE(CUDNN_STATUS_DEPRECATED)
    CASE(CUDNN_STATUS_LICENSE_ERROR)
    CASE(CUDNN_STATUS_RUNTIME_IN_PROGRESS)
    CASE(CUDNN_STATUS_RUNTIME_FP_OVERFLOW)
    CASE(CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED)
    CASE(CUDNN_STATUS_BAD_PARAM)
    CASE(CUDNN_STATUS_BAD_PARAM_NULL_POINTER)
    CASE(CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER)
    CASE(CUDNN_STATUS_BAD_PARAM_NOT_FINALIZED)
    CASE(CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND)
    CASE(CUDNN_STATUS_BAD_PARAM_SIZE_INSUFFICIENT)
    CASE(CUDNN_STATUS_BAD_PARAM_STREAM_MISMATCH)
    CASE(CUDNN_STATUS_BAD_PARAM_SHAPE_MISMATCH)
    CASE(CUDNN_STATUS_BAD_PARAM_DUPLICATED_ENTRIES)
    CASE(CUDNN_STATUS_BAD_PARAM_ATTRIBUTE_TYPE)
    CASE(CUDNN_STATUS_BAD_PARAM_CUDA_GRAPH_MISMATCH)
    CASE(CUDNN_STATUS_BAD_PARAM_DESCRIPTOR_TYPE)
    CASE(CUDNN_STATUS_NOT_SUPPORTED)
    CASE(CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN)
    CASE(CUDNN_STATUS_NOT_SUPPORTED_SHAPE)
    CASE(CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE)
    CASE(CUDNN_STATUS_NOT_SUPPORTED_LAYOUT)
    CASE(CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDA_DRIVER)
    CASE(CUDNN_STATUS_NOT_SUPPORTED_INCOMPATIBLE_CUDART)
    CASE(CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH)
    CASE(CUDNN_STATUS_NOT_SUPPORTED_RUNTIME_PREREQUISITE_MISSING)
    CASE(CUDNN_STATUS_NOT_SUPPORTED_SUBLIBRARY_UNAVAILABLE)
    CASE(CUDNN_STATUS_NOT_SUPPORTED_SHARED_MEMORY_INSUFFICIENT)
    CASE(CUDNN_STATUS_NOT_SUPPORTED_PADDING)
    CASE(CUDNN_STATUS_NOT_SUPPORTED_BAD_LAUNCH_PARAM)
    CASE(CUDNN_STATUS_NOT_SUPPORTED_CUDA_GRAPH_NATIVE_API)
    CASE(CUDNN_STATUS_NOT_SUPPORTED_INVALID_DYNAMIC_SHAPE)
    CASE(CUDNN_STATUS_INTERNAL_ERROR)
    CASE(CUDNN_STATUS_INTERNAL_ERROR_COMPILATION_FAILED)
    CASE(CUDNN_STATUS_INTERNAL_ERROR_UNEXPECTED_VALUE)
    CASE(CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED)
    CASE(CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED)
    CASE(CUDNN_STATUS_INTERNAL_ERROR_BAD_LAUNCH_PARAM)
    CASE(CUDNN_STATUS_INTERNAL_ERROR_TEXTURE_CREATION_FAILED)
    CASE(CUDNN_STATUS_EXECUTION_FAILED)
    CASE(CUDNN_STATUS_EXECUTION_FAILED_CUDA_DRIVER)
    CASE(CUDNN_STATUS_EXECUTION_FAILED_CUBLAS)
    CASE(CUDNN_STATUS_EXECUTION_FAILED_CUDART)
    CASE(CUDNN_STATUS_EXECUTION_FAILED_CURAND)
#undef CASE
    default: break;
  }
  return "CUDNN_STATUS_UNKNOWN";
}

cudnnStatus_t cudnnCreate(cudnnHandle_t* handle) { return create("cudnnCreate", handle); }
cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
  if (auto s = check_handle("cudnnDestroy", handle)) return s;
  return destroy("cudnnDestroy", handle);
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t stream) {
  if (auto s = check_handle("cudnnSetStream", handle)) return s;
  handle->stream = stream;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetStream(cudnnHandle_t handle, cudaStream_t* stream) {
  if (auto s = check_handle("cudnnGetStream", handle)) return s;
  if (!stream) return bad("cudnnGetStream: streamId is NULL");
  *stream = handle->stream;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolution2dForwardOutputDim(const cudnnConvolutionDescriptor_t cd,
                                                    const cudnnTensorDescriptor_t xd, const cudnnFilterDescriptor_t wd,
                                                    int* n, int* c, int* h, int* w) {
  static const char* call = "cudnnGetConvolution2dForwardOutputDim";
  if (auto s = check(call, "convDesc", cd)) return s;
  if (auto s = check(call, "inputTensorDesc", xd)) return s;
  if (auto s = check(call, "filterDesc", wd)) return s;
  if (!n || !c || !h || !w) return bad(cat(call, ": an output pointer is NULL"));
  int64_t p = 0, q = 0;
  if (auto s = output_dims(call, *cd, xd->t, wd->f, "inputTensorDesc", "filterDesc", &p, &q)) return s;
  *n = int(xd->t.n), *c = int(wd->f.k), *h = int(p), *w = int(q);
  return CUDNN_STATUS_SUCCESS;
}

// ---- algorithm queries and workspace sizes --------------------------------------------

cudnnStatus_t cudnnGetConvolutionForwardAlgorithmMaxCount(cudnnHandle_t h, int* count) {
  if (auto s = check_handle("cudnnGetConvolutionForwardAlgorithmMaxCount", h)) return s;
  if (!count) return bad("cudnnGetConvolutionForwardAlgorithmMaxCount: count is NULL");
  *count = CUDNN_CONVOLUTION_FWD_ALGO_COUNT;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithmMaxCount(cudnnHandle_t h, int* count) {
  if (auto s = check_handle("cudnnGetConvolutionBackwardDataAlgorithmMaxCount", h)) return s;
  if (!count) return bad("cudnnGetConvolutionBackwardDataAlgorithmMaxCount: count is NULL");
  *count = CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(cudnnHandle_t h, int* count) {
  if (auto s = check_handle("cudnnGetConvolutionBackwardFilterAlgorithmMaxCount", h)) return s;
  if (!count) return bad("cudnnGetConvolutionBackwardFilterAlgorithmMaxCount: count is NULL");
  *count = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t h, const cudnnTensorDescriptor_t x,
                                                     const cudnnFilterDescriptor_t w,
                                                     const cudnnConvolutionDescriptor_t conv,
                                                     const cudnnTensorDescriptor_t y, const int requested,
                                                     int* returned, cudnnConvolutionFwdAlgoPerf_t* perf) {
  return query("cudnnGetConvolutionForwardAlgorithm_v7", Dir::fwd, h, x, w, conv, y, requested, returned, perf);
}
cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t h, const cudnnFilterDescriptor_t w,
                                                          const cudnnTensorDescriptor_t dy,
                                                          const cudnnConvolutionDescriptor_t conv,
                                                          const cudnnTensorDescriptor_t dx, const int requested,
                                                          int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perf) {
  return query("cudnnGetConvolutionBackwardDataAlgorithm_v7", Dir::bwd_data, h, dx, w, conv, dy, requested, returned,
               perf);
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t h, const cudnnTensorDescriptor_t x,
                                                            const cudnnTensorDescriptor_t dy,
                                                            const cudnnConvolutionDescriptor_t conv,
                                                            const cudnnFilterDescriptor_t dw, const int requested,
                                                            int* returned, cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
  return query("cudnnGetConvolutionBackwardFilterAlgorithm_v7", Dir::bwd_filter, h, x, dw, conv, dy, requested,
               returned, perf);
}

cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t h, const cudnnTensorDescriptor_t x,
                                                      const cudnnFilterDescriptor_t w,
                                                      const cudnnConvolutionDescriptor_t conv,
                                                      const cudnnTensorDescriptor_t y, cudnnConvolutionFwdAlgo_t algo,
                                                      size_t* size) {
  return workspace_size("cudnnGetConvolutionForwardWorkspaceSize", Dir::fwd, h, x, w, conv, y, int(algo), size);
}
cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t h, const cudnnFilterDescriptor_t w,
                                                           const cudnnTensorDescriptor_t dy,
                                                           const cudnnConvolutionDescriptor_t conv,
                                                           const cudnnTensorDescriptor_t dx,
                                                           cudnnConvolutionBwdDataAlgo_t algo, size_t* size) {
  return workspace_size("cudnnGetConvolutionBackwardDataWorkspaceSize", Dir::bwd_data, h, dx, w, conv, dy, int(algo),
                        size);
}
cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t h, const cudnnTensorDescriptor_t x,
                                                             const cudnnTensorDescriptor_t dy,
                                                             const cudnnConvolutionDescriptor_t conv,
                                                             const cudnnFilterDescriptor_t dw,
                                                             cudnnConvolutionBwdFilterAlgo_t algo, size_t* size) {
  return workspace_size("cudnnGetConvolutionBackwardFilterWorkspaceSize", Dir::bwd_filter, h, x, dw, conv, dy,
                        int(algo), size);
}

// ---- convolutions -----------------------------------------------------------------------

cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t h, const void* alpha, const cudnnTensorDescriptor_t xd,
                                      const void* x, const cudnnFilterDescriptor_t wd, const void* w,
                                      const cudnnConvolutionDescriptor_t conv, cudnnConvolutionFwdAlgo_t algo, void* ws,
                                      size_t ws_bytes, const void* beta, const cudnnTensorDescriptor_t yd, void* y) {
  return convolve("cudnnConvolutionForward", Dir::fwd, h, alpha, beta, xd, x, wd, w, conv, yd, y, int(algo), ws,
                  ws_bytes);
}
cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t h, const void* alpha, const cudnnFilterDescriptor_t wd,
                                           const void* w, const cudnnTensorDescriptor_t dyd, const void* dy,
                                           const cudnnConvolutionDescriptor_t conv, cudnnConvolutionBwdDataAlgo_t algo,
                                           void* ws, size_t ws_bytes, const void* beta,
                                           const cudnnTensorDescriptor_t dxd, void* dx) {
  return convolve("cudnnConvolutionBackwardData", Dir::bwd_data, h, alpha, beta, dxd, dx, wd, w, conv, dyd, dy,
                  int(algo), ws, ws_bytes);
}
cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t h, const void* alpha, const cudnnTensorDescriptor_t xd,
                                             const void* x, const cudnnTensorDescriptor_t dyd, const void* dy,
                                             const cudnnConvolutionDescriptor_t conv,
                                             cudnnConvolutionBwdFilterAlgo_t algo, void* ws, size_t ws_bytes,
                                             const void* beta, const cudnnFilterDescriptor_t dwd, void* dw) {
  return convolve("cudnnConvolutionBackwardFilter", Dir::bwd_filter, h, alpha, beta, xd, x, dwd, dw, conv, dyd, dy,
                  int(algo), ws, ws_bytes);
}

}  // extern "C"
