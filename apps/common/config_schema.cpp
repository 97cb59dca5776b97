#include "apps/common/config_schema.h"

#include <sstream>
#include <unordered_map>

#include "base/check.h"
#include "data/registry.h"

namespace engine::app {

namespace {

// One row of the table: the default as JSON text, the choices comma-separated.
struct RawKey {
  const char* path;
  const char* default_json;
  const char* choices;
  const char* range;
  const char* description;
};

// The choices of data.dataset are the dataset registry's names (data/registry.h).
constexpr const char* kRegisteredDatasets = "<registered datasets>";

// Path, default, choices, range, description; grouped by section, in the order a config
// lists its keys. A key added here is a key every config may set, with this default.
// clang-format off
const RawKey kSchema[] = {
  {"name", R"("")", "", "at most 100 letters, digits, '-', '_' or '.', not starting with '.'",
   "the run's name: its directory is output.dir/<dataset>/<name>-<timestamp> (\"\" = model.arch)"},
  {"seed", "0", "", "an integer >= 0", "seeds the initial weights, the data order, augmentation and dropout"},
  {"device", R"("auto")", "", R"("auto", "cpu" or "cuda:N")",
   "where to train; \"auto\" takes cuda:0 when a GPU answers, else the CPU"},

  {"data.dataset", R"("fashion_mnist")", kRegisteredDatasets, "", "the dataset to train and test on"},
  {"data.path", R"("")", "", "", "the dataset's folder; \"\" = its default place (README, \"Data\")"},
  {"data.cifar100_labels", R"("fine")", "fine,coarse", "", "CIFAR-100: the 100 fine or the 20 coarse labels"},
  {"data.train_limit", "0", "", ">= 0 (0 = all)", "train on the first N training images only"},
  {"data.test_limit", "0", "", ">= 0 (0 = all)", "test on the first N test images only"},
  {"data.val_size", "0", "", ">= 0", "hold out N seeded training images as a validation split (0 = none)"},
  {"data.holdout_classes", "[]", "", "class names or indices of the dataset, each at most once, not all",
   "classes never trained on (nor validated on): their images are removed from the training set"},
  {"data.augment.crop_padding", "0", "", "0..16", "random crop of the image zero-padded by this many pixels (0 = off)"},
  {"data.augment.hflip", "false", "", "", "random horizontal flips"},
  {"data.augment.cutout", "0", "", "0..32", "side of a random square set to zero (0 = off)"},
  {"data.prefetch", "true", "", "", "assemble the next batch on a background thread"},
  {"data.gpu_resident", "false", "", "",
   "copy the u8 training set to the device once and cut, augment and normalise batches there"},

  {"model.arch", R"("resnet18")", "resnet18,multimodal_moe", "",
   "the network (resnet18 with moe.placement set: its MoE variant; multimodal_moe: multimodal.*)"},
  {"model.width_mult", "1.0", "", "(0, 8]", "multiplies every layer's channel count (0.125 = the quickstart's)"},
  {"model.zero_init_residual", "false", "", "", "start each residual block's last BatchNorm scale at zero"},
  {"model.checkpoint_stages", "[]", "", "stage numbers 1..4, each at most once",
   "ResNet stages whose activations are recomputed in backward instead of kept"},
  {"model.channels_last", "false", "", "", "run on channels-last (NHWC) activations"},

  {"moe.placement", "[]", "layer1,layer2,layer3,layer4,head", "",
   "where MoE blocks go: after these stages or before the classifier; [] = a dense model"},
  {"moe.num_experts", "4", "", "1..256", "experts per MoE block"},
  {"moe.top_k", "1", "", "1..moe.num_experts", "experts each token is routed to"},
  {"moe.hidden_mult", "2.0", "", "(0, 16]", "an expert's hidden width as a multiple of its input channels"},
  {"moe.router", R"("linear")", "linear,attentive", "",
   "the router: one linear map, or a query against learned expert keys"},
  {"moe.router_dim", "64", "", ">= 1", "the attentive router's query and key width"},
  {"moe.noisy", "false", "", "", "noisy top-k routing: Gaussian noise on the router logits in training"},
  {"moe.noise_std", "1.0", "", ">= 0", "standard deviation of that noise"},
  {"moe.learned_noise", "false", "", "", "learn the noise's scale per token (needs moe.noisy)"},
  {"moe.temperature", "1.0", "", "(0, 100]", "divides the router logits before the softmax"},
  {"moe.capacity_factor", "1.25", "", "(0, 64]",
   "training: slots per expert = ceil(factor * tokens * top_k / experts)"},
  {"moe.drop_tokens", "false", "", "", "training: drop tokens past an expert's capacity (false = dropless)"},
  {"moe.eval_capacity_factor", "null", "", "(0, 64] or null (dropless)",
   "evaluation: null = dropless, a number = capacity-limited at that factor"},
  {"moe.drop_priority", R"("probability")", "probability,order", "",
   "which tokens an expert over capacity keeps: the most probable, or the first"},
  {"moe.activation", R"("relu")", "relu,gelu", "", "the experts' activation"},
  {"moe.renormalize", "false", "", "", "divide a token's top_k combine weights by their sum"},
  {"moe.lb_coef", "0.01", "", ">= 0", "weight of the load-balancing loss"},
  {"moe.z_coef", "0.0", "", ">= 0", "weight of the router z-loss"},
  {"moe.importance_coef", "0.0", "", ">= 0", "weight of the importance loss"},
  {"moe.expert_parallel", "false", "", "",
   "several ranks: each holds moe.num_experts / ranks experts of every MoE block and tokens travel to them by "
   "all-to-all (resnet18 with moe.placement)"},

  {"multimodal.token_stage", "3", "", "1..4", "image tokens: the ResNet feature map after this stage, one per position"},
  {"multimodal.dim", "128", "", "1..4096, a multiple of multimodal.heads", "the width d of image and text tokens"},
  {"multimodal.blocks", "1", "", "1..16", "fusion blocks: cross-attention from image to text tokens, then an MoE layer"},
  {"multimodal.heads", "4", "", "1..64", "cross-attention heads"},
  {"multimodal.hidden_mult", "2.0", "", "(0, 16]", "an expert's hidden width as a multiple of d"},
  {"multimodal.text_through_experts", "true", "", "", "route the text tokens through the experts too"},
  {"multimodal.head", R"("similarity")", "similarity,linear", "",
   "logits: scaled cosine of the pooled image to each class's descriptions, or a linear layer"},
  {"multimodal.logit_scale", "10.0", "", "(0, 1000]", "the similarity head's initial scale of the cosines (learned)"},
  {"multimodal.entropy_local_coef", "0.0", "", ">= 0",
   "weight of the per-modality mean token routing entropy (kept low)"},
  {"multimodal.entropy_global_coef", "0.0", "", ">= 0",
   "weight of minus the entropy of each modality's mean routing (kept high)"},
  {"multimodal.descriptions", R"("")", "", "",
   "the class descriptions file; \"\" = configs/labels/<dataset>.json (cifar100_coarse.json for coarse labels)"},
  {"multimodal.text_encoder", R"("")", "", "",
   "the text encoder's folder; \"\" = $ENGINE_TEXT_ENCODER_DIR, else build/text_encoder"},

  {"training.epochs", "1", "", "1 to 1000000", "passes over the training set"},
  {"training.batch_size", "128", "", "1 to 1048576", "training images per step"},
  {"training.max_steps", "0", "", ">= 0 (0 = no limit)", "stop after this many steps"},
  {"training.eval_batch_size", "500", "", ">= 1", "images per batch when evaluating"},
  {"training.optimizer", R"("sgd")", "sgd,adamw", "", "the optimizer"},
  {"training.lr", "0.1", "", "(0, 100)", "the peak learning rate"},
  {"training.momentum", "0.9", "", "[0, 1)", "SGD momentum"},
  {"training.nesterov", "true", "", "", "Nesterov momentum (SGD; needs training.momentum > 0)"},
  {"training.weight_decay", "0.0005", "", ">= 0", "weight decay (decoupled for AdamW)"},
  {"training.no_decay_bn_bias", "true", "", "", "exempt BatchNorm parameters and biases from weight decay"},
  {"training.adam_beta1", "0.9", "", "[0, 1)", "AdamW's beta1"},
  {"training.adam_beta2", "0.999", "", "[0, 1)", "AdamW's beta2"},
  {"training.schedule", R"("cosine")", "constant,step,cosine,onecycle", "", "the learning-rate schedule"},
  {"training.warmup_epochs", "0.0", "", "0..training.epochs", "linear warm-up from 0 over this many epochs"},
  {"training.milestones", "[]", "", "non-negative integers (epochs)",
   "step schedule: the epochs at which the rate is multiplied by training.gamma"},
  {"training.gamma", "0.1", "", "(0, 1]", "step schedule: the factor at each milestone"},
  {"training.label_smoothing", "0.0", "", "[0, 1)", "label smoothing of the cross-entropy"},
  {"training.grad_clip", "0.0", "", ">= 0 (0 = off)", "clip the gradients' global norm to this"},
  {"training.precision", R"("f32")", "f32,bf16,f16", "", "the forward pass's dtype (bf16/f16 under autocast)"},
  {"training.cuda_graph", "false", "", "",
   "replay forward + backward as one CUDA graph (CUDA, dense model, f32 or bf16)"},
  {"training.loss_scale.init", "65536.0", "", "> 0", "f16: the initial loss scale"},
  {"training.loss_scale.growth_factor", "2.0", "", "> 1", "f16: the scale's factor after growth_interval good steps"},
  {"training.loss_scale.backoff_factor", "0.5", "", "(0, 1)", "f16: the scale's factor after a step with inf/NaN"},
  {"training.loss_scale.growth_interval", "2000", "", ">= 1", "f16: good steps in a row before the scale grows"},

  {"dist.bucket_mb", "25.0", "", "> 0",
   "several ranks (mpirun): gradients are summed over the ranks in buckets of at most this many MiB, in parameter order"},
  {"dist.overlap", "true", "", "",
   "several ranks: start each bucket's sum during backward, as soon as its gradients are complete (false: after "
   "backward)"},
  {"dist.sync_batchnorm", "false", "", "",
   "several ranks: batch norm statistics over the whole global batch (every rank's rows) instead of each rank's own"},
  {"dist.ghost_batchnorm", "0", "", "0 or 2..1024 (0 = off)",
   "one process: batch norm statistics per shard of this many equal parts of the batch, as that many ranks take them"},

  {"output.dir", R"("runs")", "", "a non-empty path", "the folder that holds the run directories"},
  {"output.log_every", "50", "", ">= 1", "print progress every N steps"},
  {"output.progress", R"("auto")", "auto,bar,lines", "",
   "a progress bar redrawn in place, or lines; auto = a bar on a terminal"},
};
// clang-format on

std::vector<std::string> split_choices(const char* text) {
  if (text == kRegisteredDatasets) return data::dataset_names();
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

// The defaults nested into objects along each key's path, in the schema's order where
// J keeps insertion order (ordered_json) and sorted where it does not (io::Json).
template <class J>
J nest_defaults() {
  J j = J::object();
  for (const ConfigKey& k : config_schema()) {
    J* node = &j;
    size_t start = 0;
    for (size_t dot; (dot = k.path.find('.', start)) != std::string::npos; start = dot + 1)
      node = &(*node)[k.path.substr(start, dot - start)];
    (*node)[k.path.substr(start)] = J::parse(k.default_value.dump());
  }
  return j;
}

// '|' would end the cell and "<name>" would read as an HTML tag.
std::string markdown_cell(const std::string& text) {
  std::string out;
  for (char ch : text) {
    if (ch == '|' || ch == '<') out += '\\';
    out += ch;
  }
  return out;
}

void print_markdown(std::ostream& out) {
  out << "| key | default | values | description |\n|---|---|---|---|\n";
  for (const ConfigKey& k : config_schema())
    out << "| `" << k.path << "` | `" << k.default_value.dump() << "` | " << markdown_cell(k.values()) << " | "
        << markdown_cell(k.description) << " |\n";
}

}  // namespace

std::string ConfigKey::values() const {
  if (!range.empty() || choices.empty()) return range;
  std::string out;
  for (size_t i = 0; i < choices.size(); ++i) out += (i ? ", \"" : "\"") + choices[i] + "\"";
  return out;
}

const std::vector<ConfigKey>& config_schema() {
  static const std::vector<ConfigKey> schema = [] {
    std::vector<ConfigKey> keys;
    for (const RawKey& r : kSchema)
      keys.push_back(
          ConfigKey{r.path, io::Json::parse(r.default_json), split_choices(r.choices), r.range, r.description});
    return keys;
  }();
  return schema;
}

const ConfigKey& config_key(const std::string& path) {
  static const std::unordered_map<std::string, const ConfigKey*> index = [] {
    std::unordered_map<std::string, const ConfigKey*> m;
    for (const ConfigKey& k : config_schema()) m[k.path] = &k;
    return m;
  }();
  auto it = index.find(path);
  ENGINE_CHECK(it != index.end(), "the configuration schema has no key '" << path << "'");
  return *it->second;
}

io::Json default_train_config() { return nest_defaults<io::Json>(); }

void print_defaults(std::ostream& out, DefaultsFormat format) {
  if (format == DefaultsFormat::Config) {
    out << nest_defaults<nlohmann::ordered_json>().dump(2) << "\n";
  } else if (format == DefaultsFormat::Describe) {
    nlohmann::ordered_json d = nlohmann::ordered_json::object();
    for (const ConfigKey& k : config_schema()) {
      nlohmann::ordered_json& e = d[k.path];
      e["default"] = nlohmann::ordered_json::parse(k.default_value.dump());
      if (!k.values().empty()) e["values"] = k.values();
      e["description"] = k.description;
    }
    out << d.dump(2) << "\n";
  } else {
    print_markdown(out);
  }
}

}  // namespace engine::app
