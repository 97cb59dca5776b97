#pragma once
// The models the apps can build, by name: "resnet18" (models/resnet.h),
// "resnet18_moe" (models/resnet_moe.h, MoE blocks after the stages in `placement`) and
// "multimodal_moe" (models/multimodal_moe.h).
// Apps turn their configuration into a ModelSpec and ask for a name; a new model is
// one more factory here, not a change to every app.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/nn/module.h"
#include "models/multimodal_moe.h"
#include "models/resnet_moe.h"

namespace engine::models {

// What a factory builds from: the dense network's settings (spec.resnet, including the
// dataset's channels and classes) and, for MoE models, the blocks' placement and options;
// for "multimodal_moe", spec.multimodal (whose resnet and moe fields the factory takes
// from spec.resnet and spec.moe).
struct ModelSpec : ResNetMoEConfig {
  MultimodalConfig multimodal;
};
using ModelFactory = std::function<std::shared_ptr<nn::Module>(const ModelSpec&)>;

// Model names in registration order.
std::vector<std::string> model_names();
// Throws naming `name` and the known names when no model is registered under it.
std::shared_ptr<nn::Module> build_model(const std::string& name, const ModelSpec& spec);
// Adds (or replaces) the factory for `name`.
void register_model(const std::string& name, ModelFactory factory);

}  // namespace engine::models
