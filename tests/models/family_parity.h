// Shared by every family's CPU parity test: first-step logits of a prompt from a fresh cache, the
// fixture check (logits within 1e-4 relative in norm and max; exact greedy tokens alone, packed,
// with chunked prefill and a one-sequence queue) and the kiln-checkpoint round trip.
#pragma once

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "../fixture_util.h"
#include "models/registry.h"
#include "runtime/batch_builder.h"
#include "runtime/generator.h"
#include "runtime/kv_cache/kv_cache.h"

namespace kiln::test {

inline nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

// Logits [vocab] of the last prompt position, from a fresh cache (CPU).
inline std::vector<float> first_logits(models::Model& model, const std::vector<int32_t>& prompt) {
  const auto& spec = model.spec();
  runtime::KvCacheShape shape{spec.num_layers, spec.num_kv_heads, spec.head_dim, 8,
                              static_cast<int>((prompt.size() + 7) / 8)};
  runtime::KvCache cache(shape);
  runtime::Sequence seq;
  seq.tokens = prompt;
  cache.blocks().allocate(shape.num_blocks, &seq.blocks);
  const auto batch = runtime::build_batch({{&seq, static_cast<int64_t>(prompt.size()), true}}, 8);
  ExecContext ctx;
  model.reserve(static_cast<int64_t>(prompt.size()), 1);
  layers::KvCacheView kv = cache.view();
  Tensor logits = model.forward(batch, kv, ctx);
  return {logits.data<float>(), logits.data<float>() + spec.vocab_size};
}

// A fresh folder under the system temp dir, removed at scope exit.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag) {
    path = std::filesystem::temp_directory_path() /
           fmt::format("kiln_{}_{}_{}", tag, ::getpid(), reinterpret_cast<uintptr_t>(this));
    std::filesystem::remove_all(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// The four ways every parity test runs a case's greedy requests: each alone, all packed in one
// batch, in small steps (chunked prefill / a small token budget) and through a one-sequence queue.
struct RunVariant {
  const char* what;
  runtime::GeneratorOptions opts;
  bool alone;
  bool chunked;
};
inline std::vector<RunVariant> run_variants(int64_t small_batch, int64_t small_tokens,
                                            int small_block, int64_t queue_tokens) {
  return {{"alone", {64, 2048, 16, 0}, true, false},
          {"packed", {64, 2048, 16, 0}, false, false},
          {"small-steps", {small_batch, small_tokens, small_block, 0}, false, true},
          {"batch1-queue", {1, queue_tokens, 1, 0}, false, true}};
}
// Greedy outputs of reqs under one variant.
inline std::vector<std::vector<int32_t>> run_variant(
    models::Model& model, const RunVariant& v, const std::vector<runtime::GenerationRequest>& reqs,
    ExecContext& ctx) {
  runtime::Generator gen(model, v.opts, ctx);
  std::vector<std::vector<int32_t>> outs;
  if (v.alone) {
    for (const auto& r : reqs) outs.push_back(gen.generate({r})[0].output_ids);
  } else {
    for (const auto& res : gen.generate(reqs)) outs.push_back(res.output_ids);
  }
  return outs;
}

// skip(prompt_len, chunked): requests a family cannot check in a variant (e.g. dynamic rope).
using SkipFn = std::function<bool(int64_t prompt_len, bool chunked)>;

// Every case of dir/expected.json (beam cases carry greedy outputs too): first-step logits and
// greedy tokens in 4 variants.
inline void check_logits_and_greedy(const std::string& dir, const std::string& model_type,
                                    const SkipFn& skip = {}) {
  const nlohmann::json expected = read_json(dir + "/expected.json");
  auto model = models::load_model(dir);
  ASSERT_EQ(model->spec().model_type, model_type);
  const runtime::SamplingParams defaults = runtime::load_generation_defaults(dir);
  for (const auto& c : expected["cases"]) {
    const std::vector<runtime::GenerationRequest> reqs = case_requests(c, defaults);
    const std::string name = dir + ":" + c["name"].get<std::string>();
    for (size_t i = 0; c.contains("first_logits") && i < reqs.size(); ++i) {
      const auto ref = c["first_logits"][i].get<std::vector<float>>();
      const auto got = first_logits(*model, reqs[i].prompt);
      ASSERT_EQ(got.size(), ref.size());
      double max_abs = 0, max_ref = 0;
      for (size_t j = 0; j < ref.size(); ++j) {
        max_abs = std::max(max_abs, std::fabs(double(got[j]) - ref[j]));
        max_ref = std::max(max_ref, std::fabs(double(ref[j])));
      }
      EXPECT_LT(rel_err(got, ref), 1e-4) << name << " prompt " << i;
      EXPECT_LT(max_abs / max_ref, 1e-4) << name << " prompt " << i;
    }
    ExecContext ctx;
    for (const RunVariant& v : run_variants(4, 4, 3, 7)) {
      const std::vector<std::vector<int32_t>> outs = run_variant(*model, v, reqs, ctx);
      for (size_t i = 0; i < reqs.size(); ++i) {
        if (skip && skip(static_cast<int64_t>(reqs[i].prompt.size()), v.chunked)) continue;
        EXPECT_EQ(outs[i], c["outputs"][i].get<std::vector<int32_t>>())
            << name << " prompt " << i << " (" << v.what << ")";
      }
    }
  }
}

// HF folder -> Model::save (fp32) -> kiln checkpoint -> load: identical first-step logits.
inline void check_save_load(const std::string& dir, const std::string& model_type) {
  const nlohmann::json expected = read_json(dir + "/expected.json");
  auto model = models::load_model(dir);
  TempDir tmp(model_type + "_ckpt");
  model->save(tmp.path.string(), DType::kFloat32);
  auto back = models::load_model(tmp.path.string());
  EXPECT_EQ(back->spec().model_type, model_type);
  EXPECT_EQ(back->spec().weight_bytes, model->spec().weight_bytes);
  for (const auto& p : expected["cases"][0]["prompts"]) {
    const auto prompt = p.get<std::vector<int32_t>>();
    EXPECT_EQ(first_logits(*back, prompt), first_logits(*model, prompt)) << dir;
  }
}

// random_model on base updated by each variant: finite first-step logits, a kiln checkpoint that
// loads back to the same logits, and the same weights again from the same seed. check_spec (may
// be null) adds the family's checks of the model's spec for that architecture.
inline void check_random_layouts(
    const nlohmann::json& base, const std::vector<nlohmann::json>& variants,
    const std::function<void(const nlohmann::json&, const models::ModelSpec&)>& check_spec = {}) {
  const std::string type = base.at("model_type").get<std::string>();
  const std::vector<int32_t> prompt = {1, 5, 9, 3, 7};
  for (const auto& v : variants) {
    nlohmann::json arch = base;
    arch.update(v);
    auto model = models::random_model(arch, 42);
    EXPECT_EQ(model->spec().model_type, type);
    if (check_spec) check_spec(arch, model->spec());
    const auto logits = first_logits(*model, prompt);
    for (float x : logits) ASSERT_TRUE(std::isfinite(x)) << arch.dump();
    TempDir tmp(type + "_random");
    model->save(tmp.path.string(), DType::kFloat32);
    auto back = models::load_model(tmp.path.string());
    EXPECT_EQ(first_logits(*back, prompt), logits) << arch.dump();
    EXPECT_EQ(first_logits(*models::random_model(arch, 42), prompt), logits) << arch.dump();
  }
}

// fn throws, and its message contains `needle`.
inline void expect_error_containing(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    FAIL() << "expected an error containing '" << needle << "'";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

inline std::string fixture_name(const ::testing::TestParamInfo<std::string>& info) {
  return test_name(std::filesystem::path(info.param).filename().string());
}

}  // namespace kiln::test
