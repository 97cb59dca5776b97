#include "engine/io/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/io/atomic_file.h"
#include "engine/io/json.h"

// The format is little-endian; so is every machine this engine targets.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors I/O assumes a little-endian host");

namespace engine::io {
namespace {

// The Python implementation refuses headers above 100 MB; so do we, which also
// keeps a corrupt length from turning into a huge allocation.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;
// The largest product of the sizes of an empty tensor's shape (its strides, times any
// dtype's size, stay within int64).
constexpr uint64_t kMaxEmptyExtent = uint64_t(1) << 60;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

void pread_all(int fd, void* dst, size_t n, uint64_t off, const std::string& path, const std::string& what) {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, off_t(off));
    if (r < 0 && errno == EINTR) continue;
    ENGINE_CHECK(r > 0, "safetensors file '" << path << "': reading " << what << " failed: "
                                             << (r < 0 ? std::strerror(errno) : "unexpected end of file"));
    p += r;
    n -= size_t(r);
    off += uint64_t(r);
  }
}

// Parses and validates the header of an open file.
SafetensorsHeader parse_header(int fd, const std::string& path) {
  struct stat st;
  ENGINE_CHECK(::fstat(fd, &st) == 0, "safetensors file '" << path << "': stat failed: " << std::strerror(errno));
  uint64_t file_size = uint64_t(st.st_size);
  ENGINE_CHECK(file_size >= 8, "safetensors file '" << path << "' is too short (" << file_size
                                                    << " bytes) to hold the 8-byte header length");
  unsigned char len_bytes[8];
  pread_all(fd, len_bytes, 8, 0, path, "the header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  ENGINE_CHECK(header_len <= kMaxHeaderBytes && header_len <= file_size - 8,
               "safetensors file '" << path << "': header length " << header_len << " exceeds the file (" << file_size
                                    << " bytes) or the 100 MB limit; the file is truncated or "
                                    << "not a safetensors file");
  std::string text(size_t(header_len), '\0');
  if (header_len > 0) pread_all(fd, text.data(), text.size(), 8, path, "the header");

  JsonLimits limits;
  limits.max_bytes = kMaxHeaderBytes;
  JsonParse parsed = parse_json(text, limits);
  ENGINE_CHECK(parsed.ok, "safetensors file '" << path << "': the header is " << parsed.error);
  const nlohmann::json& j = parsed.value;
  ENGINE_CHECK(j.is_object(), "safetensors file '" << path << "': the header is not a JSON object");

  SafetensorsHeader h;
  h.data_start = 8 + header_len;
  const uint64_t data_size = file_size - h.data_start;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      ENGINE_CHECK(v.is_object(), "safetensors file '" << path << "': __metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        ENGINE_CHECK(m.value().is_string(),
                     "safetensors file '" << path << "': metadata value of '" << m.key() << "' is not a string");
        h.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "safetensors file '" + path + "', tensor '" + name + "'";
    ENGINE_CHECK(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"),
                 where << ": entry needs dtype, shape and data_offsets");
    ENGINE_CHECK(v["dtype"].is_string(), where << ": dtype is not a string");
    SafetensorsEntry e;
    e.name = name;
    try {
      e.dtype = safetensors_dtype_from_name(v["dtype"].get<std::string>());
    } catch (const Error& err) {
      ENGINE_THROW(where << ": " << err.message());
    }
    const nlohmann::json& shape = v["shape"];
    ENGINE_CHECK(shape.is_array(), where << ": shape is not an array");
    for (const auto& d : shape) {
      ENGINE_CHECK(d.is_number_integer() && d.get<int64_t>() >= 0 && d.get<int64_t>() <= (int64_t(1) << 40),
                   where << ": bad shape " << shape.dump());
      e.shape.push_back(d.get<int64_t>());
    }
    // The product of the non-zero sizes: bounded by the data section when the tensor has
    // elements, so that the byte count cannot overflow, and by 2^60 when it has none
    // (any size 0), because its strides are such products all the same.
    const bool empty = std::find(e.shape.begin(), e.shape.end(), 0) != e.shape.end();
    uint64_t extent = 1;
    for (int64_t size : e.shape) {
      const uint64_t n = uint64_t(size);
      if (n == 0) continue;
      if (empty)
        ENGINE_CHECK(extent <= kMaxEmptyExtent / n, where << ": shape " << shape.dump()
                                                          << " has no elements, but the product of its non-zero sizes "
                                                          << "passes 2^60: no tensor can be laid out with it");
      else
        ENGINE_CHECK(extent <= data_size / n, where << ": shape " << shape.dump() << " needs more bytes than the "
                                                    << data_size << "-byte data section holds");
      extent *= n;
    }
    const uint64_t numel = empty ? 0 : extent;
    const nlohmann::json& off = v["data_offsets"];
    ENGINE_CHECK(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
                 where << ": data_offsets must be [begin, end], got " << off.dump());
    e.begin = off[0].get<uint64_t>();
    e.end = off[1].get<uint64_t>();
    ENGINE_CHECK(e.begin <= e.end && e.end <= data_size, where << ": data_offsets [" << e.begin << ", " << e.end
                                                               << "] lie outside the " << data_size
                                                               << "-byte data section (truncated file?)");
    uint64_t expect = numel * dtype_size(e.dtype);
    ENGINE_CHECK(e.end - e.begin == expect, where << ": data_offsets [" << e.begin << ", " << e.end << "] span "
                                                  << (e.end - e.begin) << " bytes, but shape " << shape.dump() << " of "
                                                  << v["dtype"].get<std::string>() << " needs " << expect);
    h.entries.push_back(std::move(e));
  }
  std::sort(h.entries.begin(), h.entries.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < h.entries.size(); ++i) {
    const SafetensorsEntry& a = h.entries[i - 1];
    const SafetensorsEntry& b = h.entries[i];
    ENGINE_CHECK(b.begin >= a.end, "safetensors file '" << path << "': the data of tensors '" << a.name << "' and '"
                                                        << b.name << "' overlap");
  }
  return h;
}

}  // namespace

const char* safetensors_dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::bf16: return "BF16";
    case DType::f16: return "F16";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
  }
  ENGINE_THROW("safetensors: unknown dtype " << int(d));
}

DType safetensors_dtype_from_name(const std::string& name) {
  for (int i = 0; i < kNumDTypes; ++i) {
    DType d = DType(i);
    if (name == safetensors_dtype_name(d)) return d;
  }
  ENGINE_THROW("unsupported dtype '" << name << "' (supported: F32, F64, BF16, F16, I32, I64, U8)");
}

const Tensor& SafetensorsData::at(const std::string& name) const {
  auto it = tensors.find(name);
  if (it != tensors.end()) return it->second;
  std::string some;
  int n = 0;
  for (const auto& kv : tensors) {
    if (n++ == 8) {
      some += ", ...";
      break;
    }
    some += (n > 1 ? ", " : "") + kv.first;
  }
  ENGINE_THROW("safetensors: no tensor named '" << name << "' (have " << tensors.size() << ": " << some << ")");
}

void save_safetensors(const std::string& path, const NamedTensors& tensors,
                      const std::map<std::string, std::string>& metadata) {
  // Validate everything before the first byte is written.
  std::set<std::string> names;
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& kv : metadata) m[kv.first] = kv.second;
    header["__metadata__"] = m;
  }
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    ENGINE_CHECK(!name.empty() && name != "__metadata__",
                 "save_safetensors('" << path << "'): invalid tensor name '" << name << "'");
    ENGINE_CHECK(names.insert(name).second,
                 "save_safetensors('" << path << "'): duplicate tensor name '" << name << "'");
    ENGINE_CHECK(t.defined(), "save_safetensors('" << path << "'): tensor '" << name << "' is undefined");
    nlohmann::ordered_json e = nlohmann::ordered_json::object();
    e["dtype"] = safetensors_dtype_name(t.dtype());
    e["shape"] = t.shape();
    e["data_offsets"] = {offset, offset + uint64_t(t.nbytes())};
    header[name] = e;
    offset += uint64_t(t.nbytes());
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');
  unsigned char len_bytes[8];
  uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) len_bytes[i] = static_cast<unsigned char>(len >> (8 * i));

  write_file_atomic(path, [&](AtomicFileWriter& w) {
    w.write(len_bytes, 8);
    w.write(text);
    for (const auto& kv : tensors) {
      Tensor c = kv.second.to(Device::cpu()).contiguous();
      if (c.nbytes() > 0) w.write(c.data_ptr(), c.nbytes());
    }
  });
}

SafetensorsHeader read_safetensors_header(const std::string& path) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ENGINE_CHECK(f.fd >= 0, "cannot open safetensors file '" << path << "': " << std::strerror(errno));
  return parse_header(f.fd, path);
}

SafetensorsData load_safetensors(const std::string& path) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ENGINE_CHECK(f.fd >= 0, "cannot open safetensors file '" << path << "': " << std::strerror(errno));
  SafetensorsHeader h = parse_header(f.fd, path);
  SafetensorsData out;
  out.metadata = std::move(h.metadata);
  for (const SafetensorsEntry& e : h.entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype, Device::cpu());
    if (t.nbytes() > 0)
      pread_all(f.fd, t.data_ptr(), t.nbytes(), h.data_start + e.begin, path, "tensor '" + e.name + "'");
    out.order.push_back(e.name);
    out.tensors.emplace(e.name, std::move(t));
  }
  return out;
}

}  // namespace engine::io
