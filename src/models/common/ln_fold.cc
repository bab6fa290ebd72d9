#include "models/common/ln_fold.h"

#include <cstring>
#include <vector>

#include "core/check.h"
#include "core/env.h"
#include "ops/ops.h"

namespace kiln::models {

bool layer_norm_folding(const Device& device, DType dtype, LnFold mode) {
  if (mode != LnFold::kAuto) return mode == LnFold::kOn;
  static const bool off = switched_off("KILN_LN_FOLD");
  return !off && device.is_cuda() && (dtype == DType::kFloat16 || dtype == DType::kBFloat16);
}

void fold_layer_norm(Tensor& w, Tensor& b, Tensor& ln_w, Tensor& ln_b) {
  KILN_CHECK(
      w.dim() == 2 && w.device().is_cpu() && w.dtype() == DType::kFloat32 && w.is_contiguous(),
      "fold_layer_norm: weight must be a contiguous fp32 CPU matrix, got {}", w.shape_str());
  const int64_t m = w.size(0), k = w.size(1);
  KILN_CHECK(ln_w.defined() && ln_w.numel() == k && ln_w.dtype() == DType::kFloat32,
             "fold_layer_norm: LayerNorm weight {} does not match the linear's {} inputs",
             ln_w.shape_str(), k);
  if (!b.defined()) b = Tensor::zeros({m}, DType::kFloat32);
  if (!ln_b.defined()) ln_b = Tensor::zeros({k}, DType::kFloat32);
  KILN_CHECK(b.numel() == m && ln_b.numel() == k, "fold_layer_norm: bias shapes {} / {}",
             b.shape_str(), ln_b.shape_str());
  float* pw = w.data<float>();
  float* pb = b.data<float>();
  float* g = ln_w.data<float>();
  float* beta = ln_b.data<float>();
  for (int64_t r = 0; r < m; ++r) {
    double shift = 0;
    for (int64_t i = 0; i < k; ++i) {
      shift += static_cast<double>(pw[r * k + i]) * beta[i];
      pw[r * k + i] *= g[i];
    }
    pb[r] = static_cast<float>(pb[r] + shift);
  }
  for (int64_t i = 0; i < k; ++i) g[i] = 1.f, beta[i] = 0.f;
}

Tensor row_sums(const Tensor& w, DType dtype) {
  KILN_CHECK(
      w.dim() == 2 && w.device().is_cpu() && w.dtype() == DType::kFloat32 && w.is_contiguous(),
      "row_sums: weight must be a contiguous fp32 CPU matrix, got {}", w.shape_str());
  const int64_t m = w.size(0), k = w.size(1);
  Tensor out = Tensor::empty({m}, DType::kFloat32);
  std::vector<uint16_t> packed(static_cast<size_t>(k));
  std::vector<float> rounded(static_cast<size_t>(k));
  for (int64_t r = 0; r < m; ++r) {
    const float* row = w.data<float>() + r * k;
    if (dtype == DType::kFloat32) {
      std::memcpy(rounded.data(), row, sizeof(float) * k);
    } else {
      convert_from_float(row, packed.data(), dtype, static_cast<size_t>(k));
      convert_to_float(packed.data(), dtype, rounded.data(), static_cast<size_t>(k));
    }
    double s = 0;
    for (float v : rounded) s += v;
    out.data<float>()[r] = static_cast<float>(s);
  }
  return out;
}

std::vector<Tensor> fold_gpt_layer_norms(GptWeights& w, const Device& device, DType dtype,
                                         LnFold mode, Allocator* alloc) {
  std::vector<Tensor> sums;
  if (!layer_norm_folding(device, dtype, mode)) return sums;
  ExecContext ctx;
  ctx.device = device;
  for (GptLayerWeights& l : w.layers) {
    fold_layer_norm(l.qkv_w, l.qkv_b, l.ln_1_w, l.ln_1_b);
    fold_layer_norm(l.fc_w, l.fc_b, l.ln_2_w, l.ln_2_b);
    sums.push_back(ops::to_device(row_sums(l.qkv_w, dtype), DType::kFloat32, alloc, ctx));
    sums.push_back(ops::to_device(row_sums(l.fc_w, dtype), DType::kFloat32, alloc, ctx));
  }
  return sums;
}

void attach_row_sums(const std::vector<Tensor>& row_sums, size_t layer, GptBlock& block) {
  if (row_sums.empty()) return;
  KILN_CHECK(row_sums.size() > 2 * layer + 1, "attach_row_sums: no row sums for layer {}", layer);
  block.qkv_rowsum = row_sums[2 * layer];
  block.fc_rowsum = row_sums[2 * layer + 1];
}

}  // namespace kiln::models
