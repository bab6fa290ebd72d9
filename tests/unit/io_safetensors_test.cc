// Safetensors round trips, zero-copy lifetime, and byte-exact agreement with the Python reference
// writer (tests/fixtures/io/reference.safetensors, made by make_reference.py beside it).
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <limits>
#include <vector>

#include "core/tensor.h"
#include "io/safetensors.h"
#include "io_test_util.h"

namespace kiln::io {
namespace {

using testing::TempDir;

template <typename T>
Tensor make(const Shape& shape, DType dtype, const std::vector<T>& values) {
  Tensor t = Tensor::empty(shape, dtype);
  EXPECT_EQ(static_cast<size_t>(t.numel()), values.size());
  EXPECT_EQ(dtype_size(dtype), sizeof(T));
  if (!values.empty()) std::memcpy(t.raw(), values.data(), values.size() * sizeof(T));
  return t;
}

std::string bytes_of(const Tensor& t) {
  Tensor c = t.contiguous();
  return std::string(static_cast<const char*>(c.raw()), c.nbytes());
}

const std::vector<double> kFloats = {-0.5, -0.25, 0.0, 0.25, 0.5, 0.75};

// The tensors of make_reference.py, in its (unsorted) order.
std::vector<std::pair<std::string, Tensor>> reference_tensors() {
  std::vector<float> f32(kFloats.begin(), kFloats.end());
  std::vector<uint16_t> f16, bf16;
  for (float f : f32) {
    f16.push_back(float_to_half(f));
    bf16.push_back(float_to_bf16(f));
  }
  using L64 = std::numeric_limits<int64_t>;
  using L32 = std::numeric_limits<int32_t>;
  return {
      {"f64", make<double>({2, 3}, DType::kFloat64, kFloats)},
      {"f32", make<float>({3, 2}, DType::kFloat32, f32)},
      {"f16", make<uint16_t>({6}, DType::kFloat16, f16)},
      {"bf16", make<uint16_t>({2, 3}, DType::kBFloat16, bf16)},
      {"f8_e4m3", make<uint8_t>({6}, DType::kFloat8E4M3, {0xB0, 0xA8, 0x00, 0x28, 0x30, 0x34})},
      {"f8_e5m2", make<uint8_t>({6}, DType::kFloat8E5M2, {0xB8, 0xB4, 0x00, 0x34, 0x38, 0x3A})},
      {"i64", make<int64_t>({4}, DType::kInt64, {L64::min(), -1, 0, L64::max()})},
      {"i32", make<int32_t>({4}, DType::kInt32, {L32::min(), -1, 0, L32::max()})},
      {"i16", make<int16_t>({4}, DType::kInt16, {-32768, -1, 0, 32767})},
      {"i8", make<int8_t>({4}, DType::kInt8, {-128, -1, 0, 127})},
      {"u64", make<uint64_t>({4}, DType::kUInt64, {0, 1, 1ull << 63, ~0ull})},
      {"u32", make<uint32_t>({4}, DType::kUInt32, {0, 1, 1u << 31, ~0u})},
      {"u16", make<uint16_t>({4}, DType::kUInt16, {0, 1, 32768, 65535})},
      {"u8", make<uint8_t>({4}, DType::kUInt8, {0, 1, 128, 255})},
      {"bool", make<uint8_t>({5}, DType::kBool, {1, 0, 1, 1, 0})},
      {"empty", Tensor::empty({0, 4}, DType::kFloat32)},
      {"scalar", make<float>({}, DType::kFloat32, {3.25f})},
  };
}

const std::map<std::string, std::string> kReferenceMetadata = {{"format", "pt"},
                                                               {"note", "kiln reference"}};
const std::string kReferencePath = KILN_SOURCE_DIR "/tests/fixtures/io/reference.safetensors";

TEST(Safetensors, ReadsPythonReferenceFile) {
  auto f = SafetensorsFile::open(kReferencePath);
  EXPECT_EQ(f->metadata(), kReferenceMetadata);
  const auto expected = reference_tensors();
  ASSERT_EQ(f->infos().size(), expected.size());
  for (const auto& [name, want] : expected) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(f->has(name));
    Tensor got = f->get(name);
    EXPECT_EQ(got.dtype(), want.dtype());
    EXPECT_EQ(got.shape(), want.shape());
    EXPECT_EQ(bytes_of(got), bytes_of(want));
    if (is_floating(got.dtype()) && got.numel() == 6) {  // decode, not just compare bits
      Tensor as_f32 = got.to(DType::kFloat32);
      for (int i = 0; i < 6; ++i) EXPECT_EQ(as_f32.data<float>()[i], kFloats[i]);
    }
  }
  EXPECT_EQ(f->get("i64").data<int64_t>()[0], std::numeric_limits<int64_t>::min());
  EXPECT_EQ(f->get("u64").data<uint64_t>()[3], ~0ull);
  EXPECT_EQ(f->get("scalar").data<float>()[0], 3.25f);
  EXPECT_EQ(f->get("empty").numel(), 0);
}

TEST(Safetensors, WriterIsByteIdenticalToPython) {
  TempDir dir;
  write_safetensors(dir.file("k.safetensors"), reference_tensors(), kReferenceMetadata);
  EXPECT_EQ(testing::read_file(dir.file("k.safetensors")), testing::read_file(kReferencePath));
}

TEST(Safetensors, RoundTripEveryDtype) {
  TempDir dir;
  auto tensors = reference_tensors();
  tensors.emplace_back("zero_f16", Tensor::empty({3, 0, 2}, DType::kFloat16));
  tensors.emplace_back("zero_bool", Tensor::empty({0}, DType::kBool));
  tensors.emplace_back("zero_i64", Tensor::empty({0}, DType::kInt64));
  const std::string path = dir.file("all.safetensors");
  write_safetensors(path, tensors, {{"k", "v"}, {"unicode", "h\xc3\xa9llo \"q\"\n"}});
  auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f->metadata().at("unicode"), "h\xc3\xa9llo \"q\"\n");
  ASSERT_EQ(f->infos().size(), tensors.size());
  for (const auto& [name, want] : tensors) {
    SCOPED_TRACE(name);
    Tensor got = f->get(name);
    EXPECT_EQ(got.dtype(), want.dtype());
    EXPECT_EQ(got.shape(), want.shape());
    EXPECT_EQ(bytes_of(got), bytes_of(want));
  }
  // Header is padded to 8 bytes, so data (and every 8-byte tensor, sorted first) is aligned.
  uint64_t n = 0;
  std::memcpy(&n, testing::read_file(path).data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f->get("u64").raw()) % 8, 0u);
}

TEST(Safetensors, WritesNonContiguousSources) {
  Tensor base = Tensor::empty({4, 5}, DType::kInt32);
  for (int i = 0; i < 20; ++i) base.data<int32_t>()[i] = i;
  Tensor cols = base.slice(1, 1, 4);                  // [4, 3], row stride 5
  Tensor rows = base.slice(0, 1, 3).select(1);        // [5] view at row 2
  Tensor block = base.slice(0, 1, 3).slice(1, 2, 5);  // [2, 3]
  ASSERT_FALSE(cols.is_contiguous());
  TempDir dir;
  write_safetensors(dir.file("v.safetensors"), {{"cols", cols}, {"row", rows}, {"block", block}});
  auto f = SafetensorsFile::open(dir.file("v.safetensors"));
  Tensor c = f->get("cols");
  EXPECT_EQ(c.shape(), (Shape{4, 3}));
  const std::vector<int32_t> want_cols = {1, 2, 3, 6, 7, 8, 11, 12, 13, 16, 17, 18};
  EXPECT_EQ(std::vector<int32_t>(c.data<int32_t>(), c.data<int32_t>() + 12), want_cols);
  Tensor r = f->get("row");
  EXPECT_EQ(std::vector<int32_t>(r.data<int32_t>(), r.data<int32_t>() + 5),
            (std::vector<int32_t>{10, 11, 12, 13, 14}));
  Tensor b = f->get("block");
  EXPECT_EQ(std::vector<int32_t>(b.data<int32_t>(), b.data<int32_t>() + 6),
            (std::vector<int32_t>{7, 8, 9, 12, 13, 14}));
}

TEST(Safetensors, EmptyFileOfTensorsAndNoMetadata) {
  TempDir dir;
  write_safetensors(dir.file("e.safetensors"), {});
  EXPECT_EQ(testing::read_file(dir.file("e.safetensors")), testing::le64(8) + "{}      ");
  auto f = SafetensorsFile::open(dir.file("e.safetensors"));
  EXPECT_TRUE(f->infos().empty());
  EXPECT_TRUE(f->metadata().empty());
}

TEST(Safetensors, TensorsAreZeroCopyAndKeepTheMappingAlive) {
  TempDir dir;
  std::vector<float> v = {1.f, 2.f, 3.f, 4.f};
  write_safetensors(dir.file("z.safetensors"), {{"w", make<float>({2, 2}, DType::kFloat32, v)}});
  Tensor t;
  const void* p1 = nullptr;
  {
    auto f = SafetensorsFile::open(dir.file("z.safetensors"));
    t = f->get("w");
    p1 = f->get("w").raw();
  }
  EXPECT_EQ(t.raw(), p1);                              // same mapped bytes, no copy
  std::filesystem::remove(dir.file("z.safetensors"));  // mapping outlives the directory entry
  EXPECT_EQ(t.data<float>()[3], 4.f);
  Tensor row = t.select(1);
  t = Tensor();
  EXPECT_EQ(row.data<float>()[0], 3.f);
}

TEST(Safetensors, WriterReplacesAtomicallyAndLeavesNoTemporaries) {
  TempDir dir;
  const std::string path = dir.file("w.safetensors");
  testing::write_file(path, "old");
  write_safetensors(path, {{"a", make<int8_t>({1}, DType::kInt8, {7})}});
  EXPECT_EQ(SafetensorsFile::open(path)->get("a").data<int8_t>()[0], 7);
  int entries = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.str())) (void)e, ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(Safetensors, WriterRejectsBadInput) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  Tensor a = make<int8_t>({1}, DType::kInt8, {1});
  EXPECT_KILN_ERROR(write_safetensors(path, {{"a", a}, {"a", a}}), "duplicate tensor 'a'", path);
  EXPECT_KILN_ERROR(write_safetensors(path, {{"", a}}), "empty tensor name");
  EXPECT_KILN_ERROR(write_safetensors(path, {{"__metadata__", a}}), "reserved");
  EXPECT_KILN_ERROR(write_safetensors(path, {{"u", Tensor()}}), "'u' is undefined");
  EXPECT_KILN_ERROR(write_safetensors(path, {{"bad\xff", a}}), "not valid UTF-8");
  EXPECT_KILN_ERROR(write_safetensors(dir.file("no/such/dir.safetensors"), {{"a", a}}),
                    "cannot create", "no/such/dir");
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(Safetensors, GetAbsentTensorThrows) {
  auto f = SafetensorsFile::open(kReferencePath);
  EXPECT_FALSE(f->has("nope"));
  EXPECT_KILN_ERROR(f->get("nope"), "tensor 'nope' not found", kReferencePath);
}

}  // namespace
}  // namespace kiln::io
