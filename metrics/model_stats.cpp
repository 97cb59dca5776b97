#include "metrics/model_stats.h"

#include <cstdio>
#include <iomanip>
#include <map>
#include <mutex>
#include <ostream>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "base/check.h"
#include "engine/nn/moe/moe_layer.h"

namespace engine::metrics {
namespace {

struct Rules {
  std::mutex mu;
  std::map<std::string, ActiveParamsRule> active;
  std::map<OpKind, OpMacsRule> macs;
  std::map<std::string, ModuleMacsRule> module_macs;

  Rules() {
    // A mixture-of-experts layer: each token uses its router and top_k of the experts.
    active["MoELayer"] = [](const nn::Module& m) {
      const auto& l = dynamic_cast<const nn::moe::MoELayer&>(m);
      return l.num_parameters() - l.inactive_parameters();
    };
    // Its work per token as designed (router + top_k expert MLPs): what ran on one
    // image depends on capacity drops, which a single (blank) image exaggerates. The
    // token count is the row count of the router's product (or of the fused router's input).
    module_macs["MoELayer"] = [](const nn::Module& m, const std::vector<OpRecord>& ops) -> int64_t {
      const auto& l = dynamic_cast<const nn::moe::MoELayer&>(m);
      for (const auto& op : ops)
        if ((op.op == OpKind::LINEAR || op.op == OpKind::MATMUL) && !op.output.empty() && op.output.back() > 0)
          return shape_numel(op.output) / op.output.back() * l.flops_per_token() / 2;
        else if (op.op == OpKind::MOE_ROUTER_TOPK && !op.inputs.empty() && op.inputs[0].size() == 2)
          return op.inputs[0][0] * l.flops_per_token() / 2;  // the fused router: x [T, C]
      return -1;
    };
  }
};

Rules& rules() {
  static Rules r;
  return r;
}

int64_t builtin_macs(const GradFn& node, const Tensor& out) {
  switch (node.op) {
    case OpKind::CONV2D: {
      // w: [out, in / groups, kh, kw]; each output element is one dot product over in/groups * kh * kw.
      const Shape& w = node.inputs.at(1).shape();
      return out.numel() * w[1] * w[2] * w[3];
    }
    case OpKind::LINEAR:  // x [..., in], w [out, in]
      return out.numel() * node.inputs.at(1).shape().back();
    case OpKind::MATMUL:  // a [..., m, k], b [..., k, n]
      return out.numel() * node.inputs.at(0).shape().back();
    case OpKind::MOE_GROUPED_MATMUL:  // x [rows, in], w [E, in, out]: each routed row through its expert
      return out.numel() * node.inputs.at(0).shape().back();
    case OpKind::MOE_ROUTER_TOPK:  // x [T, C], w [E, C]: the fused router's logits
      return node.inputs.at(0).shape().at(0) * node.inputs.at(1).numel();
    default: return -1;
  }
}

// The deepest module whose name prefixes the parameter's: parameter names may hold
// dots of their own ("experts.fc1.weight" of an MoE layer).
std::string module_of(const std::string& param_name, const std::unordered_set<std::string>& modules) {
  std::string name = param_name;
  for (size_t dot; (dot = name.rfind('.')) != std::string::npos;) {
    name = name.substr(0, dot);
    if (modules.count(name)) return name;
  }
  return std::string();
}

// Parameters registered on the module itself, not on its children.
int64_t own_parameters(const nn::Module& m) {
  int64_t n = m.num_parameters();
  for (const auto& [child, ptr] : m.named_children()) n -= ptr->num_parameters();
  return n;
}

void walk_modules(const nn::Module& m, const std::string& name,
                  std::vector<std::pair<std::string, const nn::Module*>>* out) {
  out->emplace_back(name, &m);
  for (const auto& [child, ptr] : m.named_children())
    walk_modules(*ptr, name.empty() ? child : name + "." + child, out);
}

int64_t active_params_of(const nn::Module& m) {
  ActiveParamsRule rule;
  {
    std::lock_guard<std::mutex> lock(rules().mu);
    auto it = rules().active.find(m.type_name());
    if (it != rules().active.end()) rule = it->second;
  }
  if (rule) return rule(m);
  int64_t own = own_parameters(m);
  for (const auto& [child, ptr] : m.named_children()) own += active_params_of(*ptr);
  return own;
}

}  // namespace

void set_active_params_rule(const std::string& type, ActiveParamsRule rule) {
  std::lock_guard<std::mutex> lock(rules().mu);
  rules().active[type] = std::move(rule);
}

void set_op_macs_rule(OpKind op, OpMacsRule rule) {
  std::lock_guard<std::mutex> lock(rules().mu);
  rules().macs[op] = std::move(rule);
}

void set_module_macs_rule(const std::string& type, ModuleMacsRule rule) {
  std::lock_guard<std::mutex> lock(rules().mu);
  rules().module_macs[type] = std::move(rule);
}

ModelStats model_stats(nn::Module& model, const Shape& image, Device device) {
  ENGINE_CHECK(!image.empty(), "model_stats: the image shape is empty");
  std::vector<std::pair<std::string, const nn::Module*>> modules;
  walk_modules(model, "", &modules);
  std::unordered_set<std::string> module_names;
  for (const auto& [name, m] : modules) module_names.insert(name);
  std::unordered_map<const void*, std::string> owner;  // parameter node -> module name
  for (const auto& [n, v] : model.named_parameters()) owner[v.id()] = module_of(n, module_names);

  Shape batch_shape{1};
  batch_shape.insert(batch_shape.end(), image.begin(), image.end());
  bool was_training = model.is_training();
  model.eval();
  Variable out;
  try {
    out = model(Variable(Tensor::zeros(batch_shape, DType::f32, device)));
  } catch (...) {
    model.train(was_training);
    throw;
  }
  model.train(was_training);

  std::map<OpKind, OpMacsRule> extra;
  std::map<std::string, ModuleMacsRule> module_rules;
  {
    std::lock_guard<std::mutex> lock(rules().mu);
    extra = rules().macs;
    module_rules = rules().module_macs;
  }
  std::unordered_map<std::string, std::vector<OpRecord>> charged;
  int64_t unowned = 0;
  std::unordered_set<const void*> seen;
  std::vector<Variable> stack{out};
  while (!stack.empty()) {
    Variable v = stack.back();
    stack.pop_back();
    if (!v.defined() || v.is_leaf() || !seen.insert(v.id()).second) continue;
    const GradFn& node = *v.grad_fn();
    int64_t m = builtin_macs(node, v.data());
    auto it = extra.find(node.op);
    if (it != extra.end()) m = it->second(node, v.data());
    if (m > 0) {
      // Charge the op to the module owning one of its parameter operands (the weight first).
      std::string who;
      bool found = false;
      for (size_t k = node.inputs.size(); k-- > 0 && !found;) {
        auto o = owner.find(node.inputs[k].id());
        if (o != owner.end() && (k == 1 || node.op == OpKind::MATMUL || it != extra.end()))
          who = o->second, found = true;
      }
      if (found) {
        OpRecord r{node.op, v.shape(), {}, m};
        for (const Variable& in : node.inputs) r.inputs.push_back(in.defined() ? in.shape() : Shape{});
        charged[who].push_back(std::move(r));
      } else {
        unowned += m;
      }
    }
    for (const Variable& in : node.inputs) stack.push_back(in);
  }

  ModelStats s;
  for (const auto& [name, m] : modules) {
    LayerStats l;
    l.name = name.empty() ? "(model)" : name;
    l.type = m->type_name();
    l.params = own_parameters(*m);
    auto ci = charged.find(name);
    if (ci != charged.end()) {
      int64_t largest = -1;
      for (const OpRecord& r : ci->second) {
        l.macs += r.macs;
        if (r.macs > largest) largest = r.macs, l.output = r.output;
      }
      auto rule = module_rules.find(l.type);
      if (rule != module_rules.end() && rule->second) {
        int64_t m2 = rule->second(*m, ci->second);
        if (m2 >= 0) l.macs = m2;
      }
    }
    if (l.params == 0 && l.macs == 0) continue;
    s.layers.push_back(l);
    s.total_params += l.params;
    s.macs += l.macs;
  }
  if (unowned > 0) {
    LayerStats l;
    l.name = "(ops without parameters)";
    l.type = "-";
    l.macs = unowned;
    s.layers.push_back(l);
    s.macs += unowned;
  }
  s.active_params = active_params_of(model);
  return s;
}

std::string human_count(double v) {
  char buf[32];
  double a = std::abs(v);
  if (a >= 1e9)
    std::snprintf(buf, sizeof buf, "%.2fG", v / 1e9);
  else if (a >= 1e6)
    std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  else if (a >= 1e3)
    std::snprintf(buf, sizeof buf, "%.1fK", v / 1e3);
  else
    std::snprintf(buf, sizeof buf, "%.0f", v);
  return buf;
}

void print_model_stats(const ModelStats& s, std::ostream& out) {
  size_t w = 5;
  for (const auto& l : s.layers) w = std::max(w, l.name.size());
  std::ostringstream o;
  o << std::left << std::setw(int(w)) << "layer"
    << "  " << std::setw(13) << "type" << std::right << std::setw(12) << "params" << std::setw(14) << "MACs"
    << "  output\n";
  for (const auto& l : s.layers)
    o << std::left << std::setw(int(w)) << l.name << "  " << std::setw(13) << l.type << std::right << std::setw(12)
      << l.params << std::setw(14) << l.macs << "  " << (l.output.empty() ? std::string("-") : shape_str(l.output))
      << "\n";
  o << "total: " << s.total_params << " parameters (" << human_count(double(s.total_params)) << "), " << s.active_params
    << " active per input, " << s.macs << " MACs = " << human_count(double(s.flops())) << " FLOPs per image\n";
  out << o.str();
}

std::string model_stats_csv(const ModelStats& s) {
  std::ostringstream o;
  o << "name,type,params,macs,output\n";
  for (const auto& l : s.layers) {
    std::string shape;
    for (size_t i = 0; i < l.output.size(); ++i) shape += (i ? "x" : "") + std::to_string(l.output[i]);
    o << l.name << "," << l.type << "," << l.params << "," << l.macs << "," << shape << "\n";
  }
  o << "total,," << s.total_params << "," << s.macs << ",\n";
  return o.str();
}

}  // namespace engine::metrics
