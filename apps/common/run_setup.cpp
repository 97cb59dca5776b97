#include "apps/common/run_setup.h"

#include <cstdlib>
#include <filesystem>

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

std::string model_name(const TrainConfig& c) {
  if (c.multimodal_model()) return c.model.arch;
  return c.moe.enabled() ? c.model.arch + "_moe" : c.model.arch;
}

namespace {

// The folder of the running executable ("" when unknown).
std::string executable_dir() {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.parent_path().string();
}

// `relative` under the working directory, else under a folder above the executable's
// (the source tree of a build/ folder), else as given (for the message).
std::string find_project_file(const std::string& relative) {
  if (std::filesystem::exists(relative)) return relative;
  const std::string exe = executable_dir();
  if (!exe.empty()) {
    std::filesystem::path dir = std::filesystem::path(exe).parent_path();
    for (int up = 0; up < 3 && !dir.empty(); ++up, dir = dir.parent_path())
      if (std::filesystem::exists(dir / relative)) return (dir / relative).string();
  }
  return relative;
}

}  // namespace

std::string descriptions_path(const TrainConfig& c) {
  if (!c.multimodal.descriptions.empty()) return c.multimodal.descriptions;
  return find_project_file("configs/labels/" + data::class_descriptions_stem(dataset_spec(c)) + ".json");
}

std::string text_encoder_dir(const TrainConfig& c) {
  if (!c.multimodal.text_encoder.empty()) return c.multimodal.text_encoder;
  if (const char* env = std::getenv("ENGINE_TEXT_ENCODER_DIR"); env != nullptr && *env != '\0') return env;
  return find_project_file("build/text_encoder");
}

data::ClassDescriptions class_descriptions(const TrainConfig& c, const data::Dataset& train) {
  data::ClassDescriptions d = data::load_class_descriptions(descriptions_path(c));
  data::check_classes(d, train.class_names);
  return d;
}

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
  if (c.multimodal_model()) {
    spec.moe = moe_options(c.moe);
    models::MultimodalConfig& m = spec.multimodal;
    m.token_stage = c.multimodal.token_stage;
    m.dim = c.multimodal.dim;
    m.num_blocks = c.multimodal.blocks;
    m.heads = c.multimodal.heads;
    m.hidden_mult = c.multimodal.hidden_mult;
    m.text_through_experts = c.multimodal.text_through_experts;
    m.head = c.multimodal.head;
    m.logit_scale = c.multimodal.logit_scale;
    m.entropy_local_coef = c.multimodal.entropy_local_coef;
    m.entropy_global_coef = c.multimodal.entropy_global_coef;
    const data::ClassDescriptions d = class_descriptions(c, train);
    for (int64_t k = 0; k < d.num_classes(); ++k)
      m.text_classes.insert(m.text_classes.end(), d.descriptions[size_t(k)].size(), k);
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
