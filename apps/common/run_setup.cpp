#include "apps/common/run_setup.h"

#include "apps/common/moe_tracker.h"
#include "data/class_descriptions.h"
#include "data/loader.h"
#include "engine/core/backend.h"

namespace engine::app {

data::DatasetSpec dataset_spec(const TrainConfig& c) {
  data::DatasetSpec s;
  s.name = c.data.dataset;
  s.path = c.data.path;
  s.cifar100_labels = c.data.cifar100_labels;
  return s;
}

Device resolve_device(const std::string& name) {
  if (name == "auto") return runtime::cuda_available() ? Device::cuda(0) : Device::cpu();
  Device d = Device::parse(name);
  if (d.is_cuda())
    ENGINE_CHECK(runtime::cuda_available() && d.index < runtime::cuda_device_count(),
                 "device \"" << name << "\" requested but CUDA is unavailable: " << runtime::cuda_unavailable_reason()
                             << " (use \"device\": \"cpu\" or \"auto\")");
  return d;
}

Datasets load_datasets(const TrainConfig& c) {
  data::TrainTestSets sets = data::load_dataset(dataset_spec(c));
  Datasets d;
  d.train = std::move(sets.train);
  d.test = std::move(sets.test);
  if (c.data.train_limit > 0 && c.data.train_limit < d.train.size())
    d.train = data::subset(d.train, 0, c.data.train_limit);
  if (c.data.test_limit > 0 && c.data.test_limit < d.test.size()) d.test = data::subset(d.test, 0, c.data.test_limit);
  if (!c.data.holdout_classes.empty()) {
    d.holdout_classes =
        data::resolve_classes(c.data.holdout_classes, d.train.class_names, "config key 'data.holdout_classes'");
    ENGINE_CONFIG_CHECK(int64_t(d.holdout_classes.size()) < d.train.num_classes,
                        "config key 'data.holdout_classes' holds out all " << d.train.num_classes
                                                                           << " classes: nothing is left to train on");
    d.train = data::select_classes(d.train, d.holdout_classes, /*keep=*/false);
  }
  if (c.data.val_size > 0) {
    ENGINE_CONFIG_CHECK(c.data.val_size < d.train.size(),
                        "config key 'data.val_size' = " << c.data.val_size << " leaves no training images (the "
                                                        << "training set has " << d.train.size() << ")");
    auto split = data::train_val_split(d.train, c.data.val_size, c.seed);
    d.train = std::move(split.first);
    d.val = std::move(split.second);
  }
  return d;
}

Tensor model_input(const Tensor& images, const TrainConfig& c) {
  return c.model.channels_last ? images.contiguous(MemoryFormat::ChannelsLast) : images;
}

std::string model_name(const TrainConfig& c) { return c.moe.enabled() ? c.model.arch + "_moe" : c.model.arch; }

std::shared_ptr<nn::Module> build_model(const TrainConfig& c, const data::Dataset& train) {
  models::ModelSpec spec;
  spec.resnet.in_channels = train.channels();
  spec.resnet.num_classes = train.num_classes;
  spec.resnet.width_mult = c.model.width_mult;
  spec.resnet.zero_init_residual = c.model.zero_init_residual;
  spec.resnet.channels_last = c.model.channels_last;
  spec.resnet.checkpoint_stages = c.model.checkpoint_stages;
  if (c.moe.enabled()) {
    spec.placement = c.moe.placement;
    spec.hidden_mult = c.moe.hidden_mult;
    spec.moe = moe_options(c.moe);
  }
  return models::build_model(model_name(c), spec);
}

metrics::ClassificationStats evaluate(nn::Module& model, const data::Dataset& d, const TrainConfig& c, Device device,
                                      int bins, Tensor* probs_out) {
  NoGradGuard ng;
  bool was_training = model.is_training();
  model.eval();
  data::LoaderOptions lo;
  lo.batch_size = c.training.eval_batch_size;
  lo.shuffle = false;
  lo.normalization = data::dataset_normalization(c.data.dataset);
  lo.prefetch = c.data.prefetch;
  lo.device = device;
  std::unique_ptr<data::BatchSource> loader;
  if (c.data.gpu_resident) {
    loader = std::make_unique<data::DeviceResidentLoader>(d, lo);
  } else {
    loader = std::make_unique<data::Loader>(d, lo);
  }
  metrics::ClassificationStats stats(bins);
  std::vector<Tensor> all;
  data::Batch b;
  while (loader->next(b)) {
    Tensor logits = model(Variable(model_input(b.images.to(device), c))).data();
    Tensor p = ops::softmax(logits, 1).to(Device::cpu()).to(DType::f32).contiguous();
    Tensor labels = b.labels.to(Device::cpu());
    stats.add(p.data<float>(), labels.data<int64_t>(), b.size(), p.size(1));
    if (probs_out) all.push_back(p);
  }
  if (probs_out) *probs_out = ops::concat(all, 0);
  model.train(was_training);
  return stats;
}

}  // namespace engine::app
