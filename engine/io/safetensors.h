#pragma once
// The safetensors format (as written by the Python `safetensors` package): an 8-byte
// little-endian header length, a JSON header
//   {"__metadata__": {"key": "value"}, "name": {"dtype": "F32", "shape": [..],
//    "data_offsets": [begin, end]}, ...}
// padded with spaces to a multiple of 8 bytes, then the raw little-endian tensor
// bytes, offsets relative to the end of the header. Files written here load with
// safetensors.torch.load_file and PyTorch's load_state_dict, and vice versa.
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/core/tensor.h"

namespace engine::io {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

struct SafetensorsData {
  std::map<std::string, Tensor> tensors;  // all on the CPU, contiguous
  std::vector<std::string> order;         // names in the order of their data in the file
  std::map<std::string, std::string> metadata;

  bool contains(const std::string& name) const { return tensors.count(name) != 0; }
  // Throws naming the file's tensor and listing a few of the names present.
  const Tensor& at(const std::string& name) const;
};

// "F32", "BF16", ... for the safetensors header; and back (throws on a name that has
// no engine dtype, e.g. "BOOL").
const char* safetensors_dtype_name(DType d);
DType safetensors_dtype_from_name(const std::string& name);

// Writes atomically (see atomic_file.h): on any error the previous file at `path` is
// intact. Tensors may be strided or on a GPU; they are copied to contiguous host
// memory one at a time while the file is written. Names must be unique, non-empty
// and not "__metadata__".
void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// Reads and validates the whole file: header length, JSON, dtype names, shapes,
// offsets inside the data section and sizes matching shape x dtype, no overlaps.
// Errors name the file and, where it applies, the tensor.
SafetensorsData load_safetensors(const std::string& path);

// Only the header: names (in data order), dtypes and shapes, without reading data.
struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  uint64_t begin = 0, end = 0;  // byte offsets into the data section
};
struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;  // sorted by begin offset
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;  // absolute file offset of the data section
};
SafetensorsHeader read_safetensors_header(const std::string& path);

}  // namespace engine::io
