#pragma once
// What the parts of the simulated cuDNN share: the descriptor objects (which cudnn.h only
// declares), the checks every call makes on them, and the convolution problem the API
// layer (cudnn.cpp, cudnn_desc.cpp) hands the kernels (cudnn_conv.cpp). A problem is
// taken from the descriptors alone, checked and copied by value at call time, so that a
// captured graph replays it after the engine has destroyed the descriptors.
#include <cudnn.h>

#include <cstdint>
#include <mutex>
#include <set>
#include <sstream>
#include <string>

#include "internal.h"

namespace cudasim::dnn {

struct Tensor {  // a 4-d activation tensor, strides in elements
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int64_t n = 0, c = 0, h = 0, w = 0;
  int64_t sn = 0, sc = 0, sh = 0, sw = 0;
};

struct Filter {  // K x C x R x S; strides follow the filter format (KCRS or KRSC)
  cudnnDataType_t type = CUDNN_DATA_FLOAT;
  int64_t k = 0, c = 0, r = 0, s = 0;
  int64_t sk = 0, sc = 0, sr = 0, ss = 0;
};

struct Problem {
  Tensor x;  // the convolution's input (dx for backward data)
  Tensor y;  // its output (dy for the backward passes)
  Filter w;  // the filter (dw for backward filter); w.c is the channels per group
  int64_t pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1, dil_h = 1, dil_w = 1, groups = 1;
  bool flip = false;  // CUDNN_CONVOLUTION: the filter is applied mirrored
  bool tf32 = false;  // f32 data whose math type allows TF32 tensor cores: inputs rounded
};

// output = alpha * op(...) + beta * output, beta == 0 meaning the output is not read.
// alpha and beta are the values read from the caller's scalars (float or double).
void forward(const Problem& p, const void* x, const void* w, void* y, double alpha, double beta);
void backward_data(const Problem& p, const void* w, const void* dy, void* dx, double alpha, double beta);
void backward_filter(const Problem& p, const void* x, const void* dy, void* dw, double alpha, double beta);

}  // namespace cudasim::dnn

struct cudnnContext {
  cudaStream_t stream = nullptr;
};
struct cudnnTensorStruct {
  bool set = false;
  cudasim::dnn::Tensor t;
};
struct cudnnFilterStruct {
  bool set = false;
  cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW;
  cudasim::dnn::Filter f;
};
struct cudnnConvolutionStruct {
  bool set = false;
  int pad_h = 0, pad_w = 0, u = 1, v = 1, dil_h = 1, dil_w = 1;
  cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  cudnnDataType_t compute = CUDNN_DATA_FLOAT;
  int groups = 1;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};

namespace cudasim::dnn {

template <class... A>
std::string cat(const A&... a) {
  std::ostringstream o;
  (o << ... << a);
  return o.str();
}

inline cudnnStatus_t bad(const std::string& msg) {
  cudasim::report(msg);
  return CUDNN_STATUS_BAD_PARAM;
}
inline cudnnStatus_t unsupported(const std::string& msg) {
  cudasim::report(msg);
  return CUDNN_STATUS_NOT_SUPPORTED;
}

// Objects alive (created, not destroyed), so stale and foreign pointers are caught.
template <class T>
struct Live {
  std::mutex mu;
  std::set<const T*> objects;
};
template <class T>
Live<T>& live() {
  static auto* l = new Live<T>;
  return *l;
}
template <class T>
cudnnStatus_t create(const char* call, T** out) {
  if (!out) return bad(cat(call, ": the output pointer is NULL"));
  auto* p = new T;
  std::lock_guard<std::mutex> lock(live<T>().mu);
  live<T>().objects.insert(p);
  *out = p;
  return CUDNN_STATUS_SUCCESS;
}
template <class T>
bool is_live(const T* p) {
  std::lock_guard<std::mutex> lock(live<T>().mu);
  return live<T>().objects.count(p) != 0;
}
template <class T>
cudnnStatus_t destroy(const char* call, T* p) {
  if (!p) return CUDNN_STATUS_SUCCESS;  // as cuDNN: destroying NULL does nothing
  {
    std::lock_guard<std::mutex> lock(live<T>().mu);
    if (!live<T>().objects.erase(p))
      return bad(cat(call, ": ", static_cast<const void*>(p), " was already destroyed or never created"));
  }
  delete p;
  return CUDNN_STATUS_SUCCESS;
}

// A descriptor argument: not NULL, alive, and (where `need_set`) set.
template <class T>
cudnnStatus_t check(const char* call, const char* arg, const T* d, bool need_set = true) {
  if (!d) return bad(cat(call, ": ", arg, " is NULL"));
  if (!is_live(d)) return bad(cat(call, ": ", arg, " was destroyed or never created"));
  if (need_set && !d->set) return bad(cat(call, ": ", arg, " was created but never set"));
  return CUDNN_STATUS_SUCCESS;
}

inline cudnnStatus_t check_handle(const char* call, cudnnHandle_t h) {
  if (!h) return bad(cat(call, ": handle is NULL"));
  if (!is_live(h)) return bad(cat(call, ": handle was destroyed or never created"));
  return CUDNN_STATUS_SUCCESS;
}

inline const char* type_name(cudnnDataType_t t) {
  switch (t) {
    case CUDNN_DATA_FLOAT: return "CUDNN_DATA_FLOAT";
    case CUDNN_DATA_DOUBLE: return "CUDNN_DATA_DOUBLE";
    case CUDNN_DATA_HALF: return "CUDNN_DATA_HALF";
    case CUDNN_DATA_BFLOAT16: return "CUDNN_DATA_BFLOAT16";
    default: return "an unsupported cudnnDataType_t";
  }
}
inline size_t type_size(cudnnDataType_t t) { return t == CUDNN_DATA_DOUBLE ? 8 : t == CUDNN_DATA_FLOAT ? 4 : 2; }
inline bool known_type(cudnnDataType_t t) {
  return t == CUDNN_DATA_FLOAT || t == CUDNN_DATA_DOUBLE || t == CUDNN_DATA_HALF || t == CUDNN_DATA_BFLOAT16;
}

}  // namespace cudasim::dnn
