#pragma once
// The layers ResNet and the small test networks are built from.
#include <functional>

#include "engine/nn/module.h"

namespace engine::nn {

class Linear : public Module {
 public:
  Linear(int64_t in, int64_t out, bool bias = true);
  std::string type_name() const override { return "Linear"; }
  Variable weight, bias;  // [out, in], [out]
  int64_t in_features, out_features;

 protected:
  void check_input(const Variable& x) const override;
  Variable forward_impl(const Variable& x) override;
};

class Conv2d : public Module {
 public:
  Conv2d(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0, bool bias = true,
         int64_t dilation = 1, int64_t groups = 1);
  std::string type_name() const override { return "Conv2d"; }
  Variable weight, bias;  // [out, in/groups, k, k], [out] or undefined
  int64_t in_channels, out_channels, kernel_size;
  ops::Conv2dOptions options;

 protected:
  void check_input(const Variable& x) const override;
  Variable forward_impl(const Variable& x) override;
};

class BatchNorm2d : public Module {
 public:
  explicit BatchNorm2d(int64_t channels, double momentum = 0.1, double eps = 1e-5);
  std::string type_name() const override { return "BatchNorm2d"; }
  // act(BN(x) + residual) as one fused op, the block epilogue of a ResNet; residual may
  // be undefined, act is relu or identity. Same parameters, buffers and updates as forward().
  Variable forward_act(const Variable& x, const Variable& residual, bool relu);
  Variable weight, bias;  // gamma, beta
  Tensor *running_mean, *running_var, *num_batches_tracked;
  // When set, training computes act(BN(x) + residual) through it instead of the batch
  // norm ops, with the running statistics to update (synchronised batch norm over the
  // processes of a run, engine/dist/sync_batchnorm.h); residual may be undefined.
  using TrainingForward = std::function<Variable(const Variable& x, const Variable& residual, bool relu,
                                                 Tensor& running_mean, Tensor& running_var)>;
  TrainingForward training_forward;
  int64_t channels;
  double momentum, eps;

 protected:
  void check_input(const Variable& x) const override;
  Variable forward_impl(const Variable& x) override;

 private:
  int64_t batches_seen_ = -1;  // read from the buffer at the first training step
  // The running statistics a forward passes to the op (see forward_impl).
  std::pair<Tensor, Tensor> running_stats_for_forward();
};

class ReLU : public Module {
 public:
  std::string type_name() const override { return "ReLU"; }

 protected:
  Variable forward_impl(const Variable& x) override { return ag::relu(x); }
};

// Square pooling windows; the two pools differ only in the op they run.
class Pool2d : public Module {
 public:
  Pool2d(int64_t kernel, int64_t stride, int64_t padding = 0);
  ops::Pool2dOptions options;
};

class MaxPool2d : public Pool2d {
 public:
  using Pool2d::Pool2d;
  std::string type_name() const override { return "MaxPool2d"; }

 protected:
  Variable forward_impl(const Variable& x) override { return ag::maxpool2d(x, options); }
};

class AvgPool2d : public Pool2d {
 public:
  using Pool2d::Pool2d;
  std::string type_name() const override { return "AvgPool2d"; }

 protected:
  Variable forward_impl(const Variable& x) override { return ag::avgpool2d(x, options); }
};

// [N, C, H, W] -> [N, C]
class GlobalAvgPool : public Module {
 public:
  std::string type_name() const override { return "GlobalAvgPool"; }

 protected:
  Variable forward_impl(const Variable& x) override { return ag::global_avgpool(x); }
};

class Flatten : public Module {
 public:
  std::string type_name() const override { return "Flatten"; }

 protected:
  Variable forward_impl(const Variable& x) override { return ag::flatten(x, 1); }
};

// Dropout draws its mask from the default generator in training mode.
class Dropout : public Module {
 public:
  explicit Dropout(double p) : p(p) {}
  std::string type_name() const override { return "Dropout"; }
  double p;

 protected:
  Variable forward_impl(const Variable& x) override;
};

// Children named "0", "1", ... as in torch.nn.Sequential.
class Sequential : public Module {
 public:
  Sequential() = default;
  Sequential& add(ModulePtr m);
  std::string type_name() const override { return "Sequential"; }
  size_t size() const { return layers_.size(); }

 protected:
  Variable forward_impl(const Variable& x) override;

 private:
  std::vector<ModulePtr> layers_;
};

}  // namespace engine::nn
