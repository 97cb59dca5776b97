#include "batched_eval.h"

#include "apps/common/run_setup.h"
#include "engine/nn/moe/moe_layer.h"

namespace engine::testing {

BatchedEval eval_in_batches(nn::Module& model, const Tensor& images, int64_t batch, Device device) {
  NoGradGuard ng;
  model.eval();
  auto layers = nn::moe::find_moe_layers(model);
  BatchedEval r;
  std::vector<Tensor> parts;
  const int64_t n = images.size(0);
  for (int64_t i = 0; i < n; i += batch) {
    Tensor x = images.slice(0, i, std::min(n, i + batch)).contiguous().to(device);
    parts.push_back(model(Variable(x)).data().to(Device::cpu()));
    for (const auto& [name, l] : layers) {
      r.slots += l->last_stats().slots;
      r.dropped += l->last_stats().dropped;
    }
  }
  r.logits = ops::concat(parts, 0).contiguous();
  r.classes = ops::argmax(r.logits, 1).to_vector_as<int64_t>();
  return r;
}

std::shared_ptr<nn::Module> model_from_config(const std::string& config_path, int64_t channels,
                                              const std::vector<std::string>& sets) {
  app::TrainConfig c = app::load_train_config(config_path, sets, nullptr);
  data::Dataset shape_only;
  shape_only.images = Tensor::zeros({1, channels, 1, 1}, DType::u8);
  shape_only.labels = Tensor::zeros({1}, DType::i64);
  shape_only.num_classes = 10;
  return app::build_model(c, shape_only);
}

void module_to_f64(nn::Module& m) {
  for (auto& [name, p] : m.named_parameters()) {
    Variable v = p;
    v.data() = v.data().to(DType::f64);
  }
  for (auto& [name, b] : m.named_buffers())
    if (b->dtype() == DType::f32) *b = b->to(DType::f64);
}

}  // namespace engine::testing
