// Channels-last tensors on and off the device: copies keep their strides. The parity of
// the NHWC kernels (conv2d, batch norm, pools, elementwise format preservation) is the
// op-case table's (opcases/, run by tests/ops).
#include "cuda_parity.h"

using namespace engine;
using namespace engine::testing;

namespace {

constexpr MemoryFormat kCL = MemoryFormat::ChannelsLast;

Tensor cl(const Tensor& t) { return t.contiguous(kCL); }
// A channels-last GPU copy of a CPU input.
Tensor gpu_cl(const Tensor& t) { return on_gpu(cl(t)); }

void check_cl(const Tensor& t, const std::string& what) {
  INFO(what << ": strides " << shape_str(t.strides()));
  CHECK(t.suggest_memory_format() == kCL);
}

}  // namespace

TEST_CASE("cuda channels-last copies keep their strides on and off the device", "[cuda]") {
  begin_cuda_test();
  Tensor x = rand_input({2, 5, 3, 4}, 1, DType::f32);
  Tensor g = gpu_cl(x);
  check_cl(g, "to(cuda)");
  Tensor back = g.to(Device::cpu());
  check_cl(back, "to(cpu)");
  check_exact(g, x, "channels-last round trip");
  CHECK(back.to_vector() == x.to_vector());  // the host copy: its values, in logical order
  check_exact(on_gpu(x).contiguous(kCL), x, "contiguous(channels_last) on the device");
}
