// The simulated cuDNN's descriptors: 4-d tensors (NCHW, NHWC or explicit strides),
// 4-d filters (KCRS or KRSC) and 2-d convolutions (pad, stride, dilation, mode, compute
// type, groups, math type). Bad values return cuDNN's status and are reported; the
// convolution calls check the descriptors against each other (cudnn.cpp).
#include <climits>

#include "cudnn_internal.h"

using namespace cudasim::dnn;

namespace {

cudnnStatus_t check_type(const char* call, const char* arg, cudnnDataType_t t) {
  if (known_type(t)) return CUDNN_STATUS_SUCCESS;
  return unsupported(
      cat(call, ": ", arg, " = ", int(t), "; the simulator implements FLOAT, DOUBLE, HALF and BFLOAT16 data only"));
}

cudnnStatus_t check_dims(const char* call, int n, int c, int h, int w) {
  if (n <= 0 || c <= 0 || h <= 0 || w <= 0)
    return bad(cat(call, ": dimensions [", n, ", ", c, ", ", h, ", ", w, "] must all be positive"));
  return CUDNN_STATUS_SUCCESS;
}

}  // namespace

extern "C" {

// ---- tensor descriptors ---------------------------------------------------------------

cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* d) {
  return create("cudnnCreateTensorDescriptor", d);
}
cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) {
  return destroy("cudnnDestroyTensorDescriptor", d);
}

cudnnStatus_t cudnnSetTensor4dDescriptorEx(cudnnTensorDescriptor_t d, cudnnDataType_t type, int n, int c, int h, int w,
                                           int ns, int cs, int hs, int ws) {
  static const char* call = "cudnnSetTensor4dDescriptorEx";
  if (auto s = check(call, "tensorDesc", d, false)) return s;
  if (auto s = check_type(call, "dataType", type)) return s;
  if (auto s = check_dims(call, n, c, h, w)) return s;
  if (ns <= 0 || cs <= 0 || hs <= 0 || ws <= 0)
    return bad(cat(call, ": strides [", ns, ", ", cs, ", ", hs, ", ", ws, "] must all be positive"));
  const int64_t elements = 1 + int64_t(n - 1) * ns + int64_t(c - 1) * cs + int64_t(h - 1) * hs + int64_t(w - 1) * ws;
  if (elements > INT_MAX)
    return unsupported(cat(call, ": the tensor spans ", elements, " elements, more than cuDNN's 2^31 - 1"));
  d->t = Tensor{type, n, c, h, w, ns, cs, hs, ws};
  d->set = true;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t format, cudnnDataType_t type,
                                         int n, int c, int h, int w) {
  static const char* call = "cudnnSetTensor4dDescriptor";
  if (auto s = check(call, "tensorDesc", d, false)) return s;
  if (format == CUDNN_TENSOR_NCHW_VECT_C)
    return unsupported(cat(call, ": CUDNN_TENSOR_NCHW_VECT_C is not implemented by the simulator"));
  if (format != CUDNN_TENSOR_NCHW && format != CUDNN_TENSOR_NHWC)
    return bad(cat(call, ": format = ", int(format), " is not a cudnnTensorFormat_t"));
  if (auto s = check_type(call, "dataType", type)) return s;
  if (auto s = check_dims(call, n, c, h, w)) return s;
  if (format == CUDNN_TENSOR_NCHW) return cudnnSetTensor4dDescriptorEx(d, type, n, c, h, w, c * h * w, h * w, w, 1);
  return cudnnSetTensor4dDescriptorEx(d, type, n, c, h, w, h * w * c, 1, w * c, c);
}

cudnnStatus_t cudnnGetTensor4dDescriptor(const cudnnTensorDescriptor_t d, cudnnDataType_t* type, int* n, int* c, int* h,
                                         int* w, int* ns, int* cs, int* hs, int* ws) {
  static const char* call = "cudnnGetTensor4dDescriptor";
  if (auto s = check(call, "tensorDesc", d)) return s;
  if (!type || !n || !c || !h || !w || !ns || !cs || !hs || !ws) return bad(cat(call, ": an output pointer is NULL"));
  const Tensor& t = d->t;
  *type = t.type, *n = int(t.n), *c = int(t.c), *h = int(t.h), *w = int(t.w);
  *ns = int(t.sn), *cs = int(t.sc), *hs = int(t.sh), *ws = int(t.sw);
  return CUDNN_STATUS_SUCCESS;
}

// ---- filter descriptors ---------------------------------------------------------------

cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* d) {
  return create("cudnnCreateFilterDescriptor", d);
}
cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) {
  return destroy("cudnnDestroyFilterDescriptor", d);
}

cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t type, cudnnTensorFormat_t format,
                                         int k, int c, int h, int w) {
  static const char* call = "cudnnSetFilter4dDescriptor";
  if (auto s = check(call, "filterDesc", d, false)) return s;
  if (auto s = check_type(call, "dataType", type)) return s;
  if (format == CUDNN_TENSOR_NCHW_VECT_C)
    return unsupported(cat(call, ": CUDNN_TENSOR_NCHW_VECT_C is not implemented by the simulator"));
  if (format != CUDNN_TENSOR_NCHW && format != CUDNN_TENSOR_NHWC)
    return bad(cat(call, ": format = ", int(format), " is not a cudnnTensorFormat_t"));
  if (auto s = check_dims(call, k, c, h, w)) return s;
  if (int64_t(k) * c * h * w > INT_MAX) return unsupported(cat(call, ": the filter has more than 2^31 - 1 elements"));
  // NCHW filters are K x C x R x S in memory, NHWC filters K x R x S x C.
  const bool nchw = format == CUDNN_TENSOR_NCHW;
  d->f = cudasim::dnn::Filter{
      type, k, c, h, w, int64_t(c) * h * w, nchw ? int64_t(h) * w : 1, nchw ? w : int64_t(w) * c, nchw ? 1 : c};
  d->format = format;
  d->set = true;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetFilter4dDescriptor(const cudnnFilterDescriptor_t d, cudnnDataType_t* type,
                                         cudnnTensorFormat_t* format, int* k, int* c, int* h, int* w) {
  static const char* call = "cudnnGetFilter4dDescriptor";
  if (auto s = check(call, "filterDesc", d)) return s;
  if (!type || !format || !k || !c || !h || !w) return bad(cat(call, ": an output pointer is NULL"));
  *type = d->f.type, *format = d->format, *k = int(d->f.k), *c = int(d->f.c), *h = int(d->f.r), *w = int(d->f.s);
  return CUDNN_STATUS_SUCCESS;
}

// ---- convolution descriptors ----------------------------------------------------------

cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* d) {
  return create("cudnnCreateConvolutionDescriptor", d);
}
cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
  return destroy("cudnnDestroyConvolutionDescriptor", d);
}

cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h, int pad_w, int u, int v,
                                              int dil_h, int dil_w, cudnnConvolutionMode_t mode,
                                              cudnnDataType_t compute) {
  static const char* call = "cudnnSetConvolution2dDescriptor";
  if (auto s = check(call, "convDesc", d, false)) return s;
  if (pad_h < 0 || pad_w < 0) return bad(cat(call, ": padding (", pad_h, ", ", pad_w, ") must not be negative"));
  if (u <= 0 || v <= 0) return bad(cat(call, ": strides (", u, ", ", v, ") must be positive"));
  if (dil_h <= 0 || dil_w <= 0) return bad(cat(call, ": dilations (", dil_h, ", ", dil_w, ") must be positive"));
  if (mode != CUDNN_CONVOLUTION && mode != CUDNN_CROSS_CORRELATION)
    return bad(cat(call, ": mode = ", int(mode), " is not a cudnnConvolutionMode_t"));
  if (!known_type(compute)) return bad(cat(call, ": computeType = ", int(compute), " is not a supported data type"));
  d->pad_h = pad_h, d->pad_w = pad_w, d->u = u, d->v = v, d->dil_h = dil_h, d->dil_w = dil_w;
  d->mode = mode, d->compute = compute;
  d->set = true;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnGetConvolution2dDescriptor(const cudnnConvolutionDescriptor_t d, int* pad_h, int* pad_w, int* u,
                                              int* v, int* dil_h, int* dil_w, cudnnConvolutionMode_t* mode,
                                              cudnnDataType_t* compute) {
  static const char* call = "cudnnGetConvolution2dDescriptor";
  if (auto s = check(call, "convDesc", d)) return s;
  if (!pad_h || !pad_w || !u || !v || !dil_h || !dil_w || !mode || !compute)
    return bad(cat(call, ": an output pointer is NULL"));
  *pad_h = d->pad_h, *pad_w = d->pad_w, *u = d->u, *v = d->v, *dil_h = d->dil_h, *dil_w = d->dil_w;
  *mode = d->mode, *compute = d->compute;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t d, int groups) {
  if (auto s = check("cudnnSetConvolutionGroupCount", "convDesc", d, false)) return s;
  if (groups < 1) return bad(cat("cudnnSetConvolutionGroupCount: groupCount = ", groups, " must be at least 1"));
  d->groups = groups;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionGroupCount(cudnnConvolutionDescriptor_t d, int* groups) {
  if (auto s = check("cudnnGetConvolutionGroupCount", "convDesc", d, false)) return s;
  if (!groups) return bad("cudnnGetConvolutionGroupCount: groupCount is NULL");
  *groups = d->groups;
  return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t math) {
  if (auto s = check("cudnnSetConvolutionMathType", "convDesc", d, false)) return s;
  if (math != CUDNN_DEFAULT_MATH && math != CUDNN_TENSOR_OP_MATH && math != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION &&
      math != CUDNN_FMA_MATH)
    return bad(cat("cudnnSetConvolutionMathType: mathType = ", int(math), " is not a cudnnMathType_t"));
  d->math = math;
  return CUDNN_STATUS_SUCCESS;
}
cudnnStatus_t cudnnGetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t* math) {
  if (auto s = check("cudnnGetConvolutionMathType", "convDesc", d, false)) return s;
  if (!math) return bad("cudnnGetConvolutionMathType: mathType is NULL");
  *math = d->math;
  return CUDNN_STATUS_SUCCESS;
}

}  // extern "C"
