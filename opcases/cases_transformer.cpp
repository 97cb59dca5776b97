// The transformer ops: layer norm (forward, backward), the masked softmax, fused
// attention (forward, backward), the embedding lookup and the batched matmul of
// attention scores against a transposed view.
#include <cmath>

#include "engine/autograd/functions.h"
#include "engine/ops/functional.h"
#include "opcases/op_cases.h"

namespace engine::opcases {
namespace {

using Vars = std::vector<Variable>;
using Ins = std::vector<Tensor>;

// u8 [B, L] key mask: batch b keeps its first L - pad(b) keys (pad >= 1); batch 1 keeps none
// (every query row of it is fully masked) when `with_empty`.
Tensor key_mask(int64_t B, int64_t L, bool with_empty) {
  std::vector<double> m(size_t(B * L));
  for (int64_t b = 0; b < B; ++b) {
    const int64_t pad = L > 1 ? 1 + (b * 3) % (L - 1) : 0, keep = with_empty && b == 1 ? 0 : L - pad;
    for (int64_t j = 0; j < L; ++j) m[size_t(b * L + j)] = j < keep ? 1.0 : 0.0;
  }
  return Tensor::from_vector(m, {B, L}, DType::u8);
}

// lse is -inf on fully masked rows: compared clamped.
Tensor finite_lse(const Tensor& lse) { return ops::clamp(lse, -1e30, 1e30); }

void add_layer_norm(std::vector<OpCase>& v) {
  size_t first = v.size();
  for (Shape s : {Shape{7, 10}, Shape{3, 5, 33}, Shape{2, 1500}})
    for (bool affine : {true, false}) {
      const int64_t D = s.back();
      auto make = [s, D, affine](DType d) {
        Tensor x = rand_input(s, 70, d, 0.5, 2.0);
        Tensor w = affine ? rand_input({D}, 71, d, 1.0, 0.5) : Tensor();
        Tensor b = affine ? rand_input({D}, 72, d) : Tensor();
        ops::LayerNormOutput f = ops::layer_norm_fwd(cpu_twin(x), cpu_twin(w), cpu_twin(b), 1e-5);
        return Ins{x, w, b, rand_input(s, 73, d), f.mean, f.rstd};
      };
      auto run = [affine](const Ins& in, DType d, Device) -> Outs {
        ops::LayerNormOutput f = ops::layer_norm_fwd(in[0], in[1], in[2], 1e-5);
        ops::LayerNormGrads g = ops::layer_norm_bwd(in[3], in[0], in[1], in[4], in[5], affine, affine);
        DType stats = d == DType::f64 ? DType::f64 : DType::f32;
        // An empty batch: nothing to normalise, zero parameter gradients.
        Tensor empty = Tensor::zeros({0, in[0].size(-1)}, in[0].dtype(), in[0].device());
        ops::LayerNormOutput fe = ops::layer_norm_fwd(empty, in[1], in[2], 1e-5);
        ops::LayerNormGrads ge = ops::layer_norm_bwd(empty, empty, in[1], fe.mean, fe.rstd, affine, affine);
        return {{"y", f.y},
                {"mean", f.mean, Cmp::Tol, stats},
                {"rstd", f.rstd, Cmp::Tol, stats},
                {"gx", g.gx},
                {"gweight", g.gweight},
                {"gbias", g.gbias},
                {"y of an empty batch", fe.y},
                {"gweight of an empty batch", ge.gweight}};
      };
      v.push_back(op_case("transformer",
                          "layer_norm " + shape_str(s) + (affine ? " with weight and bias" : " without affine"),
                          {OpKind::LAYERNORM, OpKind::LAYERNORM_BWD}, float_dtypes(), make, run));
    }
  // bf16/f16 activations beside f32 parameters (statistics and parameter gradients in f32).
  v.push_back(op_case(
      "transformer", "layer_norm [9, 40] low-precision x, f32 weight and bias",
      {OpKind::LAYERNORM, OpKind::LAYERNORM_BWD}, {DType::bf16, DType::f16},
      [](DType d) {
        Tensor x = rand_input({9, 40}, 74, d, 0.0, 3.0), w = rand_input({40}, 75, DType::f32, 1.0, 0.5),
               b = rand_input({40}, 76, DType::f32);
        ops::LayerNormOutput f = ops::layer_norm_fwd(cpu_twin(x), w, b, 1e-6);
        return Ins{x, w, b, rand_input({9, 40}, 77, d), f.mean, f.rstd};
      },
      [](const Ins& in, DType, Device) -> Outs {
        ops::LayerNormGrads g = ops::layer_norm_bwd(in[3], in[0], in[1], in[4], in[5], true, true);
        return {{"y", ops::layer_norm(in[0], in[1], in[2], 1e-6)},
                {"gx", g.gx},
                {"gweight", g.gweight, Cmp::Tol, DType::bf16},
                {"gbias", g.gbias, Cmp::Tol, DType::bf16}};
      }));
  auto ln = [](bool affine) {
    return [affine](const Vars& x) {
      return ag::layer_norm(x[0], affine ? x[1] : Variable(), affine ? x[2] : Variable(), 1e-5);
    };
  };
  v[first].grads = {{[] {
                       return Ins{randn64({5, 7}, 120, 0.3, 2.0), randn64({7}, 121, 1.0, 0.5), randn64({7}, 122)};
                     },
                     ln(true),
                     {}},
                    {[] {
                       return Ins{randn64({2, 3, 4}, 123).transpose(0, 1)};
                     },
                     ln(false),
                     {}}};
  v[first].benches.push_back(
      {"layer_norm fwd", {4096}, [](Device dev, int64_t rows) {
         Tensor x = bench_randn({rows, 384}, 20, dev), w = bench_randn({384}, 21, dev), b = bench_randn({384}, 22, dev);
         return BenchRun{dims({rows, 384}), 8.0 * double(rows * 384), 0,
                         [=] { return ops::layer_norm(x, w, b, 1e-12); }};
       }});
  v[first].benches.push_back({"layer_norm bwd", {4096}, [](Device dev, int64_t rows) {
                                Tensor x = bench_randn({rows, 384}, 23, dev), w = bench_randn({384}, 24, dev),
                                       gy = bench_randn({rows, 384}, 25, dev);
                                ops::LayerNormOutput f = ops::layer_norm_fwd(x, w, Tensor(), 1e-12);
                                return BenchRun{dims({rows, 384}), 12.0 * double(rows * 384), 0, [=] {
                                                  return ops::layer_norm_bwd(gy, x, w, f.mean, f.rstd, true, true).gx;
                                                }};
                              }});
}

void add_masked_softmax(std::vector<OpCase>& v) {
  struct Form {
    Shape x, mask;
    bool empty_row;  // batch 1 keeps nothing
  };
  size_t first = v.size();
  for (Form f : {Form{{3, 2, 5, 7}, {3, 1, 1, 7}, true}, Form{{4, 9}, {4, 9}, false}, Form{{3, 1100}, {1100}, false},
                 Form{{2, 6}, {}, false}}) {
    auto make = [f](DType d) {
      Tensor x = rand_input(f.x, 80, d, 0.0, 3.0), m;
      if (f.mask.size() == 4) m = key_mask(f.mask[0], f.mask[3], f.empty_row).reshape(f.mask);
      if (f.mask.size() == 1 || f.mask.size() == 2)
        m = ops::compare(ops::CompareOp::Gt, rand_uniform_input(f.mask, 81, DType::f32, 0, 1), Tensor::scalar(0.3));
      return Ins{x, m};
    };
    auto run = [](const Ins& in, DType, Device) -> Outs {
      Tensor empty = Tensor::zeros({0, 2, 5}, in[0].dtype(), in[0].device());
      return {{"y", ops::masked_softmax(in[0], in[1])},
              {"empty [0, 2, 5]", ops::masked_softmax(empty, Tensor::ones({5}, DType::u8, in[0].device()))}};
    };
    v.push_back(op_case("transformer",
                        "masked_softmax " + shape_str(f.x) + " mask " + (f.mask.empty() ? "none" : shape_str(f.mask)) +
                            (f.empty_row ? " with fully masked rows" : ""),
                        {OpKind::MASKED_SOFTMAX}, float_dtypes(), make, run));
  }
  v[first].grads = {{[] {
                       return Ins{randn64({3, 2, 5}, 124)};
                     },
                     [](const Vars& x) {
                       return ag::masked_softmax(x[0], key_mask(3, 5, true).reshape({3, 1, 5}));
                     },
                     {}}};
}

struct AttnShape {
  int64_t B, H, Lq, Lk, D;
  bool masked;
};

// q, k, v, mask, go, and the CPU forward's o and lse (the backward runs on the same ones).
Ins attention_inputs(const AttnShape& a, DType d, uint64_t seed) {
  Tensor q = rand_input({a.B, a.H, a.Lq, a.D}, seed, d), k = rand_input({a.B, a.H, a.Lk, a.D}, seed + 1, d),
         vv = rand_input({a.B, a.H, a.Lk, a.D}, seed + 2, d), go = rand_input({a.B, a.H, a.Lq, a.D}, seed + 3, d);
  Tensor m = a.masked ? key_mask(a.B, a.Lk, a.B > 1) : Tensor();
  ops::AttentionOutput f = ops::attention_fwd(cpu_twin(q), cpu_twin(k), cpu_twin(vv), m, 1.0 / std::sqrt(double(a.D)));
  return Ins{q, k, vv, m, go, f.o.to(d), f.lse};
}

void add_attention(std::vector<OpCase>& v) {
  size_t first = v.size();
  for (AttnShape a : {AttnShape{3, 2, 5, 7, 32, true}, AttnShape{2, 2, 70, 37, 64, true},
                      AttnShape{1, 3, 9, 70, 32, false}, AttnShape{2, 1, 6, 11, 20, true}}) {
    const double scale = 1.0 / std::sqrt(double(a.D));
    auto make = [a](DType d) { return attention_inputs(a, d, 90); };
    auto run = [scale](const Ins& in, DType, Device) -> Outs {
      ops::AttentionOutput f = ops::attention_fwd(in[0], in[1], in[2], in[3], scale);
      ops::AttentionGrads g = ops::attention_bwd(in[4], in[0], in[1], in[2], in[5], in[6], in[3], scale);
      DType stats = in[0].dtype() == DType::f64 ? DType::f64 : DType::f32;
      // An empty batch, and keys of length 0 (every query fully masked).
      const Shape qs = in[0].shape();
      Tensor none = Tensor::zeros({0, qs[1], qs[2], qs[3]}, in[0].dtype(), in[0].device());
      Tensor no_keys = Tensor::zeros({qs[0], qs[1], 0, qs[3]}, in[0].dtype(), in[0].device());
      return {{"o", f.o},
              {"lse", finite_lse(f.lse), Cmp::Tol, stats},
              {"gq", g.gq},
              {"gk", g.gk},
              {"gv", g.gv},
              {"o of an empty batch", ops::attention(none, none, none, Tensor(), scale)},
              {"o without keys", ops::attention(in[0], no_keys, no_keys, Tensor(), scale)}};
    };
    v.push_back(op_case("transformer",
                        "attention B" + std::to_string(a.B) + " H" + std::to_string(a.H) + " Lq" +
                            std::to_string(a.Lq) + " Lk" + std::to_string(a.Lk) + " D" + std::to_string(a.D) +
                            (a.masked ? " padded keys, fully masked rows" : " no mask"),
                        {OpKind::ATTENTION, OpKind::ATTENTION_BWD}, float_dtypes(), make, run));
  }
  auto attn = [](bool masked) {
    return [masked](const Vars& x) {
      Tensor m = masked ? key_mask(2, 6, true) : Tensor();
      return ag::attention(x[0], x[1], x[2], m, 0.4);
    };
  };
  v[first].grads = {{[] {
                       return Ins{randn64({2, 2, 3, 4}, 125), randn64({2, 2, 6, 4}, 126), randn64({2, 2, 6, 4}, 127)};
                     },
                     attn(true),
                     {}},
                    {[] {
                       return Ins{randn64({2, 1, 5, 3}, 128), randn64({2, 1, 6, 3}, 129), randn64({2, 1, 6, 3}, 130)};
                     },
                     attn(false),
                     {}}};
  struct Size {
    int64_t B, H, L, D;
  };
  static const Size kSizes[] = {{64, 12, 32, 32}, {8, 12, 128, 32}};
  auto bench = [](bool fused) {
    return [fused](Device dev, int64_t i) {
      const Size s = kSizes[i];
      Tensor q = bench_randn({s.B, s.H, s.L, s.D}, 30, dev), k = bench_randn({s.B, s.H, s.L, s.D}, 31, dev),
             vv = bench_randn({s.B, s.H, s.L, s.D}, 32, dev);
      Tensor m = ops::compare(ops::CompareOp::Lt, ops::rand_uniform({s.B, s.L}, 33, 0, DType::f32, dev),
                              Tensor::scalar(0.9, DType::f32, dev));
      const double scale = 1.0 / std::sqrt(double(s.D)), flops = 4.0 * double(s.B * s.H * s.L * s.L * s.D);
      auto composed = [=] {
        Tensor sc = ops::mul(ops::matmul(q, k.transpose(-1, -2)), scale);
        return ops::matmul(ops::masked_softmax(sc, m.reshape({s.B, 1, 1, s.L})), vv);
      };
      return BenchRun{dims({s.B, s.H, s.L, s.D}), 0, flops,
                      fused ? std::function<Tensor()>([=] { return ops::attention(q, k, vv, m, scale); })
                            : std::function<Tensor()>(composed)};
    };
  };
  v[first].benches.push_back({"attention fused", {0, 1}, bench(true)});
  v[first].benches.push_back({"attention composed", {0, 1}, bench(false)});
}

// Embedding = index_select of the flattened ids: ids with repeats, so that the
// backward's index_add accumulates.
void add_embedding(std::vector<OpCase>& v) {
  auto ids = [](DType d) { return Tensor::from_vector({3, 0, 3, 5, 1, 3, 0, 2}, {2, 4}, d); };
  v.push_back(op_case(
      "transformer", "embedding [6, 5] ids [2, 4] with repeats (i64 and i32)", {OpKind::INDEX_SELECT},
      {DType::f32, DType::f64},
      [ids](DType d) {
        return Ins{rand_input({6, 5}, 100, d), ids(DType::i64), ids(DType::i32)};
      },
      [](const Ins& in, DType, Device) -> Outs {
        return {{"i64 ids", ops::embedding(in[0], in[1]), Cmp::Exact},
                {"i32 ids", ops::embedding(in[0], in[2]), Cmp::Exact}};
      }));
  v.back().grads = {{[] {
                       return Ins{randn64({6, 5}, 131)};
                     },
                     [ids](const Vars& x) { return ag::embedding(x[0], ids(DType::i64)); },
                     {}},
                    {[] {
                       return Ins{randn64({4, 3}, 132)};
                     },
                     [](const Vars& x) {
                       return ag::embedding(x[0], Tensor::from_vector({1, 1, 1, 3, 0, 1}, {3, 1, 2}, DType::i32));
                     },
                     {}}};
}

// Attention scores: [B, H, L, D] by the transposed view of [B, H, L, D] (BLAS reads it
// transposed, no copy) and probabilities by values.
void add_attention_matmul(std::vector<OpCase>& v) {
  v.push_back(op_case(
      "transformer", "matmul [2, 3, 7, 32] x transposed view [2, 3, 32, 9], then x [2, 3, 9, 32]", {OpKind::MATMUL},
      float_dtypes(),
      [](DType d) {
        return Ins{rand_input({2, 3, 7, 32}, 110, d), rand_input({2, 3, 9, 32}, 111, d),
                   rand_input({2, 3, 9, 32}, 112, d)};
      },
      [](const Ins& in, DType, Device) -> Outs {
        Tensor s = ops::matmul(in[0], in[1].transpose(-1, -2));
        return {{"scores", s}, {"context", ops::matmul(s, in[2])}};
      }));
  v.back().grads = {{[] {
                       return Ins{randn64({2, 2, 3, 4}, 133), randn64({2, 2, 5, 4}, 134)};
                     },
                     [](const Vars& x) { return ag::matmul(x[0], ag::transpose(x[1], -1, -2)); },
                     {}}};
}

}  // namespace

void add_transformer_cases(std::vector<OpCase>& v) {
  add_layer_norm(v);
  add_masked_softmax(v);
  add_attention(v);
  add_embedding(v);
  add_attention_matmul(v);
}

}  // namespace engine::opcases
