// `kiln run`: generate from a HF folder or a kiln checkpoint for one or more prompts (packed into
// one batch), print the outputs, and optionally write them as JSON.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "commands.h"
#include "device_options.h"
#include "core/check.h"
#include "models/registry.h"
#include "parse_ids.h"
#include "runtime/generator.h"
#include "tokenizer/tokenizer.h"

namespace kiln::cli {
namespace {

struct RunArgs {
  std::string model_dir, engine_dir, tokenizer_dir, output_json;
  std::vector<std::string> input_text, input_ids;
  std::optional<int64_t> max_new_tokens, min_new_tokens, top_k, end_id;
  std::optional<float> temperature, top_p, repetition_penalty;
  bool do_sample = false;
  uint64_t seed = 0;
  bool no_add_special_tokens = false;
  int64_t max_batch_size = 64, max_num_tokens = 2048, tokens_per_block = 16;
  DeviceOptions device;
};

std::unique_ptr<tok::Tokenizer> maybe_tokenizer(const std::string& dir, bool required) {
  const bool present = std::filesystem::exists(dir + "/tokenizer.json") ||
                       std::filesystem::exists(dir + "/vocab.json") ||
                       std::filesystem::exists(dir + "/encoder.json");
  if (!present) {
    KILN_CHECK(!required, "no tokenizer files (tokenizer.json, vocab.json + merges.txt) in '{}'; "
               "pass --tokenizer_dir or give --input_ids", dir);
    return nullptr;
  }
  return tok::Tokenizer::from_dir(dir);
}

void run(const RunArgs& a) {
  KILN_CHECK(a.model_dir.empty() != a.engine_dir.empty(),
             "give exactly one of --model_dir and --engine_dir");
  KILN_CHECK(a.input_text.empty() != a.input_ids.empty(),
             "give prompts with either --input_text or --input_ids (not both, not neither)");
  const std::string dir = a.model_dir.empty() ? a.engine_dir : a.model_dir;
  const std::string tok_dir = a.tokenizer_dir.empty() ? dir : a.tokenizer_dir;

  DeviceSession session(a.device);
  auto model = models::load_model(dir, session.load_options());
  auto tokenizer = maybe_tokenizer(tok_dir, !a.input_text.empty());

  runtime::SamplingParams params = runtime::load_generation_defaults(dir);
  KILN_CHECK(!a.max_new_tokens || *a.max_new_tokens >= 0, "--max_new_tokens must be >= 0, got {}",
             a.max_new_tokens.value_or(0));
  if (a.max_new_tokens) params.max_new_tokens = *a.max_new_tokens;
  if (a.min_new_tokens) params.min_new_tokens = *a.min_new_tokens;
  if (a.do_sample) params.do_sample = true;
  if (a.temperature) params.temperature = *a.temperature;
  if (a.top_k) params.top_k = *a.top_k;
  if (a.top_p) params.top_p = *a.top_p;
  if (a.repetition_penalty) params.repetition_penalty = *a.repetition_penalty;
  if (a.end_id) params.eos_token_ids = {static_cast<int32_t>(*a.end_id)};
  params.seed = a.seed;

  std::vector<runtime::GenerationRequest> requests;
  for (const std::string& s : a.input_ids) requests.push_back({parse_ids(s), params});
  for (const std::string& text : a.input_text)
    requests.push_back({tokenizer->encode(text, !a.no_add_special_tokens), params});

  ExecContext& ctx = session.ctx();
  runtime::GeneratorOptions opts;
  opts.max_batch_size = a.max_batch_size;
  opts.max_num_tokens = a.max_num_tokens;
  opts.block_size = static_cast<int>(a.tokens_per_block);
  runtime::Generator gen(*model, opts, ctx);
  runtime::GenerationStats stats;
  const auto t0 = std::chrono::steady_clock::now();
  const auto results = gen.generate(requests, &stats);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  nlohmann::json out_ids = nlohmann::json::array(), out_text = nlohmann::json::array();
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    out_ids.push_back(r.output_ids);
    std::string ids_str;
    for (int32_t t : r.output_ids) ids_str += (ids_str.empty() ? "" : ",") + std::to_string(t);
    if (tokenizer) {
      const std::string text = tokenizer->decode(r.output_ids, /*skip_special_tokens=*/true);
      out_text.push_back(text);
      std::printf("Input [%zu]: %s\nOutput [%zu]: %s\n", i,
                  nlohmann::json(tokenizer->decode(requests[i].prompt)).dump().c_str(), i,
                  nlohmann::json(text).dump().c_str());
    } else {
      out_text.push_back(nullptr);
    }
    std::printf("Output ids [%zu]: [%s] (%s)\n", i, ids_str.c_str(), r.finish_reason.c_str());
  }
  std::fprintf(stderr,
               "kiln: %zu sequences, %ld prompt + %ld generated tokens in %.3f s "
               "(prefill %.3f s, decode %.3f s, %.1f generated tok/s)\n",
               results.size(), static_cast<long>(stats.prompt_tokens),
               static_cast<long>(stats.generated_tokens), secs, stats.prefill_seconds,
               stats.decode_seconds, stats.generated_tokens / std::max(secs, 1e-9));
  if (!a.output_json.empty()) {
    std::ofstream f(a.output_json);
    KILN_CHECK(f.good(), "cannot open --output_json '{}' for writing", a.output_json);
    nlohmann::json j = {{"output_ids", out_ids}, {"output_text", out_text}};
    j["finish_reason"] = nlohmann::json::array();
    for (const auto& r : results) j["finish_reason"].push_back(r.finish_reason);
    f << j.dump() << "\n";
    KILN_CHECK(f.good(), "cannot write --output_json '{}'", a.output_json);
  }
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* sub = app.add_subcommand("run", "Generate text from a model folder or kiln checkpoint");
  sub->add_option("--model_dir", a->model_dir, "Hugging Face model folder");
  sub->add_option("--engine_dir", a->engine_dir, "kiln checkpoint folder (from `kiln convert`)");
  sub->add_option("--tokenizer_dir", a->tokenizer_dir, "Tokenizer folder (default: the model's)");
  sub->add_option("--input_text", a->input_text, "Prompt text (repeatable: one prompt each)");
  sub->add_option("--input_ids", a->input_ids, "Prompt ids, comma-separated (repeatable)");
  sub->add_option("--max_new_tokens", a->max_new_tokens, "Tokens to generate (HF semantics)");
  sub->add_option("--min_new_tokens", a->min_new_tokens, "Suppress the end token before this");
  sub->add_flag("--do_sample", a->do_sample, "Sample instead of greedy decoding");
  sub->add_option("--temperature", a->temperature, "Sampling temperature");
  sub->add_option("--top_k", a->top_k, "Top-k filter (0 disables; HF default 50)");
  sub->add_option("--top_p", a->top_p, "Top-p (nucleus) filter");
  sub->add_option("--repetition_penalty", a->repetition_penalty, "HF repetition penalty");
  sub->add_option("--seed", a->seed, "Random seed for sampling (per request)");
  sub->add_option("--end_id", a->end_id, "End token id (overrides generation_config)");
  sub->add_flag("--no_add_special_tokens", a->no_add_special_tokens,
                "Do not add BOS/EOS-style special tokens when encoding --input_text");
  sub->add_option("--max_batch_size", a->max_batch_size, "Sequences per step")->check(CLI::PositiveNumber);
  sub->add_option("--max_num_tokens", a->max_num_tokens, "Tokens per step (chunked prefill)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--tokens_per_block", a->tokens_per_block, "KV cache block size")
      ->check(CLI::Range(1, 1024));
  sub->add_option("--output_json", a->output_json, "Write {output_ids, output_text} here");
  add_device_options(sub, a->device);
  sub->callback([a] { run(*a); });
}

}  // namespace kiln::cli
