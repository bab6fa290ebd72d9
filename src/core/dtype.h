// Element types. One enum for every dtype a checkpoint or a kernel may hold; the names are the ones
// users type (--dtype float16) and the safetensors names map onto them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kiln {

enum class DType : uint8_t {
  kFloat32,
  kFloat16,
  kBFloat16,
  kFloat64,
  kFloat8E4M3,
  kFloat8E5M2,
  kInt8,
  kUInt8,
  kInt16,
  kUInt16,
  kInt32,
  kUInt32,
  kInt64,
  kUInt64,
  kBool,
};

size_t dtype_size(DType t);
bool is_floating(DType t);
std::string_view dtype_name(DType t);            // "float16"
DType dtype_from_name(std::string_view name);    // accepts float16/fp16/half, bfloat16/bf16, float32/fp32/float
std::string_view safetensors_name(DType t);      // "F16"
bool dtype_from_safetensors(std::string_view name, DType* out);

// Scalar conversions used by the CPU backend to widen 16-bit storage to fp32 compute.
float half_to_float(uint16_t h);
uint16_t float_to_half(float f);  // round to nearest even
inline float bf16_to_float(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}
uint16_t float_to_bf16(float f);  // round to nearest even, NaN kept
float fp8_e4m3_to_float(uint8_t v);
float fp8_e5m2_to_float(uint8_t v);

// Converts n elements of src (type st) to float32.
void convert_to_float(const void* src, DType st, float* dst, size_t n);
// Converts n float32 elements to dst (type dt, a floating type).
void convert_from_float(const float* src, void* dst, DType dt, size_t n);

}  // namespace kiln
