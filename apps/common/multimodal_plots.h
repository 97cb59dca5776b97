#pragma once
// Pictures of what a multimodal_moe model (models/multimodal_moe.h) does on test images,
// from one traced forward pass over a sample of them:
//   multimodal_attention.png   cross-attention of each sample image, summed over each
//                              class's descriptions (rows images, columns classes)
//   multimodal_experts.png     the image with each token's top-1 expert as a coloured
//                              patch over it, per fusion block
//   multimodal_modality.png    the share of each modality's tokens each expert takes
//   multimodal_predictions.png true class, prediction and the description the image
//                              attended to most
#include <string>
#include <vector>

#include "apps/common/train_config.h"
#include "data/class_descriptions.h"
#include "data/dataset.h"
#include "models/multimodal_moe.h"

namespace engine::app {

// Writes the pictures into plot_dir and returns their paths. `rows` are test-set indices
// (at most 16 are drawn); descriptions give the text of each description row, in the
// order of the model's text.classes buffer.
std::vector<std::string> plot_multimodal(models::MultimodalMoE& model, const data::Dataset& test,
                                         const std::vector<int64_t>& rows, const TrainConfig& config, Device device,
                                         const data::ClassDescriptions& descriptions, const std::string& plot_dir);

}  // namespace engine::app
