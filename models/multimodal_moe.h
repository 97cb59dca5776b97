#pragma once
// A multimodal mixture of experts: image tokens (a ResNet-18 feature map) and text tokens
// (a frozen sentence encoder's embedding of every class description) meet in fusion
// blocks, and a class is predicted by how close the pooled image is to its descriptions.
//
//   image [N, C, H, W] -> ResNet stem and stages 1..token_stage -> feature map [N, c, h, w]
//     -> one token per position, Linear(c, d)                       image tokens [N*P, d]
//   class_text [M, Dt] (one row per description, a buffer) -> Linear(Dt, d)  text tokens [M, d]
//   fusion block (x num_blocks):
//     image += CrossAttention(LN(image) -> LN(text))       (attention weights kept)
//     tokens = [image; text] (text only when text_through_experts)
//     tokens += MoE(LN(tokens) + modality_embedding[modality])
//   image embedding  e_i = Linear(LN(mean over the image's P tokens))            [N, d]
//   class embedding  t_k = Linear(LN(mean over class k's description tokens))   [K, d]
//   logits = exp(logit_scale) * cos(e_i, t_k)   ("similarity" head), or Linear(d, K) of
//   e_i ("linear" head, for comparison).
//
// Classes held out of training (set_seen_classes) are masked out of the logits in
// training only, so that the model never learns to push them down; in evaluation every
// class is scored by its descriptions (generalised zero-shot).
//
// Auxiliary losses: each MoE layer's own (balance, z, importance), plus, per modality,
// LIMoE's entropy terms: local = mean over the modality's tokens of H(p(token)) (kept
// low), global = -H(mean over those tokens of p) (kept low, i.e. the modality's average
// routing spread over experts). They are added to the MoE layer's aux loss.
#include <memory>
#include <string>
#include <vector>

#include "engine/nn/moe/moe_layer.h"
#include "models/resnet.h"

namespace engine::models {

struct MultimodalConfig {
  ResNetConfig resnet;      // the backbone's stem and stages (its fc is not built)
  int64_t token_stage = 3;  // image tokens after this stage, 1..4
  int64_t dim = 128;        // d
  int64_t num_blocks = 1;
  int64_t heads = 4;  // cross-attention heads; dim % heads == 0
  double hidden_mult = 2.0;
  bool text_through_experts = true;
  std::string head = "similarity";  // "similarity" or "linear"
  double logit_scale = 10.0;        // the similarity head's initial scale (learned, as its log)
  double entropy_local_coef = 0.0, entropy_global_coef = 0.0;
  nn::moe::MoEOptions moe;  // dim and hidden are set from the above
  // The text side: one row per class description and its class. Filled in before the
  // model is built (the trainer encodes configs/labels/<dataset>.json with the text
  // encoder); kept as buffers so that a checkpoint carries them.
  int64_t text_dim = 384;
  std::vector<int64_t> text_classes;  // [M], each in [0, num_classes), every class present
};

// Per-forward record of what the blocks did, for statistics and pictures.
struct MultimodalTrace {
  std::vector<Tensor> attention;      // per block: [N, P, M] cross-attention (mean over heads)
  std::vector<Tensor> image_experts;  // per block: [N, P] i64 top-1 expert of each image token
  std::vector<Tensor> text_experts;   // per block: [M] i64 (empty when text skips the experts)
  std::vector<Tensor> image_probs;    // per block: [N*P, E] router probabilities (f32, CPU)
  std::vector<Tensor> text_probs;     // per block: [M, E] or undefined
  int64_t grid_h = 0, grid_w = 0;     // the image token grid
};

class CrossAttention : public nn::Module {
 public:
  CrossAttention(int64_t dim, int64_t heads);
  std::string type_name() const override { return "CrossAttention"; }
  std::shared_ptr<nn::Linear> query, key, value, out;
  int64_t heads;
  // q [N, P, d] attends to kv [M, d] (shared by every image); returns [N, P, d] and
  // the attention weights averaged over heads [N, P, M] (when weights != nullptr).
  Variable attend(const Variable& q, const Variable& kv, Tensor* weights);

 protected:
  Variable forward_impl(const Variable& x) override;  // not used: attend() takes two inputs
};

class FusionBlock : public nn::Module {
 public:
  FusionBlock(const MultimodalConfig& c);
  std::string type_name() const override { return "FusionBlock"; }
  Variable ln_image_w, ln_image_b, ln_text_w, ln_text_b, ln_moe_w, ln_moe_b;
  Variable modality;  // [2, d]: image, text
  std::shared_ptr<CrossAttention> cross;
  std::shared_ptr<nn::moe::MoELayer> moe;

  // image [N*P, d] with N images of P tokens, text [M, d] with text_classes i64 [M];
  // updates both in place.
  void run(Variable& image, Variable& text, const Tensor& text_classes, int64_t N, int64_t P, MultimodalTrace* trace);

 protected:
  Variable forward_impl(const Variable& x) override;  // not used: run() takes two inputs

 private:
  Tensor token_labels(int64_t N, int64_t P, const Tensor& text_classes) const;
  bool text_through_experts_;
  double entropy_local_coef_, entropy_global_coef_;
};

class MultimodalMoE : public nn::Module {
 public:
  explicit MultimodalMoE(const MultimodalConfig& cfg);
  std::string type_name() const override { return "MultimodalMoE"; }
  const MultimodalConfig& config() const { return cfg_; }

  std::shared_ptr<nn::Conv2d> conv1;
  std::shared_ptr<nn::BatchNorm2d> bn1;
  std::vector<std::shared_ptr<nn::Sequential>> layers;  // layer1..layer<token_stage>
  std::shared_ptr<nn::Linear> image_proj, text_proj, image_out, text_out, fc;
  Variable ln_image_w, ln_image_b, ln_text_w, ln_text_b;
  Variable logit_scale;  // scalar, log of the similarity scale
  std::vector<std::shared_ptr<FusionBlock>> blocks;

  // The description embeddings [M, text_dim] (a buffer, "text.embeddings").
  Tensor& class_text() { return *class_text_; }
  void set_class_text(const Tensor& embeddings);  // copies; [M, text_dim]
  // Classes trained on: the others' logits are masked out in training. Empty = all.
  void set_seen_classes(const std::vector<int64_t>& seen);
  // The last forward pass's record (cleared by every forward).
  const MultimodalTrace& trace() const { return trace_; }
  void keep_trace(bool on) { keep_trace_ = on; }
  // The head on the blocks' output: image tokens [N*P, d], text tokens [M, d] -> [N, K]
  // (before the training mask of unseen classes).
  Variable head_logits(const Variable& image, const Variable& text, int64_t N, int64_t P);

 protected:
  void check_input(const Variable& x) const override;
  Variable forward_impl(const Variable& x) override;

 private:
  MultimodalConfig cfg_;
  Tensor* class_text_ = nullptr;
  Tensor* text_classes_ = nullptr;  // i64 [M] buffer "text.classes"
  Tensor seen_mask_;                // [K] f32: 0 seen, large negative unseen (training only)
  Tensor class_average_;            // [K, M]: averages each class's description rows
  bool keep_trace_ = false;
  MultimodalTrace trace_;
};

}  // namespace engine::models
