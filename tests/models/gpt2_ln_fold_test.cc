// LayerNorm folding (models/common/ln_fold.h) on the CPU, where the folded forward takes the
// unfused path of ops::layer_norm_linear / ops::linear_add: GPT-2 and GPTBigCode (MQA, ReLU) with
// seeded random weights (LayerNorm γ, β off the identity by ~0.02) give the same first-step
// logits (1e-5 relative: the fold's fp32 rounding) and greedy tokens folded and unfolded; the
// fold helpers' algebra; a saved folded model loads back to the same logits.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "family_parity.h"
#include "models/common/ln_fold.h"
#include "models/registry.h"
#include "runtime/generator.h"

namespace kiln::test {
namespace {

// GPT-2, and GPTBigCode with multi-query attention and a ReLU MLP (the activation outside fc1).
std::vector<nlohmann::json> archs() {
  return {{{"model_type", "gpt2"},
           {"n_layer", 3},
           {"n_embd", 64},
           {"n_head", 4},
           {"vocab_size", 97},
           {"n_positions", 64},
           {"activation_function", "gelu_new"}},
          {{"model_type", "gpt_bigcode"},
           {"n_layer", 2},
           {"n_embd", 32},
           {"n_head", 4},
           {"vocab_size", 64},
           {"n_positions", 64},
           {"activation_function", "relu"}}};
}

std::unique_ptr<models::Model> model(const nlohmann::json& arch, models::LnFold fold) {
  models::LoadOptions o;
  o.fold_layer_norms = fold;
  return models::random_model(arch, 11, o);
}

double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

TEST(Gpt2LnFold, SameLogitsAndTokensAsUnfolded) {
  for (const nlohmann::json& arch : archs()) {
    auto plain = model(arch, models::LnFold::kOff), folded = model(arch, models::LnFold::kOn);
    for (const std::vector<int32_t>& prompt :
         {std::vector<int32_t>{5}, std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}}) {
      const auto a = first_logits(*plain, prompt), b = first_logits(*folded, prompt);
      EXPECT_LT(rel_diff(b, a), 1e-5) << arch.dump();
    }
    std::vector<runtime::GenerationRequest> reqs(3);
    for (size_t i = 0; i < reqs.size(); ++i) {
      reqs[i].prompt = {static_cast<int32_t>(3 + i), static_cast<int32_t>(40 + 7 * i), 9};
      reqs[i].params.max_new_tokens = 12;
    }
    ExecContext ctx;
    runtime::Generator ga(*plain, {8, 256, 8, 0}, ctx), gb(*folded, {8, 256, 8, 0}, ctx);
    const auto ra = ga.generate(reqs), rb = gb.generate(reqs);
    for (size_t i = 0; i < reqs.size(); ++i)
      EXPECT_EQ(ra[i].output_ids, rb[i].output_ids) << arch.dump() << " request " << i;
  }
}

TEST(Gpt2LnFold, FoldHelpers) {
  // w [2, 3], γ, β, b: w' = w·diag(γ), b' = w·β + b, then γ = 1, β = 0.
  Tensor w = Tensor::empty({2, 3}, DType::kFloat32), b = Tensor::empty({2}, DType::kFloat32);
  Tensor g = Tensor::empty({3}, DType::kFloat32), beta = Tensor::empty({3}, DType::kFloat32);
  const float wv[] = {1, 2, 3, -1, 0.5f, 4}, gv[] = {2, -1, 0.5f}, bv[] = {0.25f, -2},
              betav[] = {1, 2, -1};
  std::copy(wv, wv + 6, w.data<float>());
  std::copy(gv, gv + 3, g.data<float>());
  std::copy(bv, bv + 2, b.data<float>());
  std::copy(betav, betav + 3, beta.data<float>());
  models::fold_layer_norm(w, b, g, beta);
  const float want_w[] = {2, -2, 1.5f, -2, -0.5f, 2};
  for (int i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(w.data<float>()[i], want_w[i]);
  EXPECT_FLOAT_EQ(b.data<float>()[0], 0.25f + (1 + 4 - 3));
  EXPECT_FLOAT_EQ(b.data<float>()[1], -2.f + (-1 + 1 - 4));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(g.data<float>()[i], 1.f);
    EXPECT_EQ(beta.data<float>()[i], 0.f);
  }
  // Undefined biases are created.
  Tensor w2 = Tensor::zeros({1, 3}, DType::kFloat32), b2, g2 = g, beta2;
  models::fold_layer_norm(w2, b2, g2, beta2);
  ASSERT_TRUE(b2.defined() && beta2.defined());
  EXPECT_EQ(b2.numel(), 1);
  // Row sums of the values as bf16 holds them: 1 + 2^-9 rounds to 1 in bf16.
  Tensor r = Tensor::empty({1, 2}, DType::kFloat32);
  r.data<float>()[0] = 1.f + 1.f / 512, r.data<float>()[1] = 3.f;
  EXPECT_FLOAT_EQ(models::row_sums(r, DType::kBFloat16).data<float>()[0], 4.f);
  EXPECT_FLOAT_EQ(models::row_sums(r, DType::kFloat32).data<float>()[0], 4.f + 1.f / 512);
  // Shapes that do not chain are errors.
  Tensor bad = Tensor::empty({4}, DType::kFloat32);
  EXPECT_THROW(models::fold_layer_norm(w, b, bad, beta), Error);
}

// A folded model saves as an ordinary GPT-2 (identity LayerNorm affine, folded linears) that
// loads back to the same logits.
TEST(Gpt2LnFold, SavedFoldedModelRoundTrips) {
  auto folded = model(archs()[0], models::LnFold::kOn);
  TempDir dir("ln_fold");
  folded->save(dir.path.string(), DType::kFloat32);
  models::LoadOptions o;
  o.fold_layer_norms = models::LnFold::kOff;
  auto again = models::load_model(dir.path.string(), o);
  const std::vector<int32_t> prompt{4, 8, 15, 16, 23, 42};
  EXPECT_LT(rel_diff(first_logits(*again, prompt), first_logits(*folded, prompt)), 1e-6);
}

}  // namespace
}  // namespace kiln::test
