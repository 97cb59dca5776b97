#include "engine/core/tensor.h"

#include <algorithm>
#include <cmath>
#include <iomanip>
#include <sstream>

#include "engine/core/attrs.h"
#include "engine/core/dispatch.h"

namespace engine {

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) ENGINE_CHECK(d >= 0, "tensor shape " << shape_str(shape) << " has a negative size");
  auto st = std::make_shared<Storage>(size_t(shape_numel(shape)) * dtype_size(dtype), device);
  return Tensor(std::move(st), shape, contiguous_strides(shape), 0, dtype);
}

const char* memory_format_name(MemoryFormat f) {
  return f == MemoryFormat::ChannelsLast ? "channels_last" : "contiguous";
}

Strides memory_format_strides(const Shape& shape, MemoryFormat f) {
  if (f == MemoryFormat::Contiguous) return contiguous_strides(shape);
  ENGINE_CHECK(shape.size() == 4, "channels_last needs a 4-D [N, C, H, W] shape, got " << shape_str(shape));
  const int64_t C = shape[1], H = shape[2], W = shape[3];
  return {H * W * C, 1, W * C, C};
}

Tensor Tensor::empty(const Shape& shape, MemoryFormat format, DType dtype, Device device) {
  return empty_strided(shape, memory_format_strides(shape, format), dtype, device);
}

Tensor Tensor::empty_strided(const Shape& shape, const Strides& strides, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  ENGINE_CHECK(strides.size() == shape.size(),
               "empty_strided: strides " << shape_str(strides) << " for shape " << shape_str(shape));
  t.strides_ = strides;
  ENGINE_CHECK(t.is_non_overlapping_and_dense(),
               "empty_strided: strides " << shape_str(strides) << " are not dense for shape " << shape_str(shape));
  return t;
}

Tensor Tensor::empty_pinned(const Shape& shape, DType dtype) {
  for (int64_t d : shape) ENGINE_CHECK(d >= 0, "tensor shape " << shape_str(shape) << " has a negative size");
  auto st = std::make_shared<Storage>(size_t(shape_numel(shape)) * dtype_size(dtype), Device::cpu(), true);
  return Tensor(std::move(st), shape, contiguous_strides(shape), 0, dtype);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.zero_();
  return t;
}
Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}
Tensor Tensor::scalar(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, DType dtype, Device device) {
  ENGINE_CHECK(int64_t(values.size()) == shape_numel(shape),
               "from_vector: " << values.size() << " values for shape " << shape_str(shape));
  Tensor host = from_data(values.data(), shape, Device::cpu());
  return host.to(dtype).to(device);
}

Tensor Tensor::arange(int64_t n, DType dtype, Device device) {
  std::vector<double> v(size_t(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = double(i);
  return from_vector(v, {n}, dtype, device);
}

int64_t Tensor::size(int64_t d) const { return shape_[size_t(wrap_axis(d, dim(), "size"))]; }

Device Tensor::device() const { return storage_ ? storage_->device() : Device::cpu(); }

bool Tensor::is_contiguous() const {
  int64_t expect = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape_[size_t(i)] == 1) continue;
    if (strides_[size_t(i)] != expect) return false;
    expect *= shape_[size_t(i)];
  }
  return true;
}

bool Tensor::is_contiguous(MemoryFormat format) const {
  if (format == MemoryFormat::Contiguous) return is_contiguous();
  if (dim() != 4) return false;
  const Strides want = memory_format_strides(shape_, MemoryFormat::ChannelsLast);
  for (size_t i = 0; i < 4; ++i)
    if (shape_[i] != 1 && strides_[i] != want[i]) return false;
  return true;
}

bool Tensor::is_non_overlapping_and_dense() const {
  if (numel() == 0) return true;  // no element, no memory touched (the strides of [3, 0, 5] are [0, 5, 1])
  std::vector<size_t> order;
  for (size_t i = 0; i < shape_.size(); ++i)
    if (shape_[i] != 1) order.push_back(i);
  // Innermost first; equal strides on two dims of size > 1 overlap and fail below.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return strides_[a] < strides_[b]; });
  int64_t expect = 1;
  for (size_t i : order) {
    if (strides_[i] != expect) return false;
    expect *= shape_[i];
  }
  return true;
}

MemoryFormat Tensor::suggest_memory_format() const {
  if (dim() != 4 || !is_contiguous(MemoryFormat::ChannelsLast)) return MemoryFormat::Contiguous;
  if (!is_contiguous()) return MemoryFormat::ChannelsLast;
  // Both hold when C == 1 or H == W == 1: the exact strides say how it was made.
  return strides_ == memory_format_strides(shape_, MemoryFormat::ChannelsLast) && strides_ != contiguous_strides(shape_)
             ? MemoryFormat::ChannelsLast
             : MemoryFormat::Contiguous;
}

void* Tensor::data_ptr() const {
  ENGINE_CHECK(defined(), "data_ptr() of an undefined tensor");
  return static_cast<char*>(storage_->data()) + offset_ * int64_t(element_size());
}

static Shape infer_shape(const Shape& shape, int64_t numel, const char* op, const Shape& from) {
  Shape out = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      ENGINE_CHECK(infer < 0, op << ": more than one -1 in " << shape_str(shape));
      infer = int64_t(i);
    } else {
      ENGINE_CHECK(out[i] >= 0, op << ": bad size in " << shape_str(shape));
      known *= out[i];
    }
  }
  if (infer >= 0) {
    ENGINE_CHECK(known > 0 && numel % known == 0,
                 op << ": cannot view " << shape_str(from) << " as " << shape_str(shape));
    out[size_t(infer)] = numel / known;
  }
  ENGINE_CHECK(shape_numel(out) == numel,
               op << ": cannot view " << shape_str(from) << " (" << numel << " elements) as " << shape_str(shape));
  return out;
}

Tensor Tensor::view(const Shape& shape) const {
  Shape s = infer_shape(shape, numel(), "view", shape_);
  ENGINE_CHECK(is_contiguous(), "view: tensor with shape " << shape_str(shape_) << " and strides "
                                                           << shape_str(strides_)
                                                           << " is not contiguous; use reshape()");
  return Tensor(storage_, s, contiguous_strides(s), offset_, dtype_);
}

Tensor Tensor::reshape(const Shape& shape) const { return is_contiguous() ? view(shape) : contiguous().view(shape); }

Tensor Tensor::flatten(int64_t start_dim, int64_t end_dim) const {
  if (dim() == 0) return reshape({1});
  int64_t s = wrap_axis(start_dim, dim(), "flatten"), e = wrap_axis(end_dim, dim(), "flatten");
  Shape out(shape_.begin(), shape_.begin() + s);
  int64_t m = 1;
  for (int64_t i = s; i <= e; ++i) m *= shape_[size_t(i)];
  out.push_back(m);
  out.insert(out.end(), shape_.begin() + e + 1, shape_.end());
  return reshape(out);
}

Tensor Tensor::transpose(int64_t d0, int64_t d1) const {
  std::vector<int64_t> p(static_cast<size_t>(dim()));
  for (int64_t i = 0; i < dim(); ++i) p[size_t(i)] = i;
  std::swap(p[size_t(wrap_axis(d0, dim(), "transpose"))], p[size_t(wrap_axis(d1, dim(), "transpose"))]);
  return permute(p);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  ENGINE_CHECK(int64_t(dims.size()) == dim(),
               "permute: " << shape_str(dims) << " does not match a tensor of shape " << shape_str(shape_));
  Shape s(dims.size());
  Strides st(dims.size());
  std::vector<bool> seen(dims.size(), false);
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = wrap_axis(dims[i], dim(), "permute");
    ENGINE_CHECK(!seen[size_t(d)], "permute: repeated axis in " << shape_str(dims));
    seen[size_t(d)] = true;
    s[i] = shape_[size_t(d)];
    st[i] = strides_[size_t(d)];
  }
  return Tensor(storage_, s, st, offset_, dtype_);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  d = wrap_axis(d, dim(), "slice");
  int64_t n = shape_[size_t(d)];
  ENGINE_CHECK(step >= 1, "slice: step must be >= 1, got " << step);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Shape s = shape_;
  Strides st = strides_;
  s[size_t(d)] = (end - start + step - 1) / step;
  st[size_t(d)] = strides_[size_t(d)] * step;
  return Tensor(storage_, s, st, offset_ + start * strides_[size_t(d)], dtype_);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_axis(d, dim(), "select");
  int64_t n = shape_[size_t(d)];
  if (index < 0) index += n;
  ENGINE_CHECK(index >= 0 && index < n, "select: index " << index << " out of range for size " << n);
  Shape s = shape_;
  Strides st = strides_;
  s.erase(s.begin() + d);
  st.erase(st.begin() + d);
  return Tensor(storage_, s, st, offset_ + index * strides_[size_t(d)], dtype_);
}

Tensor Tensor::expand(const Shape& shape) const {
  ENGINE_CHECK(shape.size() >= shape_.size(),
               "expand: cannot expand " << shape_str(shape_) << " to " << shape_str(shape));
  size_t lead = shape.size() - shape_.size();
  Strides st(shape.size(), 0);
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i < lead) continue;
    int64_t have = shape_[i - lead];
    ENGINE_CHECK(have == shape[i] || have == 1,
                 "expand: cannot expand " << shape_str(shape_) << " to " << shape_str(shape));
    st[i] = have == shape[i] ? strides_[i - lead] : 0;
  }
  return Tensor(storage_, shape, st, offset_, dtype_);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_axis(d, dim() + 1, "unsqueeze");
  Shape s = shape_;
  Strides st = strides_;
  int64_t stride = d < dim() ? strides_[size_t(d)] * shape_[size_t(d)] : 1;
  s.insert(s.begin() + d, 1);
  st.insert(st.begin() + d, stride);
  return Tensor(storage_, s, st, offset_, dtype_);
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_axis(d, dim(), "squeeze");
  ENGINE_CHECK(shape_[size_t(d)] == 1, "squeeze: dim " << d << " of " << shape_str(shape_) << " is not 1");
  return select(d, 0);
}

Tensor Tensor::as_strided(const Shape& shape, const Strides& strides, int64_t offset) const {
  ENGINE_CHECK(shape.size() == strides.size(), "as_strided: shape and strides differ in length");
  int64_t max_off = offset;
  for (size_t i = 0; i < shape.size(); ++i)
    if (shape[i] > 0) max_off += (shape[i] - 1) * strides[i];
  ENGINE_CHECK(offset >= 0 && (shape_numel(shape) == 0 || size_t(max_off + 1) * element_size() <= storage_->nbytes()),
               "as_strided: view out of the storage's bounds");
  return Tensor(storage_, shape, strides, offset, dtype_);
}

// The copies and fills below dispatch their ops directly: core sits below the
// functional ops (engine/ops), which build on these methods.
namespace {
Tensor copy_as(const Tensor& src, DType dtype) {
  Tensor out = Tensor::empty(src.shape(), dtype, src.device());
  if (out.numel() > 0) dispatch(OpCall{OpKind::COPY, {src}, {out}, nullptr});
  return out;
}
}  // namespace

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return copy_as(*this, dtype_);
}

Tensor Tensor::contiguous(MemoryFormat format) const {
  if (format == MemoryFormat::Contiguous) return contiguous();
  if (is_contiguous(format) && suggest_memory_format() == format) return *this;
  Tensor out = empty(shape_, format, dtype_, device());
  out.copy_from(*this);
  return out;
}

Tensor Tensor::clone() const { return copy_as(*this, dtype_); }

Tensor Tensor::to(DType dtype) const {
  if (dtype == dtype_) return *this;
  if (suggest_memory_format() == MemoryFormat::ChannelsLast) {
    Tensor out = empty(shape_, MemoryFormat::ChannelsLast, dtype, device());
    out.copy_from(*this);
    return out;
  }
  return copy_as(*this, dtype);
}

Tensor Tensor::to(Device device) const {
  if (device == this->device()) return *this;
  // A channels-last tensor is copied as it lies and stays channels-last.
  Tensor src = suggest_memory_format() == MemoryFormat::ChannelsLast ? *this : contiguous();
  Tensor out = empty_strided(shape_, src.strides_, dtype_, device);
  if (src.is_pinned() && device.is_cuda()) {
    pinned_memory_hooks()->copy_to_device_async(out.data_ptr(), src.data_ptr(), src.nbytes(), device.index);
    return out;
  }
  copy_bytes(out.data_ptr(), device, src.data_ptr(), src.device(), src.nbytes());
  return out;
}

void Tensor::copy_from(const Tensor& src) {
  Tensor s = src.expand(shape_);
  if (numel() > 0) dispatch(OpCall{OpKind::COPY, {s}, {*this}, nullptr});
}
void Tensor::fill_(double value) {
  FillAttrs a{value};
  if (numel() > 0) dispatch(OpCall{OpKind::FILL, {}, {*this}, &a});
}
void Tensor::zero_() { fill_(0.0); }

std::vector<double> Tensor::to_vector() const { return to_vector_as<double>(); }

double Tensor::item() const {
  ENGINE_CHECK(numel() == 1, "item(): tensor " << header() << " has " << numel() << " elements, expected 1");
  return to_vector()[0];
}

std::string Tensor::header() const {
  std::ostringstream o;
  o << "Tensor(shape=" << shape_str(shape_) << ", dtype=" << dtype_name(dtype_) << ", device=" << device().str() << ")";
  return o.str();
}

std::string Tensor::str(int64_t max_elems) const {
  std::ostringstream o;
  o << header();
  if (!defined()) return "Tensor(undefined)";
  std::vector<double> v = to_vector();
  int64_t n = std::min<int64_t>(int64_t(v.size()), max_elems);
  o << "\n[";
  o << std::setprecision(6);
  for (int64_t i = 0; i < n; ++i) o << (i ? ", " : "") << v[size_t(i)];
  if (n < int64_t(v.size())) o << ", ... (" << v.size() << " elements)";
  o << "]";
  return o.str();
}

std::ostream& operator<<(std::ostream& o, const Tensor& t) { return o << t.str(); }

}  // namespace engine
