#pragma once
// Parameters and multiply-accumulates per layer and in total, from the module tree
// and one forward pass on one image: the pass records the autograd graph, and every
// conv2d, linear and matmul node in it is counted from its operand shapes and
// charged to the module that owns its weight. FLOPs = 2 x MACs; normalisation,
// activations, pooling and the loss are not counted (about 1% of a ResNet's work).
//
// Layers whose parameters are only partly used per input (Mixture-of-Experts):
// set_active_params_rule() says how many of a module type's parameters one token
// uses; set_module_macs_rule() replaces the counted MACs of a module type (from the
// ops charged to it); set_op_macs_rule() counts an op kind beyond conv2d, linear,
// matmul and moe_grouped_matmul. MoELayer has rules built in: its router and top_k
// experts per token, for every token (what ran on one image also reflects capacity
// drops).
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "engine/autograd/variable.h"
#include "engine/nn/module.h"

namespace engine::metrics {

struct LayerStats {
  std::string name;    // the module's full name, e.g. "layer2.0.downsample.0"
  std::string type;    // its type_name()
  int64_t params = 0;  // its own parameters (not its children's)
  int64_t macs = 0;    // per image
  Shape output;        // the output of its largest counted op for one image (empty when none ran)
};

struct ModelStats {
  std::vector<LayerStats> layers;  // modules with parameters or counted work, in registration order
  int64_t total_params = 0;
  int64_t active_params = 0;  // equals total_params for a dense model
  int64_t macs = 0;           // per image
  int64_t flops() const { return 2 * macs; }
};

// `image` is the shape of one input without the batch, e.g. {3, 32, 32}. The model is
// run in eval mode on zeros on `device` and left in the mode it was in.
ModelStats model_stats(nn::Module& model, const Shape& image, Device device = Device::cpu());

// A table: name, type, params, MACs, output shape, then the totals.
void print_model_stats(const ModelStats& s, std::ostream& out);
// The same as CSV: name,type,params,macs,output, and a last row "total".
std::string model_stats_csv(const ModelStats& s);

// For modules whose type_name() is `type`: how many of their parameters (children
// included) one input uses. Modules below such a module are not visited for the
// active count. Registering the same type again replaces the rule.
using ActiveParamsRule = std::function<int64_t(const nn::Module&)>;
void set_active_params_rule(const std::string& type, ActiveParamsRule rule);

// MACs of a recorded op of kind `op`, from its inputs and its output tensor.
using OpMacsRule = std::function<int64_t(const GradFn& node, const Tensor& output)>;
void set_op_macs_rule(OpKind op, OpMacsRule rule);

// One counted op charged to a module.
struct OpRecord {
  OpKind op;
  Shape output;
  std::vector<Shape> inputs;
  int64_t macs = 0;
};
// The MACs of a module of type `type` from the ops charged to it; a negative result
// keeps the counted sum.
using ModuleMacsRule = std::function<int64_t(const nn::Module& module, const std::vector<OpRecord>& ops)>;
void set_module_macs_rule(const std::string& type, ModuleMacsRule rule);

// Human-readable counts: 11.17M, 556.7M, 1.11G.
std::string human_count(double v);

}  // namespace engine::metrics
