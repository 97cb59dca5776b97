#include "models/registry.h"

#include <sstream>
#include <utility>

#include "base/check.h"
#include "models/resnet.h"

namespace engine::models {
namespace {

std::vector<std::pair<std::string, ModelFactory>>& factories() {
  static std::vector<std::pair<std::string, ModelFactory>> list = {
      {"resnet18", [](const ModelSpec& s) { return std::make_shared<ResNet>(s.resnet); }},
      {"resnet18_moe", [](const ModelSpec& s) { return std::make_shared<ResNetMoE>(s); }},
      {"multimodal_moe",
       [](const ModelSpec& s) {
         MultimodalConfig c = s.multimodal;
         c.resnet = s.resnet;
         c.moe = s.moe;
         return std::make_shared<MultimodalMoE>(c);
       }},
  };
  return list;
}

}  // namespace

std::vector<std::string> model_names() {
  std::vector<std::string> names;
  for (const auto& f : factories()) names.push_back(f.first);
  return names;
}

std::shared_ptr<nn::Module> build_model(const std::string& name, const ModelSpec& spec) {
  for (const auto& f : factories())
    if (f.first == name) return f.second(spec);
  std::ostringstream known;
  for (const std::string& n : model_names()) known << (known.tellp() > 0 ? ", " : "") << '"' << n << '"';
  ENGINE_THROW("unknown model \"" << name << "\" (known: " << known.str() << ")");
}

void register_model(const std::string& name, ModelFactory factory) {
  for (auto& f : factories())
    if (f.first == name) {
      f.second = std::move(factory);
      return;
    }
  factories().emplace_back(name, std::move(factory));
}

}  // namespace engine::models
