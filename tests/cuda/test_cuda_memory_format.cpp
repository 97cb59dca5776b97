// CUDA parity of the channels-last paths: conv2d through cuDNN NHWC descriptors
// (forward, backward data, backward filter), the NHWC batch norm kernels (training,
// eval, backward), the NHWC pools and global average pooling, and format preservation
// of elementwise ops and host/device copies. Each GPU result must be channels-last and
// match the CPU on the row-major twin of the same values.
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

TEST_CASE("cuda elementwise ops keep channels-last", "[cuda]") {
  begin_cuda_test();
  for (DType d : float_dtypes())
    for (uint64_t seed : {2u, 3u}) {
      Shape s = {3, 7, 5, 3};
      Tensor a = rand_input(s, seed, d), b = rand_input(s, seed + 10, d);
      Tensor scale = rand_input({1, 7, 1, 1}, seed + 20, d);
      Tensor r = ops::relu(gpu_cl(a));
      check_cl(r, "relu");
      check_parity(r, ops::relu(cpu_twin(a)), d, "relu channels-last");
      Tensor s1 = ops::add(gpu_cl(a), gpu_cl(b));
      check_cl(s1, "add");
      check_parity(s1, ops::add(cpu_twin(a), cpu_twin(b)), d, "add channels-last");
      Tensor m = ops::mul(gpu_cl(a), on_gpu(scale));
      check_cl(m, "mul by a per-channel scale");
      check_parity(m, ops::mul(cpu_twin(a), cpu_twin(scale)), d, "mul channels-last");
      Tensor ab = ops::activation_bwd(ActivationKind::Relu, gpu_cl(b), gpu_cl(a));
      check_cl(ab, "activation_bwd");
      check_parity(ab, ops::activation_bwd(ActivationKind::Relu, cpu_twin(b), cpu_twin(a)), d, "relu backward");
    }
}

TEST_CASE("cuda conv2d channels-last forward, backward data and backward filter", "[cuda]") {
  begin_cuda_test();
  struct Case {
    Shape x, w;
    ops::Conv2dOptions o;
    const char* what;
  };
  ops::Conv2dOptions s2p1, grouped, plain;
  s2p1.stride_h = s2p1.stride_w = 2;
  s2p1.pad_h = s2p1.pad_w = 1;
  grouped.groups = 2;
  grouped.pad_h = 1;
  grouped.dil_w = 2;
  std::vector<Case> cases = {{{2, 3, 9, 7}, {8, 3, 3, 3}, s2p1, "3x3 stride 2 pad 1"},
                             {{3, 6, 5, 6}, {4, 3, 3, 2}, grouped, "groups 2, dilation"},
                             {{2, 5, 4, 4}, {7, 5, 1, 1}, plain, "1x1"},
                             {{2, 1, 8, 8}, {4, 1, 3, 3}, s2p1, "one input channel"}};
  for (DType d : float_dtypes())
    for (const Case& k : cases)
      for (uint64_t seed : {30u, 31u}) {
        Tensor x = rand_input(k.x, seed, d), w = rand_input(k.w, seed + 1, d), bias = rand_input({k.w[0]}, seed + 2, d);
        std::string what = std::string("conv2d channels-last ") + k.what;
        Tensor y = ops::conv2d(gpu_cl(x), on_gpu(w), on_gpu(bias), k.o);
        check_cl(y, what);
        check_parity(y, ops::conv2d(cpu_twin(x), cpu_twin(w), cpu_twin(bias), k.o), d, what);
        Tensor gy = rand_input(y.shape(), seed + 3, d);
        Tensor gx = ops::conv2d_bwd_data(gpu_cl(gy), on_gpu(w), k.x, k.o);
        check_cl(gx, what + " backward data");
        check_parity(gx, ops::conv2d_bwd_data(cpu_twin(gy), cpu_twin(w), k.x, k.o), d, what + " backward data");
        Tensor gw = ops::conv2d_bwd_filter(gpu_cl(gy), gpu_cl(x), k.w, k.o);
        CHECK(gw.is_contiguous());
        check_parity(gw, ops::conv2d_bwd_filter(cpu_twin(gy), cpu_twin(x), k.w, k.o), d, what + " backward filter");
      }
}

TEST_CASE("cuda batchnorm2d channels-last: training, eval and backward", "[cuda]") {
  begin_cuda_test();
  // C = 37 and 70 span partial 32-channel blocks; 1x1 planes; a large N*H*W. (With N*H*W = 2
  // every gx is 0 in exact arithmetic and the test compared amplified rounding noise.)
  for (DType d : float_dtypes())
    for (Shape s : {Shape{4, 37, 5, 7}, Shape{9, 70, 1, 1}, Shape{3, 5, 33, 31}}) {
      int64_t C = s[1];
      Tensor x = rand_input(s, 40, d, 0.7, 2.0), gamma = rand_input({C}, 41, d), beta = rand_input({C}, 42, d);
      Tensor rm = rand_input({C}, 43, d), rv = rand_uniform_input({C}, 44, d, 0.5, 1.5);
      for (bool training : {true, false}) {
        Tensor rm_g = on_gpu(rm), rv_g = on_gpu(rv), rm_c = cpu_twin(rm).clone(), rv_c = cpu_twin(rv).clone();
        ops::BatchNormOutput got =
            ops::batchnorm2d(gpu_cl(x), on_gpu(gamma), on_gpu(beta), rm_g, rv_g, training, 0.1, 1e-5);
        ops::BatchNormOutput want =
            ops::batchnorm2d(cpu_twin(x), cpu_twin(gamma), cpu_twin(beta), rm_c, rv_c, training, 0.1, 1e-5);
        std::string what = std::string("batchnorm2d channels-last ") + (training ? "train " : "eval ") + shape_str(s);
        check_cl(got.y, what);
        check_parity(got.y, want.y, d, what + " y");
        check_parity(got.save_mean, want.save_mean, d, what + " save_mean");
        check_parity(got.save_invstd, want.save_invstd, d, what + " save_invstd");
        check_parity(rm_g, rm_c, d, what + " running_mean");
        check_parity(rv_g, rv_c, d, what + " running_var");

        Tensor gy = rand_input(s, 45, d);
        ops::BatchNormGrads g = ops::batchnorm2d_bwd(gpu_cl(gy), gpu_cl(x), on_gpu(gamma), got.save_mean,
                                                     got.save_invstd, training);
        ops::BatchNormGrads gw = ops::batchnorm2d_bwd(cpu_twin(gy), cpu_twin(x), cpu_twin(gamma), want.save_mean,
                                                      want.save_invstd, training);
        check_cl(g.gx, what + " gx");
        check_parity(g.gx, gw.gx, d, what + " gx");
        check_parity(g.ggamma, gw.ggamma, d, what + " ggamma");
        check_parity(g.gbeta, gw.gbeta, d, what + " gbeta");
      }
      ops::BatchNormOutput bare = ops::batchnorm2d(gpu_cl(x), Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5);
      check_parity(bare.y, ops::batchnorm2d(cpu_twin(x), Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5).y, d,
                   "batchnorm2d channels-last without gamma, beta, running statistics");
    }
}

TEST_CASE("cuda pools channels-last: max, average and global, forward and backward", "[cuda]") {
  begin_cuda_test();
  ops::Pool2dOptions k2, k3s2p1, k3s1, k3s2_exclude;
  k3s2p1.kh = k3s2p1.kw = 3;
  k3s2p1.ph = k3s2p1.pw = 1;
  k3s1.kh = k3s1.kw = 3;
  k3s1.sh = k3s1.sw = 1;
  k3s2_exclude.kh = 3;
  k3s2_exclude.kw = 2;
  k3s2_exclude.sh = 2;
  k3s2_exclude.sw = 1;
  k3s2_exclude.ph = 1;
  k3s2_exclude.count_include_pad = false;
  for (DType d : float_dtypes())
    for (const ops::Pool2dOptions& o : {k2, k3s2p1, k3s1, k3s2_exclude}) {
      std::string what = "pool k" + std::to_string(o.kh) + "x" + std::to_string(o.kw) + " channels-last";
      Tensor xd = distinct64({2, 5, 9, 11}, 50, 0.25).to(d);
      ops::MaxPoolOutput got = ops::maxpool2d(gpu_cl(xd), o);
      ops::MaxPoolOutput want = ops::maxpool2d(cpu_twin(xd), o);
      check_cl(got.y, what + " max y");
      check_cl(got.indices, what + " max indices");
      check_parity(got.y, want.y, d, what + " max y");
      check_exact(got.indices, want.indices, what + " max indices");
      Tensor gy = rand_input(want.y.shape(), 51, d);
      Tensor gx = ops::maxpool2d_bwd(gpu_cl(gy), got.indices, xd.shape(), o);
      check_cl(gx, what + " max backward");
      check_parity(gx, ops::maxpool2d_bwd(cpu_twin(gy), want.indices, xd.shape(), o), d, what + " max backward");

      Tensor x = rand_input({2, 5, 9, 11}, 52, d);
      Tensor ay = ops::avgpool2d(gpu_cl(x), o);
      check_cl(ay, what + " avg");
      check_parity(ay, ops::avgpool2d(cpu_twin(x), o), d, what + " avg");
      Tensor ag = rand_input(ay.shape(), 53, d);
      Tensor agx = ops::avgpool2d_bwd(gpu_cl(ag), x.shape(), o);
      check_cl(agx, what + " avg backward");
      check_parity(agx, ops::avgpool2d_bwd(cpu_twin(ag), x.shape(), o), d, what + " avg backward");
    }
  for (DType d : float_dtypes())
    for (Shape s : {Shape{3, 5, 7, 9}, Shape{2, 40, 1, 1}, Shape{2, 3, 40, 41}}) {
      Tensor x = rand_input(s, 54, d);
      check_parity(ops::global_avgpool(gpu_cl(x)), ops::global_avgpool(cpu_twin(x)), d,
                   "global_avgpool channels-last " + shape_str(s));
    }
}
