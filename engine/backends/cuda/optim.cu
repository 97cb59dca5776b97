// CUDA adapters for the optimizer updates.
#include <algorithm>
#include <cstring>
#include <vector>

#include "engine/backends/cuda/adapter.h"
#include "engine/backends/multi_tensor.h"
#include "kernels/cuda/optim.h"

namespace engine {
namespace {
using namespace kernels;
using cuda_adapter::reg;
using cuda_adapter::stream_of;

void sgd_cuda(const OpCall& c) {
  const auto& a = c.get<SgdAttrs>();
  const Tensor &g = c.in[0], &p = c.out[0], &buf = c.out[1];
  ENGINE_CUDA_DISPATCH_FLOAT(
      p.dtype(), c.op,
      sgd_step_cuda<scalar_t>(p.data<scalar_t>(), g.data<scalar_t>(), buf.defined() ? buf.data<scalar_t>() : nullptr,
                              p.numel(), a.lr, a.momentum, a.dampening, a.weight_decay, a.nesterov, a.first_step,
                              stream_of(c)));
}

void adamw_cuda(const OpCall& c) {
  const auto& a = c.get<AdamWAttrs>();
  const Tensor &g = c.in[0], &p = c.out[0], &m = c.out[1], &v = c.out[2];
  ENGINE_CUDA_DISPATCH_FLOAT(
      p.dtype(), c.op,
      adamw_step_cuda<scalar_t>(p.data<scalar_t>(), g.data<scalar_t>(), m.data<scalar_t>(), v.data<scalar_t>(),
                                p.numel(), a.lr, a.beta1, a.beta2, a.eps, a.weight_decay, a.step, stream_of(c)));
}

constexpr int64_t kMultiChunk = 1 << 14;

// The records and chunks of a multi-tensor launch, copied to the device in one transfer
// on the op's stream. The device buffer may be released when the adapter returns: the
// caching allocator reuses it only for later work on the same stream.
struct DeviceTables {
  Tensor bytes;
  const MultiTensorRecord* records = nullptr;
  const MultiTensorChunk* chunks = nullptr;
  int64_t num_chunks = 0;
};

DeviceTables upload(const std::vector<MultiTensorRecord>& records, Device device) {
  std::vector<MultiTensorChunk> chunks;
  for (size_t t = 0; t < records.size(); ++t)
    for (int64_t s = 0; s < records[t].n; s += kMultiChunk) chunks.push_back(MultiTensorChunk{int64_t(t), s});
  const size_t rb = records.size() * sizeof(MultiTensorRecord), cb = chunks.size() * sizeof(MultiTensorChunk);
  Tensor host = Tensor::empty({int64_t(rb + cb)}, DType::u8);
  std::memcpy(host.data<uint8_t>(), records.data(), rb);
  if (cb) std::memcpy(host.data<uint8_t>() + rb, chunks.data(), cb);
  DeviceTables d;
  d.bytes = host.to(device);
  d.records = reinterpret_cast<const MultiTensorRecord*>(d.bytes.data<uint8_t>());
  d.chunks = reinterpret_cast<const MultiTensorChunk*>(d.bytes.data<uint8_t>() + rb);
  d.num_chunks = int64_t(chunks.size());
  return d;
}

void sgd_multi_cuda(const OpCall& c) {
  const auto& a = c.get<SgdMultiAttrs>();
  DeviceTables d =
      upload(multi_tensor_records(c, a.h.momentum != 0 ? 1 : 0, a.weight_decay, a.first_step), c.out[0].device());
  ENGINE_CUDA_DISPATCH_FLOAT(
      c.out[0].dtype(), c.op,
      sgd_step_multi_cuda<scalar_t>(d.records, d.chunks, d.num_chunks, kMultiChunk, a.h, stream_of(c)));
}

void adamw_multi_cuda(const OpCall& c) {
  const auto& a = c.get<AdamWMultiAttrs>();
  DeviceTables d = upload(multi_tensor_records(c, 2, a.weight_decay, {}), c.out[0].device());
  ENGINE_CUDA_DISPATCH_FLOAT(
      c.out[0].dtype(), c.op,
      adamw_step_multi_cuda<scalar_t>(d.records, d.chunks, d.num_chunks, kMultiChunk, a.h, stream_of(c)));
}

void sum_squares_multi_cuda_adapter(const OpCall& c) {
  std::vector<MultiTensorRecord> r(c.in.size());
  for (size_t i = 0; i < c.in.size(); ++i) {
    r[i].p = c.in[i].data_ptr();
    r[i].n = c.in[i].numel();
  }
  DeviceTables d = upload(r, c.out[0].device());
  Tensor partials = Tensor::empty({std::max<int64_t>(d.num_chunks, 1)}, DType::f64, c.out[0].device());
  ENGINE_CUDA_DISPATCH_FLOAT(
      c.in[0].dtype(), c.op,
      sum_squares_multi_cuda<scalar_t>(c.out[0].data<double>(), partials.data<double>(), d.records, d.chunks,
                                       d.num_chunks, kMultiChunk, stream_of(c)));
}

}  // namespace

void register_cuda_optim() {
  reg<sgd_cuda>(OpKind::SGD_STEP);
  reg<adamw_cuda>(OpKind::ADAMW_STEP);
  reg<sgd_multi_cuda>(OpKind::SGD_STEP_MULTI);
  reg<adamw_multi_cuda>(OpKind::ADAMW_STEP_MULTI);
  reg<sum_squares_multi_cuda_adapter>(OpKind::SUM_SQUARES_MULTI);
}

}  // namespace engine
