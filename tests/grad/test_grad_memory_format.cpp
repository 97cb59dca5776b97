// Gradient checks with channels-last inputs: conv2d, batchnorm and the pools run their
// NHWC paths forward and (the rules hand gy over in x's format) backward.
#include "test_util.h"

using namespace engine;
using namespace engine::testing;

namespace {
using Vars = std::vector<Variable>;
constexpr MemoryFormat kCL = MemoryFormat::ChannelsLast;

Tensor cl(const Tensor& t) { return t.contiguous(kCL); }

GradCheckFn bn_train() {
  return [](const Vars& v) {
    int64_t C = v[0].size(1);
    Tensor rm = Tensor::zeros({C}, DType::f64), rv = Tensor::ones({C}, DType::f64);
    return ag::batchnorm2d(v[0], v[1], v[2], rm, rv, true, 0.1, 1e-5);
  };
}
}  // namespace

GRAD_TEST(OpKind::CONV2D, "grad conv2d channels-last: x, w, bias, with stride, padding, groups, batch 1") {
  ops::Conv2dOptions o;
  o.stride_h = 2;
  o.pad_h = o.pad_w = 1;
  CHECK_GRAD(OpKind::CONV2D, [o](const Vars& v) { return ag::conv2d(v[0], v[1], v[2], o); },
             {cl(randn64({2, 3, 5, 4}, 1)), randn64({4, 3, 3, 3}, 2), randn64({4}, 3)});
  ops::Conv2dOptions g;
  g.groups = 2;
  g.dil_w = 2;
  CHECK_GRAD(OpKind::CONV2D, [g](const Vars& v) { return ag::conv2d(v[0], v[1], Variable(), g); },
             {cl(randn64({1, 4, 4, 5}, 4)), randn64({6, 2, 2, 2}, 5)});
  // One input channel: the layout is ambiguous by strides, made channels-last explicitly.
  CHECK_GRAD(OpKind::CONV2D, [o](const Vars& v) { return ag::conv2d(v[0], v[1], Variable(), o); },
             {cl(randn64({2, 1, 4, 4}, 6)), randn64({3, 1, 3, 3}, 7)});
}

GRAD_TEST(OpKind::BATCHNORM2D, "grad batchnorm2d channels-last: training and eval, odd sizes") {
  CHECK_GRAD(OpKind::BATCHNORM2D, bn_train(),
             {cl(randn64({3, 5, 3, 2}, 10, 0.5, 1.5)), randn64({5}, 11), randn64({5}, 12)});
  CHECK_GRAD(OpKind::BATCHNORM2D, bn_train(), {cl(randn64({1, 3, 3, 5}, 13)), randn64({3}, 14), randn64({3}, 15)});
  Tensor rm = randn64({4}, 16), rv = uniform64({4}, 17, 0.5, 2.0);
  CHECK_GRAD(OpKind::BATCHNORM2D,
             [rm, rv](const Vars& v) { return ag::batchnorm2d(v[0], v[1], v[2], rm, rv, false, 0.1, 1e-5); },
             {cl(randn64({2, 4, 3, 3}, 18)), randn64({4}, 19), randn64({4}, 20)});
}

GRAD_TEST(OpKind::MAXPOOL2D, "grad maxpool2d channels-last: overlapping and padded windows") {
  ops::Pool2dOptions o;
  o.kh = o.kw = 3;
  o.sh = o.sw = 2;
  o.ph = o.pw = 1;
  CHECK_GRAD(OpKind::MAXPOOL2D, [o](const Vars& v) { return ag::maxpool2d(v[0], o); },
             {cl(distinct64({2, 3, 5, 6}, 30))});
}

GRAD_TEST(OpKind::AVGPOOL2D, "grad avgpool2d channels-last: with and without counting the padding") {
  for (bool include : {true, false}) {
    ops::Pool2dOptions o;
    o.kh = 3;
    o.kw = 2;
    o.sh = 2;
    o.sw = 1;
    o.ph = 1;
    o.count_include_pad = include;
    CHECK_GRAD(OpKind::AVGPOOL2D, [o](const Vars& v) { return ag::avgpool2d(v[0], o); },
               {cl(randn64({2, 3, 5, 4}, 40))});
  }
}

GRAD_TEST(OpKind::GLOBAL_AVGPOOL, "grad global_avgpool channels-last") {
  CHECK_GRAD(OpKind::GLOBAL_AVGPOOL, [](const Vars& v) { return ag::global_avgpool(v[0]); },
             {cl(randn64({3, 5, 2, 3}, 50))});
}

TEST_CASE("a channels-last chain keeps its gradients channels-last", "[grad][memory_format]") {
  ops::Conv2dOptions o;
  o.pad_h = o.pad_w = 1;
  Variable x(cl(randn64({2, 3, 6, 6}, 60)), true), w(randn64({4, 3, 3, 3}, 61), true);
  Variable gamma(randn64({4}, 62), true), beta(randn64({4}, 63), true);
  Tensor rm = Tensor::zeros({4}, DType::f64), rv = Tensor::ones({4}, DType::f64);
  ops::Pool2dOptions po;
  Variable h = ag::relu(ag::batchnorm2d(ag::conv2d(x, w, Variable(), o), gamma, beta, rm, rv, true, 0.1, 1e-5));
  Variable p = ag::maxpool2d(h, po);
  CHECK(h.data().suggest_memory_format() == kCL);
  CHECK(p.data().suggest_memory_format() == kCL);
  ag::sum(ag::global_avgpool(p)).backward();
  REQUIRE(x.has_grad());
  CHECK(x.grad().suggest_memory_format() == kCL);
  CHECK(w.grad().is_contiguous());

  // The same chain on the row-major copy gives the same gradients.
  Variable x2(x.data().contiguous(), true), w2(w.data(), true), gamma2(gamma.data(), true), beta2(beta.data(), true);
  Tensor rm2 = Tensor::zeros({4}, DType::f64), rv2 = Tensor::ones({4}, DType::f64);
  Variable h2 = ag::relu(ag::batchnorm2d(ag::conv2d(x2, w2, Variable(), o), gamma2, beta2, rm2, rv2, true, 0.1, 1e-5));
  ag::sum(ag::global_avgpool(ag::maxpool2d(h2, po))).backward();
  CHECK(normalized_error(x.grad(), x2.grad()) < 1e-12);
  CHECK(normalized_error(w.grad(), w2.grad()) < 1e-12);
  CHECK(normalized_error(gamma.grad(), gamma2.grad()) < 1e-12);
}
