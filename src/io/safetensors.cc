#include "io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string_view>
#include <tuple>

#include "core/check.h"
#include "io/json_parse.h"
#include "io/mapped_file.h"

namespace kiln::io {
namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference reader's limit
constexpr int kMaxHeaderDepth = 8;                 // real headers nest 3 deep

// A JSON number that is a non-negative integer fitting in uint64; false for anything else.
bool as_uint(const json& j, uint64_t* out) {
  if (j.is_number_unsigned()) {
    *out = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<int64_t>() >= 0) {
    *out = static_cast<uint64_t>(j.get<int64_t>());
    return true;
  }
  return false;
}

TensorInfo parse_entry(const std::string& where, const std::string& name, const json& e,
                       size_t data_size) {
  const std::string t = fmt::format("{}: tensor '{}'", where, name);
  KILN_CHECK(e.is_object(), "{} must be an object, got {}", t, json_type_name(e));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    KILN_CHECK(e.contains(key), "{} has no \"{}\"", t, key);
  const json& jd = e["dtype"];
  const json& js = e["shape"];
  const json& jo = e["data_offsets"];
  KILN_CHECK(jd.is_string(), "{}: \"dtype\" must be a string, got {}", t, json_type_name(jd));
  KILN_CHECK(js.is_array(), "{}: \"shape\" must be an array, got {}", t, json_type_name(js));
  KILN_CHECK(jo.is_array() && jo.size() == 2, "{}: \"data_offsets\" must be [begin, end], got {}",
             t, jo.dump());

  TensorInfo info;
  const std::string& dname = jd.get_ref<const std::string&>();
  KILN_CHECK(dtype_from_safetensors(dname, &info.dtype),
             "{}: unknown dtype '{}' (kiln reads F64 F32 F16 BF16 F8_E4M3 F8_E5M2 I64 I32 I16 I8 "
             "U64 U32 U16 U8 BOOL)",
             t, dname);

  // numel * dtype_size in uint64 with overflow checks: a huge shape must not wrap to a small size.
  uint64_t bytes = dtype_size(info.dtype);
  bool overflow = false;
  for (size_t i = 0; i < js.size(); ++i) {
    uint64_t d = 0;
    KILN_CHECK(
        as_uint(js[i], &d) && d <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()),
        "{}: shape {} has a dimension that is not a non-negative integer", t, js.dump());
    info.shape.push_back(static_cast<int64_t>(d));
    overflow |= __builtin_mul_overflow(bytes, d, &bytes);
  }
  KILN_CHECK(!overflow, "{}: shape {} of {} is too large (its byte size overflows)", t, js.dump(),
             dname);

  uint64_t begin = 0, end = 0;
  KILN_CHECK(as_uint(jo[0], &begin) && as_uint(jo[1], &end),
             "{}: data_offsets {} must be non-negative integers", t, jo.dump());
  KILN_CHECK(begin <= end, "{}: data_offsets {} has begin > end", t, jo.dump());
  KILN_CHECK(end <= data_size, "{}: data_offsets {} run past the data section ({} bytes)", t,
             jo.dump(), data_size);
  KILN_CHECK(end - begin == bytes, "{}: data_offsets {} span {} bytes but {} {} needs {}", t,
             jo.dump(), end - begin, dname, shape_to_string(info.shape), bytes);
  info.begin = begin;
  info.end = end;
  return info;
}

// Non-empty tensors must tile [0, data_size) exactly, as the reference reader requires: an overlap
// means aliasing, a gap or a tail means a header that does not describe the file.
void check_layout(const std::string& where, const std::map<std::string, TensorInfo>& infos,
                  size_t data_size) {
  std::vector<std::tuple<size_t, size_t, const std::string*>> spans;
  for (const auto& [name, info] : infos)
    if (info.end > info.begin) spans.emplace_back(info.begin, info.end, &name);
  std::sort(spans.begin(), spans.end());
  size_t pos = 0;
  const std::string* prev = nullptr;
  for (const auto& [b, e, name] : spans) {
    KILN_CHECK(b >= pos, "{}: tensors '{}' and '{}' overlap (byte {} is in both)", where, *prev,
               *name, b);
    KILN_CHECK(b == pos, "{}: bytes [{}, {}) of the data section belong to no tensor", where, pos,
               b);
    pos = e;
    prev = name;
  }
  KILN_CHECK(pos == data_size,
             "{}: the data section has {} bytes but the tensors cover only {} (trailing bytes)",
             where, data_size, pos);
}

}  // namespace

SafetensorsFile::~SafetensorsFile() = default;

std::shared_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->path_ = path;
  f->file_ = std::make_unique<MappedFile>(path);
  const std::string where = fmt::format("safetensors file '{}'", path);
  const size_t size = f->file_->size();
  KILN_CHECK(size > 0, "{} is empty", where);
  KILN_CHECK(size >= 8, "{} is {} bytes, too short for the 8-byte header length", where, size);

  uint64_t n = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(f->file_->data());
  for (int i = 7; i >= 0; --i) n = (n << 8) | p[i];  // little-endian u64
  KILN_CHECK(n <= kMaxHeaderBytes,
             "{}: header length {} exceeds the {}-byte limit (not a "
             "safetensors file?)",
             where, n, kMaxHeaderBytes);
  KILN_CHECK(n <= size - 8,
             "{}: header length {} exceeds the {} bytes after the length field "
             "(truncated file?)",
             where, n, size - 8);
  KILN_CHECK(n >= 2, "{}: header length {} is too short for a JSON object", where, n);

  const std::string_view text(f->file_->data() + 8, n);
  const json header =
      parse_json(text, where + " header", /*reject_duplicates=*/true, kMaxHeaderDepth);
  KILN_CHECK(header.is_object(), "{}: header must be a JSON object, got {}", where,
             json_type_name(header));

  f->data_section_ = f->file_->data() + 8 + n;
  f->data_size_ = size - 8 - n;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (value.is_null()) continue;
      KILN_CHECK(value.is_object(), "{}: __metadata__ must be an object, got {}", where,
                 json_type_name(value));
      for (const auto& [mk, mv] : value.items()) {
        KILN_CHECK(mv.is_string(), "{}: __metadata__ value '{}' must be a string, got {}", where,
                   mk, json_type_name(mv));
        f->metadata_[mk] = mv.get<std::string>();
      }
      continue;
    }
    f->infos_[key] = parse_entry(where, key, value, f->data_size_);
  }
  check_layout(where, f->infos_, f->data_size_);
  return f;
}

const TensorInfo& SafetensorsFile::info(const std::string& name) const {
  auto it = infos_.find(name);
  KILN_CHECK(it != infos_.end(), "tensor '{}' not found in '{}'", name, path_);
  return it->second;
}

Tensor SafetensorsFile::get(const std::string& name) const {
  const TensorInfo& i = info(name);
  // Read-only pages: the const_cast only satisfies Tensor's mutable pointer type.
  void* data = const_cast<char*>(data_section_ + i.begin);
  return Tensor::borrow(data, i.shape, i.dtype, Device::cpu(),
                        std::const_pointer_cast<SafetensorsFile>(shared_from_this()));
}

}  // namespace kiln::io
