#include "engine/nn/layers.h"

#include "engine/core/generator.h"
#include "engine/nn/init.h"

namespace engine::nn {

Linear::Linear(int64_t in, int64_t out, bool with_bias) : in_features(in), out_features(out) {
  ENGINE_CHECK(in > 0 && out > 0, "Linear: features must be positive, got in=" << in << ", out=" << out);
  weight = register_parameter("weight", init::default_weight({out, in}));
  if (with_bias) bias = register_parameter("bias", init::default_bias(out, in));
}

void Linear::check_input(const Variable& x) const {
  ENGINE_CHECK(x.dim() == 2 && x.size(1) == in_features, "Linear(" << in_features << " -> " << out_features
                                                                   << "): expected input [N, " << in_features
                                                                   << "], got " << shape_str(x.shape()));
}

Variable Linear::forward_impl(const Variable& x) { return ag::linear(x, weight, bias); }

Conv2d::Conv2d(int64_t in, int64_t out, int64_t k, int64_t stride, int64_t padding, bool with_bias, int64_t dilation,
               int64_t groups)
    : in_channels(in), out_channels(out), kernel_size(k) {
  ENGINE_CHECK(in > 0 && out > 0 && k > 0 && groups > 0 && in % groups == 0 && out % groups == 0,
               "Conv2d: bad configuration in=" << in << " out=" << out << " kernel=" << k << " groups=" << groups);
  options.stride_h = options.stride_w = stride;
  options.pad_h = options.pad_w = padding;
  options.dil_h = options.dil_w = dilation;
  options.groups = groups;
  Shape ws{out, in / groups, k, k};
  weight = register_parameter("weight", init::default_weight(ws));
  if (with_bias) bias = register_parameter("bias", init::default_bias(out, init::fan_in(ws)));
}

void Conv2d::check_input(const Variable& x) const {
  ENGINE_CHECK(x.dim() == 4 && x.size(1) == in_channels, "Conv2d(" << in_channels << " -> " << out_channels
                                                                   << "): expected NCHW input with " << in_channels
                                                                   << " channels, got " << shape_str(x.shape()));
}

Variable Conv2d::forward_impl(const Variable& x) { return ag::conv2d(x, weight, bias, options); }

BatchNorm2d::BatchNorm2d(int64_t c, double momentum, double eps) : channels(c), momentum(momentum), eps(eps) {
  weight = register_parameter("weight", Tensor::ones({c}));
  bias = register_parameter("bias", Tensor::zeros({c}));
  running_mean = &register_buffer("running_mean", Tensor::zeros({c}));
  running_var = &register_buffer("running_var", Tensor::ones({c}));
  num_batches_tracked = &register_buffer("num_batches_tracked", Tensor::zeros({}, DType::i64));
}

void BatchNorm2d::check_input(const Variable& x) const {
  ENGINE_CHECK(x.dim() == 4 && x.size(1) == channels, "BatchNorm2d(" << channels << "): expected NCHW input with "
                                                                     << channels << " channels, got "
                                                                     << shape_str(x.shape()));
}

std::pair<Tensor, Tensor> BatchNorm2d::running_stats_for_forward() {
  bool training = is_training();
  if (training && ag::checkpoint_recomputing()) {
    // A checkpointed segment run again for its backward pass: the same batch statistics,
    // but the first run already updated the running statistics and the count.
    return {running_mean->clone(), running_var->clone()};
  }
  if (training) {
    // The count lives on the host; the buffer (informational: momentum is fixed) is
    // refreshed by a fill, so the step never waits on the device.
    if (batches_seen_ < 0) batches_seen_ = int64_t(num_batches_tracked->item());
    num_batches_tracked->fill_(double(++batches_seen_));
  }
  return {*running_mean, *running_var};
}

Variable BatchNorm2d::forward_impl(const Variable& x) {
  auto [rm, rv] = running_stats_for_forward();
  if (is_training() && training_forward) return training_forward(x, Variable(), false, rm, rv);
  return ag::batchnorm2d(x, weight, bias, rm, rv, is_training(), momentum, eps);
}

Variable BatchNorm2d::forward_act(const Variable& x, const Variable& residual, bool relu) {
  check_input(x);
  auto [rm, rv] = running_stats_for_forward();
  if (is_training() && training_forward) return training_forward(x, residual, relu, rm, rv);
  return ag::batchnorm2d_act(x, residual, weight, bias, rm, rv, relu, is_training(), momentum, eps);
}

Pool2d::Pool2d(int64_t k, int64_t s, int64_t p) {
  ENGINE_CHECK(k >= 1 && s >= 1 && p >= 0,
               "pooling layer: bad kernel " << k << ", stride " << s << " or padding " << p);
  options.kh = options.kw = k;
  options.sh = options.sw = s;
  options.ph = options.pw = p;
}

Variable Dropout::forward_impl(const Variable& x) {
  if (!is_training() || p == 0) return x;
  Generator& g = default_generator();
  uint64_t off = g.take(uint64_t(x.numel()));
  return ag::dropout(x, p, true, g.seed(), off);
}

Sequential& Sequential::add(ModulePtr m) {
  register_module(std::to_string(layers_.size()), m);
  layers_.push_back(std::move(m));
  return *this;
}

Variable Sequential::forward_impl(const Variable& x) {
  Variable h = x;
  for (auto& l : layers_) h = l->forward(h);
  return h;
}

}  // namespace engine::nn
