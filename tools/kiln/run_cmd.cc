// `kiln run`: generate from a HF folder or a kiln checkpoint for one or more prompts (packed into
// one batch), print the outputs, and optionally write them as JSON.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "commands.h"
#include "core/check.h"
#include "device_options.h"
#include "generation_flags.h"
#include "kiln/engine.h"
#include "parse_ids.h"

namespace kiln::cli {
namespace {

struct RunArgs {
  std::string model_dir, engine_dir, tokenizer_dir, output_json;
  std::vector<std::string> input_text, input_ids;
  std::string decoder_input_ids;  // enc-dec: the decoder's first tokens for every prompt
  std::optional<int64_t> end_id;
  GenerationFlags gen;
  std::vector<std::string> stop;
  int n = 1;
  bool no_add_special_tokens = false;
  EngineOptions engine;  // scheduler flags (add_scheduler_options)
  DeviceOptions device;
};

void run(const RunArgs& a) {
  KILN_CHECK(a.model_dir.empty() != a.engine_dir.empty(),
             "give exactly one of --model_dir and --engine_dir");
  KILN_CHECK(a.input_text.empty() != a.input_ids.empty(),
             "give prompts with either --input_text or --input_ids (not both, not neither)");
  KILN_CHECK(!a.gen.max_new_tokens || *a.gen.max_new_tokens >= 0,
             "--max_new_tokens must be >= 0, got {}", a.gen.max_new_tokens.value_or(0));
  EngineOptions eo = a.engine;  // the scheduler flags
  eo.model_dir = a.model_dir.empty() ? a.engine_dir : a.model_dir;
  eo.tokenizer_dir = a.tokenizer_dir;
  apply_device_options(a.device, eo);
  eo.max_queue_size = static_cast<int64_t>(a.input_ids.size() + a.input_text.size()) + 1;
  // Default KV: every prompt's worst case at once (no preemption), as `run` always did.
  auto engine = Engine::create(eo);
  KILN_CHECK(a.input_text.empty() || engine->has_tokenizer(),
             "no tokenizer files (tokenizer.json, vocab.json + merges.txt, a SentencePiece .model) "
             "in '{}'; pass "
             "--tokenizer_dir or give --input_ids",
             a.tokenizer_dir.empty() ? eo.model_dir : a.tokenizer_dir);

  SamplingOptions so = a.gen.to_sampling_options();
  so.stop = a.stop;
  so.n = a.n;
  std::vector<Request> requests;
  for (const std::string& s : a.input_ids) requests.push_back({parse_ids(s), so});
  for (const std::string& text : a.input_text)
    requests.push_back({engine->encode(text, !a.no_add_special_tokens), so});
  if (!a.decoder_input_ids.empty())
    for (Request& r : requests) r.decoder_prompt_ids = parse_ids(a.decoder_input_ids);
  if (a.end_id) {  // overrides the model's end ids: stop on this one only
    for (Request& r : requests) {
      r.sampling.ignore_eos = true;
      r.sampling.stop_token_ids = {static_cast<int32_t>(*a.end_id)};
    }
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (size_t i = 0; i < requests.size(); ++i) {
    try {
      streams.push_back(engine->enqueue(requests[i]));
    } catch (const std::exception& e) {
      KILN_FAIL("request {}: {}", i, e.what());
    }
  }
  std::vector<std::vector<std::vector<int32_t>>> seqs(requests.size());
  std::vector<std::vector<std::string>> reasons(requests.size()), texts(requests.size());
  int64_t generated = 0, prompt_tokens = 0;
  for (size_t i = 0; i < streams.size(); ++i) {
    prompt_tokens += static_cast<int64_t>(requests[i].prompt_ids.size());
    while (auto u = streams[i]->next()) {
      KILN_CHECK(!u->error, "request {}: {}", i, u->error.value_or(""));
      for (const SequenceDelta& d : u->sequences) {
        if (seqs[i].size() <= static_cast<size_t>(d.index)) {
          seqs[i].resize(d.index + 1);
          reasons[i].resize(d.index + 1);
          texts[i].resize(d.index + 1);
        }
        texts[i][d.index] += d.text;  // streamed text: stop strings already cut
        seqs[i][d.index].insert(seqs[i][d.index].end(), d.token_ids.begin(), d.token_ids.end());
        generated += static_cast<int64_t>(d.token_ids.size());
        if (d.finish_reason) reasons[i][d.index] = *d.finish_reason;
      }
      if (u->finished) break;
    }
    if (seqs[i].empty()) {
      seqs[i].resize(1);
      reasons[i].assign(1, "length");
      texts[i].resize(1);
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json out_ids = nlohmann::json::array(), out_text = nlohmann::json::array(),
                 all = nlohmann::json::array(), finish = nlohmann::json::array();
  for (size_t i = 0; i < requests.size(); ++i) {
    const std::vector<int32_t>& ids = seqs[i][0];
    out_ids.push_back(ids);
    all.push_back(seqs[i]);
    finish.push_back(reasons[i][0]);
    std::string ids_str;
    for (int32_t t : ids) ids_str += (ids_str.empty() ? "" : ",") + std::to_string(t);
    if (engine->has_tokenizer()) {
      // HF's decode(generated ids); with stop strings, the streamed text (cut at the stop).
      const std::string text =
          a.stop.empty() ? engine->decode(ids, /*skip_special_tokens=*/true) : texts[i][0];
      out_text.push_back(text);
      std::printf("Input [%zu]: %s\nOutput [%zu]: %s\n", i,
                  nlohmann::json(engine->decode(requests[i].prompt_ids, false)).dump().c_str(), i,
                  nlohmann::json(text).dump().c_str());
    } else {
      out_text.push_back(nullptr);
    }
    std::printf("Output ids [%zu]: [%s] (%s)\n", i, ids_str.c_str(), reasons[i][0].c_str());
    for (size_t k = 1; k < seqs[i].size(); ++k) {
      std::string more;
      for (int32_t t : seqs[i][k]) more += (more.empty() ? "" : ",") + std::to_string(t);
      std::printf("Output ids [%zu.%zu]: [%s] (%s)\n", i, k, more.c_str(), reasons[i][k].c_str());
    }
  }
  std::fprintf(stderr,
               "kiln: %zu prompts, %ld prompt + %ld generated tokens in %.3f s (%.1f "
               "generated tok/s) on %s\n",
               requests.size(), static_cast<long>(prompt_tokens), static_cast<long>(generated),
               secs, generated / std::max(secs, 1e-9), engine->info().device.c_str());
  if (!a.output_json.empty()) {
    std::ofstream f(a.output_json);
    KILN_CHECK(f.good(), "cannot open --output_json '{}' for writing", a.output_json);
    nlohmann::json j = {{"output_ids", out_ids},
                        {"output_text", out_text},
                        {"finish_reason", finish},
                        {"sequences", all}};
    f << j.dump() << "\n";
    KILN_CHECK(f.good(), "cannot write --output_json '{}'", a.output_json);
  }
  engine->shutdown();
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* sub = app.add_subcommand("run", "Generate text from a model folder or kiln checkpoint");
  sub->add_option("--model_dir", a->model_dir, "Hugging Face model folder");
  sub->add_option("--engine_dir", a->engine_dir, "kiln checkpoint folder (from `kiln convert`)");
  sub->add_option("--tokenizer_dir", a->tokenizer_dir, "Tokenizer folder (default: the model's)");
  sub->add_option("--input_text", a->input_text, "Prompt text (repeatable: one prompt each)");
  sub->add_option(
      "--input_ids", a->input_ids,
      "Prompt ids, comma-separated (repeatable); encoder–decoder models: encoder input");
  sub->add_option("--decoder_input_ids", a->decoder_input_ids,
                  "Encoder–decoder models: the decoder's first ids for every prompt (default: the "
                  "decoder start token)");
  add_generation_flags(sub, a->gen);
  sub->add_option("--stop", a->stop, "Stop string (repeatable; needs a tokenizer)");
  sub->add_option("--n", a->n, "Samples per prompt")->check(CLI::Range(1, 128));
  sub->add_option("--end_id", a->end_id, "End token id (overrides generation_config)");
  sub->add_flag("--no_add_special_tokens", a->no_add_special_tokens,
                "Do not add BOS/EOS-style special tokens when encoding --input_text");
  add_scheduler_options(sub, a->engine);
  sub->add_option("--output_json", a->output_json, "Write {output_ids, output_text} here");
  add_device_options(sub, a->device);
  sub->callback([a] { run(*a); });
}

}  // namespace kiln::cli
