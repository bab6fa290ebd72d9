// Encoder–decoder parity with Hugging Face (T5, mT5, UMT5, BART, mBART, Marian) on the seeded
// fixtures of tools/make_encdec_fixtures.py: first decoder step logits within 1e-4 relative (norm
// and max); greedy tokens exact — each prompt alone, all packed (ragged encoder inputs), with a
// small max_num_tokens (about one encoder input per step) and a one-sequence queue — with the
// case's generation kwargs (forced BOS/EOS, no_repeat_ngram_size, min_length, max_length,
// decoder_start_token_id, bad_words_ids from generation_config.json or the case); a decoder
// prompt continuing a greedy output; beam cases exact (tokens, scores within 1e-4) alone and
// batched with greedy requests, with a roomy and a tight KV cache; kiln checkpoints (save ->
// load) giving the same logits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "encdec_parity.h"
#include "family_parity.h"
#include "models/registry.h"
#include "models/weight_map.h"
#include "runtime/generator.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

using test::read_json;

std::string where(const std::string& dir, const nlohmann::json& c) {
  return fs::path(dir).parent_path().filename().string() + "/" +
         fs::path(dir).filename().string() + ":" + c["name"].get<std::string>();
}

std::vector<int32_t> ids(const nlohmann::json& j) { return j.get<std::vector<int32_t>>(); }

int64_t longest_prompt(const std::vector<runtime::GenerationRequest>& reqs) {
  size_t n = 1;
  for (const auto& r : reqs) n = std::max(n, r.prompt.size());
  return static_cast<int64_t>(n);
}

class EncDecParity : public ::testing::TestWithParam<std::string> {};

TEST_P(EncDecParity, FirstStepLogits) {
  const std::string dir = GetParam();
  const nlohmann::json expected = read_json(dir + "/expected.json");
  const nlohmann::json config = read_json(dir + "/config.json");
  auto model = models::load_model(dir);
  ASSERT_EQ(model->spec().model_type, config["model_type"].get<std::string>());
  ASSERT_TRUE(model->spec().encoder_decoder);
  const int32_t start = expected["decoder_start_token_id"].get<int32_t>();
  for (const auto& c : expected["cases"]) {
    for (size_t i = 0; i < c["prompts"].size(); ++i) {
      const auto ref = c["first_logits"][i].get<std::vector<float>>();
      const auto got = test::encdec_first_logits(*model, ids(c["prompts"][i]), {start});
      ASSERT_EQ(got.size(), ref.size()) << where(dir, c);
      double max_abs = 0, max_ref = 0;
      for (size_t j = 0; j < ref.size(); ++j) {
        max_abs = std::max(max_abs, std::fabs(double(got[j]) - ref[j]));
        max_ref = std::max(max_ref, std::fabs(double(ref[j])));
      }
      EXPECT_LT(test::rel_err(got, ref), 1e-4) << where(dir, c) << " prompt " << i;
      EXPECT_LT(max_abs / max_ref, 1e-4) << where(dir, c) << " prompt " << i;
    }
  }
}

// Greedy outputs of every case (beam cases carry num_beams=1 outputs too) in 4 batchings.
TEST_P(EncDecParity, GreedyTokens) {
  const std::string dir = GetParam();
  const nlohmann::json expected = read_json(dir + "/expected.json");
  auto model = models::load_model(dir);
  const runtime::SamplingParams defaults = runtime::load_generation_defaults(dir);
  ExecContext ctx;
  for (nlohmann::json c : expected["cases"]) {
    c.erase("num_beams");  // greedy
    const auto reqs = test::encdec_case_requests(c, defaults);
    // The encoder input runs in one step: the smallest budget is the longest input + 1.
    const int64_t tight = longest_prompt(reqs) + 1;
    for (const test::RunVariant& v : test::run_variants(3, tight, 3, tight)) {
      const std::vector<std::vector<int32_t>> outs = test::run_variant(*model, v, reqs, ctx);
      for (size_t i = 0; i < reqs.size(); ++i)
        EXPECT_EQ(outs[i], ids(c["outputs"][i]))
            << where(dir, c) << " prompt " << i << " (" << v.what << ")";
    }
  }
}

// A decoder prompt of the start token + the first k greedy tokens continues with the rest (HF's
// processors count the decoder prompt, so max_new_tokens shrinks by k and max_length stays):
// multi-token decoder prefill, with relative positions and cross-attention over several rows.
TEST_P(EncDecParity, DecoderPromptContinues) {
  const std::string dir = GetParam();
  const nlohmann::json expected = read_json(dir + "/expected.json");
  auto model = models::load_model(dir);
  const runtime::SamplingParams defaults = runtime::load_generation_defaults(dir);
  ExecContext ctx;
  constexpr size_t k = 3;
  int checked = 0;
  for (nlohmann::json c : expected["cases"]) {
    c.erase("num_beams");
    std::vector<runtime::GenerationRequest> reqs, cont;
    std::vector<std::vector<int32_t>> want;
    for (size_t i = 0; const auto& r : test::encdec_case_requests(c, defaults)) {
      const auto out = ids(c["outputs"][i++]);
      if (out.size() <= k) continue;
      runtime::GenerationRequest q = r;
      const int32_t start = q.params.decoder_start() >= 0
                                ? q.params.decoder_start()
                                : expected["decoder_start_token_id"].get<int32_t>();
      q.decoder_prompt = {start};
      q.decoder_prompt.insert(q.decoder_prompt.end(), out.begin(), out.begin() + k);
      if (q.params.max_new_tokens >= 0) q.params.max_new_tokens -= static_cast<int64_t>(k);
      cont.push_back(q);
      want.emplace_back(out.begin() + k, out.end());
    }
    if (cont.empty()) continue;
    runtime::Generator gen(*model, {64, 2048, 4, 0}, ctx);
    const auto res = gen.generate(cont);
    for (size_t i = 0; i < cont.size(); ++i, ++checked)
      EXPECT_EQ(res[i].output_ids, want[i]) << where(dir, c) << " continuation " << i;
  }
  EXPECT_GT(checked, 0) << dir;
}

// Beam cases: each prompt alone, then all prompts interleaved with the fixture's first (greedy)
// case in one generate(), with a roomy cache and one that fits only the largest request.
TEST_P(EncDecParity, BeamCases) {
  const std::string dir = GetParam();
  const nlohmann::json expected = read_json(dir + "/expected.json");
  bool any = false;
  for (const auto& c : expected["cases"]) any |= c.contains("beam_outputs");
  if (!any) GTEST_SKIP() << "no beam cases";
  auto model = models::load_model(dir);
  const runtime::SamplingParams defaults = runtime::load_generation_defaults(dir);
  const nlohmann::json& greedy = expected["cases"][0];
  ASSERT_FALSE(greedy.contains("num_beams"));
  const auto greedy_reqs = test::encdec_case_requests(greedy, defaults);
  ExecContext ctx;
  for (const auto& c : expected["cases"]) {
    if (!c.contains("beam_outputs")) continue;
    const auto beam_reqs = test::encdec_case_requests(c, defaults);
    if (c.value("use_defaults", false)) {  // kiln read HF's beam settings from the folder
      EXPECT_EQ(beam_reqs[0].params.num_beams, c["num_beams"].get<int>()) << where(dir, c);
      EXPECT_FLOAT_EQ(beam_reqs[0].params.length_penalty, c["length_penalty"].get<float>());
      EXPECT_EQ(beam_reqs[0].params.num_return_sequences, c["num_return_sequences"].get<int>());
    }
    const auto check = [&](const runtime::GenerationResult& r, size_t i, const std::string& what) {
      const auto& want = c["beam_outputs"][i];
      ASSERT_EQ(r.sequences.size(), want.size()) << where(dir, c) << " prompt " << i << what;
      for (size_t s = 0; s < want.size(); ++s) {
        EXPECT_EQ(r.sequences[s], ids(want[s]))
            << where(dir, c) << " prompt " << i << " sequence " << s << what;
        EXPECT_NEAR(r.scores[s], c["beam_scores"][i][s].get<double>(), 1e-4)
            << where(dir, c) << " prompt " << i << " sequence " << s << what;
      }
    };
    {
      runtime::Generator gen(*model, {16, 256, 4, 0}, ctx);
      for (size_t i = 0; i < beam_reqs.size(); ++i) check(gen.generate({beam_reqs[i]})[0], i, " alone");
    }
    // greedy, beam, greedy, beam, ...
    std::vector<std::pair<char, size_t>> order;
    std::vector<runtime::GenerationRequest> reqs;
    for (size_t i = 0; i < std::max(beam_reqs.size(), greedy_reqs.size()); ++i) {
      if (i < greedy_reqs.size()) order.push_back({'g', i}), reqs.push_back(greedy_reqs[i]);
      if (i < beam_reqs.size()) order.push_back({'b', i}), reqs.push_back(beam_reqs[i]);
    }
    // Tight: the largest request's worst case (width x (decoder + cross blocks)) and one more.
    int64_t need = 0;
    for (const auto& r : reqs) {
      const int64_t dec = 1 + r.params.resolve_max_new(1);
      const int64_t enc = static_cast<int64_t>(r.prompt.size());
      need = std::max<int64_t>(need, std::max(1, r.params.num_beams) * ((dec + 3) / 4 + (enc + 3) / 4));
    }
    for (const int64_t blocks : {int64_t{0}, need + 1}) {
      runtime::Generator gen(*model, {16, 256, 4, blocks}, ctx);
      const auto res = gen.generate(reqs);
      const std::string what = blocks ? " (batched, tight cache)" : " (batched)";
      for (size_t k = 0; k < order.size(); ++k) {
        const auto [kind, i] = order[k];
        if (kind == 'g')
          EXPECT_EQ(res[k].output_ids, ids(greedy["outputs"][i])) << where(dir, greedy) << " prompt "
                                                                  << i << what;
        else
          check(res[k], i, what);
      }
    }
  }
}

// Model::save (fp32 kiln checkpoint) loads back to the same logits and spec.
TEST_P(EncDecParity, KilnCheckpointRoundTrip) {
  const std::string dir = GetParam();
  const nlohmann::json expected = read_json(dir + "/expected.json");
  auto model = models::load_model(dir);
  test::TempDir tmp("encdec_ckpt");
  model->save(tmp.path.string(), DType::kFloat32);
  auto back = models::load_model(tmp.path.string());
  const auto& a = model->spec();
  const auto& b = back->spec();
  EXPECT_EQ(b.model_type, a.model_type);
  EXPECT_EQ(b.weight_bytes, a.weight_bytes);
  EXPECT_EQ(b.encoder_decoder, a.encoder_decoder);
  EXPECT_EQ(b.decoder_start_token_id, a.decoder_start_token_id);
  EXPECT_EQ(b.vocab_size, a.vocab_size);
  EXPECT_EQ(b.encoder_vocab_size, a.encoder_vocab_size);
  EXPECT_EQ(b.max_encoder_positions, a.max_encoder_positions);
  const int32_t start = expected["decoder_start_token_id"].get<int32_t>();
  for (const auto& p : expected["cases"][0]["prompts"]) {
    const auto prompt = ids(p);
    EXPECT_EQ(test::encdec_first_logits(*back, prompt, {start}),
              test::encdec_first_logits(*model, prompt, {start}))
        << dir;
  }
  // With generation_config.json copied over (as `kiln convert` does), the defaults are the same.
  models::copy_side_files(dir, tmp.path.string());
  const runtime::SamplingParams d0 = runtime::load_generation_defaults(dir);
  const runtime::SamplingParams d1 = runtime::load_generation_defaults(tmp.path.string());
  EXPECT_EQ(d1.decoder_start(), d0.decoder_start());
  EXPECT_EQ(d1.eos_token_ids, d0.eos_token_ids);
  EXPECT_EQ(d1.forced_bos_token_id, d0.forced_bos_token_id);
  EXPECT_EQ(d1.forced_eos_token_ids, d0.forced_eos_token_ids);
  EXPECT_EQ(d1.bad_words_ids, d0.bad_words_ids);
}

INSTANTIATE_TEST_SUITE_P(Fixtures, EncDecParity, ::testing::ValuesIn(test::encdec_fixture_dirs()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           const fs::path p(info.param);
                           return test::test_name(p.parent_path().filename().string() + "_" +
                                                  p.filename().string());
                         });

}  // namespace
}  // namespace kiln
