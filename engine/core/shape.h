#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace engine {

using Shape = std::vector<int64_t>;
using Strides = std::vector<int64_t>;

int64_t shape_numel(const Shape& s);
Strides contiguous_strides(const Shape& s);
std::string shape_str(const std::vector<int64_t>& s);  // "[2, 3, 4]"
// Wraps a possibly negative axis into [0, ndim); throws naming the op on a bad axis.
int64_t wrap_axis(int64_t axis, int64_t ndim, const char* op);
// Numpy broadcasting of two shapes; throws with both shapes and the op name.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace engine
