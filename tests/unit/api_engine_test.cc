// The public C++ API (include/kiln/engine.h) on a tiny fixture model, CPU: streamed results equal
// the HF goldens, errors by type (RequestError, QueueFullError, EngineStoppedError), cancellation,
// shutdown, metrics.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "kiln/engine.h"

namespace kiln {
namespace {

const std::string kDir = std::string(KILN_SOURCE_DIR) + "/tests/fixtures/gpt2/eos_single";

std::vector<int32_t> collect(RequestStream& s, std::string* reason = nullptr) {
  std::vector<int32_t> out;
  while (auto u = s.next(std::chrono::milliseconds(20000))) {
    EXPECT_FALSE(u->error) << *u->error;
    for (const SequenceDelta& d : u->sequences) {
      out.insert(out.end(), d.token_ids.begin(), d.token_ids.end());
      if (d.finish_reason && reason) *reason = *d.finish_reason;
    }
    if (u->finished) break;
  }
  EXPECT_TRUE(s.finished());
  return out;
}

TEST(Engine, StreamsHfGreedyOutputs) {
  const nlohmann::json expected = nlohmann::json::parse(std::ifstream(kDir + "/expected.json"));
  const auto& c = expected["cases"][0];
  auto engine = Engine::create({.model_dir = kDir});
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (const auto& p : c["prompts"]) {
    Request r;
    r.prompt_ids = p.get<std::vector<int32_t>>();
    r.sampling.max_new_tokens = c["max_new_tokens"].get<int64_t>();
    r.detokenize = false;
    streams.push_back(engine->enqueue(r));
  }
  for (size_t i = 0; i < streams.size(); ++i)
    EXPECT_EQ(collect(*streams[i]), c["outputs"][i].get<std::vector<int32_t>>()) << i;
  const EngineStats st = engine->stats();
  EXPECT_EQ(st.requests_finished, static_cast<int64_t>(streams.size()));
  EXPECT_EQ(st.kv_blocks_used, 0);
  EXPECT_EQ(st.time_to_first_token.count, streams.size());
  EXPECT_GT(st.inter_token_latency.count, 0u);
}

TEST(Engine, ErrorsByType) {
  auto engine = Engine::create({.model_dir = kDir, .max_batch_size = 1, .max_queue_size = 1});
  Request bad;
  bad.prompt_ids = {1, 1000000};
  EXPECT_THROW(engine->enqueue(bad), RequestError);
  bad.prompt_ids = {};
  EXPECT_THROW(engine->enqueue(bad), RequestError);
  Request big;
  big.prompt_ids = {1, 2, 3};
  big.sampling.max_new_tokens = 1 << 20;
  EXPECT_THROW(engine->enqueue(big), RequestError);
  Request ok;
  ok.prompt_ids = {1, 2, 3};
  ok.sampling.max_new_tokens = 40;
  ok.sampling.ignore_eos = true;
  std::vector<std::shared_ptr<RequestStream>> streams;
  bool full = false;
  for (int i = 0; i < 20 && !full; ++i) {
    try {
      streams.push_back(engine->enqueue(ok));
    } catch (const QueueFullError&) {
      full = true;
    }
  }
  EXPECT_TRUE(full);
  for (auto& s : streams) s->cancel();
  engine->shutdown();
  EXPECT_THROW(engine->enqueue(ok), EngineStoppedError);
}

TEST(Engine, CancelAndShutdownFinishStreams) {
  auto engine = Engine::create({.model_dir = kDir});
  Request r;
  r.prompt_ids = {5, 6, 7};
  r.sampling.max_new_tokens = 50;
  r.sampling.ignore_eos = true;
  // The tiny model may finish 50 tokens before a cancel lands: retry until one is cut short.
  int cancelled = 0;
  for (int attempt = 0; attempt < 50 && cancelled == 0; ++attempt) {
    auto a = engine->enqueue(r);
    a->next(std::chrono::milliseconds(20000));  // running
    a->cancel();
    std::string reason;
    const auto ids = collect(*a, &reason);
    ASSERT_TRUE(reason == "cancelled" || reason == "length") << reason;
    if (reason == "cancelled") {
      ++cancelled;
      EXPECT_LT(ids.size(), 50u);
    }
  }
  EXPECT_EQ(cancelled, 1);
  EXPECT_EQ(engine->stats().requests_cancelled, 1);
  auto b = engine->enqueue(r);
  engine->shutdown();
  std::string reason_b;
  collect(*b, &reason_b);
  EXPECT_TRUE(reason_b == "cancelled" || reason_b == "length") << reason_b;
  EXPECT_EQ(engine->stats().kv_blocks_used, 0);
}

}  // namespace
}  // namespace kiln
