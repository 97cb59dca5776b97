#include "engine/autograd/functions.h"
#include "engine/core/generator.h"

namespace engine::ag {
namespace {

thread_local int g_recomputing = 0;

struct RecomputeScope {
  RecomputeScope() { ++g_recomputing; }
  ~RecomputeScope() { --g_recomputing; }
};

// Puts the default generator at a saved state for its scope, then back where it was,
// so that the recomputation neither draws new numbers nor moves the stream on.
class GeneratorRewind {
 public:
  GeneratorRewind(uint64_t seed, uint64_t offset)
      : seed_(default_generator().seed()), offset_(default_generator().offset()) {
    default_generator().set_state(seed, offset);
  }
  ~GeneratorRewind() { default_generator().set_state(seed_, offset_); }
  GeneratorRewind(const GeneratorRewind&) = delete;
  GeneratorRewind& operator=(const GeneratorRewind&) = delete;

 private:
  uint64_t seed_, offset_;
};

}  // namespace

bool checkpoint_recomputing() { return g_recomputing > 0; }

Variable checkpoint(const CheckpointFn& fn, const std::vector<Variable>& inputs, const std::vector<Variable>& params) {
  bool needs = false;
  for (const auto* vs : {&inputs, &params})
    for (const Variable& v : *vs) needs = needs || v.requires_grad();
  if (!grad_enabled() || !needs) return fn(inputs);

  const uint64_t seed = default_generator().seed(), offset = default_generator().offset();
  Tensor y;
  {
    NoGradGuard no_grad;
    y = fn(inputs).data();
  }
  std::vector<Variable> all = inputs;
  all.insert(all.end(), params.begin(), params.end());
  const size_t n_inputs = inputs.size();
  auto backward = [fn, n_inputs, seed, offset](std::vector<Variable>& in, const Tensor& gy) {
    // Fresh leaves over the saved inputs, so that the inner pass stops at them.
    std::vector<Variable> leaves;
    for (size_t i = 0; i < n_inputs; ++i) leaves.emplace_back(in[i].data(), in[i].requires_grad());
    Variable out;
    {
      GeneratorRewind rewind(seed, offset);
      GradModeGuard record(true);
      RecomputeScope scope;
      out = fn(leaves);
    }
    ENGINE_CHECK(out.shape() == gy.shape() && out.dtype() == gy.dtype(),
                 "checkpoint: the recomputed output " << out.data().header()
                                                      << " differs from the first run's gradient " << gy.header()
                                                      << "; fn must be deterministic");
    if (!out.requires_grad()) return;
    out.backward(gy);
    for (size_t i = 0; i < n_inputs; ++i)
      if (in[i].requires_grad() && leaves[i].has_grad()) in[i].add_grad(leaves[i].grad());
  };
  return Variable::make(std::move(y), OpKind::CHECKPOINT, std::move(all), backward);
}

}  // namespace engine::ag
