#include "models/common/gpt_block.h"

#include <algorithm>

#include "core/check.h"
#include "layers/lm_head.h"
#include "models/common/forward_buffers.h"
#include "ops/fused_decode.h"
#include "ops/ops.h"

namespace kiln::models {

GptBlock gpt_block(const GptLayerWeights& w, float eps, ops::ActivationKind act) {
  GptBlock b;
  b.ln_1 = {w.ln_1_w, w.ln_1_b, eps};
  b.ln_2 = {w.ln_2_w, w.ln_2_b, eps};
  b.attn.qkv = {w.qkv_w, w.qkv_b};
  b.attn.out = {w.attn_out_w, w.attn_out_b};
  b.mlp = {{w.fc_w, w.fc_b}, {w.proj_w, w.proj_b}, act};
  return b;
}

namespace {

// The whole folded stack as one persistent kernel (ops::fused_gpt_decode) where it applies: no
// rotary or position bias, GELU-tanh MLP, one LayerNorm eps per block here; the op checks the
// rest (opt-in, device, dtype, MHA, shapes, the decode batch). tmp holds the
// attention; the scratch is what the qkv / MLP hidden buffers of the op-by-op path would take.
bool fused_forward(const std::vector<GptBlock>& blocks, Tensor& h, Tensor& tmp,
                   const layers::ForwardBatch& batch, layers::KvCacheView& kv, Workspace& ws,
                   ExecContext& ctx) {
  if (!ops::fused_gpt_decode_requested()) return false;
  const GptBlock& b0 = blocks[0];
  std::vector<ops::FusedGptBlock> fb;
  fb.reserve(blocks.size());
  for (size_t i = 0; i < blocks.size(); ++i) {
    const GptBlock& b = blocks[i];
    if (b.attn.rotary || b.attn.position_bias.defined() ||
        b.mlp.act != ops::ActivationKind::kGeluTanh || b.ln_1.eps != b.ln_2.eps)
      return false;
    fb.push_back({&b.attn.qkv.weight, &b.attn.qkv.bias, &b.qkv_rowsum, &b.attn.out.weight,
                  &b.attn.out.bias, &b.mlp.fc1.weight, &b.mlp.fc1.bias, &b.fc_rowsum,
                  &b.mlp.fc2.weight, &b.mlp.fc2.bias, &kv.k[i], &kv.v[i], b.attn.scale,
                  b.ln_1.eps});
  }
  const int64_t n = h.size(0);
  const int64_t width = std::max(b0.attn.qkv.out_features(), b0.mlp.fc1.out_features());
  const size_t mark = ws.used();
  Tensor scratch = ws.take({n, width}, h.dtype());  // [n, q | k | v], then [n, inner]
  const bool done =
      ops::fused_gpt_decode(fb, b0.attn.num_heads, h, scratch, tmp, batch.slots, batch.attn, ctx);
  ws.rewind(mark);
  return done;
}

// pre_ln_forward for blocks whose LayerNorms are folded into qkv and fc1.
void folded_forward(const std::vector<GptBlock>& blocks, Tensor& h, Tensor& normed, Tensor& tmp,
                    const layers::ForwardBatch& batch, layers::KvCacheView& kv, Workspace& ws,
                    ExecContext& ctx) {
  if (fused_forward(blocks, h, tmp, batch, kv, ws, ctx)) return;
  const size_t mark = ws.used();
  const int64_t n = h.size(0);
  for (size_t i = 0; i < blocks.size(); ++i) {
    const GptBlock& b = blocks[i];
    KILN_CHECK(b.qkv_rowsum.defined() && b.fc_rowsum.defined(),
               "pre_ln_forward: block {} is not folded like block 0", i);
    Tensor qkv_out = ws.take({n, b.attn.qkv.out_features()}, h.dtype());  // [n, q | k | v]
    ops::layer_norm_linear(h, b.ln_1.weight, b.ln_1.bias, b.ln_1.eps, b.attn.qkv.weight,
                           b.attn.qkv.bias, b.qkv_rowsum, /*gelu=*/false, normed, qkv_out, ctx);
    const Tensor heads = b.attn.attend_qkv(qkv_out, batch, kv.k[i], kv.v[i], ws, ctx);
    ops::linear_add(heads, b.attn.out.weight, b.attn.out.bias, h, tmp, ctx);
    ws.rewind(mark);
    Tensor inner = ws.take({n, b.mlp.fc1.out_features()}, h.dtype());  // [n, inner]
    const bool fused_gelu = b.mlp.act == ops::ActivationKind::kGeluTanh;
    ops::layer_norm_linear(h, b.ln_2.weight, b.ln_2.bias, b.ln_2.eps, b.mlp.fc1.weight,
                           b.mlp.fc1.bias, b.fc_rowsum, fused_gelu, normed, inner, ctx);
    if (!fused_gelu) ops::activation(inner, b.mlp.act, ctx);
    ops::linear_add(inner, b.mlp.fc2.weight, b.mlp.fc2.bias, h, tmp, ctx);
    ws.rewind(mark);
  }
}

}  // namespace

void pre_ln_forward(const std::vector<GptBlock>& blocks, Tensor& h, Tensor& normed, Tensor& tmp,
                    const layers::ForwardBatch& batch, layers::KvCacheView& kv, Workspace& ws,
                    ExecContext& ctx) {
  // Folded blocks beyond the GEMV's rows take the ordinary path: their ln_1 / ln_2 are the
  // identity affine, so it computes the same (ops::kFoldedGemvMaxRows).
  if (!blocks.empty() && blocks[0].qkv_rowsum.defined() && h.size(0) <= ops::kFoldedGemvMaxRows) {
    folded_forward(blocks, h, normed, tmp, batch, kv, ws, ctx);
    return;
  }
  const size_t mark = ws.used();
  const size_t num_layers = blocks.size();
  blocks[0].ln_1.forward(h, normed, ctx);
  for (size_t i = 0; i < num_layers; ++i) {
    const GptBlock& b = blocks[i];
    // h += out(attention(normed)); normed = ln_2(h) — one GEMV at decode sizes.
    const Tensor heads = b.attn.forward_heads(normed, batch, kv.k[i], kv.v[i], ws, ctx);
    ops::linear_add_layer_norm(heads, b.attn.out.weight, b.attn.out.bias, h, b.ln_2.weight,
                               b.ln_2.bias, b.ln_2.eps, normed, tmp, ctx);
    ws.rewind(mark);  // the attention's scratch is dead; the MLP reuses it
    const Tensor inner = b.mlp.hidden(normed, ws, ctx);
    if (i + 1 < num_layers) {  // h += fc2(inner); normed = the next block's ln_1(h)
      const layers::LayerNorm& next = blocks[i + 1].ln_1;
      ops::linear_add_layer_norm(inner, b.mlp.fc2.weight, b.mlp.fc2.bias, h, next.weight, next.bias,
                                 next.eps, normed, tmp, ctx);
    } else {
      b.mlp.fc2.forward(inner, tmp, ctx);
      ops::add(h, tmp, h, ctx);
    }
    ws.rewind(mark);
  }
}

Tensor gpt_forward(const char* family, const GptWeights& w, const std::vector<GptBlock>& blocks,
                   const layers::LayerNorm& ln_f, DType dtype, const layers::ForwardBatch& batch,
                   layers::KvCacheView& kv, Workspace& ws, ExecContext& ctx) {
  auto [h, normed, tmp] = begin_forward(family, batch, kv, blocks.size(), w.wte.size(1), dtype, ws);
  ops::embedding(batch.input_ids, w.wte, h, /*accumulate=*/false, ctx);
  ops::embedding(batch.positions, w.wpe, h, /*accumulate=*/true, ctx);

  pre_ln_forward(blocks, h, normed, tmp, batch, kv, ws, ctx);
  Tensor last = layers::gather_logit_rows(h, batch, ws, ctx);  // [m, d]
  Tensor last_normed = ws.take(last.shape(), dtype);           // [m, d]
  ln_f.forward(last, last_normed, ctx);
  return layers::lm_head_logits(last_normed, w.lm_head, ws, ctx);  // [m, vocab] fp32
}

}  // namespace kiln::models
