// LayerNorm folding for pre-LN blocks on 16-bit CUDA (docs/design.md, "LayerNorm folded into the
// following GEMV"): LN(x)·γ + β followed by a linear (W, b) is the same model as an affine-free
// LayerNorm followed by (W·diag(γ), W·β + b). With the affine gone, the decode GEMV can take the
// row statistics itself (ops::layer_norm_linear) and the residual GEMVs before it need no
// LayerNorm tail (ops::linear_add).
#pragma once

#include <vector>

#include "core/allocator.h"
#include "core/tensor.h"
#include "models/common/gpt_block.h"
#include "models/common/gpt_weights.h"
#include "models/registry.h"

namespace kiln::models {

// Whether a model on `device` in `dtype` folds under `mode` (kAuto: CUDA, 16-bit, and
// KILN_LN_FOLD is not "0").
bool layer_norm_folding(const Device& device, DType dtype, LnFold mode);

// On fp32 CPU tensors: w [m, k] ← w·diag(ln_w); b [m] ← w·ln_b + b (b created when undefined;
// ln_b may be undefined); then ln_w ← 1 and ln_b ← 0 (created when undefined).
void fold_layer_norm(Tensor& w, Tensor& b, Tensor& ln_w, Tensor& ln_b);

// Σ_k w[r, k] of each row with every element rounded to `dtype` first (the values the device will
// hold), accumulated in double: fp32 [m] CPU tensor.
Tensor row_sums(const Tensor& w, DType dtype);

// For GPT-2-named pre-LN weights on the fp32 host (before move_weights): when
// layer_norm_folding(device, dtype, mode) holds, folds every layer's ln_1 into qkv and ln_2 into
// fc and returns their row sums on alloc's device (per layer: qkv's, then fc's; the caller adds
// their bytes to the weights'); empty when not folding. attach_row_sums gives them to the blocks.
std::vector<Tensor> fold_gpt_layer_norms(GptWeights& w, const Device& device, DType dtype,
                                         LnFold mode, Allocator* alloc);
void attach_row_sums(const std::vector<Tensor>& row_sums, size_t layer, GptBlock& block);

}  // namespace kiln::models
