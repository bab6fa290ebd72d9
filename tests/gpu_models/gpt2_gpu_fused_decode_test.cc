// The persistent fused decode kernel (ops::fused_gpt_decode) against the op-by-op path on the
// same KV state: random GPT-2 models in fp16 and bf16 (head_dim 32 and 64, per-layer attention
// scale, biases), decode batches of 1, 3 and 8 sequences whose contexts cross KV blocks and the
// attention's 256-key chunks. Each step runs fused, fused again (bit-identical: no atomics in
// its sums), then op by op (which leaves the KV rows the next step reads), and the logits agree
// within the per-dtype tolerance. The launch counter proves the fused kernel ran.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "../fixture_util.h"
#include "models/registry.h"
#include "ops/cuda/device.h"
#include "ops/cuda/fused_decode.h"
#include "ops/ops.h"
#include "runtime/batch_builder.h"
#include "runtime/device_step.h"
#include "runtime/kv_cache/kv_cache.h"

namespace kiln {
namespace {

std::vector<float> logits_of(models::Model& model, runtime::DeviceStep& step,
                             const layers::ForwardBatch& host, layers::KvCacheView& kv,
                             ExecContext& ctx, bool fused) {
  setenv("KILN_FUSED_DECODE", fused ? "1" : "0", 1);  // an opt-in
  Tensor logits = model.forward(step.upload(host), kv, ctx);
  Tensor h = Tensor::empty(logits.shape(), DType::kFloat32);
  ops::copy(logits, h, ctx);
  ops::synchronize(ctx);
  unsetenv("KILN_FUSED_DECODE");
  return {h.data<float>(), h.data<float>() + h.numel()};
}

void check_decode(const nlohmann::json& arch, DType dtype, const std::vector<int>& prompts,
                  ops::cuda::CudaContext& gpu) {
  models::LoadOptions lo;
  lo.device = gpu.exec().device;
  lo.allocator = &gpu.allocator();
  lo.dtype = dtype;
  auto model = models::random_model(arch, 11, lo);
  ExecContext& ctx = gpu.exec();
  const auto& spec = model->spec();
  const int bs = 16, steps = 4;
  const int64_t width = (spec.max_positions + bs - 1) / bs;
  runtime::KvCacheShape shape{spec.num_layers,
                              spec.num_kv_heads,
                              spec.head_dim,
                              bs,
                              static_cast<int>(width * prompts.size()),
                              spec.dtype};
  runtime::KvCache cache(shape, ctx.allocator);
  int64_t total = 0;
  std::vector<runtime::Sequence> seqs(prompts.size());
  for (size_t i = 0; i < seqs.size(); ++i) {
    for (int t = 0; t < prompts[i]; ++t)
      seqs[i].tokens.push_back(static_cast<int32_t>((31 * t + 17 * i + 3) % spec.vocab_size));
    seqs[i].prompt_len = prompts[i];
    cache.blocks().allocate(cache.blocks_for(prompts[i] + steps), &seqs[i].blocks);
    total += prompts[i];
  }
  runtime::DeviceStep step(total, static_cast<int64_t>(seqs.size()), width, spec.max_positions,
                           ctx);
  model->reserve(total, static_cast<int64_t>(seqs.size()));
  layers::KvCacheView kv = cache.view();
  std::vector<runtime::ScheduledChunk> chunks;
  for (auto& s : seqs) chunks.push_back({&s, s.prompt_len, true});
  logits_of(*model, step, runtime::build_batch(chunks, bs, width), kv, ctx, true);  // prefill
  for (auto& s : seqs) s.num_computed = s.prompt_len;

  const double tol = dtype == DType::kFloat16 ? 1e-2 : 6e-2;
  for (int k = 0; k < steps; ++k) {
    chunks.clear();
    for (size_t i = 0; i < seqs.size(); ++i) {
      seqs[i].tokens.push_back(static_cast<int32_t>((13 * k + 7 * i + 1) % spec.vocab_size));
      chunks.push_back({&seqs[i], 1, true});
    }
    const auto host = runtime::build_batch(chunks, bs, width);
    const long before = ops::cuda::fused_gpt_decode_launches();
    const auto fused = logits_of(*model, step, host, kv, ctx, true);
    const auto again = logits_of(*model, step, host, kv, ctx, true);
    ASSERT_EQ(ops::cuda::fused_gpt_decode_launches(), before + 2)
        << "the fused kernel did not run (" << dtype_name(dtype) << ", " << seqs.size()
        << " sequences)";
    const auto ref = logits_of(*model, step, host, kv, ctx, false);
    ASSERT_EQ(ops::cuda::fused_gpt_decode_launches(), before + 2);
    EXPECT_EQ(fused, again) << "fused decode is not deterministic";
    ASSERT_EQ(fused.size(), ref.size());
    EXPECT_LT(test::rel_err(fused, ref), tol)
        << dtype_name(dtype) << ", " << seqs.size() << " sequences, step " << k;
    for (auto& s : seqs) ++s.num_computed;
  }
}

TEST(Gpt2GpuFusedDecode, MatchesOpByOpPath) {
  if (ops::cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  ops::cuda::CudaContext gpu(0, size_t{2} << 30);
  const nlohmann::json head32 = {{"model_type", "gpt2"},
                                 {"n_layer", 3},
                                 {"n_embd", 128},
                                 {"n_head", 4},
                                 {"vocab_size", 300},
                                 {"n_positions", 640},
                                 {"activation_function", "gelu_new"}};
  nlohmann::json head64 = head32;
  head64["n_embd"] = 192;
  head64["n_head"] = 3;
  head64["n_inner"] = 640;
  head64["scale_attn_by_inverse_layer_idx"] = true;
  for (const DType dtype : {DType::kFloat16, DType::kBFloat16}) {
    for (const auto& arch : {head32, head64}) {
      check_decode(arch, dtype, {37}, gpu);
      check_decode(arch, dtype, {5, 300, 40}, gpu);
      check_decode(arch, dtype, {1, 17, 260, 90, 33, 511, 2, 129}, gpu);
    }
  }
}

}  // namespace
}  // namespace kiln
