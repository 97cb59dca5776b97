#include "kernels/cpu/conv_onednn.h"

#include "base/check.h"
#include "kernels/cpu/conv_wgrad_gemm.h"

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

// Everything that makes one primitive differ from another.
using Key = std::array<int64_t, 18>;

Key key_of(ConvDirection dir, const Conv2dParams& p, bool bias, ConvDType dt) {
  return {int64_t(dir),
          int64_t(dt),
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
// where the primitive's layouts differ from the caller's, the reorders between the two:
// for the filters (when oneDNN wants other than [K, C/groups, R, S]) and, for NCHW
// activations, to and from channels-last, which the primitive always works in. (With
// plain NCHW oneDNN 2.x takes its im2col + GEMM path, 2-4x slower; its blocked nChw16c
// kernels are as fast as the channels-last ones but gave 3.7e-3 normalised error against
// f64 in the stem gradient of a ResNet step, where channels-last gives 7e-7.) The
// scratchpad and the reordered copies live in per-thread buffers, so that several
// threads may run the same primitive at once.
struct Entry {
  dnnl::primitive prim;
  memory::desc user_src, user_dst, src, dst, user_w, prim_w, bias, scratch;
  dnnl::primitive w_reorder;    // user -> primitive (forward, backward-data), back for backward-filter
  dnnl::primitive src_reorder;  // user -> primitive, back for backward-data (diff_src)
  dnnl::primitive dst_reorder;  // primitive -> user for forward (dst), user -> primitive otherwise (diff_dst)
  bool reorder = false, reorder_src = false, reorder_dst = false;
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
  memory::desc src, dst, any_src, any_dst, user_w, any_w, bias;
  memory::dims strides, dilates, pad_l, pad_r;
};

Geometry geometry(const Conv2dParams& p, ConvDType dt) {
  const Tag act = p.channels_last ? Tag::nhwc : Tag::nchw;
  const auto f32 = dt == ConvDType::bf16 ? memory::data_type::bf16 : memory::data_type::f32;
  Geometry g;
  g.src = memory::desc({p.N, p.C, p.H, p.W}, f32, act);
  g.dst = memory::desc({p.N, p.K, p.P, p.Q}, f32, act);
  // The primitive runs on channels-last activations; NCHW ones are reordered (see Entry).
  g.any_src = p.channels_last ? g.src : memory::desc({p.N, p.C, p.H, p.W}, f32, Tag::nhwc);
  g.any_dst = p.channels_last ? g.dst : memory::desc({p.N, p.K, p.P, p.Q}, f32, Tag::nhwc);
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
                                             g.any_src, g.any_w, g.bias, g.any_dst, g.strides, g.dilates, g.pad_l,
                                             g.pad_r)
           : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                             g.any_src, g.any_w, g.any_dst, g.strides, g.dilates, g.pad_l, g.pad_r);
  return FwdPd(d, attr, cpu_engine());
}

dnnl::primitive reorder_of(const memory::desc& from, const memory::desc& to) {
  return dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), from, cpu_engine(), to));
}

std::unique_ptr<Entry> make_entry(ConvDirection dir, const Conv2dParams& p, bool bias, ConvDType dt) {
  const Geometry g = geometry(p, dt);
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
    dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, g.any_src, g.any_w, g.any_dst,
                                            g.strides, g.dilates, g.pad_l, g.pad_r);
    dnnl::convolution_backward_data::primitive_desc pd(d, attr, cpu_engine(), hint);
    e->prim = dnnl::convolution_backward_data(pd);
    e->src = pd.diff_src_desc();
    e->dst = pd.diff_dst_desc();
    e->prim_w = pd.weights_desc();
    e->scratch = pd.scratchpad_desc();
  } else {
    FwdPd hint = forward_pd(g, false, dnnl::primitive_attr());
    dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, g.any_src, g.any_w, g.any_dst,
                                               g.strides, g.dilates, g.pad_l, g.pad_r);
    dnnl::convolution_backward_weights::primitive_desc pd(d, attr, cpu_engine(), hint);
    e->prim = dnnl::convolution_backward_weights(pd);
    e->src = pd.src_desc();
    e->dst = pd.diff_dst_desc();
    e->prim_w = pd.diff_weights_desc();
    e->scratch = pd.scratchpad_desc();
  }
  e->user_src = g.src;
  e->user_dst = g.dst;
  e->reorder = e->prim_w != e->user_w;
  if (e->reorder)
    e->w_reorder =
        dir == ConvDirection::BackwardFilter ? reorder_of(e->prim_w, e->user_w) : reorder_of(e->user_w, e->prim_w);
  e->reorder_src = e->src != e->user_src;
  if (e->reorder_src)
    e->src_reorder =
        dir == ConvDirection::BackwardData ? reorder_of(e->src, e->user_src) : reorder_of(e->user_src, e->src);
  e->reorder_dst = e->dst != e->user_dst;
  if (e->reorder_dst)
    e->dst_reorder = dir == ConvDirection::Forward ? reorder_of(e->dst, e->user_dst) : reorder_of(e->user_dst, e->dst);
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
const Entry& entry(ConvDirection dir, const Conv2dParams& p, bool bias, ConvDType dt) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  std::unique_ptr<Entry>& slot = c.entries[key_of(dir, p, bias, dt)];
  if (!slot) {
    try {
      slot = make_entry(dir, p, bias, dt);
    } catch (const dnnl::error& err) {
      c.entries.erase(key_of(dir, p, bias, dt));
      ENGINE_THROW("oneDNN convolution: cannot create the " << (dt == ConvDType::bf16 ? "bf16" : "f32")
                                                            << " primitive for " << shape_of(p) << ": " << err.what());
    }
  }
  return *slot;
}

// A 64-byte aligned buffer that only grows: one per thread and purpose, so that the
// scratchpad and the reordered operands cost no allocation (and no page faults) per call.
class Buffer {
 public:
  Buffer() = default;
  ~Buffer() { std::free(ptr_); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  void* get(size_t bytes) {
    if (bytes > size_) {
      std::free(ptr_);
      size_ = (bytes + 63) / 64 * 64;
      ptr_ = std::aligned_alloc(64, size_);
      if (!ptr_) size_ = 0;
      ENGINE_CHECK(ptr_, "oneDNN convolution: cannot allocate " << bytes << " bytes");
    }
    return ptr_;
  }

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
};

enum Slot { kScratch, kWeights, kSrc, kDst, kNumSlots };
void* buffer(Slot s, size_t bytes) {
  thread_local Buffer buffers[kNumSlots];
  return buffers[s].get(bytes);
}

// The caller's operands of one call: x-side (src or diff_src), y-side (dst or diff_dst)
// and the filters, with which of them the primitive writes.
struct Operands {
  void* src;
  void* dst;
  void* w;
  const void* bias;
};

// Runs e's primitive on the caller's memory, through the reordered copies where e has them.
void run(const Entry& e, ConvDirection dir, const Operands& op) {
  const dnnl::engine& eng = cpu_engine();
  dnnl::stream s(eng);
  const bool fwd = dir == ConvDirection::Forward, bwd_data = dir == ConvDirection::BackwardData;
  const int src_arg = bwd_data ? DNNL_ARG_DIFF_SRC : DNNL_ARG_SRC;
  const int dst_arg = fwd ? DNNL_ARG_DST : DNNL_ARG_DIFF_DST;
  const int w_arg = dir == ConvDirection::BackwardFilter ? DNNL_ARG_DIFF_WEIGHTS : DNNL_ARG_WEIGHTS;
  std::unordered_map<int, memory> args;
  args.insert({DNNL_ARG_SCRATCHPAD, memory(e.scratch, eng, buffer(kScratch, e.scratch.get_size()))});
  if (op.bias) args.insert({DNNL_ARG_BIAS, memory(e.bias, eng, const_cast<void*>(op.bias))});
  memory user_src(e.user_src, eng, op.src), user_dst(e.user_dst, eng, op.dst), user_w(e.user_w, eng, op.w);
  memory src = e.reorder_src ? memory(e.src, eng, buffer(kSrc, e.src.get_size())) : user_src;
  memory dst = e.reorder_dst ? memory(e.dst, eng, buffer(kDst, e.dst.get_size())) : user_dst;
  memory w = e.reorder ? memory(e.prim_w, eng, buffer(kWeights, e.prim_w.get_size())) : user_w;
  args.insert({src_arg, src});
  args.insert({dst_arg, dst});
  args.insert({w_arg, w});
  // Inputs into the primitive's layouts, the primitive, outputs back to the caller's.
  if (e.reorder_src && !bwd_data) e.src_reorder.execute(s, {{DNNL_ARG_FROM, user_src}, {DNNL_ARG_TO, src}});
  if (e.reorder_dst && !fwd) e.dst_reorder.execute(s, {{DNNL_ARG_FROM, user_dst}, {DNNL_ARG_TO, dst}});
  if (e.reorder && w_arg == DNNL_ARG_WEIGHTS) e.w_reorder.execute(s, {{DNNL_ARG_FROM, user_w}, {DNNL_ARG_TO, w}});
  e.prim.execute(s, args);
  if (e.reorder_src && bwd_data) e.src_reorder.execute(s, {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, user_src}});
  if (e.reorder_dst && fwd) e.dst_reorder.execute(s, {{DNNL_ARG_FROM, dst}, {DNNL_ARG_TO, user_dst}});
  if (e.reorder && w_arg == DNNL_ARG_DIFF_WEIGHTS) e.w_reorder.execute(s, {{DNNL_ARG_FROM, w}, {DNNL_ARG_TO, user_w}});
  s.wait();
}

}  // namespace

bool conv2d_onednn_built() { return true; }

void conv2d_fwd_onednn(void* y, const void* x, const void* w, const void* bias, const Conv2dParams& p, ConvDType dt) {
  const Entry& e = entry(ConvDirection::Forward, p, bias != nullptr, dt);
  run(e, ConvDirection::Forward, {const_cast<void*>(x), y, const_cast<void*>(w), bias});
}

void conv2d_bwd_data_onednn(void* gx, const void* gy, const void* w, const Conv2dParams& p, ConvDType dt) {
  const Entry& e = entry(ConvDirection::BackwardData, p, false, dt);
  run(e, ConvDirection::BackwardData, {gx, const_cast<void*>(gy), const_cast<void*>(w), nullptr});
}

void conv2d_bwd_filter_onednn(void* gw, const void* gy, const void* x, const Conv2dParams& p, ConvDType dt) {
  if (dt == ConvDType::bf16 && conv2d_wgrad_gemm_fits(p)) {
    conv2d_bwd_filter_bf16_gemm(static_cast<uint16_t*>(gw), static_cast<const uint16_t*>(gy),
                                static_cast<const uint16_t*>(x), p);
    return;
  }
  const Entry& e = entry(ConvDirection::BackwardFilter, p, false, dt);
  run(e, ConvDirection::BackwardFilter, {const_cast<void*>(x), const_cast<void*>(gy), gw, nullptr});
}

namespace {
// Whether oneDNN's effective ISA (what the CPU has, capped by ONEDNN_MAX_CPU_ISA /
// DNNL_MAX_CPU_ISA) includes every feature bit of `want`.
bool effective_isa_has(dnnl::cpu_isa want) {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa()), bits = static_cast<unsigned>(want);
  return (isa & bits) == bits;
}
}  // namespace

// avx512_core_bf16 (AVX-512 BF16) or avx512_core_amx (AMX) carry the bf16 instructions.
bool conv2d_onednn_bf16_native() {
  static const bool native = effective_isa_has(dnnl::cpu_isa::avx512_core_bf16);
  return native;
}

bool conv2d_onednn_amx() {
  static const bool amx = effective_isa_has(dnnl::cpu_isa::avx512_core_amx);
  return amx;
}

size_t conv2d_onednn_cache_size() {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  return c.entries.size();
}

const void* conv2d_onednn_cached(ConvDirection dir, const Conv2dParams& p, bool bias, ConvDType dt) {
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mu);
  auto it = c.entries.find(key_of(dir, p, bias, dt));
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
bool conv2d_onednn_bf16_native() { return false; }
bool conv2d_onednn_amx() { return false; }
void conv2d_fwd_onednn(void*, const void*, const void*, const void*, const Conv2dParams&, ConvDType) { not_built(); }
void conv2d_bwd_data_onednn(void*, const void*, const void*, const Conv2dParams&, ConvDType) { not_built(); }
void conv2d_bwd_filter_onednn(void*, const void*, const void*, const Conv2dParams&, ConvDType) { not_built(); }
size_t conv2d_onednn_cache_size() { return 0; }
const void* conv2d_onednn_cached(ConvDirection, const Conv2dParams&, bool, ConvDType) { return nullptr; }

}  // namespace engine::kernels

#endif
