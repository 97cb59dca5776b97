#include "engine/io/npy.h"

#include "engine/io/atomic_file.h"

namespace engine::io {

namespace {

const char* npy_descr(DType d) {
  switch (d) {
    case DType::f32: return "<f4";
    case DType::f64: return "<f8";
    case DType::i32: return "<i4";
    case DType::i64: return "<i8";
    case DType::u8: return "|u1";
    default: break;
  }
  ENGINE_THROW("save_npy: no .npy type for " << dtype_name(d) << " (f32, f64, i32, i64 and u8 are written)");
}

}  // namespace

std::string npy_header(DType dtype, const Shape& shape) {
  std::string dims;
  for (int64_t s : shape) dims += std::to_string(s) + ", ";
  if (shape.size() > 1) dims.erase(dims.size() - 1);  // (N, D) but (N,) for one dim
  std::string dict =
      std::string("{'descr': '") + npy_descr(dtype) + "', 'fortran_order': False, 'shape': (" + dims + "), }";
  const std::string magic("\x93NUMPY\x01\x00", 8);
  size_t total = magic.size() + 2 + dict.size() + 1;
  dict.append((64 - total % 64) % 64, ' ');
  dict += '\n';
  const size_t len = dict.size();
  ENGINE_CHECK(len < 65536, "save_npy: header too long for version 1.0");
  return magic + char(len & 0xff) + char(len >> 8) + dict;
}

void save_npy(const std::string& path, const Tensor& t) {
  const std::string header = npy_header(t.dtype(), t.shape());
  Tensor host = t.to(Device::cpu()).contiguous();
  write_file_atomic(path, [&](AtomicFileWriter& w) {
    w.write(header);
    w.write(host.data_ptr(), host.nbytes());
  });
}

}  // namespace engine::io
