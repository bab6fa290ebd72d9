// `kiln loadtest`: a serving benchmark through the public C++ API (what `kiln serve` runs on):
// N requests with random prompt and output lengths arrive as a Poisson process (or all at once),
// each generating exactly its output length (ignore_eos, as vLLM's serving benchmark does).
// Reports output tokens/s and TTFT / inter-token latency / end-to-end percentiles.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "commands.h"
#include "core/check.h"
#include "device_options.h"
#include "kiln/engine.h"

namespace kiln::cli {
namespace {

using Clock = std::chrono::steady_clock;

struct LoadArgs {
  std::string model_dir, engine_dir, output_json;
  DeviceOptions device;
  int64_t num_requests = 1000;
  std::vector<int64_t> input_len = {128, 1024}, output_len = {128, 512};
  double request_rate = 0;  // requests/s; 0: all at once
  uint64_t seed = 0;
  int64_t max_batch_size = 256, max_num_tokens = 8192, tokens_per_block = 16, num_kv_blocks = 0;
  bool prefix_caching = false;
};

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * (v.size() - 1);
  const size_t i = static_cast<size_t>(pos);
  const double f = pos - i;
  return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
}

void loadtest(const LoadArgs& a) {
  KILN_CHECK(a.model_dir.empty() != a.engine_dir.empty(),
             "give exactly one of --model_dir and --engine_dir");
  KILN_CHECK(a.input_len.size() == 2 && a.input_len[0] >= 1 && a.input_len[0] <= a.input_len[1],
             "--input_len wants MIN,MAX");
  KILN_CHECK(a.output_len.size() == 2 && a.output_len[0] >= 1 && a.output_len[0] <= a.output_len[1],
             "--output_len wants MIN,MAX");
  KILN_CHECK(a.num_requests > 0 && a.request_rate >= 0, "bad --num_requests / --request_rate");
  EngineOptions eo;
  eo.model_dir = a.model_dir.empty() ? a.engine_dir : a.model_dir;
  apply_device_options(a.device, eo);
  eo.max_batch_size = a.max_batch_size;
  eo.max_num_tokens = a.max_num_tokens;
  eo.tokens_per_block = static_cast<int>(a.tokens_per_block);
  eo.num_kv_blocks = a.num_kv_blocks;
  eo.enable_prefix_caching = a.prefix_caching;
  eo.max_queue_size = a.num_requests + 1;
  auto engine = Engine::create(eo);
  const ModelInfo info = engine->info();
  KILN_CHECK(a.input_len[1] + a.output_len[1] <= info.max_positions,
             "--input_len max + --output_len max ({}) exceeds the model's {} positions",
             a.input_len[1] + a.output_len[1], info.max_positions);

  std::mt19937_64 rng(a.seed);
  std::vector<Request> reqs(a.num_requests);
  int64_t total_in = 0;
  for (Request& r : reqs) {
    const int64_t in = std::uniform_int_distribution<int64_t>(a.input_len[0], a.input_len[1])(rng);
    r.prompt_ids.resize(in);
    for (int32_t& t : r.prompt_ids)
      t = static_cast<int32_t>(std::uniform_int_distribution<int64_t>(0, info.vocab_size - 1)(rng));
    r.sampling.max_new_tokens =
        std::uniform_int_distribution<int64_t>(a.output_len[0], a.output_len[1])(rng);
    r.sampling.ignore_eos = true;
    r.sampling.do_sample = false;
    r.detokenize = false;
    total_in += in;
  }
  std::vector<double> arrival(a.num_requests, 0.0);
  if (a.request_rate > 0) {
    std::exponential_distribution<double> gap(a.request_rate);
    for (int64_t i = 1; i < a.num_requests; ++i) arrival[i] = arrival[i - 1] + gap(rng);
  }
  struct Track {
    std::shared_ptr<RequestStream> stream;
    Clock::time_point sent, last;
    double ttft = -1, e2e = 0;
    int64_t tokens = 0;
    bool done = false;
  };
  std::vector<Track> tracks(a.num_requests);
  std::vector<double> itl;
  itl.reserve(a.num_requests * a.output_len[1]);
  const Clock::time_point start = Clock::now();
  int64_t sent = 0, done = 0;
  std::string error;
  while (done < a.num_requests) {
    const double now_s = std::chrono::duration<double>(Clock::now() - start).count();
    while (sent < a.num_requests && arrival[sent] <= now_s) {
      tracks[sent].sent = Clock::now();
      tracks[sent].stream = engine->enqueue(reqs[sent]);
      ++sent;
    }
    bool progress = false;
    for (int64_t i = 0; i < sent; ++i) {
      Track& t = tracks[i];
      if (t.done) continue;
      while (auto u = t.stream->next(std::chrono::milliseconds(0))) {
        progress = true;
        const Clock::time_point now = Clock::now();
        if (u->error) error = *u->error;
        int64_t n = 0;
        for (const SequenceDelta& d : u->sequences) n += static_cast<int64_t>(d.token_ids.size());
        if (n > 0) {
          if (t.ttft < 0)
            t.ttft = std::chrono::duration<double>(now - t.sent).count();
          else
            itl.push_back(std::chrono::duration<double>(now - t.last).count() / n);
          t.last = now;
          t.tokens += n;
        }
        if (u->finished) {
          t.done = true;
          t.e2e = std::chrono::duration<double>(now - t.sent).count();
          ++done;
          break;
        }
      }
    }
    if (!progress) std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  KILN_CHECK(error.empty(), "a request failed: {}", error);
  std::vector<double> ttft, e2e;
  int64_t total_out = 0;
  for (const Track& t : tracks) {
    ttft.push_back(t.ttft);
    e2e.push_back(t.e2e);
    total_out += t.tokens;
  }
  const EngineStats st = engine->stats();
  std::printf("kiln loadtest on %s: %ld requests, input %ld-%ld, output %ld-%ld tokens, rate %s\n",
              info.device.c_str(), static_cast<long>(a.num_requests),
              static_cast<long>(a.input_len[0]), static_cast<long>(a.input_len[1]),
              static_cast<long>(a.output_len[0]), static_cast<long>(a.output_len[1]),
              a.request_rate > 0 ? (std::to_string(a.request_rate) + " req/s").c_str() : "inf");
  std::printf("  wall %.2f s, %ld prompt + %ld output tokens, output %.1f tok/s, total %.1f tok/s, "
              "%.2f req/s, preemptions %ld\n",
              wall, static_cast<long>(total_in), static_cast<long>(total_out), total_out / wall,
              (total_in + total_out) / wall, a.num_requests / wall, static_cast<long>(st.preemptions));
  const auto row = [](const char* name, const std::vector<double>& v) {
    double mean = 0;
    for (double x : v) mean += x;
    mean /= std::max<size_t>(v.size(), 1);
    std::printf("  %-5s ms: mean %8.2f  p50 %8.2f  p90 %8.2f  p99 %8.2f\n", name, mean * 1e3,
                percentile(v, 0.5) * 1e3, percentile(v, 0.9) * 1e3, percentile(v, 0.99) * 1e3);
  };
  row("TTFT", ttft);
  row("ITL", itl);
  row("E2E", e2e);
  if (!a.output_json.empty()) {
    nlohmann::json j = {{"device", info.device}, {"num_requests", a.num_requests},
                        {"request_rate", a.request_rate}, {"wall_s", wall},
                        {"output_tokens", total_out}, {"prompt_tokens", total_in},
                        {"output_tok_s", total_out / wall}, {"preemptions", st.preemptions}};
    for (auto [name, v] : {std::pair{"ttft", &ttft}, {"itl", &itl}, {"e2e", &e2e}})
      j[name] = {{"p50", percentile(*v, 0.5)}, {"p90", percentile(*v, 0.9)},
                 {"p99", percentile(*v, 0.99)}};
    std::ofstream(a.output_json) << j.dump(2) << "\n";
  }
  engine->shutdown();
}

}  // namespace

void add_loadtest_command(CLI::App& app) {
  auto a = std::make_shared<LoadArgs>();
  auto* sub = app.add_subcommand("loadtest", "Serving benchmark: Poisson arrivals through the engine API");
  sub->add_option("--model_dir", a->model_dir, "Hugging Face model folder");
  sub->add_option("--engine_dir", a->engine_dir, "kiln checkpoint folder (e.g. from `kiln build`)");
  sub->add_option("--num_requests", a->num_requests, "Requests to send")->capture_default_str();
  sub->add_option("--input_len", a->input_len, "MIN,MAX prompt tokens")->delimiter(',')->expected(2);
  sub->add_option("--output_len", a->output_len, "MIN,MAX generated tokens")->delimiter(',')->expected(2);
  sub->add_option("--request_rate", a->request_rate, "Poisson arrival rate, req/s (0: all at once)");
  sub->add_option("--seed", a->seed, "Seed for lengths, ids and arrivals");
  sub->add_option("--max_batch_size", a->max_batch_size, "Sequences per step")->capture_default_str();
  sub->add_option("--max_num_tokens", a->max_num_tokens, "Tokens per step")->capture_default_str();
  sub->add_option("--tokens_per_block", a->tokens_per_block, "KV block size");
  sub->add_option("--num_kv_blocks", a->num_kv_blocks, "KV blocks (0: what memory allows)");
  sub->add_flag("--enable_prefix_caching", a->prefix_caching, "Reuse KV blocks of shared prefixes");
  sub->add_option("--output_json", a->output_json, "Write the figures here");
  add_device_options(sub, a->device);
  sub->callback([a] { loadtest(*a); });
}

}  // namespace kiln::cli
