// The in-flight executor on the GPU (fp32): HF beam cases batched with greedy requests, with a
// roomy and a preempting KV cache (copy-on-write block copies run on the device; beam rows go
// through the host sampler), and greedy requests under preemption equal to their solo runs.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "../beam_inflight_util.h"
#include "models/registry.h"
#include "ops/cuda/device.h"
#include "runtime/executor.h"
#include "runtime/generator.h"

namespace kiln {
namespace {

struct Gpu {
  std::unique_ptr<ops::cuda::CudaContext> ctx;
  Gpu() {
    if (ops::cuda::device_count() > 0)
      ctx = std::make_unique<ops::cuda::CudaContext>(0, size_t{2} << 30);
  }
};
Gpu& gpu() {
  static Gpu g;
  return g;
}

std::unique_ptr<models::Model> load_fp32(const std::string& dir) {
  models::LoadOptions lo;
  lo.device = gpu().ctx->exec().device;
  lo.allocator = &gpu().ctx->allocator();
  lo.dtype = DType::kFloat32;
  return models::load_model(dir, lo);
}

class Gpt2GpuBeamInflight : public ::testing::TestWithParam<std::string> {};

TEST_P(Gpt2GpuBeamInflight, BatchedWithGreedyEqualsHf) {
  if (!gpu().ctx) GTEST_SKIP() << "no CUDA device";
  const std::string dir = GetParam();
  const nlohmann::json expected = nlohmann::json::parse(std::ifstream(dir + "/expected.json"));
  auto model = load_fp32(dir);
  const runtime::SamplingParams dflt = runtime::load_generation_defaults(dir);
  const nlohmann::json* greedy = test::greedy_case(expected);
  ASSERT_TRUE(greedy);
  ExecContext& ctx = gpu().ctx->exec();
  for (const auto& c : expected["cases"]) {
    if (!c.contains("beam_outputs")) continue;
    test::run_beam_case(*model, ctx, c, *greedy, dflt, 0, "gpu roomy cache");
    test::run_beam_case(*model, ctx, c, *greedy, dflt, c["num_beams"].get<int>() * 16 + 8,
                        "gpu tight cache");
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, Gpt2GpuBeamInflight, ::testing::ValuesIn(test::beam_fixtures()),
                         [](const auto& info) {
                           return test::test_name(
                               std::filesystem::path(info.param).filename().string());
                         });

TEST(Gpt2GpuExecutor, PreemptionKeepsGreedyOutputsEqualToSolo) {
  if (!gpu().ctx) GTEST_SKIP() << "no CUDA device";
  const std::string dir = std::string(KILN_SOURCE_DIR) + "/tests/fixtures/gpt2/base_gelu_new";
  auto model = load_fp32(dir);
  ExecContext& ctx = gpu().ctx->exec();
  runtime::SamplingParams p = runtime::load_generation_defaults(dir);
  p.max_new_tokens = 24;
  std::mt19937_64 rng(5);
  std::vector<std::vector<int32_t>> prompts(32);
  for (auto& pr : prompts) {
    pr.resize(3 + rng() % 20);
    for (int32_t& t : pr) t = static_cast<int32_t>(rng() % model->spec().vocab_size);
  }
  std::vector<std::vector<int32_t>> solo;
  {
    runtime::Generator gen(*model, {}, ctx);
    for (const auto& pr : prompts) solo.push_back(gen.generate({{pr, p}})[0].output_ids);
  }
  runtime::ExecutorOptions eo;
  eo.runner.max_batch_size = 16;
  eo.runner.max_num_tokens = 64;
  eo.runner.block_size = 4;
  eo.runner.num_blocks = 40;
  runtime::Executor ex(*model, eo, ctx);
  for (size_t i = 0; i < prompts.size(); ++i) ex.add_request(i, prompts[i], p, false, true);
  std::map<int64_t, std::vector<int32_t>> got;
  while (ex.has_work())
    for (const runtime::RequestOutput& o : ex.step())
      for (const SequenceDelta& d : o.deltas)
        got[o.request_id].insert(got[o.request_id].end(), d.token_ids.begin(), d.token_ids.end());
  EXPECT_GT(ex.stats().preemptions, 0);
  EXPECT_EQ(ex.kv_blocks_used(), 0);
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(got[i], solo[i]) << "request " << i;
}

// min_new_tokens on the GPU sampler bans what the host processors ban (SamplingParams::end_ids):
// stop_token_ids as well as eos, and not eos under ignore_eos. The stop ids are the tokens the
// unconstrained greedy run starts with, so a sampler that does not ban them stops at once.
TEST(Gpt2GpuExecutor, MinNewTokensBansStopIdsLikeTheHost) {
  if (!gpu().ctx) GTEST_SKIP() << "no CUDA device";
  const std::string dir = std::string(KILN_SOURCE_DIR) + "/tests/fixtures/gpt2/eos_list";
  auto gpu_model = load_fp32(dir);
  auto cpu_model = models::load_model(dir, {});
  ExecContext cpu_ctx;
  ExecContext& ctx = gpu().ctx->exec();
  const runtime::SamplingParams dflt = runtime::load_generation_defaults(dir);
  const std::vector<int32_t> prompt = {3, 17, 5, 11};
  runtime::SamplingParams free_run = dflt;
  free_run.max_new_tokens = 8;
  free_run.ignore_eos = true;
  const std::vector<int32_t> first =
      runtime::Generator(*cpu_model, {}, cpu_ctx).generate({{prompt, free_run}})[0].output_ids;
  ASSERT_GE(first.size(), 2u);
  for (const bool ignore_eos : {false, true}) {
    runtime::SamplingParams p = dflt;
    p.max_new_tokens = 10;
    p.min_new_tokens = 5;
    p.ignore_eos = ignore_eos;
    p.stop_token_ids = {first[0], first[1]};
    const std::vector<int32_t> want =
        runtime::Generator(*cpu_model, {}, cpu_ctx).generate({{prompt, p}})[0].output_ids;
    const std::vector<int32_t> got =
        runtime::Generator(*gpu_model, {}, ctx).generate({{prompt, p}})[0].output_ids;
    EXPECT_GE(want.size(), 5u);
    EXPECT_EQ(got, want) << "ignore_eos " << ignore_eos;
  }
}

// Greedy decode on the GPU: every decode step is sampled on the device, so each counts its host
// time on the critical path (ExecutorStats::decode_host_seconds), a part of the step's wall time.
TEST(Gpt2GpuExecutor, DecodeHostTimeIsPartOfTheStep) {
  if (!gpu().ctx) GTEST_SKIP() << "no CUDA device";
  const std::string dir = std::string(KILN_SOURCE_DIR) + "/tests/fixtures/gpt2/eos_list";
  auto gpu_model = load_fp32(dir);
  runtime::SamplingParams p = runtime::load_generation_defaults(dir);
  p.max_new_tokens = 12;
  p.min_new_tokens = 12;
  runtime::GenerationStats st;
  runtime::Generator(*gpu_model, {}, gpu().ctx->exec())
      .generate({{{3, 17, 5, 11}, p}, {{7, 2}, p}}, &st);
  EXPECT_GE(st.decode_steps, 11);
  EXPECT_EQ(st.decode_host_steps, st.decode_steps);
  EXPECT_GT(st.decode_host_seconds, 0.0);
  EXPECT_LT(st.decode_host_seconds, st.decode_seconds);
}

}  // namespace
}  // namespace kiln
