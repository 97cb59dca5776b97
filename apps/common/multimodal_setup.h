#pragma once
// What a multimodal_moe model (models/multimodal_moe.h) needs beyond its weights: the
// classes it is trained on (all but data.holdout_classes) and the text encoder's
// embedding of every class description (computed once for a new run; a resumed run and
// eval_app read them from the checkpoint, where they are a buffer).
#include <ostream>

#include "apps/common/run_setup.h"
#include "apps/common/train_config.h"
#include "engine/nn/module.h"

namespace engine::app {

// No-op for other models. With encode_text, loads the text encoder (text_encoder_dir) on
// the CPU, checks that every description fits it, and stores the embeddings in the
// model; a missing encoder is a ConfigError naming the folder and the fetch command.
void prepare_multimodal(nn::Module& model, const TrainConfig& config, const Datasets& data, bool encode_text,
                        std::ostream& log);

}  // namespace engine::app
