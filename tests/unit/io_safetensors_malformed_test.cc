// Every malformed safetensors file must be a kiln::Error naming the file: built byte by byte.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <string>

#include "io/safetensors.h"
#include "io_test_util.h"

namespace kiln::io {
namespace {

using testing::le64;
using testing::safetensors_bytes;

class Malformed : public ::testing::Test {
 protected:
  // Writes `bytes` to a file and expects open() to fail naming it and every part of `parts`.
  template <typename... Parts>
  void expect_rejected(const std::string& bytes, const Parts&... parts) {
    const std::string path = dir_.file("m" + std::to_string(counter_++) + ".safetensors");
    testing::write_file(path, bytes);
    EXPECT_KILN_ERROR(SafetensorsFile::open(path), path, std::string(parts)...);
  }
  void expect_header_rejected(const std::string& header, const std::string& data,
                              const std::string& part) {
    expect_rejected(safetensors_bytes(header, data), part);
  }
  testing::TempDir dir_;
  int counter_ = 0;
};

const std::string k16(16, '\0');
const std::string kOk = R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]})";

TEST_F(Malformed, ValidBaselineOpens) {
  const std::string path = dir_.file("ok.safetensors");
  testing::write_file(path, safetensors_bytes("{" + kOk + "}", k16));
  EXPECT_EQ(SafetensorsFile::open(path)->get("a").shape(), (Shape{2, 2}));
}

TEST_F(Malformed, FileLevel) {
  expect_rejected("", "is empty");
  expect_rejected("abc", "3 bytes, too short");
  expect_rejected(le64(1ull << 40) + "{}", "exceeds the 100000000-byte limit");
  expect_rejected(le64(~0ull) + "{}", "exceeds the 100000000-byte limit");
  expect_rejected(le64(200) + "{}", "header length 200 exceeds the 2 bytes");  // truncated
  expect_rejected(le64(0), "too short for a JSON object");
}

TEST_F(Malformed, FileSystem) {
  EXPECT_KILN_ERROR(SafetensorsFile::open(dir_.file("missing.safetensors")), "cannot open",
                    "missing.safetensors", "No such file");
  EXPECT_KILN_ERROR(SafetensorsFile::open(dir_.str()), dir_.str(), "is a directory");
  const std::string fifo = dir_.file("fifo.safetensors");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_KILN_ERROR(SafetensorsFile::open(fifo), fifo, "not a regular file");  // and no hang
}

TEST_F(Malformed, UnreadableFile) {
  const std::string locked = dir_.file("locked.safetensors");
  testing::write_file(locked, safetensors_bytes("{}", ""));
  ::chmod(locked.c_str(), 0);
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  EXPECT_KILN_ERROR(SafetensorsFile::open(locked), locked, "Permission denied");
}

TEST_F(Malformed, HeaderJson) {
  expect_header_rejected("{\"a\":", "", "malformed JSON");
  expect_header_rejected("not json", "", "malformed JSON");
  expect_header_rejected("{\"a\":1}xx", "", "malformed JSON");
  expect_header_rejected("[1,2]", "", "header must be a JSON object, got array");
  expect_header_rejected("\"str\"", "", "header must be a JSON object, got string");
  expect_header_rejected("{\"\xff\":1}", "", "malformed JSON");  // invalid UTF-8
  expect_header_rejected("{" + kOk + "," + kOk + "}", k16, "duplicate key 'a'");
  expect_header_rejected(
      R"({"a":{"dtype":"F32","dtype":"F16","shape":[2,2],"data_offsets":[0,16]}})", k16,
      "duplicate key 'dtype'");
  expect_header_rejected(std::string(40, '[') + std::string(40, ']'), "", "nested deeper");
  // Padding with spaces (as HF writes) is fine; a NUL is not JSON.
  expect_header_rejected("{}" + std::string(6, '\0'), "", "NUL byte at offset 2");
  expect_header_rejected(std::string("{\"a\":1}\0{\"b\":", 13), "", "NUL byte at offset 7");
}

TEST_F(Malformed, EntryFields) {
  expect_header_rejected(R"({"a":5})", "", "tensor 'a' must be an object, got integer");
  expect_header_rejected(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", "", "no \"dtype\"");
  expect_header_rejected(R"({"a":{"dtype":"F32","data_offsets":[0,4]}})", "", "no \"shape\"");
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[1]}})", "", "no \"data_offsets\"");
  expect_header_rejected(R"({"a":{"dtype":1,"shape":[1],"data_offsets":[0,4]}})", "",
                         "\"dtype\" must be a string, got integer");
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":4,"data_offsets":[0,4]}})", "",
                         "\"shape\" must be an array, got integer");
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":"0,4"}})", "",
                         "\"data_offsets\" must be [begin, end]");
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", "",
                         "\"data_offsets\" must be [begin, end]");
  expect_header_rejected(R"({"a":{"dtype":"F4","shape":[1],"data_offsets":[0,1]}})", "",
                         "unknown dtype 'F4'");
  expect_header_rejected(R"({"a":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}})", "",
                         "unknown dtype 'f32'");
}

TEST_F(Malformed, Shapes) {
  for (const char* shape : {"[-1]", "[2.0]", "[1.5]", "[\"2\"]", "[null]", "[true]", "[1e30]",
                            "[18446744073709551615]", "[[2]]"}) {
    SCOPED_TRACE(shape);
    expect_header_rejected(
        std::string(R"({"a":{"dtype":"F32","shape":)") + shape + R"(,"data_offsets":[0,4]}})",
        std::string(4, '\0'), "not a non-negative integer");
  }
  // numel * dtype_size overflows uint64 (2^32 * 2^32 * 4) and must not wrap to 0 or 4.
  expect_header_rejected(
      R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", "",
      "too large");
  expect_header_rejected(
      R"({"a":{"dtype":"F32","shape":[4611686018427387904,1],"data_offsets":[0,0]}})", "",
      "too large");
}

TEST_F(Malformed, Offsets) {
  const std::string d4(4, '\0');
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", d4,
                         "must be non-negative integers");
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.0]}})", d4,
                         "must be non-negative integers");
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}})", d4,
                         "begin > end");
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})", d4,
                         "run past the data section (4 bytes)");
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", d4,
                         "span 4 bytes but F32 [2] needs 8");
  expect_header_rejected(R"({"a":{"dtype":"F16","shape":[1],"data_offsets":[0,4]}})", d4,
                         "span 4 bytes but F16 [1] needs 2");
  expect_header_rejected(
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]}})", d4,
      "run past the data section");
}

TEST_F(Malformed, Layout) {
  const std::string d8(8, '\0');
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                         R"("b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                         d8, "tensors 'a' and 'b' overlap");
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                         d8, "overlap");
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", d8,
                         "bytes [0, 4) of the data section belong to no tensor");
  expect_header_rejected(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", d8,
                         "has 8 bytes but the tensors cover only 4");
  expect_header_rejected("{}", d8, "has 8 bytes but the tensors cover only 0");
}

TEST_F(Malformed, ZeroElementTensorsAreLegalAnywhere) {
  const std::string path = dir_.file("zero.safetensors");
  testing::write_file(
      path, safetensors_bytes(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                              R"("z":{"dtype":"BF16","shape":[0,7],"data_offsets":[4,4]},)"
                              R"("s":{"dtype":"I8","shape":[3,0],"data_offsets":[0,0]}})",
                              std::string(4, '\0')));
  auto f = SafetensorsFile::open(path);
  EXPECT_EQ(f->get("z").numel(), 0);
  EXPECT_EQ(f->get("s").shape(), (Shape{3, 0}));
}

TEST_F(Malformed, Metadata) {
  expect_header_rejected(R"({"__metadata__":{"a":1}})", "",
                         "__metadata__ value 'a' must be a string, got integer");
  expect_header_rejected(R"({"__metadata__":{"a":null}})", "", "got null");
  expect_header_rejected(R"({"__metadata__":[1]})", "", "__metadata__ must be an object");
  const std::string path = dir_.file("null_meta.safetensors");
  testing::write_file(path, safetensors_bytes(R"({"__metadata__":null})", ""));
  EXPECT_TRUE(SafetensorsFile::open(path)->metadata().empty());
}

// Robustness: every truncation and random corruption of a real file either opens or is a
// kiln::Error — never a crash, hang or other exception type.
TEST_F(Malformed, TruncationsAndRandomCorruption) {
  const std::string ref =
      testing::read_file(KILN_SOURCE_DIR "/tests/fixtures/io/reference.safetensors");
  const std::string path = dir_.file("fuzz.safetensors");
  auto try_open = [&](const std::string& bytes) {
    testing::write_file(path, bytes);
    try {
      auto f = SafetensorsFile::open(path);
      for (const auto& [name, info] : f->infos()) f->get(name);
      return true;
    } catch (const kiln::Error&) {
      return false;
    }
  };
  for (size_t n = 0; n < ref.size(); ++n) EXPECT_FALSE(try_open(ref.substr(0, n))) << n;
  std::mt19937 rng(1234);
  uint64_t header_len = 0;
  std::memcpy(&header_len, ref.data(), 8);  // little-endian host
  const size_t header_end = 8 + header_len;
  int opened = 0;
  for (int iter = 0; iter < 1500; ++iter) {
    std::string m = ref;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < flips; ++k) {
      const size_t pos = rng() % header_end;  // corrupt the length and the header
      m[pos] = static_cast<char>(iter % 2 ? rng() : "0123456789[]{},:\"-. e"[rng() % 22]);
    }
    opened += try_open(m);
  }
  EXPECT_LT(opened, 1500);
}

}  // namespace
}  // namespace kiln::io
