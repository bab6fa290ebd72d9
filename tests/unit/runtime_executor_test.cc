// The in-flight executor on a tiny HF fixture model (CPU): batched == alone under preemption,
// prefix caching, cancellation, n > 1 sampling, requests arriving mid-flight, and validation.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>

#include "core/check.h"
#include "models/registry.h"
#include "runtime/executor.h"
#include "runtime/generator.h"

namespace kiln::runtime {
namespace {

const std::string kModel = std::string(KILN_SOURCE_DIR) + "/tests/fixtures/gpt2/base_gelu_new";

struct Fixture {
  std::unique_ptr<models::Model> model = models::load_model(kModel, {});
  ExecContext ctx;
  SamplingParams defaults = load_generation_defaults(kModel);
};

std::vector<std::vector<int32_t>> random_prompts(int n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<int32_t>> out;
  for (int i = 0; i < n; ++i) {
    std::vector<int32_t> p(3 + rng() % 20);
    for (int32_t& t : p) t = static_cast<int32_t>(rng() % vocab);
    out.push_back(p);
  }
  return out;
}

ExecutorOptions small_options(int64_t blocks, int64_t max_batch = 16, int64_t max_tokens = 32) {
  ExecutorOptions o;
  o.runner.max_batch_size = max_batch;
  o.runner.max_num_tokens = max_tokens;
  o.runner.block_size = 4;
  o.runner.num_blocks = blocks;
  return o;
}

// Runs every request through one executor, returns per request the tokens of each sequence.
std::map<int64_t, std::vector<std::vector<int32_t>>> run_all(Executor& ex) {
  std::map<int64_t, std::vector<std::vector<int32_t>>> out;
  int guard = 0;
  while (ex.has_work()) {
    for (const RequestOutput& o : ex.step())
      for (const SequenceDelta& d : o.deltas) {
        auto& seqs = out[o.request_id];
        if (seqs.size() <= static_cast<size_t>(d.index)) seqs.resize(d.index + 1);
        seqs[d.index].insert(seqs[d.index].end(), d.token_ids.begin(), d.token_ids.end());
      }
    EXPECT_LT(++guard, 100000) << "executor does not make progress";
    if (guard >= 100000) break;
  }
  return out;
}

std::vector<int32_t> solo(Fixture& f, const std::vector<int32_t>& prompt, const SamplingParams& p) {
  Generator gen(*f.model, {}, f.ctx);
  return gen.generate({{prompt, p}})[0].output_ids;
}

TEST(Executor, PreemptionKeepsGreedyOutputsEqualToSolo) {
  Fixture f;
  SamplingParams p = f.defaults;
  p.max_new_tokens = 24;
  const auto prompts = random_prompts(24, f.model->spec().vocab_size, 1);
  int64_t demand = 0;
  for (const auto& pr : prompts) demand += (pr.size() + 24 + 3) / 4;
  // ~15% of the demand (but at least one longest request): forces preemption.
  Executor ex(*f.model, small_options(std::max<int64_t>(demand * 15 / 100, 12)), f.ctx);
  for (size_t i = 0; i < prompts.size(); ++i) ex.add_request(i, prompts[i], p, false, true);
  const auto out = run_all(ex);
  EXPECT_GT(ex.stats().preemptions, 0);
  EXPECT_EQ(ex.kv_blocks_used(), 0);
  for (size_t i = 0; i < prompts.size(); ++i)
    EXPECT_EQ(out.at(i).at(0), solo(f, prompts[i], p)) << "request " << i;
}

TEST(Executor, RequestsArrivingMidFlightMatchSolo) {
  Fixture f;
  SamplingParams p = f.defaults;
  p.max_new_tokens = 10;
  const auto prompts = random_prompts(10, f.model->spec().vocab_size, 2);
  Executor ex(*f.model, small_options(200, 4, 8), f.ctx);
  std::map<int64_t, std::vector<int32_t>> got;
  size_t next = 0;
  int guard = 0;
  while ((next < prompts.size() || ex.has_work()) && ++guard < 10000) {
    if (next < prompts.size() && guard % 3 == 0) {
      ex.add_request(next, prompts[next], p, false, true);
      ++next;
    }
    for (const RequestOutput& o : ex.step())
      for (const SequenceDelta& d : o.deltas)
        got[o.request_id].insert(got[o.request_id].end(), d.token_ids.begin(), d.token_ids.end());
  }
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(got[i], solo(f, prompts[i], p));
}

TEST(Executor, PrefixCachingReusesBlocksAndKeepsOutputs) {
  Fixture f;
  SamplingParams p = f.defaults;
  p.max_new_tokens = 8;
  auto prompts = random_prompts(6, f.model->spec().vocab_size, 3);
  std::vector<int32_t> shared(17);
  for (size_t i = 0; i < shared.size(); ++i) shared[i] = static_cast<int32_t>(i * 7 % 64);
  for (auto& pr : prompts) pr.insert(pr.begin(), shared.begin(), shared.end());
  ExecutorOptions o = small_options(120, 2, 64);
  o.prefix_caching = true;
  Executor ex(*f.model, o, f.ctx);
  for (size_t i = 0; i < prompts.size(); ++i) ex.add_request(i, prompts[i], p, false, true);
  const auto out = run_all(ex);
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(out.at(i).at(0), solo(f, prompts[i], p));
}

TEST(Executor, CancelFreesBlocksAndReportsCancelled) {
  Fixture f;
  SamplingParams p = f.defaults;
  p.max_new_tokens = 40;
  Executor ex(*f.model, small_options(100), f.ctx);
  ex.add_request(7, {1, 2, 3, 4, 5}, p, false, true);
  ex.add_request(8, {5, 4, 3}, p, false, true);
  for (int i = 0; i < 3; ++i) ex.step();
  EXPECT_GT(ex.kv_blocks_used(), 0);
  ex.cancel(7);
  bool saw_cancel = false;
  while (ex.has_work())
    for (const RequestOutput& o : ex.step())
      if (o.request_id == 7) {
        ASSERT_TRUE(o.finished);
        ASSERT_EQ(o.deltas.size(), 1u);
        EXPECT_EQ(*o.deltas[0].finish_reason, "cancelled");
        saw_cancel = true;
      }
  EXPECT_TRUE(saw_cancel);
  EXPECT_EQ(ex.kv_blocks_used(), 0);
  EXPECT_EQ(ex.stats().cancelled, 1);
}

TEST(Executor, ParallelSamplesEqualSoloRunsWithOffsetSeeds) {
  Fixture f;
  SamplingParams p = f.defaults;
  p.max_new_tokens = 12;
  p.do_sample = true;
  p.temperature = 1.5f;
  p.seed = 1234;
  p.n = 3;
  const std::vector<int32_t> prompt = {3, 1, 4, 1, 5, 9, 2, 6};
  Executor ex(*f.model, small_options(60), f.ctx);
  ex.add_request(0, prompt, p, false, true);
  const auto out = run_all(ex);
  ASSERT_EQ(out.at(0).size(), 3u);
  EXPECT_EQ(ex.kv_blocks_used(), 0);
  for (int i = 0; i < 3; ++i) {
    SamplingParams q = p;
    q.n = 1;
    q.seed = p.seed + i;
    EXPECT_EQ(out.at(0)[i], solo(f, prompt, q)) << "sample " << i;
  }
  EXPECT_NE(out.at(0)[0], out.at(0)[1]);
}

TEST(Executor, RejectsRequestsThatCanNeverRun) {
  Fixture f;
  SamplingParams p = f.defaults;
  p.max_new_tokens = 10;
  Executor ex(*f.model, small_options(4), f.ctx);  // 16 tokens of KV in all
  EXPECT_THROW(ex.add_request(0, {1, 2, 3, 4, 5, 6, 7, 8}, p, false, true), Error);
  EXPECT_THROW(ex.add_request(0, {}, p, false, true), Error);
  EXPECT_THROW(ex.add_request(0, {1, 999}, p, false, true), Error);
  p.stop = {"x"};
  EXPECT_THROW(ex.add_request(0, {1}, p, false, true), Error);  // no tokenizer
  EXPECT_FALSE(ex.has_work());
}

TEST(Executor, MaxBatchSizeBoundsSequencesPerStep) {
  Fixture f;
  SamplingParams p = f.defaults;
  p.max_new_tokens = 5;
  Executor ex(*f.model, small_options(200, 3, 64), f.ctx);
  for (int i = 0; i < 8; ++i) ex.add_request(i, {1, 2, 3}, p, false, true);
  while (ex.has_work()) {
    ex.step();
    EXPECT_LE(ex.num_running(), 3);
  }
  EXPECT_EQ(ex.stats().finished, 8);
}

// The first token's time is the end of the first step that sampled (ExecutorStats::sampled_rows),
// for beam search too, whose tokens only come out when the request finishes: the first step of a
// beam request samples its row but returns no tokens, and the generator's figure is set then.
// (Checked on the counters, not on wall-clock ratios, which a loaded machine can invert.)
TEST(GeneratorStats, FirstTokenIsTheFirstSamplingStepForGreedyAndBeams) {
  Fixture f;
  const auto prompts = random_prompts(2, f.model->spec().vocab_size, 7);
  for (const int beams : {1, 3}) {
    SamplingParams p = f.defaults;
    p.max_new_tokens = p.min_new_tokens = 24;
    p.num_beams = beams;
    {
      Executor ex(*f.model, small_options(64, 16, 128), f.ctx);  // both prompts in step 1
      ex.add_request(0, prompts[0], p, false, true);
      ex.add_request(1, prompts[1], p, false, true);
      int64_t tokens_out = 0;
      for (const RequestOutput& o : ex.step())
        for (const SequenceDelta& d : o.deltas)
          tokens_out += static_cast<int64_t>(d.token_ids.size());
      EXPECT_EQ(ex.stats().sampled_rows, 2) << "beams " << beams << ": one row per request";
      EXPECT_EQ(tokens_out, beams == 1 ? 2 : 0) << "beams " << beams;
    }
    Generator gen(*f.model, {}, f.ctx);
    GenerationStats st;
    const auto t0 = std::chrono::steady_clock::now();
    const auto res = gen.generate({{prompts[0], p}, {prompts[1], p}}, &st);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ASSERT_EQ(res.size(), 2u);
    EXPECT_EQ(res[0].output_ids.size(), 24u) << "beams " << beams;
    EXPECT_GT(st.first_token_seconds, 0.0) << "beams " << beams;
    EXPECT_LE(st.first_token_seconds, wall) << "beams " << beams;
    EXPECT_GE(st.decode_steps, 23) << "beams " << beams;
    EXPECT_EQ(st.decode_graph_steps, 0) << "no CUDA graphs on the CPU";
    EXPECT_EQ(st.decode_host_steps, 0) << "no device sampling on the CPU";
  }
}

}  // namespace
}  // namespace kiln::runtime
