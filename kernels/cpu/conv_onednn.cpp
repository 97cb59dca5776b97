#include "kernels/cpu/conv_onednn.h"

#include "base/check.h"

#if ENGINE_HAS_ONEDNN

#include <array>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <sstream>
#include <string>
#include <unordered_map>

namespace engine::kernels {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;

// Everything that makes one primitive differ from another. The dtype slot is 0 (f32)
// until bf16 joins.
using Key = std::array<int64_t, 18>;

Key key_of(ConvDirection dir, const Conv2dParams& p, bool bias) {
  return {int64_t(dir),
          0,
          p.N,
          p.C,
          p.H,
          p.W,
          p.K,
          p.R,
          p.S,
          p.stride_h,
          p.stride_w,
          p.pad_h,
          p.pad_w,
          p.dil_h,
          p.dil_w,
          p.groups,
          int64_t(p.channels_last),
          int64_t(bias)};
}

// One cached convolution: the primitive, the descriptors of the caller's memory and,
// when oneDNN prefers another filter layout than [K, C/groups, R, S], the reorder
// between the two. The scratchpad is the caller's (one per call), so that several
// threads may run the same primitive at once.
struct Entry {
  dnnl::primitive prim;
  memory::desc src, dst, user_w, prim_w, bias, scratch;
  dnnl::primitive w_reorder;  // user -> primitive (forward, backward-data), back for backward-filter
  bool reorder = false;
};

const dnnl::engine& cpu_engine() {
  static const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

struct Cache {
  std::mutex mu;
  std::map<Key, std::unique_ptr<Entry>> entries;
};
Cache& cache() {
  static Cache c;
  return c;
}

struct Geometry {
  memory::desc src, dst, user_w, any_w, bias;
  memory::dims strides, dilates, pad_l, pad_r;
};

Geometry geometry(const Conv2dParams& p) {
  const Tag act = p.channels_last ? Tag::nhwc : Tag::nchw;
  const auto f32 = memory::data_type::f32;
  Geometry g;
  g.src = memory::desc({p.N, p.C, p.H, p.W}, f32, act);
  g.dst = memory::desc({p.N, p.K, p.P, p.Q}, f32, act);
  const memory::dims wdims = p.groups > 1 ? memory::dims{p.groups, p.K / p.groups, p.C / p.groups, p.R, p.S}
                                          : memory::dims{p.K, p.C, p.R, p.S};
  g.user_w = memory::desc(wdims, f32, p.groups > 1 ? Tag::goihw : Tag::oihw);
  g.any_w = memory::desc(wdims, f32, Tag::any);
  g.bias = memory::desc({p.K}, f32, Tag::a);
  g.strides = {p.stride_h, p.stride_w};
  g.dilates = {p.dil_h - 1, p.dil_w - 1};  // oneDNN counts the gaps between taps
  // Symmetric padding: oneDNN derives the output size with the same floor as ours.
  g.pad_l = {p.pad_h, p.pad_w};
  g.pad_r = {p.pad_h, p.pad_w};
  return g;
}

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

using FwdPd = dnnl::convolution_forward::primitive_desc;

FwdPd forward_pd(const Geometry& g, bool bias, const dnnl::primitive_attr& attr) {
  dnnl::convolution_forward::desc d =
      bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                             g.src, g.any_w, g.bias, g.dst, g.strides, g.dilates, g.pad_l, g.pad_r)
           : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                             g.src, g.any_w, g.dst, g.strides, g.dilates, g.pad_l, g.pad_r);
  return FwdPd(d, attr, cpu_engine());
}

std::unique_ptr<Entry> make_entry(ConvDirection dir, const Conv2dParams& p, bool bias) {
  const Geometry g = geometry(p);
  const dnnl::primitive_attr attr = user_scratchpad();
  auto e = std::make_unique<Entry>();
  e->user_w = g.user_w;
  e->bias = g.bias;
  if (dir == ConvDirection::Forward) {
    FwdPd pd = forward_pd(g, bias, attr);
    e->prim = dnnl::convolution_forward(pd);
    e->src = pd.src_desc();
    e->dst = pd.dst_desc();
    e->prim_w = pd.weights_desc();
    e->scratch = pd.scratchpad_desc();
  } else if (dir == ConvDirection::BackwardData) {
    FwdPd hint = forward_pd(g, false, dnnl::primitive_attr());
    dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, g.src, g.any_w, g.dst, g.strides,
                                            g.dilates, g.pad_l, g.pad_r);
    dnnl::convolution_backward_data::primitive_desc pd(d, attr, cpu_engine(), hint);
    e->prim = dnnl::convolution_backward_data(pd);
    e->src = pd.diff_src_desc();
    e->dst = pd.diff_dst_desc();
    e->prim_w = pd.weights_desc();
    e->scratch = pd.scratchpad_desc();
  } else {
    FwdPd hint = forward_pd(g, false, dnnl::primitive_attr());
    dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, g.src, g.any_w, g.dst, g.strides,
                                               g.dilates, g.pad_l, g.pad_r);
    dnnl::convolution_backward_weights::primitive_desc pd(d, attr, cpu_engine(), hint);
    e->prim = dnnl::convolution_backward_weights(pd);
    e->src = pd.src_desc();
    e->dst = pd.diff_dst_desc();
    e->prim_w = pd.diff_weights_desc();
    e->scratch = pd.scratchpad_desc();
  }
  // Activations were given in plain layouts, so oneDNN keeps them; only the filters may differ.
  ENGINE_CHECK(e->src == g.src && e->dst == g.dst, "oneDNN convolution: unexpected activation layout");
  e->reorder = e->prim_w != e->user_w;
  if (e->reorder)
    e->w_reorder = dir == ConvDirection::BackwardFilter
                       ? dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), e->prim_w, cpu_engine(), e->user_w))
                       : dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), e->user_w, cpu_engine(), e->prim_w));
  return e;
}

std::string shape_of(const Conv2dParams& p) {
  std::ostringstream os;
  os << "x [" << p.N << ", " << p.C << ", " << p.H << ", " << p.W << "], w [" << p.K << ", " << p.C / p.groups << ", "
     << p.R << ", " << p.S << "], stride (" << p.stride_h << ", " << p.stride_w << "), padding (" << p.pad_h << ", "
     << p.pad_w << "), dilation (" << p.dil_h << ", " << p.dil_w << "), groups " << p.groups
     << (p.channels_last ? ", channels-last" : ", NCHW");
  return os.str();
}

// The cached primitive of one shape, created on first use. Creation runs under the
// lock: it is rare, and two threads never build the same primitive twice.
const Entry& entry(ConvDirection dir, const Conv2dParams& p, bool bias) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  std::unique_ptr<Entry>& slot = c.entries[key_of(dir, p, bias)];
  if (!slot) {
    try {
      slot = make_entry(dir, p, bias);
    } catch (const dnnl::error& err) {
      c.entries.erase(key_of(dir, p, bias));
      ENGINE_THROW("oneDNN convolution: cannot create the primitive for " << shape_of(p) << ": " << err.what());
    }
  }
  return *slot;
}

// A 64-byte aligned buffer for the scratchpad and reordered filters.
struct Buffer {
  explicit Buffer(size_t bytes) : ptr(bytes ? std::aligned_alloc(64, (bytes + 63) / 64 * 64) : nullptr) {
    ENGINE_CHECK(ptr || !bytes, "oneDNN convolution: cannot allocate " << bytes << " bytes");
  }
  ~Buffer() { std::free(ptr); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  void* ptr;
};

using Args = std::unordered_map<int, memory>;

// Runs e's primitive. `w` is the caller's filter pointer, given to the primitive as
// `w_arg` (directly or through the reordered copy).
void run(const Entry& e, Args args, float* w, int w_arg, bool w_is_output) {
  const dnnl::engine& eng = cpu_engine();
  dnnl::stream s(eng);
  Buffer scratch(e.scratch.get_size());
  args.insert({DNNL_ARG_SCRATCHPAD, memory(e.scratch, eng, scratch.ptr)});
  memory user_w(e.user_w, eng, w);
  if (!e.reorder) {
    args.insert({w_arg, user_w});
    e.prim.execute(s, args);
  } else {
    Buffer wbuf(e.prim_w.get_size());
    memory prim_w(e.prim_w, eng, wbuf.ptr);
    args.insert({w_arg, prim_w});
    if (!w_is_output) e.w_reorder.execute(s, {{DNNL_ARG_FROM, user_w}, {DNNL_ARG_TO, prim_w}});
    e.prim.execute(s, args);
    if (w_is_output) e.w_reorder.execute(s, {{DNNL_ARG_FROM, prim_w}, {DNNL_ARG_TO, user_w}});
  }
  s.wait();
}

}  // namespace

bool conv2d_onednn_built() { return true; }

void conv2d_fwd_onednn(float* y, const float* x, const float* w, const float* bias, const Conv2dParams& p) {
  const Entry& e = entry(ConvDirection::Forward, p, bias != nullptr);
  const dnnl::engine& eng = cpu_engine();
  Args args{{DNNL_ARG_SRC, memory(e.src, eng, const_cast<float*>(x))}, {DNNL_ARG_DST, memory(e.dst, eng, y)}};
  if (bias) args.insert({DNNL_ARG_BIAS, memory(e.bias, eng, const_cast<float*>(bias))});
  run(e, std::move(args), const_cast<float*>(w), DNNL_ARG_WEIGHTS, false);
}

void conv2d_bwd_data_onednn(float* gx, const float* gy, const float* w, const Conv2dParams& p) {
  const Entry& e = entry(ConvDirection::BackwardData, p, false);
  const dnnl::engine& eng = cpu_engine();
  Args args{{DNNL_ARG_DIFF_SRC, memory(e.src, eng, gx)},
            {DNNL_ARG_DIFF_DST, memory(e.dst, eng, const_cast<float*>(gy))}};
  run(e, std::move(args), const_cast<float*>(w), DNNL_ARG_WEIGHTS, false);
}

void conv2d_bwd_filter_onednn(float* gw, const float* gy, const float* x, const Conv2dParams& p) {
  const Entry& e = entry(ConvDirection::BackwardFilter, p, false);
  const dnnl::engine& eng = cpu_engine();
  Args args{{DNNL_ARG_SRC, memory(e.src, eng, const_cast<float*>(x))},
            {DNNL_ARG_DIFF_DST, memory(e.dst, eng, const_cast<float*>(gy))}};
  run(e, std::move(args), gw, DNNL_ARG_DIFF_WEIGHTS, true);
}

size_t conv2d_onednn_cache_size() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.entries.size();
}

const void* conv2d_onednn_cached(ConvDirection dir, const Conv2dParams& p, bool bias) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.entries.find(key_of(dir, p, bias));
  return it == c.entries.end() ? nullptr : &it->second->prim;
}

}  // namespace engine::kernels

#else  // no oneDNN in this build: the im2col kernels of conv.h serve every convolution

namespace engine::kernels {
namespace {
[[noreturn]] void not_built() {
  ENGINE_THROW(
      "this build has no oneDNN (libdnnl-dev not found or ENGINE_ONEDNN=OFF): "
      "the CPU convolutions use the im2col path");
}
}  // namespace

bool conv2d_onednn_built() { return false; }
void conv2d_fwd_onednn(float*, const float*, const float*, const float*, const Conv2dParams&) { not_built(); }
void conv2d_bwd_data_onednn(float*, const float*, const float*, const Conv2dParams&) { not_built(); }
void conv2d_bwd_filter_onednn(float*, const float*, const float*, const Conv2dParams&) { not_built(); }
size_t conv2d_onednn_cache_size() { return 0; }
const void* conv2d_onednn_cached(ConvDirection, const Conv2dParams&, bool) { return nullptr; }

}  // namespace engine::kernels

#endif
