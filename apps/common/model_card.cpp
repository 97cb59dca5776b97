#include "apps/common/model_card.h"

#include <charconv>
#include <sstream>

#include "apps/common/run_setup.h"
#include "data/registry.h"
#include "engine/io/config.h"
#include "engine/io/json.h"
#include "engine/io/safetensors.h"

#ifndef ENGINE_VERSION
#define ENGINE_VERSION "unknown"
#endif
#ifndef ENGINE_GIT_COMMIT
#define ENGINE_GIT_COMMIT "unknown"
#endif

namespace engine::app {

const char* engine_version() { return ENGINE_VERSION; }
const char* engine_commit() { return ENGINE_GIT_COMMIT; }

namespace {

// Floats as the shortest text that reads back to the same float ([0.286], not [0.28600001335144043]).
std::string float_list(const std::vector<float>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v[i]);
    s += (i ? "," : "") + std::string(buf, r.ptr);
  }
  return s + "]";
}

}  // namespace

std::map<std::string, std::string> model_card(const TrainConfig& c, const data::Dataset& train) {
  data::Normalization n = data::dataset_normalization(c.data.dataset);
  io::Json classes = io::Json::array();
  for (int64_t k = 0; k < train.num_classes; ++k)
    classes.push_back(size_t(k) < train.class_names.size() ? train.class_names[size_t(k)] : std::to_string(k));
  std::ostringstream width;
  width << c.model.width_mult;
  std::map<std::string, std::string> card = {
      {"model", model_name(c)},
      {"arch", c.model.arch},
      {"width_mult", width.str()},
      {"num_classes", std::to_string(train.num_classes)},
      {"class_names", classes.dump()},
      {"input_shape", io::Json{train.channels(), train.height(), train.width()}.dump()},
      {"input_layout", "NCHW float32"},
      {"input_transform", "u8 pixels / 255, then per channel (x - normalization_mean) / normalization_std"},
      {"normalization_mean", float_list(n.mean)},
      {"normalization_std", float_list(n.std)},
      {"dataset", c.data.dataset},
      {"config", c.json.dump()},
      {"engine_version", engine_version()},
      {"engine_commit", engine_commit()}};
  if (c.moe.enabled()) card["moe"] = c.json.at("moe").dump();
  return card;
}

TrainConfig config_from_checkpoint(const std::string& checkpoint, const std::vector<std::string>& sets) {
  io::SafetensorsHeader h = io::read_safetensors_header(checkpoint);
  auto it = h.metadata.find("config");
  ENGINE_CONFIG_CHECK(it != h.metadata.end(),
                      "checkpoint '" << checkpoint << "' carries no configuration in its metadata (it was written "
                                     << "before checkpoints described themselves, or by other software) and no "
                                     << "config.json was found beside it: pass the run's config with --config");
  io::JsonParse p = io::parse_json(it->second);
  ENGINE_CONFIG_CHECK(p.ok && p.value.is_object(), "checkpoint '" << checkpoint << "': its metadata 'config' is "
                                                                  << (p.ok ? "not a JSON object" : p.error));
  io::Json defaults = default_train_config();
  io::Json j = io::merge_checked(defaults, p.value, "the configuration in checkpoint '" + checkpoint + "'");
  for (const auto& s : sets) io::apply_override(j, defaults, s, "--set " + s);
  return parse_train_config(j);
}

}  // namespace engine::app
