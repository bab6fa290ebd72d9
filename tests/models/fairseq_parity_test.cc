// FairSeq transformer NMT parity on the seeded fixtures of tools/make_fairseq_fixture.py: each
// fixture's converted/ folder (tools/convert_fairseq.py's output, committed) against the script's
// pure-torch fairseq reference — first decoder step logits within 1e-4 relative (norm and max);
// greedy tokens exact (decoder start </s>, pad never generated) alone, packed, in small steps and
// through a one-sequence queue; a decoder prompt continuing a greedy output; save -> load. Also:
// fairseq's sinusoidal table, config validation, random_model, and that a fairseq config.json
// without kiln_checkpoint points at the converter.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "encdec_parity.h"
#include "family_parity.h"
#include "models/bart/config.h"
#include "models/bart/weights.h"
#include "models/registry.h"
#include "runtime/generator.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

using test::read_json;

std::vector<int32_t> ids(const nlohmann::json& j) { return j.get<std::vector<int32_t>>(); }

std::vector<std::string> fixtures() { return test::fixture_dirs("fairseq"); }

class FairseqParity : public ::testing::TestWithParam<std::string> {};

TEST_P(FairseqParity, FirstStepLogits) {
  const std::string dir = GetParam(), ckpt = dir + "/converted";
  const nlohmann::json expected = read_json(dir + "/expected.json");
  auto model = models::load_model(ckpt);
  ASSERT_EQ(model->spec().model_type, "fairseq");
  ASSERT_TRUE(model->spec().encoder_decoder);
  EXPECT_EQ(model->spec().vocab_size, expected["tgt_vocab_size"].get<int64_t>());
  EXPECT_EQ(model->spec().encoder_vocab_size, expected["src_vocab_size"].get<int64_t>());
  EXPECT_EQ(model->spec().decoder_start_token_id, 2);
  const int32_t start = expected["decoder_start_token_id"].get<int32_t>();
  double worst = 0;
  for (const auto& c : expected["cases"]) {
    for (size_t i = 0; i < c["prompts"].size(); ++i) {
      const auto ref = c["first_logits"][i].get<std::vector<float>>();
      const auto got = test::encdec_first_logits(*model, ids(c["prompts"][i]), {start});
      ASSERT_EQ(got.size(), ref.size());
      double max_abs = 0, max_ref = 0;
      for (size_t j = 0; j < ref.size(); ++j) {
        max_abs = std::max(max_abs, std::fabs(double(got[j]) - ref[j]));
        max_ref = std::max(max_ref, std::fabs(double(ref[j])));
      }
      worst = std::max({worst, test::rel_err(got, ref), max_abs / max_ref});
      EXPECT_LT(test::rel_err(got, ref), 1e-4) << dir << " prompt " << i;
      EXPECT_LT(max_abs / max_ref, 1e-4) << dir << " prompt " << i;
    }
  }
  std::cout << fs::path(dir).filename().string() << ": worst relative logit error " << worst
            << "\n";
}

TEST_P(FairseqParity, GreedyTokens) {
  const std::string dir = GetParam(), ckpt = dir + "/converted";
  const nlohmann::json expected = read_json(dir + "/expected.json");
  auto model = models::load_model(ckpt);
  const runtime::SamplingParams defaults = runtime::load_generation_defaults(ckpt);
  EXPECT_EQ(defaults.decoder_start(), 2);
  ASSERT_EQ(defaults.bad_words_ids, (std::vector<std::vector<int32_t>>{{1}}));  // no <pad>
  ExecContext ctx;
  for (const auto& c : expected["cases"]) {
    const auto reqs = test::encdec_case_requests(c, defaults);
    int64_t longest = 1;
    for (const auto& r : reqs) longest = std::max<int64_t>(longest, r.prompt.size());
    for (const test::RunVariant& v : test::run_variants(3, longest + 1, 3, longest + 1)) {
      const std::vector<std::vector<int32_t>> outs = test::run_variant(*model, v, reqs, ctx);
      for (size_t i = 0; i < reqs.size(); ++i)
        EXPECT_EQ(outs[i], ids(c["outputs"][i]))
            << dir << ":" << c["name"] << " prompt " << i << " (" << v.what << ")";
    }
  }
}

// </s> + the first k greedy tokens as the decoder prompt continues with the rest.
TEST_P(FairseqParity, DecoderPromptContinues) {
  const std::string dir = GetParam(), ckpt = dir + "/converted";
  const nlohmann::json expected = read_json(dir + "/expected.json");
  auto model = models::load_model(ckpt);
  const runtime::SamplingParams defaults = runtime::load_generation_defaults(ckpt);
  ExecContext ctx;
  constexpr size_t k = 3;
  std::vector<runtime::GenerationRequest> cont;
  std::vector<std::vector<int32_t>> want;
  for (const auto& c : expected["cases"]) {
    for (size_t i = 0; const auto& r : test::encdec_case_requests(c, defaults)) {
      const auto out = ids(c["outputs"][i++]);
      if (out.size() <= k) continue;
      runtime::GenerationRequest q = r;
      q.decoder_prompt = {2};
      q.decoder_prompt.insert(q.decoder_prompt.end(), out.begin(), out.begin() + k);
      q.params.max_new_tokens -= static_cast<int64_t>(k);
      cont.push_back(q);
      want.emplace_back(out.begin() + k, out.end());
    }
  }
  ASSERT_FALSE(cont.empty());
  runtime::Generator gen(*model, {64, 2048, 4, 0}, ctx);
  const auto res = gen.generate(cont);
  for (size_t i = 0; i < cont.size(); ++i)
    EXPECT_EQ(res[i].output_ids, want[i]) << dir << " continuation " << i;
}

// Beam search runs through the shared runtime (HF-style beams; fairseq's own beam search
// differs): sequences sorted by finite scores, pad never generated, and num_beams 1 is greedy.
TEST_P(FairseqParity, BeamRuns) {
  const std::string dir = GetParam(), ckpt = dir + "/converted";
  const nlohmann::json expected = read_json(dir + "/expected.json");
  auto model = models::load_model(ckpt);
  const runtime::SamplingParams defaults = runtime::load_generation_defaults(ckpt);
  ExecContext ctx;
  nlohmann::json c = expected["cases"][0];
  c["num_beams"] = 3;
  c["length_penalty"] = 1.0;
  c["early_stopping"] = true;
  c["num_return_sequences"] = 2;
  runtime::Generator gen(*model, {16, 256, 4, 0}, ctx);
  const auto res = gen.generate(test::encdec_case_requests(c, defaults));
  for (const auto& r : res) {
    ASSERT_EQ(r.sequences.size(), 2u);
    EXPECT_GE(r.scores[0], r.scores[1]);
    for (float s : r.scores) EXPECT_TRUE(std::isfinite(s));
    for (const auto& seq : r.sequences)
      for (int32_t t : seq) EXPECT_NE(t, 1) << "pad generated";
  }
  c["num_beams"] = 1;
  c["num_return_sequences"] = 1;
  const auto one = gen.generate(test::encdec_case_requests(c, defaults));
  for (size_t i = 0; i < one.size(); ++i) EXPECT_EQ(one[i].output_ids, ids(c["outputs"][i]));
}

TEST_P(FairseqParity, KilnCheckpointRoundTrip) {
  const std::string dir = GetParam(), ckpt = dir + "/converted";
  const nlohmann::json expected = read_json(dir + "/expected.json");
  auto model = models::load_model(ckpt);
  test::TempDir tmp("fairseq_ckpt");
  model->save(tmp.path.string(), DType::kFloat32);
  auto back = models::load_model(tmp.path.string());
  EXPECT_EQ(back->spec().model_type, "fairseq");
  EXPECT_EQ(back->spec().weight_bytes, model->spec().weight_bytes);
  EXPECT_EQ(back->spec().max_encoder_positions, model->spec().max_encoder_positions);
  EXPECT_EQ(back->spec().max_positions, model->spec().max_positions);
  for (const auto& p : expected["cases"][0]["prompts"])
    EXPECT_EQ(test::encdec_first_logits(*back, ids(p), {2}),
              test::encdec_first_logits(*model, ids(p), {2}));
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FairseqParity, ::testing::ValuesIn(fixtures()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return test::test_name(fs::path(info.param).filename().string());
                         });

// fairseq's SinusoidalPositionalEmbedding.get_embedding, row p + pad + 1 for kiln position p.
TEST(FairseqPositions, SinusoidalTable) {
  for (const int64_t dim : {8, 9}) {
    const Tensor t = models::bart::fairseq_sinusoidal_positions(5, dim, 2);
    const int64_t half = dim / 2;
    const double step = std::log(10000.0) / (half - 1);
    for (int64_t p = 0; p < 5; ++p) {
      const float* row = t.data<float>() + p * dim;
      for (int64_t i = 0; i < half; ++i) {
        const double a = (p + 2) * std::exp(-step * i);
        EXPECT_NEAR(row[i], std::sin(a), 2e-6) << dim << " " << p << " " << i;
        EXPECT_NEAR(row[half + i], std::cos(a), 2e-6) << dim << " " << p << " " << i;
      }
      if (dim % 2) EXPECT_EQ(row[dim - 1], 0.f);
    }
  }
}

nlohmann::json base_config() {
  return {{"model_type", "fairseq"},
          {"vocab_size", 40},
          {"decoder_vocab_size", 36},
          {"d_model", 16},
          {"encoder_d_model", 12},
          {"encoder_layers", 2},
          {"decoder_layers", 1},
          {"encoder_attention_heads", 3},
          {"decoder_attention_heads", 2},
          {"encoder_ffn_dim", 24},
          {"decoder_ffn_dim", 20},
          {"activation_function", "relu"},
          {"encoder_normalize_before", true},
          {"decoder_normalize_before", false},
          {"max_source_positions", 20},
          {"max_position_embeddings", 24},
          {"position_embedding_type", "sinusoidal"},
          {"tie_word_embeddings", true},
          {"share_encoder_decoder_embeddings", false}};
}

TEST(FairseqConfig, ParsesAndRejects) {
  using models::bart::BartConfig;
  const auto parse = [](nlohmann::json j) {
    return BartConfig::from_json(io::JsonConfig::from_json(j, "test"));
  };
  const BartConfig c = parse(base_config());
  EXPECT_TRUE(c.pre_ln(false));
  EXPECT_FALSE(c.pre_ln(true));
  EXPECT_TRUE(c.final_layer_norm(false));  // defaults to normalize_before
  EXPECT_FALSE(c.final_layer_norm(true));
  EXPECT_EQ(c.position_offset(), 2);
  EXPECT_EQ(c.encoder_max_positions(), 20);
  EXPECT_EQ(c.target_vocab_size(), 36);
  EXPECT_TRUE(c.scale_embedding);  // fairseq default (no_scale_embedding false)
  EXPECT_EQ(c.decoder_start(), 2);
  EXPECT_TRUE(c.forced_eos_token_id.empty());
  const auto bad = [&](nlohmann::json changes) {
    auto b = base_config();
    b.update(changes);
    EXPECT_THROW(parse(b), std::exception) << changes;
  };
  bad({{"position_embedding_type", "rotary"}});
  bad({{"share_encoder_decoder_embeddings", true}});  // widths and vocabularies differ
  bad({{"share_encoder_decoder_embeddings", true}, {"tie_word_embeddings", false}});
  bad({{"encoder_attention_heads", 5}});
  bad({{"encoder_d_model", 2}, {"encoder_attention_heads", 1}});  // sinusoidal needs >= 4
  bad({{"activation_function", "gelu_unknown"}});
}

TEST(FairseqRandom, RandomModelRunsAndRoundTrips) {
  for (const char* pos : {"sinusoidal", "learned", "none"}) {
    auto cfg = base_config();
    cfg["position_embedding_type"] = pos;
    cfg["layernorm_embedding"] = true;
    auto model = models::random_model(cfg, 5);
    EXPECT_EQ(model->spec().max_encoder_positions, 20);
    EXPECT_EQ(model->spec().max_positions, 24);
    const auto logits = test::encdec_first_logits(*model, {5, 6, 7, 2}, {2});
    ASSERT_EQ(logits.size(), 36u);
    for (float x : logits) ASSERT_TRUE(std::isfinite(x));
    test::TempDir tmp("fairseq_random");
    model->save(tmp.path.string(), DType::kFloat32);
    auto back = models::load_model(tmp.path.string());
    EXPECT_EQ(test::encdec_first_logits(*back, {5, 6, 7, 2}, {2}), logits) << pos;
  }
}

TEST(FairseqLoad, NeedsAKilnCheckpoint) {
  test::TempDir tmp("fairseq_not_ckpt");
  fs::create_directories(tmp.path);
  std::ofstream(tmp.path / "config.json") << base_config().dump();
  test::expect_error_containing([&] { models::load_model(tmp.path.string()); },
                                "convert_fairseq.py");
}

}  // namespace
}  // namespace kiln
