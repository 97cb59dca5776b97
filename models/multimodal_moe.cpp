#include "models/multimodal_moe.h"

#include <cmath>

#include "engine/nn/init.h"
#include "engine/ops/functional.h"

namespace engine::models {

namespace {

using nn::moe::MoELayer;

Variable layer_norm(const Variable& x, const Variable& w, const Variable& b) { return ag::layer_norm(x, w, b, 1e-5); }

// -sum_e p log p per row of p [T, E], as a [T] variable (p > 0 is not assumed).
Variable row_entropy(const Variable& p) {
  Variable logp = ag::log(ag::add(p, 1e-12));
  return ag::neg(ag::sum(ag::mul(p, logp), {1}));
}

Tensor mean_over_heads(const Tensor& w) { return ops::mean(w, {1}); }

}  // namespace

CrossAttention::CrossAttention(int64_t dim, int64_t h) : heads(h) {
  ENGINE_CHECK(h >= 1 && dim % h == 0, "CrossAttention: dim " << dim << " is not a multiple of heads " << h);
  query = register_module("query", std::make_shared<nn::Linear>(dim, dim));
  key = register_module("key", std::make_shared<nn::Linear>(dim, dim));
  value = register_module("value", std::make_shared<nn::Linear>(dim, dim));
  out = register_module("out", std::make_shared<nn::Linear>(dim, dim));
}

Variable CrossAttention::forward_impl(const Variable&) {
  ENGINE_THROW("CrossAttention takes queries and keys: call attend()");
}

Variable CrossAttention::attend(const Variable& q_in, const Variable& kv, Tensor* weights) {
  const int64_t N = q_in.size(0), P = q_in.size(1), d = q_in.size(2), M = kv.size(0), dh = d / heads;
  Variable q = ag::reshape((*query)(ag::reshape(q_in, {N * P, d})), {N, P, heads, dh});
  q = ag::permute(q, {0, 2, 1, 3});                                                      // [N, h, P, dh]
  Variable k = ag::permute(ag::reshape((*key)(kv), {1, M, heads, dh}), {0, 2, 3, 1});    // [1, h, dh, M]
  Variable v = ag::permute(ag::reshape((*value)(kv), {1, M, heads, dh}), {0, 2, 1, 3});  // [1, h, M, dh]
  Variable scores = ag::mul(ag::matmul(q, k), 1.0 / std::sqrt(double(dh)));              // [N, h, P, M]
  Variable p = ag::softmax(scores, 3);
  if (weights != nullptr) *weights = mean_over_heads(p.data());
  Variable o = ag::permute(ag::matmul(p, v), {0, 2, 1, 3});  // [N, P, h, dh]
  return ag::reshape((*out)(ag::reshape(o, {N * P, d})), {N, P, d});
}

FusionBlock::FusionBlock(const MultimodalConfig& c)
    : text_through_experts_(c.text_through_experts),
      entropy_local_coef_(c.entropy_local_coef),
      entropy_global_coef_(c.entropy_global_coef) {
  const int64_t d = c.dim;
  ln_image_w = register_parameter("ln_image.weight", Tensor::ones({d}, DType::f32));
  ln_image_b = register_parameter("ln_image.bias", Tensor::zeros({d}, DType::f32));
  ln_text_w = register_parameter("ln_text.weight", Tensor::ones({d}, DType::f32));
  ln_text_b = register_parameter("ln_text.bias", Tensor::zeros({d}, DType::f32));
  ln_moe_w = register_parameter("ln_moe.weight", Tensor::ones({d}, DType::f32));
  ln_moe_b = register_parameter("ln_moe.bias", Tensor::zeros({d}, DType::f32));
  modality = register_parameter("modality", nn::init::normal({2, d}, 0.0, 0.02, DType::f32));
  cross = register_module("cross", std::make_shared<CrossAttention>(d, c.heads));
  nn::moe::MoEOptions o = c.moe;
  o.dim = d;
  o.hidden = std::max<int64_t>(1, int64_t(std::lround(c.hidden_mult * double(d))));
  moe = register_module("moe", std::make_shared<MoELayer>(o));
}

Variable FusionBlock::forward_impl(const Variable&) { ENGINE_THROW("FusionBlock takes two inputs: call run()"); }

namespace {

// LIMoE's entropy terms of one modality's router probabilities p [T, E].
Variable entropy_terms(const Variable& p, double local_coef, double global_coef) {
  Variable loss;
  if (local_coef != 0.0) loss = ag::mul(ag::mean(row_entropy(p)), local_coef);
  if (global_coef != 0.0) {
    Variable mean_p = ag::mean(p, {0}, /*keepdim=*/true);
    Variable g = ag::mul(ag::neg(ag::sum(row_entropy(mean_p))), global_coef);
    loss = loss.defined() ? ag::add(loss, g) : g;
  }
  return loss;
}

}  // namespace

// Labels of the tokens for the expert x class counts: each image's label on its P
// tokens, then each description's class (when text passes through the experts).
Tensor FusionBlock::token_labels(int64_t N, int64_t P, const Tensor& text_classes) const {
  const Tensor& images = moe->image_labels();
  if (!images.defined() || moe->label_classes() <= 0) return Tensor();
  ENGINE_CHECK(images.numel() == N, "FusionBlock: " << images.numel() << " labels for " << N << " images");
  Tensor per_image = images.to(Device::cpu()).reshape({N, 1}).expand({N, P}).contiguous().reshape({N * P});
  return text_through_experts_ ? ops::concat({per_image, text_classes.to(Device::cpu())}, 0) : per_image;
}

namespace {

Tensor top1(const Tensor& experts) { return experts.slice(1, 0, 1).contiguous().reshape({experts.size(0)}); }

}  // namespace

void FusionBlock::run(Variable& image, Variable& text, const Tensor& text_classes, int64_t N, int64_t P,
                      MultimodalTrace* trace) {
  const int64_t d = image.size(1);
  Tensor attention;
  Variable img_n = ag::reshape(layer_norm(image, ln_image_w, ln_image_b), {N, P, d});
  Variable txt_n = layer_norm(text, ln_text_w, ln_text_b);
  Variable attended = cross->attend(img_n, txt_n, trace != nullptr ? &attention : nullptr);
  image = ag::add(image, ag::reshape(attended, {N * P, d}));

  Variable tokens = text_through_experts_ ? ag::concat({image, text}, 0) : image;
  const int64_t T = tokens.size(0);
  std::vector<int64_t> modality_ids(size_t(T), 0);
  for (int64_t t = N * P; t < T; ++t) modality_ids[size_t(t)] = 1;
  Tensor ids = Tensor::from_data(modality_ids.data(), {T}, image.device());
  Variable z = ag::add(layer_norm(tokens, ln_moe_w, ln_moe_b), ag::index_select(modality, 0, ids));
  Variable y = ag::add(tokens, moe->forward_tokens(z, token_labels(N, P, text_classes),
                                                   Tensor::from_data(modality_ids.data(), {T}), {"image", "text"}));

  const nn::moe::MoEForward& f = moe->last_forward();
  Variable p_image = ag::slice(f.probs, 0, 0, N * P);
  Variable extra = entropy_terms(p_image, entropy_local_coef_, entropy_global_coef_);
  Variable p_text;
  if (text_through_experts_) {
    p_text = ag::slice(f.probs, 0, N * P, T);
    Variable t = entropy_terms(p_text, entropy_local_coef_, entropy_global_coef_);
    if (t.defined()) extra = extra.defined() ? ag::add(extra, t) : t;
  }
  if (extra.defined()) moe->add_aux_loss(extra);

  image = ag::slice(y, 0, 0, N * P);
  if (text_through_experts_) text = ag::slice(y, 0, N * P, T);
  if (trace == nullptr) return;
  const Tensor experts = top1(f.experts).to(Device::cpu());
  trace->attention.push_back(attention.to(Device::cpu()));
  trace->image_experts.push_back(experts.slice(0, 0, N * P).contiguous().reshape({N, P}));
  trace->image_probs.push_back(p_image.data().to(Device::cpu()).to(DType::f32));
  trace->text_experts.push_back(text_through_experts_ ? experts.slice(0, N * P, T).contiguous() : Tensor());
  trace->text_probs.push_back(text_through_experts_ ? p_text.data().to(Device::cpu()).to(DType::f32) : Tensor());
}

MultimodalMoE::MultimodalMoE(const MultimodalConfig& cfg) : cfg_(cfg) {
  const ResNetConfig& r = cfg.resnet;
  ENGINE_CHECK(cfg.token_stage >= 1 && cfg.token_stage <= 4,
               "MultimodalMoE: token_stage = " << cfg.token_stage << ", expected 1..4");
  ENGINE_CHECK(cfg.logit_scale > 0, "MultimodalMoE: logit_scale = " << cfg.logit_scale << ", expected > 0");
  ENGINE_CHECK(cfg.num_blocks >= 1, "MultimodalMoE: num_blocks = " << cfg.num_blocks << ", expected >= 1");
  ENGINE_CHECK(cfg.head == "similarity" || cfg.head == "linear",
               "MultimodalMoE: head \"" << cfg.head << "\", expected \"similarity\" or \"linear\"");
  ENGINE_CHECK(!cfg.text_classes.empty(), "MultimodalMoE: no class descriptions (text_classes is empty)");
  std::vector<bool> present(size_t(r.num_classes), false);
  for (int64_t k : cfg.text_classes) {
    ENGINE_CHECK(k >= 0 && k < r.num_classes,
                 "MultimodalMoE: a description's class " << k << " is out of range [0, " << r.num_classes << ")");
    present[size_t(k)] = true;
  }
  for (int64_t k = 0; k < r.num_classes; ++k)
    ENGINE_CHECK(present[size_t(k)], "MultimodalMoE: class " << k << " has no description");

  // The backbone's stem and stages, with ResNet's names and initialisation.
  ResNet backbone(r);
  conv1 = register_module("conv1", backbone.conv1);
  bn1 = register_module("bn1", backbone.bn1);
  for (int64_t s = 0; s < cfg.token_stage; ++s)
    layers.push_back(register_module("layer" + std::to_string(s + 1), backbone.layers[size_t(s)]));
  const int64_t widths[4] = {64, 128, 256, 512};
  const int64_t c = std::max<int64_t>(1, int64_t(std::lround(double(widths[cfg.token_stage - 1]) * r.width_mult)));
  const int64_t d = cfg.dim, M = int64_t(cfg.text_classes.size());
  image_proj = register_module("image_proj", std::make_shared<nn::Linear>(c, d));
  text_proj = register_module("text_proj", std::make_shared<nn::Linear>(cfg.text_dim, d));
  for (int64_t b = 0; b < cfg.num_blocks; ++b)
    blocks.push_back(register_module("blocks." + std::to_string(b), std::make_shared<FusionBlock>(cfg)));
  ln_image_w = register_parameter("ln_image.weight", Tensor::ones({d}, DType::f32));
  ln_image_b = register_parameter("ln_image.bias", Tensor::zeros({d}, DType::f32));
  ln_text_w = register_parameter("ln_text.weight", Tensor::ones({d}, DType::f32));
  ln_text_b = register_parameter("ln_text.bias", Tensor::zeros({d}, DType::f32));
  image_out = register_module("image_out", std::make_shared<nn::Linear>(d, d));
  if (cfg.head == "similarity") {
    text_out = register_module("text_out", std::make_shared<nn::Linear>(d, d));
    logit_scale = register_parameter("logit_scale", Tensor::full({}, std::log(cfg.logit_scale), DType::f32));
  } else {
    fc = register_module("fc", std::make_shared<nn::Linear>(d, r.num_classes));
  }
  // The [K, M] matrix that averages the description rows of each class (derived from
  // text_classes, so not part of the state).
  std::vector<int64_t> count(size_t(r.num_classes), 0);
  for (int64_t k : cfg.text_classes) ++count[size_t(k)];
  std::vector<double> avg(size_t(r.num_classes * M), 0.0);
  for (int64_t m = 0; m < M; ++m) {
    const int64_t k = cfg.text_classes[size_t(m)];
    avg[size_t(k * M + m)] = 1.0 / double(count[size_t(k)]);
  }
  class_average_ = Tensor::from_vector(avg, {r.num_classes, M});
  class_text_ = &register_buffer("text.embeddings", Tensor::zeros({M, cfg.text_dim}, DType::f32));
  text_classes_ = &register_buffer("text.classes", Tensor::from_data(cfg.text_classes.data(), {M}));
}

void MultimodalMoE::set_class_text(const Tensor& embeddings) {
  ENGINE_CHECK(embeddings.shape() == class_text_->shape(), "MultimodalMoE: class text embeddings "
                                                               << shape_str(embeddings.shape()) << ", expected "
                                                               << shape_str(class_text_->shape()));
  ops::copy_into(*class_text_, embeddings.to(class_text_->device()).to(class_text_->dtype()));
}

void MultimodalMoE::set_seen_classes(const std::vector<int64_t>& seen) {
  if (seen.empty()) {
    seen_mask_ = Tensor();
    return;
  }
  std::vector<double> mask(size_t(cfg_.resnet.num_classes), -1e4);
  for (int64_t k : seen) {
    ENGINE_CHECK(k >= 0 && k < cfg_.resnet.num_classes, "MultimodalMoE: seen class " << k << " is out of range");
    mask[size_t(k)] = 0.0;
  }
  seen_mask_ = Tensor::from_vector(mask, {cfg_.resnet.num_classes});
}

void MultimodalMoE::check_input(const Variable& x) const {
  ENGINE_CHECK(x.dim() == 4 && x.size(1) == cfg_.resnet.in_channels, "MultimodalMoE: expected images [N, "
                                                                         << cfg_.resnet.in_channels << ", H, W], got "
                                                                         << shape_str(x.shape()));
}

namespace {

Variable l2_normalize(const Variable& x) {
  Variable n = ag::sqrt(ag::add(ag::sum(ag::mul(x, x), {1}, /*keepdim=*/true), 1e-12));
  return ag::div(x, n);
}

}  // namespace

Variable MultimodalMoE::head_logits(const Variable& image, const Variable& text, int64_t N, int64_t P) {
  const int64_t d = cfg_.dim;
  Variable pooled = ag::mean(ag::reshape(image, {N, P, d}), {1});  // [N, d]
  Variable e = (*image_out)(layer_norm(pooled, ln_image_w, ln_image_b));
  if (cfg_.head == "linear") return (*fc)(e);
  if (class_average_.device() != text.device() || class_average_.dtype() != text.dtype())
    class_average_ = class_average_.to(text.device()).to(text.dtype());  // once per device and dtype
  Variable means = ag::matmul(Variable(class_average_), text);           // [K, d]
  Variable t = (*text_out)(layer_norm(means, ln_text_w, ln_text_b));
  Variable cos = ag::matmul(l2_normalize(e), ag::permute(l2_normalize(t), {1, 0}));  // [N, K]
  return ag::mul(cos, ag::exp(logit_scale));
}

Variable MultimodalMoE::forward_impl(const Variable& x) {
  trace_ = MultimodalTrace();
  Variable h = ag::relu((*bn1)((*conv1)(x)));
  for (auto& l : layers) h = (*l)(h);
  const int64_t N = h.size(0), c = h.size(1), gh = h.size(2), gw = h.size(3), P = gh * gw;
  Variable image = (*image_proj)(ag::reshape(ag::permute(h, {0, 2, 3, 1}), {N * P, c}));
  Variable text = (*text_proj)(Variable(class_text_->to(image.dtype())));
  MultimodalTrace* trace = keep_trace_ ? &trace_ : nullptr;
  trace_.grid_h = gh;
  trace_.grid_w = gw;
  for (auto& b : blocks) b->run(image, text, *text_classes_, N, P, trace);

  Variable logits = head_logits(image, text, N, P);
  if (is_training() && seen_mask_.defined())
    logits = ag::add(logits, Variable(seen_mask_.to(logits.device()).to(logits.dtype())));
  return logits;
}

}  // namespace engine::models
