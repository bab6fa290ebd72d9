#include "core/dtype.h"

#include <cmath>
#include <cstring>

#include "core/check.h"

namespace kiln {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kFloat64:
    case DType::kInt64:
    case DType::kUInt64:
      return 8;
    case DType::kFloat32:
    case DType::kInt32:
    case DType::kUInt32:
      return 4;
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kInt16:
    case DType::kUInt16:
      return 2;
    case DType::kFloat8E4M3:
    case DType::kFloat8E5M2:
    case DType::kInt8:
    case DType::kUInt8:
    case DType::kBool:
      return 1;
  }
  return 0;
}

bool is_floating(DType t) {
  return t == DType::kFloat32 || t == DType::kFloat16 || t == DType::kBFloat16 ||
         t == DType::kFloat64 || t == DType::kFloat8E4M3 || t == DType::kFloat8E5M2;
}

namespace {
struct Names {
  DType t;
  std::string_view name;
  std::string_view st;
};
constexpr Names kNames[] = {
    {DType::kFloat32, "float32", "F32"},   {DType::kFloat16, "float16", "F16"},
    {DType::kBFloat16, "bfloat16", "BF16"}, {DType::kFloat64, "float64", "F64"},
    {DType::kFloat8E4M3, "fp8_e4m3", "F8_E4M3"}, {DType::kFloat8E5M2, "fp8_e5m2", "F8_E5M2"},
    {DType::kInt8, "int8", "I8"},           {DType::kUInt8, "uint8", "U8"},
    {DType::kInt16, "int16", "I16"},        {DType::kUInt16, "uint16", "U16"},
    {DType::kInt32, "int32", "I32"},        {DType::kUInt32, "uint32", "U32"},
    {DType::kInt64, "int64", "I64"},        {DType::kUInt64, "uint64", "U64"},
    {DType::kBool, "bool", "BOOL"},
};
}  // namespace

std::string_view dtype_name(DType t) {
  for (const auto& n : kNames)
    if (n.t == t) return n.name;
  return "?";
}

std::string_view safetensors_name(DType t) {
  for (const auto& n : kNames)
    if (n.t == t) return n.st;
  return "?";
}

bool dtype_from_safetensors(std::string_view name, DType* out) {
  for (const auto& n : kNames) {
    if (n.st == name) {
      *out = n.t;
      return true;
    }
  }
  return false;
}

DType dtype_from_name(std::string_view name) {
  if (name == "float32" || name == "fp32" || name == "float") return DType::kFloat32;
  if (name == "float16" || name == "fp16" || name == "half") return DType::kFloat16;
  if (name == "bfloat16" || name == "bf16") return DType::kBFloat16;
  for (const auto& n : kNames)
    if (n.name == name) return n.t;
  KILN_FAIL("unknown dtype '{}' (expected float32, float16 or bfloat16)", name);
}

float half_to_float(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      exp = 127 - 15 + 1;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      bits = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t absx = x & 0x7fffffffu;
  if (absx >= 0x7f800000u) return sign | (absx > 0x7f800000u ? 0x7e00 : 0x7c00);  // NaN / Inf
  if (absx >= 0x477ff000u) return sign | 0x7c00;                                   // overflow
  if (absx < 0x38800000u) {                                                        // subnormal or 0
    if (absx < 0x33000000u) return sign;
    const uint32_t e = absx >> 23;
    const uint32_t m = (absx & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - e;  // 14 + (113 - e) ... produces 10-bit subnormal mantissa
    uint32_t r = m >> (shift - 0);
    const uint32_t rem = m & ((1u << shift) - 1);
    const uint32_t half_bit = 1u << (shift - 1);
    if (rem > half_bit || (rem == half_bit && (r & 1))) ++r;
    return sign | static_cast<uint16_t>(r);
  }
  uint32_t r = absx - 0x38000000u;  // rebias exponent 127 -> 15
  const uint32_t rem = r & 0x1fffu;
  r >>= 13;
  if (rem > 0x1000u || (rem == 0x1000u && (r & 1))) ++r;
  return sign | static_cast<uint16_t>(r);
}

uint16_t float_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40);
  const uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return static_cast<uint16_t>(x >> 16);
}

float fp8_e4m3_to_float(uint8_t v) {
  const float sign = (v & 0x80) ? -1.f : 1.f;
  const int exp = (v >> 3) & 0xf;
  const int mant = v & 0x7;
  if (exp == 0xf && mant == 0x7) return NAN;
  if (exp == 0) return sign * std::ldexp(static_cast<float>(mant) / 8.f, -6);
  return sign * std::ldexp(1.f + static_cast<float>(mant) / 8.f, exp - 7);
}

float fp8_e5m2_to_float(uint8_t v) { return half_to_float(static_cast<uint16_t>(v) << 8); }

void convert_to_float(const void* src, DType st, float* dst, size_t n) {
  switch (st) {
    case DType::kFloat32:
      std::memcpy(dst, src, n * 4);
      return;
    case DType::kFloat16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = half_to_float(s[i]);
      return;
    }
    case DType::kBFloat16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = bf16_to_float(s[i]);
      return;
    }
    case DType::kFloat64: {
      const auto* s = static_cast<const double*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = static_cast<float>(s[i]);
      return;
    }
    case DType::kFloat8E4M3: {
      const auto* s = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = fp8_e4m3_to_float(s[i]);
      return;
    }
    case DType::kFloat8E5M2: {
      const auto* s = static_cast<const uint8_t*>(src);
      for (size_t i = 0; i < n; ++i) dst[i] = fp8_e5m2_to_float(s[i]);
      return;
    }
    default:
      KILN_FAIL("cannot convert {} to float32", dtype_name(st));
  }
}

void convert_from_float(const float* src, void* dst, DType dt, size_t n) {
  switch (dt) {
    case DType::kFloat32:
      std::memcpy(dst, src, n * 4);
      return;
    case DType::kFloat16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = float_to_half(src[i]);
      return;
    }
    case DType::kBFloat16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = float_to_bf16(src[i]);
      return;
    }
    case DType::kFloat64: {
      auto* d = static_cast<double*>(dst);
      for (size_t i = 0; i < n; ++i) d[i] = src[i];
      return;
    }
    default:
      KILN_FAIL("cannot convert float32 to {}", dtype_name(dt));
  }
}

}  // namespace kiln
