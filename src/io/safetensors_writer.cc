// write_safetensors: mirrors the reference (Rust) writer exactly so that kiln's files are
// byte-identical to HF's: tensors sorted by dtype rank descending (largest alignment first) then
// name, compact header with keys in the order __metadata__ (sorted), tensors in data order, and
// fields dtype/shape/data_offsets; header padded with spaces to a multiple of 8.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "core/check.h"
#include "io/safetensors.h"

namespace kiln::io {
namespace {

// Position of each dtype in the reference writer's `Dtype` enum (its sort key).
int dtype_rank(DType t) {
  switch (t) {
    case DType::kBool:
      return 0;
    case DType::kUInt8:
      return 1;
    case DType::kInt8:
      return 2;
    case DType::kFloat8E5M2:
      return 3;
    case DType::kFloat8E4M3:
      return 4;
    case DType::kInt16:
      return 5;
    case DType::kUInt16:
      return 6;
    case DType::kFloat16:
      return 7;
    case DType::kBFloat16:
      return 8;
    case DType::kInt32:
      return 9;
    case DType::kUInt32:
      return 10;
    case DType::kFloat32:
      return 11;
    case DType::kFloat64:
      return 12;
    case DType::kInt64:
      return 13;
    case DType::kUInt64:
      return 14;
  }
  return -1;
}

std::string json_string(const std::string& s, const std::string& what) {
  try {
    return nlohmann::json(s).dump();
  } catch (const nlohmann::json::exception&) {
    KILN_FAIL("write_safetensors: {} is not valid UTF-8", what);
  }
}

// Streams a tensor's elements in row-major order whatever its strides.
class FileSink {
 public:
  FileSink(std::FILE* f, const std::string& path) : f_(f), path_(path) {}
  void write(const void* p, size_t n) {
    if (n == 0) return;
    KILN_CHECK(std::fwrite(p, 1, n, f_) == n, "cannot write '{}': {}", path_, std::strerror(errno));
  }
  void write_tensor(const Tensor& t) {
    const int64_t numel = t.numel();
    if (numel == 0) return;
    const size_t es = dtype_size(t.dtype());
    if (t.is_contiguous()) return write(t.raw(), static_cast<size_t>(numel) * es);
    const int nd = t.dim();
    const int64_t inner = t.shape()[nd - 1];
    const int64_t inner_stride = t.strides()[nd - 1];
    const int64_t rows = numel / inner;
    const char* base = static_cast<const char*>(t.raw());
    for (int64_t r = 0; r < rows; ++r) {
      int64_t rem = r, off = 0;
      for (int d = nd - 2; d >= 0; --d) {
        off += (rem % t.shape()[d]) * t.strides()[d];
        rem /= t.shape()[d];
      }
      if (inner_stride == 1) {
        write(base + off * static_cast<int64_t>(es), static_cast<size_t>(inner) * es);
      } else {
        for (int64_t i = 0; i < inner; ++i)
          write(base + (off + i * inner_stride) * static_cast<int64_t>(es), es);
      }
    }
  }

 private:
  std::FILE* f_;
  const std::string& path_;
};

}  // namespace

void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::set<std::string> seen;
  std::vector<const std::pair<std::string, Tensor>*> order;
  for (const auto& entry : tensors) {
    const auto& [name, t] = entry;
    KILN_CHECK(!name.empty(), "write_safetensors '{}': empty tensor name", path);
    KILN_CHECK(name != "__metadata__", "write_safetensors '{}': '__metadata__' is reserved", path);
    KILN_CHECK(seen.insert(name).second, "write_safetensors '{}': duplicate tensor '{}'", path,
               name);
    KILN_CHECK(t.defined(), "write_safetensors '{}': tensor '{}' is undefined", path, name);
    KILN_CHECK(t.device().is_cpu(), "write_safetensors '{}': tensor '{}' is on {}, not cpu", path,
               name, t.device().str());
    order.push_back(&entry);
  }
  std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    const int ra = dtype_rank(a->second.dtype()), rb = dtype_rank(b->second.dtype());
    return ra != rb ? ra > rb : a->first < b->first;
  });

  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!first) header += ',';
      header += json_string(k, "a metadata key");
      header += ':';
      header += json_string(v, fmt::format("metadata value of '{}'", k));
      first = false;
    }
    header += "}";
  }
  size_t offset = 0;
  for (const auto* e : order) {
    const Tensor& t = e->second;
    std::string shape;
    for (int64_t d : t.shape()) {
      if (!shape.empty()) shape += ',';
      shape += std::to_string(d);
    }
    if (header.size() > 1) header += ",";
    header += fmt::format("{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
                          json_string(e->first, "a tensor name"), safetensors_name(t.dtype()),
                          shape, offset, offset + t.nbytes());
    offset += t.nbytes();
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');

  static std::atomic<int> counter{0};
  const std::string tmp = fmt::format("{}.tmp-{}-{}", path, ::getpid(), counter++);
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  KILN_CHECK(f != nullptr, "cannot create '{}': {}", tmp, std::strerror(errno));
  try {
    FileSink sink(f, tmp);
    unsigned char len[8];
    for (int i = 0; i < 8; ++i) len[i] = static_cast<unsigned char>(header.size() >> (8 * i));
    sink.write(len, 8);
    sink.write(header.data(), header.size());
    for (const auto* e : order) sink.write_tensor(e->second);
    KILN_CHECK(std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0, "cannot write '{}': {}", tmp,
               std::strerror(errno));
  } catch (...) {
    std::fclose(f);
    std::remove(tmp.c_str());
    throw;
  }
  const bool closed = std::fclose(f) == 0;
  const int err = errno;
  if (!closed || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e2 = closed ? errno : err;
    std::remove(tmp.c_str());
    KILN_FAIL("cannot write '{}': {}", path, std::strerror(e2));
  }
}

}  // namespace kiln::io
