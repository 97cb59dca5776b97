#pragma once
// Tensor: a strided view (shape, strides, offset, dtype) of a shared Storage on one
// device. Views share storage; contiguous(), clone() and to() copy. Host/device
// transfers are explicit: nothing here copies between devices behind your back.
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "base/check.h"
#include "base/device.h"
#include "base/dtype.h"
#include "engine/core/shape.h"
#include "engine/core/storage.h"

namespace engine {

// How a 4-D [N, C, H, W] tensor is laid out in memory: Contiguous is row-major NCHW,
// ChannelsLast keeps the logical shape but has NHWC strides (C innermost).
enum class MemoryFormat : uint8_t { Contiguous, ChannelsLast };
const char* memory_format_name(MemoryFormat f);
// The strides of a dense tensor of this shape and format (ChannelsLast needs 4 dims).
Strides memory_format_strides(const Shape& shape, MemoryFormat f);

class Tensor {
 public:
  Tensor() = default;  // undefined tensor

  static Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor empty(const Shape& shape, MemoryFormat format, DType dtype = DType::f32, Device device = Device::cpu());
  // Strides must describe a dense, non-overlapping layout (a permutation of row-major).
  static Tensor empty_strided(const Shape& shape, const Strides& strides, DType dtype = DType::f32,
                              Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = Device::cpu());
  static Tensor scalar(double value, DType dtype = DType::f32, Device device = Device::cpu());
  // Copies host values (converted to dtype) into a new tensor on the device.
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape, DType dtype = DType::f32,
                            Device device = Device::cpu());
  template <class T>
  static Tensor from_data(const T* data, const Shape& shape, Device device = Device::cpu());
  static Tensor arange(int64_t n, DType dtype = DType::i64, Device device = Device::cpu());
  // A CPU tensor in page-locked memory when a CUDA device is usable (to(cuda) from it is
  // then asynchronous), in ordinary memory otherwise: is_pinned() tells which.
  static Tensor empty_pinned(const Shape& shape, DType dtype = DType::f32);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Strides& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  int64_t dim() const { return int64_t(shape_.size()); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const { return shape_numel(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const;
  size_t element_size() const { return dtype_size(dtype_); }
  size_t nbytes() const { return size_t(numel()) * element_size(); }
  bool is_contiguous() const;
  // Size-1 dims are ignored, as in is_contiguous(): a tensor can be both formats at once.
  bool is_contiguous(MemoryFormat format) const;
  // Dense and non-overlapping: the elements fill one block of numel() slots in some order.
  bool is_non_overlapping_and_dense() const;
  // ChannelsLast when the strides are those of a channels-last tensor and not (also)
  // row-major; the format ops give their outputs for this input.
  MemoryFormat suggest_memory_format() const;
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  // True when both views share a storage block.
  bool shares_storage(const Tensor& o) const { return storage_ == o.storage_; }
  bool is_pinned() const { return storage_ && storage_->pinned(); }

  // Pointer to element [0,...,0]. data<T>() checks that T matches the dtype.
  void* data_ptr() const;
  template <class T>
  T* data() const;

  // Views (no copy). view() needs a layout that allows it; reshape() copies when it must.
  Tensor view(const Shape& shape) const;
  Tensor reshape(const Shape& shape) const;
  Tensor flatten(int64_t start_dim = 0, int64_t end_dim = -1) const;
  Tensor transpose(int64_t d0, int64_t d1) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor select(int64_t dim, int64_t index) const;  // drops dim
  Tensor expand(const Shape& shape) const;          // broadcast to shape (stride 0)
  Tensor unsqueeze(int64_t dim) const;
  Tensor squeeze(int64_t dim) const;
  Tensor as_strided(const Shape& shape, const Strides& strides, int64_t offset) const;

  // Copies. to(cuda) from a contiguous pinned tensor runs on the device's copy stream
  // and returns at once (the compute stream waits for it); the source must not be
  // written until the copy is done.
  Tensor contiguous() const;
  Tensor contiguous(MemoryFormat format) const;  // returns *this when already in that format
  Tensor clone() const;
  Tensor to(Device device) const;     // returns *this when already there; keeps channels-last
  Tensor to(DType dtype) const;       // returns *this when already that dtype; keeps channels-last
  void copy_from(const Tensor& src);  // same shape (src may broadcast), any dtype, same device
  void fill_(double value);
  void zero_();

  // Host access (copies to the CPU when needed).
  double item() const;
  std::vector<double> to_vector() const;  // logical order
  template <class T>
  std::vector<T> to_vector_as() const;

  std::string str(int64_t max_elems = 64) const;  // header + values
  std::string header() const;                     // Tensor(shape=[..], dtype=.., device=..)

 private:
  Tensor(std::shared_ptr<Storage> s, Shape shape, Strides strides, int64_t offset, DType dtype)
      : storage_(std::move(s)),
        shape_(std::move(shape)),
        strides_(std::move(strides)),
        offset_(offset),
        dtype_(dtype) {}

  std::shared_ptr<Storage> storage_;
  Shape shape_;
  Strides strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::f32;
};

std::ostream& operator<<(std::ostream& o, const Tensor& t);

template <class T>
T* Tensor::data() const {
  ENGINE_CHECK(dtype_of<T>::value == dtype_, "tensor data<" << dtype_name(dtype_of<T>::value) << ">() called on a "
                                                            << dtype_name(dtype_) << " tensor");
  return static_cast<T*>(data_ptr());
}

template <class T>
Tensor Tensor::from_data(const T* data, const Shape& shape, Device device) {
  Tensor t = empty(shape, dtype_of<T>::value, device);
  copy_bytes(t.data_ptr(), device, data, Device::cpu(), t.nbytes());
  return t;
}

template <class T>
std::vector<T> Tensor::to_vector_as() const {
  Tensor c = to(Device::cpu()).to(dtype_of<T>::value).contiguous();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + c.numel());
}

}  // namespace engine
