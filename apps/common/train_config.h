#pragma once
// The training configuration: JSON defaults (from the schema, config_schema.h), overrides
// from --set and ENGINE_CONFIG_<SECTION>_<key> variables, and validation into a typed
// TrainConfig.
#include <optional>
#include <string>
#include <vector>

#include "base/device.h"
#include "engine/io/config.h"

namespace engine::app {

struct TrainConfig {
  io::Json json;  // the effective configuration, as saved in the run directory
  std::string name;
  uint64_t seed = 0;
  std::string device;  // "auto", "cpu", "cuda:N"

  struct Data {
    std::string dataset, path, cifar100_labels;
    int64_t train_limit = 0, test_limit = 0, val_size = 0;
    // Class names or decimal indices (as written in the config); resolved against the
    // dataset's class names when it is loaded (run_setup.h).
    std::vector<std::string> holdout_classes;
    int64_t crop_padding = 0, cutout = 0;
    bool hflip = false, prefetch = true;
    // The whole u8 training set on the device; batches are cut, augmented and
    // normalised there by ops::augment_images (no host work per step).
    bool gpu_resident = false;
  } data;

  struct Model {
    std::string arch;
    double width_mult = 1.0;
    bool zero_init_residual = false;
    bool channels_last = false;              // activations in NHWC memory order (MemoryFormat::ChannelsLast)
    std::vector<int64_t> checkpoint_stages;  // ResNet stages 1..4 recomputed in backward
  } model;

  // Mixture of experts (models/resnet_moe.h); off while placement is empty.
  struct Moe {
    std::vector<std::string> placement;  // "layer1".."layer4", "head"
    int64_t num_experts = 4, top_k = 1, router_dim = 64;
    double hidden_mult = 2.0, noise_std = 1.0, temperature = 1.0, capacity_factor = 1.25;
    double lb_coef = 0.01, z_coef = 0.0, importance_coef = 0.0;
    std::string router, drop_priority, activation;
    bool noisy = false, learned_noise = false, drop_tokens = false, renormalize = false;
    // Several ranks: the experts split over them (engine/nn/moe/expert_parallel.h).
    bool expert_parallel = false;
    std::optional<double> eval_capacity_factor;  // unset (null): dropless evaluation
    bool enabled() const { return !placement.empty(); }
  } moe;

  // The multimodal model (models/multimodal_moe.h), with model.arch = "multimodal_moe";
  // its MoE layers take the moe.* options other than moe.placement.
  struct Multimodal {
    int64_t token_stage = 3, dim = 128, blocks = 1, heads = 4;
    double hidden_mult = 2.0, logit_scale = 10.0, entropy_local_coef = 0, entropy_global_coef = 0;
    bool text_through_experts = true;
    std::string head, descriptions, text_encoder;
  } multimodal;
  bool multimodal_model() const { return model.arch == "multimodal_moe"; }

  struct Training {
    int64_t epochs = 1, batch_size = 128, max_steps = 0, eval_batch_size = 500;
    std::string optimizer, schedule;
    double lr = 0.1, momentum = 0.9, weight_decay = 5e-4, adam_beta1 = 0.9, adam_beta2 = 0.999;
    bool nesterov = true, no_decay_bn_bias = true;
    double warmup_epochs = 0, gamma = 0.1, label_smoothing = 0, grad_clip = 0;
    std::vector<int64_t> milestones;
    // "f32", or "bf16"/"f16": forward and loss under autocast (engine/autograd/autocast.h);
    // "f16" also scales the loss dynamically (optim::GradScaler, loss_scale.*).
    std::string precision = "f32";
    // Capture forward + backward as one CUDA graph after the first step and replay it
    // (CUDA, dense model, f32 or bf16; the last partial batch of an epoch is dropped).
    bool cuda_graph = false;
    double loss_scale_init = 65536.0, loss_scale_growth_factor = 2.0, loss_scale_backoff_factor = 0.5;
    int64_t loss_scale_growth_interval = 2000;
  } training;

  // Several processes (docs/DISTRIBUTED.md, apps/common/data_parallel.h).
  struct Dist {
    double bucket_mb = 25.0;
    int64_t ghost_batchnorm = 0;  // one process: shards whose batch norm statistics are separate
    bool sync_batchnorm = false;  // several ranks: statistics over the global batch
    bool overlap = true;          // several ranks: gradient sums start during backward
  } dist;

  struct Output {
    std::string dir, progress;
    int64_t log_every = 50;
  } output;
};

// The defaults of config_schema(), nested into objects: every key a config may set.
io::Json default_train_config();
// Loads the file, applies env overrides then --set overrides (later wins), validates.
// Throws io::ConfigError naming the key path on any problem.
TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& sets, char** envp,
                              std::vector<std::string>* applied_env = nullptr);
TrainConfig parse_train_config(const io::Json& effective);

}  // namespace engine::app
