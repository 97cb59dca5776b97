#include "apps/common/train_config.h"

#include <algorithm>
#include <cctype>
#include <iostream>
#include <sstream>

#include "apps/common/config_schema.h"

namespace engine::app {

namespace {

// The choices and the range texts come from the schema (config_schema.h), so that the
// messages and `train_app --print-defaults` say the same.
void check_one_of(const std::string& key, const std::string& value) {
  const std::vector<std::string>& allowed = config_key(key).choices;
  for (const auto& a : allowed)
    if (a == value) return;
  std::ostringstream o;
  for (size_t i = 0; i < allowed.size(); ++i) o << (i ? ", " : "") << '"' << allowed[i] << '"';
  std::string hint = io::did_you_mean(value, allowed);
  ENGINE_CONFIG_CHECK(false, "config key '" << key << "': unknown value \"" << value << "\""
                                            << (hint.empty() ? "" : " (did you mean \"" + hint + "\"?)")
                                            << "; expected one of " << o.str());
}

// The value of an integer key (the merge has checked its type). A literal past
// INT64_MAX, which the parser keeps unsigned, would wrap negative and be reported as
// that negative number.
int64_t int_key(const io::Json& v, const char* key) {
  ENGINE_CONFIG_CHECK(!v.is_number_unsigned() || v.get<uint64_t>() <= uint64_t(INT64_MAX),
                      "config key '" << key << "' = " << v.dump()
                                     << " is out of range: expected an integer below 2^63 (and the key's own range)");
  return v.get<int64_t>();
}

// The key is looked up whether or not the check fails, so that a path missing from the
// schema shows with the defaults, not first with a bad value.
#define RANGE(cond, key, value)                                                                                        \
  do {                                                                                                                 \
    const std::string& expected_ = config_key(key).range;                                                              \
    ENGINE_CONFIG_CHECK(cond, "config key '" << key << "' = " << value << " is out of range: expected " << expected_); \
  } while (0)

// Each parse_* reads one section of the effective config into c, checking ranges and
// names in the order the keys are listed.
void parse_data(const io::Json& d, TrainConfig& c) {
  c.data.dataset = d["dataset"];
  check_one_of("data.dataset", c.data.dataset);
  c.data.path = d["path"];
  c.data.cifar100_labels = d["cifar100_labels"];
  check_one_of("data.cifar100_labels", c.data.cifar100_labels);
  c.data.train_limit = int_key(d["train_limit"], "data.train_limit");
  c.data.test_limit = int_key(d["test_limit"], "data.test_limit");
  c.data.val_size = int_key(d["val_size"], "data.val_size");
  RANGE(c.data.train_limit >= 0, "data.train_limit", c.data.train_limit);
  RANGE(c.data.test_limit >= 0, "data.test_limit", c.data.test_limit);
  RANGE(c.data.val_size >= 0, "data.val_size", c.data.val_size);
  for (const auto& v : d["holdout_classes"]) {
    ENGINE_CONFIG_CHECK(
        v.is_string() || (v.is_number_integer() && v.get<int64_t>() >= 0),
        "config key 'data.holdout_classes' must hold class names or class indices >= 0, got " << v.dump());
    c.data.holdout_classes.push_back(v.is_string() ? v.get<std::string>() : std::to_string(v.get<int64_t>()));
  }
  c.data.crop_padding = int_key(d["augment"]["crop_padding"], "data.augment.crop_padding");
  c.data.hflip = d["augment"]["hflip"];
  c.data.cutout = int_key(d["augment"]["cutout"], "data.augment.cutout");
  RANGE(c.data.crop_padding >= 0 && c.data.crop_padding <= 16, "data.augment.crop_padding", c.data.crop_padding);
  RANGE(c.data.cutout >= 0 && c.data.cutout <= 32, "data.augment.cutout", c.data.cutout);
  c.data.prefetch = d["prefetch"];
  c.data.gpu_resident = d["gpu_resident"];
}

void parse_model(const io::Json& m, TrainConfig& c) {
  c.model.arch = m["arch"];
  check_one_of("model.arch", c.model.arch);
  c.model.width_mult = m["width_mult"];
  RANGE(c.model.width_mult > 0 && c.model.width_mult <= 8, "model.width_mult", c.model.width_mult);
  c.model.zero_init_residual = m["zero_init_residual"];
  c.model.channels_last = m["channels_last"];
  for (const auto& v : m["checkpoint_stages"]) {
    ENGINE_CONFIG_CHECK(v.is_number_integer() && v.get<int64_t>() >= 1 && v.get<int64_t>() <= 4,
                        "config key 'model.checkpoint_stages' must hold stage numbers 1..4, got " << v.dump());
    int64_t s = v.get<int64_t>();
    ENGINE_CONFIG_CHECK(std::find(c.model.checkpoint_stages.begin(), c.model.checkpoint_stages.end(), s) ==
                            c.model.checkpoint_stages.end(),
                        "config key 'model.checkpoint_stages' names stage " << s << " twice");
    c.model.checkpoint_stages.push_back(s);
  }
}

void parse_moe(const io::Json& me, TrainConfig& c) {
  auto& mo = c.moe;
  for (const auto& v : me["placement"]) {
    ENGINE_CONFIG_CHECK(v.is_string(), "config key 'moe.placement' must hold strings, got " << v.dump());
    std::string p = v.get<std::string>();
    check_one_of("moe.placement", p);
    ENGINE_CONFIG_CHECK(std::find(mo.placement.begin(), mo.placement.end(), p) == mo.placement.end(),
                        "config key 'moe.placement' names \"" << p << "\" twice");
    mo.placement.push_back(p);
  }
  mo.num_experts = int_key(me["num_experts"], "moe.num_experts");
  RANGE(mo.num_experts >= 1 && mo.num_experts <= 256, "moe.num_experts", mo.num_experts);
  mo.top_k = int_key(me["top_k"], "moe.top_k");
  RANGE(mo.top_k >= 1 && mo.top_k <= mo.num_experts, "moe.top_k", mo.top_k);
  mo.hidden_mult = me["hidden_mult"];
  RANGE(mo.hidden_mult > 0 && mo.hidden_mult <= 16, "moe.hidden_mult", mo.hidden_mult);
  mo.router = me["router"];
  check_one_of("moe.router", mo.router);
  mo.router_dim = int_key(me["router_dim"], "moe.router_dim");
  RANGE(mo.router_dim >= 1, "moe.router_dim", mo.router_dim);
  mo.noisy = me["noisy"];
  mo.noise_std = me["noise_std"];
  RANGE(mo.noise_std >= 0, "moe.noise_std", mo.noise_std);
  mo.learned_noise = me["learned_noise"];
  ENGINE_CONFIG_CHECK(!mo.learned_noise || mo.noisy, "config key 'moe.learned_noise' = true needs 'moe.noisy' = true");
  mo.temperature = me["temperature"];
  RANGE(mo.temperature > 0 && mo.temperature <= 100, "moe.temperature", mo.temperature);
  mo.capacity_factor = me["capacity_factor"];
  RANGE(mo.capacity_factor > 0 && mo.capacity_factor <= 64, "moe.capacity_factor", mo.capacity_factor);
  mo.drop_tokens = me["drop_tokens"];
  // null (the default, and what a config saved before the key existed gets): dropless
  // evaluation; a number: capacity-limited evaluation at that factor.
  const io::Json& ecf = me["eval_capacity_factor"];
  ENGINE_CONFIG_CHECK(ecf.is_null() || ecf.is_number(),
                      "config key 'moe.eval_capacity_factor' must be null (dropless "
                      "evaluation) or a number, got "
                          << ecf.dump());
  if (ecf.is_number()) {
    mo.eval_capacity_factor = ecf.get<double>();
    RANGE(*mo.eval_capacity_factor > 0 && *mo.eval_capacity_factor <= 64, "moe.eval_capacity_factor",
          *mo.eval_capacity_factor);
  }
  mo.drop_priority = me["drop_priority"];
  check_one_of("moe.drop_priority", mo.drop_priority);
  mo.activation = me["activation"];
  check_one_of("moe.activation", mo.activation);
  mo.renormalize = me["renormalize"];
  mo.lb_coef = me["lb_coef"];
  RANGE(mo.lb_coef >= 0, "moe.lb_coef", mo.lb_coef);
  mo.z_coef = me["z_coef"];
  RANGE(mo.z_coef >= 0, "moe.z_coef", mo.z_coef);
  mo.importance_coef = me["importance_coef"];
  RANGE(mo.importance_coef >= 0, "moe.importance_coef", mo.importance_coef);
  mo.expert_parallel = me["expert_parallel"];
}

void parse_multimodal(const io::Json& m, TrainConfig& c) {
  auto& mm = c.multimodal;
  mm.token_stage = int_key(m["token_stage"], "multimodal.token_stage");
  RANGE(mm.token_stage >= 1 && mm.token_stage <= 4, "multimodal.token_stage", mm.token_stage);
  mm.heads = int_key(m["heads"], "multimodal.heads");
  RANGE(mm.heads >= 1 && mm.heads <= 64, "multimodal.heads", mm.heads);
  mm.dim = int_key(m["dim"], "multimodal.dim");
  RANGE(mm.dim >= 1 && mm.dim <= 4096 && mm.dim % mm.heads == 0, "multimodal.dim", mm.dim);
  mm.blocks = int_key(m["blocks"], "multimodal.blocks");
  RANGE(mm.blocks >= 1 && mm.blocks <= 16, "multimodal.blocks", mm.blocks);
  mm.hidden_mult = m["hidden_mult"];
  RANGE(mm.hidden_mult > 0 && mm.hidden_mult <= 16, "multimodal.hidden_mult", mm.hidden_mult);
  mm.text_through_experts = m["text_through_experts"];
  mm.head = m["head"];
  check_one_of("multimodal.head", mm.head);
  mm.logit_scale = m["logit_scale"];
  RANGE(mm.logit_scale > 0 && mm.logit_scale <= 1000, "multimodal.logit_scale", mm.logit_scale);
  mm.entropy_local_coef = m["entropy_local_coef"];
  RANGE(mm.entropy_local_coef >= 0, "multimodal.entropy_local_coef", mm.entropy_local_coef);
  mm.entropy_global_coef = m["entropy_global_coef"];
  RANGE(mm.entropy_global_coef >= 0, "multimodal.entropy_global_coef", mm.entropy_global_coef);
  mm.descriptions = m["descriptions"];
  mm.text_encoder = m["text_encoder"];
  ENGINE_CONFIG_CHECK(!c.multimodal_model() || c.moe.placement.empty(),
                      "config key 'moe.placement' places MoE blocks in a ResNet; model.arch = \"multimodal_moe\" has "
                      "its own (multimodal.blocks): leave moe.placement empty");
  ENGINE_CONFIG_CHECK(!c.multimodal_model() || !c.moe.expert_parallel,
                      "config key 'moe.expert_parallel' = true splits the experts of resnet18's MoE blocks "
                      "(moe.placement); model.arch = \"multimodal_moe\" trains its MoE layers data parallel: set it "
                      "false");
}

void parse_loss_scale(const io::Json& ls, TrainConfig& c) {
  auto& tr = c.training;
  tr.loss_scale_init = ls["init"];
  RANGE(tr.loss_scale_init > 0, "training.loss_scale.init", tr.loss_scale_init);
  tr.loss_scale_growth_factor = ls["growth_factor"];
  RANGE(tr.loss_scale_growth_factor > 1, "training.loss_scale.growth_factor", tr.loss_scale_growth_factor);
  tr.loss_scale_backoff_factor = ls["backoff_factor"];
  RANGE(tr.loss_scale_backoff_factor > 0 && tr.loss_scale_backoff_factor < 1, "training.loss_scale.backoff_factor",
        tr.loss_scale_backoff_factor);
  tr.loss_scale_growth_interval = int_key(ls["growth_interval"], "training.loss_scale.growth_interval");
  RANGE(tr.loss_scale_growth_interval >= 1, "training.loss_scale.growth_interval", tr.loss_scale_growth_interval);
}

void parse_training(const io::Json& t, TrainConfig& c) {
  auto& tr = c.training;
  tr.epochs = int_key(t["epochs"], "training.epochs");
  RANGE(tr.epochs >= 1 && tr.epochs <= 1000000, "training.epochs", tr.epochs);
  tr.batch_size = int_key(t["batch_size"], "training.batch_size");
  RANGE(tr.batch_size >= 1 && tr.batch_size <= (1 << 20), "training.batch_size", tr.batch_size);
  tr.max_steps = int_key(t["max_steps"], "training.max_steps");
  RANGE(tr.max_steps >= 0, "training.max_steps", tr.max_steps);
  tr.eval_batch_size = int_key(t["eval_batch_size"], "training.eval_batch_size");
  RANGE(tr.eval_batch_size >= 1, "training.eval_batch_size", tr.eval_batch_size);
  tr.optimizer = t["optimizer"];
  check_one_of("training.optimizer", tr.optimizer);
  tr.lr = t["lr"];
  RANGE(tr.lr > 0 && tr.lr < 100, "training.lr", tr.lr);
  tr.momentum = t["momentum"];
  RANGE(tr.momentum >= 0 && tr.momentum < 1, "training.momentum", tr.momentum);
  tr.nesterov = t["nesterov"];
  ENGINE_CONFIG_CHECK(!tr.nesterov || tr.optimizer != "sgd" || tr.momentum > 0,
                      "config key 'training.nesterov' = true needs 'training.momentum' > 0");
  tr.weight_decay = t["weight_decay"];
  RANGE(tr.weight_decay >= 0, "training.weight_decay", tr.weight_decay);
  tr.no_decay_bn_bias = t["no_decay_bn_bias"];
  tr.adam_beta1 = t["adam_beta1"];
  tr.adam_beta2 = t["adam_beta2"];
  RANGE(tr.adam_beta1 >= 0 && tr.adam_beta1 < 1, "training.adam_beta1", tr.adam_beta1);
  RANGE(tr.adam_beta2 >= 0 && tr.adam_beta2 < 1, "training.adam_beta2", tr.adam_beta2);
  tr.schedule = t["schedule"];
  check_one_of("training.schedule", tr.schedule);
  tr.warmup_epochs = t["warmup_epochs"];
  RANGE(tr.warmup_epochs >= 0 && tr.warmup_epochs <= double(tr.epochs), "training.warmup_epochs", tr.warmup_epochs);
  for (const auto& v : t["milestones"]) {
    ENGINE_CONFIG_CHECK(v.is_number_integer() && v.get<int64_t>() >= 0,
                        "config key 'training.milestones' must hold non-negative integers (epochs), got " << v.dump());
    tr.milestones.push_back(v.get<int64_t>());
  }
  tr.gamma = t["gamma"];
  RANGE(tr.gamma > 0 && tr.gamma <= 1, "training.gamma", tr.gamma);
  tr.label_smoothing = t["label_smoothing"];
  RANGE(tr.label_smoothing >= 0 && tr.label_smoothing < 1, "training.label_smoothing", tr.label_smoothing);
  tr.grad_clip = t["grad_clip"];
  RANGE(tr.grad_clip >= 0, "training.grad_clip", tr.grad_clip);
  tr.precision = t["precision"];
  check_one_of("training.precision", tr.precision);
  tr.cuda_graph = t["cuda_graph"];
  parse_loss_scale(t["loss_scale"], c);
}

void parse_dist(const io::Json& d, TrainConfig& c) {
  c.dist.bucket_mb = d["bucket_mb"];
  RANGE(c.dist.bucket_mb > 0, "dist.bucket_mb", c.dist.bucket_mb);
  c.dist.sync_batchnorm = d["sync_batchnorm"];
  c.dist.overlap = d["overlap"];
  c.dist.ghost_batchnorm = int_key(d["ghost_batchnorm"], "dist.ghost_batchnorm");
  RANGE(c.dist.ghost_batchnorm == 0 || (c.dist.ghost_batchnorm >= 2 && c.dist.ghost_batchnorm <= 1024),
        "dist.ghost_batchnorm", c.dist.ghost_batchnorm);
}

void parse_output(const io::Json& o, TrainConfig& c) {
  c.output.dir = o["dir"];
  ENGINE_CONFIG_CHECK(!c.output.dir.empty(), "config key 'output.dir' must not be empty");
  c.output.log_every = int_key(o["log_every"], "output.log_every");
  RANGE(c.output.log_every >= 1, "output.log_every", c.output.log_every);
  c.output.progress = o["progress"];
  check_one_of("output.progress", c.output.progress);
}

}  // namespace

// The run's name becomes a directory name under output.dir: no separators, no dot
// names, printable, bounded.
static void check_run_name(const std::string& name) {
  bool ok = name.size() <= 100 && name != "." && name != ".." && (name.empty() || name[0] != '.');
  for (char ch : name) ok = ok && (std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' || ch == '.');
  ENGINE_CONFIG_CHECK(
      ok, "config key 'name' = \"" << name << "\" cannot name a run directory: expected " << config_key("name").range);
}

TrainConfig parse_train_config(const io::Json& j) {
  TrainConfig c;
  c.json = j;
  c.name = j["name"];
  check_run_name(c.name);
  RANGE(j["seed"].is_number_unsigned(), "seed", j["seed"].dump());
  c.seed = j["seed"].get<uint64_t>();
  c.device = j["device"];
  if (c.device != "auto") {
    try {
      Device::parse(c.device);
    } catch (const Error&) {
      ENGINE_CONFIG_CHECK(
          false, "config key 'device': unknown value \"" << c.device << "\"; expected " << config_key("device").range);
    }
  }
  parse_data(j["data"], c);
  parse_model(j["model"], c);
  parse_moe(j["moe"], c);
  parse_multimodal(j["multimodal"], c);
  parse_training(j["training"], c);
  parse_dist(j["dist"], c);
  parse_output(j["output"], c);
  return c;
}

TrainConfig load_train_config(const std::string& path, const std::vector<std::string>& sets, char** envp,
                              std::vector<std::string>* applied_env) {
  io::Json defaults = default_train_config();
  io::Json j = io::merge_checked(defaults, io::read_json_file(path), "config file '" + path + "'");
  std::vector<std::string> warnings;
  std::vector<std::string> env = io::apply_env_overrides(j, defaults, envp, &warnings);
  for (const auto& w : warnings) std::cerr << "warning: " << w << "\n";
  if (applied_env) *applied_env = env;
  for (const auto& s : sets) io::apply_override(j, defaults, s, "--set " + io::clip(s));
  return parse_train_config(j);
}

}  // namespace engine::app
