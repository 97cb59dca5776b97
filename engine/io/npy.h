#pragma once
// NumPy's .npy format, version 1.0: the magic "\x93NUMPY", version 1 0, a little-endian
// u16 header length, an ASCII dict {'descr': '<f4', 'fortran_order': False, 'shape':
// (N, D), } padded with spaces and a newline so that the data starts on a multiple of
// 64 bytes, then the raw little-endian data in C order. numpy.load reads it.
#include <string>

#include "engine/core/tensor.h"

namespace engine::io {

// The header (magic to newline) of an array of this dtype and shape.
std::string npy_header(DType dtype, const Shape& shape);
// Writes atomically (atomic_file.h); f32, f64, i32, i64, u8 tensors on any device.
void save_npy(const std::string& path, const Tensor& t);

}  // namespace engine::io
