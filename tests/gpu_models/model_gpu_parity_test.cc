// Every model family on the GPU against its HF fixtures: fp32 gives HF's greedy tokens exactly (alone, packed,
// chunked, with and without CUDA graphs) and logits within 1e-4; fp16/bf16 give logits within a
// per-dtype tolerance and HF's first token wherever HF's own top-2 margin exceeds that tolerance.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../fixture_util.h"
#include "models/registry.h"
#include "ops/cuda/device.h"
#include "ops/ops.h"
#include "runtime/batch_builder.h"
#include "runtime/device_step.h"
#include "runtime/generator.h"
#include "runtime/kv_cache/kv_cache.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;


struct Gpu {
  std::unique_ptr<ops::cuda::CudaContext> ctx;
  Gpu() {
    if (ops::cuda::device_count() > 0)
      ctx = std::make_unique<ops::cuda::CudaContext>(0, size_t{4} << 30);
  }
};
Gpu& gpu() {
  static Gpu g;
  return g;
}

std::vector<float> first_logits(models::Model& model, const std::vector<int32_t>& prompt,
                                ExecContext& ctx) {
  const auto& spec = model.spec();
  runtime::KvCacheShape shape{spec.num_layers, spec.num_kv_heads, spec.head_dim, 16,
                              static_cast<int>((spec.max_positions + 15) / 16), spec.dtype};
  // Encoder–decoder: prompt is the encoder input; its cross K/V take blocks of their own and the
  // decoder runs its start token.
  const bool encdec = spec.encoder_decoder;
  const int64_t cross_width = encdec ? (spec.max_encoder_positions + 15) / 16 : 0;
  shape.num_blocks += static_cast<int>(cross_width);
  runtime::KvCache cache(shape, ctx.allocator);
  runtime::Sequence seq;
  seq.tokens = encdec ? std::vector<int32_t>{spec.decoder_start_token_id} : prompt;
  seq.prompt_len = static_cast<int64_t>(seq.tokens.size());
  const int64_t n = seq.prompt_len;
  cache.blocks().allocate(cache.blocks_for(n), &seq.blocks);
  const int64_t width = (spec.max_positions + 15) / 16;
  const int64_t enc_width = (spec.max_encoder_positions + runtime::kEncoderScratchBlock - 1) /
                            runtime::kEncoderScratchBlock;
  runtime::DeviceStep step(std::max(n, static_cast<int64_t>(prompt.size())), 1, width,
                           spec.max_positions, ctx, cross_width, encdec ? enc_width : 0);
  model.reserve(std::max(n, static_cast<int64_t>(prompt.size())), 1);
  layers::KvCacheView kv = cache.view();
  if (encdec) {
    seq.encoder_tokens = prompt;
    cache.blocks().allocate(cache.blocks_for(static_cast<int64_t>(prompt.size())), &seq.cross_blocks);
    model.encode(step.upload(runtime::build_encoder_batch({&seq}, 16)), kv, ctx);
    seq.cross_ready = true;
  }
  const auto host = runtime::build_batch({{&seq, n, true}}, 16, width, cross_width);
  Tensor logits = model.forward(step.upload(host), kv, ctx);
  Tensor h = Tensor::empty(logits.shape(), DType::kFloat32);
  ops::copy(logits, h, ctx);
  ops::synchronize(ctx);
  return {h.data<float>(), h.data<float>() + spec.vocab_size};
}


struct Case {
  std::string dir;
  DType dtype;
};

class ModelGpuParity : public ::testing::TestWithParam<Case> {};

TEST_P(ModelGpuParity, Fixture) {
  if (!gpu().ctx) GTEST_SKIP() << "no CUDA device";
  ExecContext& ctx = gpu().ctx->exec();
  const auto [dir, dtype] = GetParam();
  std::ifstream f(dir + "/expected.json");
  const nlohmann::json expected = nlohmann::json::parse(f);
  models::LoadOptions lo;
  lo.device = ctx.device;
  lo.dtype = dtype;
  lo.allocator = ctx.allocator;
  // Converted families (gpt_next) keep the kiln checkpoint in converted/ beside expected.json.
  const std::string model_dir = fs::exists(dir + "/converted") ? dir + "/converted" : dir;
  auto model = models::load_model(model_dir, lo);
  const runtime::SamplingParams defaults = runtime::load_generation_defaults(model_dir);
  // bf16 keeps 8 mantissa bits: deep RMSNorm/rotary stacks drift further from the fp32 golden.
  double tol = dtype == DType::kFloat32 ? 1e-4 : dtype == DType::kFloat16 ? 1e-2 : 6e-2;
  // Fixtures annotated by tools/annotate_half_error.py carry HF's own 16-bit error against the
  // same fp32 golden: kiln may be as far off as 2x that (T5-style stacks without attention
  // scaling amplify rounding well beyond the base tolerance, in HF as in kiln).
  if (dtype != DType::kFloat32 && expected.contains("hf_half_rel_err"))
    tol = std::max(tol, 2.0 * expected["hf_half_rel_err"]
                                  .value(dtype == DType::kFloat16 ? "float16" : "bfloat16", 0.0));
  // Encoder–decoder fixtures (tools/make_encdec_fixtures.py): prompts are encoder inputs, cases
  // carry HF generate kwargs, and every case's "outputs" are greedy.
  const bool encdec = model->spec().encoder_decoder;
  for (nlohmann::json c : expected["cases"]) {  // a copy: requests past the positions are dropped
    if (encdec) c.erase("num_beams");
    std::vector<runtime::GenerationRequest> reqs =
        encdec ? test::encdec_case_requests(c, defaults) : test::case_requests(c, defaults);
    // Requests that would go past the model's positions cannot run (none today; kept as a guard).
    std::vector<size_t> keep;
    for (size_t i = 0; i < reqs.size(); ++i) {
      const int64_t len = encdec ? 1 : static_cast<int64_t>(reqs[i].prompt.size());
      if (len + reqs[i].params.resolve_max_new(len) <= model->spec().max_positions)
        keep.push_back(i);
    }
    if (keep.size() != reqs.size()) {
      std::vector<runtime::GenerationRequest> kept;
      nlohmann::json c2 = c;
      c2["outputs"] = nlohmann::json::array();
      if (c.contains("first_logits")) c2["first_logits"] = nlohmann::json::array();
      for (size_t i : keep) {
        kept.push_back(reqs[i]);
        c2["outputs"].push_back(c["outputs"][i]);
        if (c.contains("first_logits")) c2["first_logits"].push_back(c["first_logits"][i]);
      }
      reqs = kept;
      c = c2;
      if (reqs.empty()) continue;
    }
    const std::string name = dir + ":" + c["name"].get<std::string>();
    for (size_t i = 0; c.contains("first_logits") && i < reqs.size(); ++i) {
      const auto ref = c["first_logits"][i].get<std::vector<float>>();
      const auto got = first_logits(*model, reqs[i].prompt, ctx);
      EXPECT_LT(test::rel_err(got, ref), tol) << name << " prompt " << i;
      // (The golden first token is after the repetition penalty and HF's constraint processors
      // such as a forced BOS: compare only without them.)
      if (dtype != DType::kFloat32 && c.value("repetition_penalty", 1.0) == 1.0 &&
          !reqs[i].params.needs_host_processors() && !c["outputs"][i].empty()) {
        // HF's first greedy token, where its top-2 margin exceeds our tolerance.
        std::vector<float> sorted = ref;
        std::partial_sort(sorted.begin(), sorted.begin() + 2, sorted.end(), std::greater<float>());
        double scale = 0;
        for (float v : ref) scale = std::max(scale, std::fabs(double(v)));
        if (sorted[0] - sorted[1] > 2 * tol * scale)
          EXPECT_EQ(std::max_element(got.begin(), got.end()) - got.begin(),
                    c["outputs"][i][0].get<int64_t>())
              << name << " prompt " << i;
      }
    }
    if (dtype != DType::kFloat32) continue;
    struct Variant {
      const char* what;
      runtime::GeneratorOptions opts;
    };
    // Encoder–decoder: an encoder input runs in one step, so the small budget is the longest + 1.
    int64_t small = 4;
    if (encdec)
      for (const auto& r : reqs) small = std::max(small, static_cast<int64_t>(r.prompt.size()) + 1);
    const Variant variants[] = {{"packed+graphs", {64, 2048, 16, 0, true}},
                                {"packed", {64, 2048, 16, 0, false}},
                                {"chunked+graphs", {4, small, 3, 0, true}}};
    // Dynamic NTK rope: chunks of a prompt beyond max_position_embeddings are rotated for each
    // chunk's end (layers/rotary.h), so only whole-prompt variants must equal HF there.
    const nlohmann::json cfg = nlohmann::json::parse(std::ifstream(model_dir + "/config.json"));
    // transformers 5 writes rope_parameters; older configs rope_scaling.
    const nlohmann::json rope = cfg.value("rope_scaling", cfg.value("rope_parameters", nlohmann::json()));
    const bool dynamic = rope.is_object() && (rope.value("rope_type", "") == "dynamic" ||
                                              rope.value("type", "") == "dynamic");
    const int64_t mpe = cfg.value("max_position_embeddings", int64_t{0});
    for (const Variant& v : variants) {
      runtime::Generator gen(*model, v.opts, ctx);
      const auto res = gen.generate(reqs);
      const auto chunked_long = [&](size_t i) {
        return dynamic && v.opts.max_num_tokens < 64 &&
               static_cast<int64_t>(reqs[i].prompt.size()) > mpe;
      };
      for (size_t i = 0; i < reqs.size(); ++i) {
        if (chunked_long(i)) continue;
        EXPECT_EQ(res[i].output_ids, c["outputs"][i].get<std::vector<int32_t>>())
            << name << " prompt " << i << " (" << v.what << ")";
      }
      // Alone.
      for (size_t i = 0; i < reqs.size(); ++i)
        if (!chunked_long(i))
          EXPECT_EQ(gen.generate({reqs[i]})[0].output_ids,
                    c["outputs"][i].get<std::vector<int32_t>>())
              << name << " prompt " << i << " alone (" << v.what << ")";
    }
  }
}

// Every family's fixtures (tests/fixtures/<family>/<name>/expected.json).
std::vector<Case> cases() {
  std::vector<Case> v;
  std::vector<std::string> families;
  for (const auto& e : fs::directory_iterator(fs::path(KILN_SOURCE_DIR) / "tests/fixtures"))
    if (e.is_directory()) families.push_back(e.path().filename().string());
  std::sort(families.begin(), families.end());
  for (const auto& family : families)
    for (const auto& d : test::fixture_dirs(family)) {
      if (!fs::exists(d + "/config.json") && !fs::exists(d + "/converted/config.json"))
        continue;  // not a model fixture (e.g. tests/fixtures/tokenizers)
      for (DType t : {DType::kFloat32, DType::kFloat16, DType::kBFloat16}) v.push_back({d, t});
    }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ModelGpuParity, ::testing::ValuesIn(cases()),
                         [](const auto& info) {
                           const fs::path p(info.param.dir);
                           return test::test_name(p.parent_path().filename().string() + "_" +
                                                  p.filename().string() + "_" +
                                                  std::string(dtype_name(info.param.dtype)));
                         });

}  // namespace
}  // namespace kiln
