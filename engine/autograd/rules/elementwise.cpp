// Backward rules of the elementwise family. Broadcast inputs get their gradient
// summed back to their own shape (ops::sum_to).
#include "engine/autograd/autocast.h"
#include "engine/autograd/functions.h"

namespace engine::ag {
namespace {

using kernels::ActivationKind;
using kernels::CompareOp;
using ops::sum_to;

void give(Variable& v, const Tensor& g) {
  if (v.requires_grad()) v.add_grad(g.shape() == v.shape() ? g : sum_to(g, v.shape()));
}

Variable scalar_like(const Variable& x, double value) {
  return Variable(Tensor::scalar(value, x.dtype(), x.device()), false);
}

}  // namespace

Variable add(const Variable& a_in, const Variable& b_in) {
  auto [a, b] = autocast(AutocastPolicy::Promote, a_in, b_in);
  return Variable::make(ops::add(a.data(), b.data()), OpKind::ADD, {a, b},
                        [](std::vector<Variable>& v, const Tensor& g) {
                          give(v[0], g);
                          give(v[1], g);
                        });
}

Variable sub(const Variable& a_in, const Variable& b_in) {
  auto [a, b] = autocast(AutocastPolicy::Promote, a_in, b_in);
  return Variable::make(ops::sub(a.data(), b.data()), OpKind::SUB, {a, b},
                        [](std::vector<Variable>& v, const Tensor& g) {
                          give(v[0], g);
                          if (v[1].requires_grad()) give(v[1], ops::neg(g));
                        });
}

Variable mul(const Variable& a_in, const Variable& b_in) {
  auto [a, b] = autocast(AutocastPolicy::Promote, a_in, b_in);
  return Variable::make(ops::mul(a.data(), b.data()), OpKind::MUL, {a, b},
                        [](std::vector<Variable>& v, const Tensor& g) {
                          if (v[0].requires_grad()) give(v[0], ops::mul(g, v[1].data()));
                          if (v[1].requires_grad()) give(v[1], ops::mul(g, v[0].data()));
                        });
}

Variable div(const Variable& a_in, const Variable& b_in) {
  auto [a, b] = autocast(AutocastPolicy::Promote, a_in, b_in);
  Tensor y = ops::div(a.data(), b.data());
  return Variable::make(y, OpKind::DIV, {a, b}, [y](std::vector<Variable>& v, const Tensor& g) {
    Tensor ga = ops::div(g, v[1].data());  // dy/da = 1/b
    if (v[0].requires_grad()) give(v[0], ga);
    if (v[1].requires_grad()) give(v[1], ops::neg(ops::mul(ga, y)));  // dy/db = -a/b^2 = -y/b
  });
}

Variable pow(const Variable& a_in, const Variable& b_in) {
  auto [a, b] = autocast(AutocastPolicy::Promote, a_in, b_in);
  Tensor y = ops::pow(a.data(), b.data());
  return Variable::make(y, OpKind::POW, {a, b}, [y](std::vector<Variable>& v, const Tensor& g) {
    const Tensor &A = v[0].data(), &B = v[1].data();
    if (v[0].requires_grad())  // b * a^(b-1)
      give(v[0], ops::mul(g, ops::mul(B, ops::pow(A, ops::add(B, -1.0)))));
    if (v[1].requires_grad())  // a^b * log(a)
      give(v[1], ops::mul(g, ops::mul(y, ops::log(A))));
  });
}

Variable maximum(const Variable& a_in, const Variable& b_in) {
  auto [a, b] = autocast(AutocastPolicy::Promote, a_in, b_in);
  return Variable::make(ops::maximum(a.data(), b.data()), OpKind::MAXIMUM, {a, b},
                        [](std::vector<Variable>& v, const Tensor& g) {
                          Tensor ge = ops::compare(CompareOp::Ge, v[0].data(), v[1].data());
                          Tensor zero = Tensor::scalar(0.0, g.dtype(), g.device());
                          if (v[0].requires_grad()) give(v[0], ops::where(ge, g, zero));
                          if (v[1].requires_grad()) give(v[1], ops::where(ge, zero, g));
                        });
}

Variable add(const Variable& a, double b) { return add(a, scalar_like(a, b)); }
Variable mul(const Variable& a, double b) { return mul(a, scalar_like(a, b)); }
Variable pow(const Variable& a, double b) { return pow(a, scalar_like(a, b)); }

Variable where(const Tensor& cond, const Variable& a_in, const Variable& b_in) {
  auto [a, b] = autocast(AutocastPolicy::Promote, a_in, b_in);
  return Variable::make(ops::where(cond, a.data(), b.data()), OpKind::WHERE, {a, b},
                        [cond](std::vector<Variable>& v, const Tensor& g) {
                          Tensor zero = Tensor::scalar(0.0, g.dtype(), g.device());
                          if (v[0].requires_grad()) give(v[0], ops::where(cond, g, zero));
                          if (v[1].requires_grad()) give(v[1], ops::where(cond, zero, g));
                        });
}

Variable neg(const Variable& x) {
  return Variable::make(ops::neg(x.data()), OpKind::NEG, {x},
                        [](std::vector<Variable>& v, const Tensor& g) { give(v[0], ops::neg(g)); });
}

Variable exp(const Variable& x_in) {
  auto [x] = autocast(AutocastPolicy::Float32, x_in);
  Tensor y = ops::exp(x.data());
  return Variable::make(y, OpKind::EXP, {x},
                        [y](std::vector<Variable>& v, const Tensor& g) { give(v[0], ops::mul(g, y)); });
}

Variable log(const Variable& x_in) {
  auto [x] = autocast(AutocastPolicy::Float32, x_in);
  return Variable::make(ops::log(x.data()), OpKind::LOG, {x},
                        [](std::vector<Variable>& v, const Tensor& g) { give(v[0], ops::div(g, v[0].data())); });
}

Variable sqrt(const Variable& x) {
  Tensor y = ops::sqrt(x.data());
  return Variable::make(y, OpKind::SQRT, {x},
                        [y](std::vector<Variable>& v, const Tensor& g) { give(v[0], ops::div(ops::mul(g, 0.5), y)); });
}

Variable rsqrt(const Variable& x) {
  Tensor y = ops::rsqrt(x.data());
  return Variable::make(y, OpKind::RSQRT, {x}, [y](std::vector<Variable>& v, const Tensor& g) {
    // d/dx x^(-1/2) = -1/2 x^(-3/2) = -1/2 y^3
    give(v[0], ops::mul(ops::mul(g, ops::pow(y, 3.0)), -0.5));
  });
}

Variable relu(const Variable& x) {
  return Variable::make(ops::relu(x.data()), OpKind::RELU, {x}, [](std::vector<Variable>& v, const Tensor& g) {
    give(v[0], ops::activation_bwd(ActivationKind::Relu, g, v[0].data()));
  });
}

Variable gelu(const Variable& x) {
  return Variable::make(ops::gelu(x.data()), OpKind::GELU, {x}, [](std::vector<Variable>& v, const Tensor& g) {
    give(v[0], ops::activation_bwd(ActivationKind::Gelu, g, v[0].data()));
  });
}

Variable sigmoid(const Variable& x) {
  Tensor y = ops::sigmoid(x.data());
  return Variable::make(y, OpKind::SIGMOID, {x}, [y](std::vector<Variable>& v, const Tensor& g) {
    give(v[0], ops::activation_bwd(ActivationKind::Sigmoid, g, y));
  });
}

Variable tanh(const Variable& x) {
  Tensor y = ops::tanh(x.data());
  return Variable::make(y, OpKind::TANH, {x}, [y](std::vector<Variable>& v, const Tensor& g) {
    give(v[0], ops::activation_bwd(ActivationKind::Tanh, g, y));
  });
}

Variable clamp(const Variable& x, double lo, double hi) {
  return Variable::make(
      ops::clamp(x.data(), lo, hi), OpKind::CLAMP, {x}, [lo, hi](std::vector<Variable>& v, const Tensor& g) {
        if (!v[0].requires_grad()) return;
        const Tensor& X = v[0].data();
        Tensor l = Tensor::scalar(lo, X.dtype(), X.device());
        Tensor h = Tensor::scalar(hi, X.dtype(), X.device());
        Tensor inside =
            ops::mul(ops::compare(CompareOp::Gt, X, l).to(X.dtype()), ops::compare(CompareOp::Lt, X, h).to(X.dtype()));
        give(v[0], ops::mul(g, inside));
      });
}

}  // namespace engine::ag
