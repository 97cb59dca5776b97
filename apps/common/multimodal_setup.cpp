#include "apps/common/multimodal_setup.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "apps/common/evaluation.h"
#include "apps/common/text_encoder.h"
#include "models/multimodal_moe.h"

namespace engine::app {

namespace {

std::vector<int64_t> seen_classes(int64_t num_classes, const std::vector<int64_t>& heldout) {
  if (heldout.empty()) return {};
  std::vector<int64_t> seen;
  for (int64_t k = 0; k < num_classes; ++k)
    if (std::find(heldout.begin(), heldout.end(), k) == heldout.end()) seen.push_back(k);
  return seen;
}

void encode_descriptions(models::MultimodalMoE& m, const TrainConfig& c, const Datasets& d, std::ostream& log) {
  const std::string dir = text_encoder_dir(c);
  ENGINE_CONFIG_CHECK(
      std::filesystem::exists(dir + "/model.safetensors") && std::filesystem::exists(dir + "/vocab.txt"),
      "model.arch = \"multimodal_moe\" encodes its class descriptions with a text encoder, and '"
          << dir << "' holds none (no model.safetensors and vocab.txt): fetch all-MiniLM-L6-v2 with "
          << "scripts/fetch_text_encoder.sh " << dir
          << ", or name a folder with multimodal.text_encoder or $ENGINE_TEXT_ENCODER_DIR");
  const data::ClassDescriptions desc = class_descriptions(c, d.train);
  TextEncoderOptions o;
  o.model_dir = dir;
  o.device = Device::cpu();
  const auto start = std::chrono::steady_clock::now();
  TextEncoder encoder(o);
  data::check_token_lengths(
      desc,
      [&](const std::string& s) { return int64_t(encoder.tokenizer().piece_ids(s).size()) + 2; },  // + [CLS], [SEP]
      o.max_length);
  std::vector<std::string> texts;
  for (const auto& per_class : desc.descriptions) texts.insert(texts.end(), per_class.begin(), per_class.end());
  m.set_class_text(encoder.encode(texts));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  log << "class descriptions: " << texts.size() << " from " << desc.path << ", encoded by " << dir << " in "
      << fixed_point(seconds, 1) << " s\n";
}

}  // namespace

void prepare_multimodal(nn::Module& model, const TrainConfig& c, const Datasets& d, bool encode_text,
                        std::ostream& log) {
  auto* m = dynamic_cast<models::MultimodalMoE*>(&model);
  if (m == nullptr) return;
  m->set_seen_classes(seen_classes(d.train.num_classes, d.holdout_classes));
  if (encode_text) encode_descriptions(*m, c, d, log);
}

}  // namespace engine::app
