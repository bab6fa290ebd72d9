// inv_freq arithmetic mirrors transformers 5.x modeling_rope_utils.py operation by operation: float32
// tensor ops become float operations on the float-converted Python scalars, Python scalar math
// stays double. Contraction into FMAs would change the rounding, so it is off in this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#include "layers/rotary.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/check.h"
#include "ops/ops.h"

namespace kiln::layers {
namespace {

// 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)) with a float32 base.
std::vector<float> base_inv_freq(float base, int dim) {
  std::vector<float> f(dim / 2);
  for (int i = 0; i < dim / 2; ++i) {
    const float e = static_cast<float>(2 * i) / static_cast<float>(dim);
    f[i] = 1.0f / std::pow(base, e);
  }
  return f;
}

double yarn_mscale(double scale, double mscale) {
  return scale <= 1 ? 1.0 : 0.1 * mscale * std::log(scale) + 1.0;
}

}  // namespace

std::vector<float> rope_inv_freq(const RopeConfig& r, int64_t seq_len) {
  KILN_CHECK(r.dim > 0 && r.dim % 2 == 0, "rope: rotary dim {} must be even and positive", r.dim);
  const int dim = r.dim, half = dim / 2;
  if (r.type == "default") return base_inv_freq(static_cast<float>(r.theta), dim);
  if (r.type == "linear") {
    std::vector<float> f = base_inv_freq(static_cast<float>(r.theta), dim);
    for (float& x : f) x /= static_cast<float>(r.factor);  // inv_freq /= factor
    return f;
  }
  if (r.type == "dynamic") {
    const int64_t mpe = r.max_position_embeddings;
    if (seq_len <= mpe) {
      // At init HF passes seq_len=None -> max_position_embeddings, as Python floats.
      const double base =
          r.theta * std::pow((r.factor * static_cast<double>(mpe) / static_cast<double>(mpe)) -
                                 (r.factor - 1),
                             static_cast<double>(dim) / (dim - 2));
      return base_inv_freq(static_cast<float>(base), dim);
    }
    // Growth: seq_len is a 0-dim int64 tensor, so the base is computed in float32.
    float t = static_cast<float>(r.factor) * static_cast<float>(seq_len);
    t = t / static_cast<float>(mpe);
    t = t - static_cast<float>(r.factor - 1);
    t = std::pow(t, static_cast<float>(static_cast<double>(dim) / (dim - 2)));
    const float base = static_cast<float>(r.theta) * t;
    return base_inv_freq(base, dim);
  }
  if (r.type == "llama3") {
    std::vector<float> f = base_inv_freq(static_cast<float>(r.theta), dim);
    const double old_ctx = static_cast<double>(r.original_max_position_embeddings);
    const float low_wavelen = static_cast<float>(old_ctx / r.low_freq_factor);
    const float high_wavelen = static_cast<float>(old_ctx / r.high_freq_factor);
    const float two_pi = static_cast<float>(2 * std::numbers::pi);
    const float factor = static_cast<float>(r.factor);
    for (float& inv : f) {
      const float wavelen = two_pi / inv;
      const float scaled = wavelen > low_wavelen ? inv / factor : inv;  // inv_freq_llama
      float smooth = static_cast<float>(old_ctx) / wavelen;
      smooth = smooth - static_cast<float>(r.low_freq_factor);
      smooth = smooth / static_cast<float>(r.high_freq_factor - r.low_freq_factor);
      const float a = (1.0f - smooth) * scaled / factor;
      const float b = smooth * scaled;
      const float smoothed = a + b;
      const bool medium = !(wavelen < high_wavelen) && !(wavelen > low_wavelen);
      inv = medium ? smoothed : scaled;
    }
    return f;
  }
  if (r.type == "yarn") {
    const double base = r.theta;
    const double beta_fast = r.beta_fast && *r.beta_fast != 0 ? *r.beta_fast : 32;
    const double beta_slow = r.beta_slow && *r.beta_slow != 0 ? *r.beta_slow : 1;
    const double omp = static_cast<double>(r.original_max_position_embeddings);
    const auto correction_dim = [&](double rotations) {
      return (dim * std::log(omp / (rotations * 2 * std::numbers::pi))) / (2 * std::log(base));
    };
    double low = correction_dim(beta_fast), high = correction_dim(beta_slow);
    if (r.truncate) {
      low = std::floor(low);
      high = std::ceil(high);
    }
    low = std::max(low, 0.0);
    high = std::min(high, static_cast<double>(dim - 1));
    if (low == high) high += 0.001;
    std::vector<float> f(half);
    const float factor = static_cast<float>(r.factor);
    for (int i = 0; i < half; ++i) {
      const float pos_freq =
          std::pow(static_cast<float>(base), static_cast<float>(2 * i) / static_cast<float>(dim));
      const float extrapolation = 1.0f / pos_freq;
      const float interpolation = 1.0f / (factor * pos_freq);
      float ramp = (static_cast<float>(i) - static_cast<float>(low)) / static_cast<float>(high - low);
      ramp = std::clamp(ramp, 0.0f, 1.0f);
      const float extrap_factor = 1.0f - ramp;
      const float a = interpolation * (1.0f - extrap_factor);
      const float b = extrapolation * extrap_factor;
      f[i] = a + b;
    }
    return f;
  }
  KILN_FAIL("rope: unsupported rope_type '{}' (supported: default, linear, dynamic, llama3, yarn)",
            r.type);
}

float rope_attention_scaling(const RopeConfig& r) {
  if (r.type != "yarn") return 1.f;
  if (r.attention_factor) return static_cast<float>(*r.attention_factor);
  if (r.mscale && *r.mscale != 0 && r.mscale_all_dim && *r.mscale_all_dim != 0)
    return static_cast<float>(yarn_mscale(r.factor, *r.mscale) /
                              yarn_mscale(r.factor, *r.mscale_all_dim));
  return static_cast<float>(yarn_mscale(r.factor, 1.0));
}

std::shared_ptr<RotaryEmbedding> RotaryEmbedding::create(const RopeConfig& config,
                                                         Allocator* alloc, int64_t max_len) {
  auto rot = std::make_shared<RotaryEmbedding>();
  rot->config = config;
  ExecContext ctx;
  ctx.device = alloc->device();
  const auto upload = [&](const std::vector<float>& v, Shape shape) {
    Tensor host = Tensor::empty(shape, DType::kFloat32);
    std::copy(v.begin(), v.end(), host.data<float>());
    return ops::to_device(host, DType::kFloat32, alloc, ctx);
  };
  const std::vector<float> f = rope_inv_freq(config);
  rot->inv_freq = upload(f, {static_cast<int64_t>(f.size())});
  const int64_t mpe = config.max_position_embeddings;
  if (config.type == "dynamic" && max_len > mpe) {
    const int64_t rows = max_len - mpe + 1, half = config.dim / 2;
    std::vector<float> table(rows * half);
    std::copy(f.begin(), f.end(), table.begin());
    for (int64_t k = 1; k < rows; ++k) {
      const std::vector<float> g = rope_inv_freq(config, mpe + k);
      std::copy(g.begin(), g.end(), table.begin() + k * half);
    }
    rot->inv_freq_table = upload(table, {rows, half});
  }
  ops::synchronize(ctx);
  rot->attention_scaling = rope_attention_scaling(config);
  return rot;
}

void RotaryEmbedding::apply(Tensor& qkv, int num_heads, int head_dim, const ForwardBatch& batch,
                            Workspace& ws, ExecContext& ctx) const {
  (void)ws;
  if (!inv_freq_table.defined() || batch.attn.max_kv_len <= config.max_position_embeddings) {
    ops::rotary_embedding(qkv, batch.positions, inv_freq, num_heads, head_dim, config.dim,
                          interleaved, attention_scaling, ctx);
    return;
  }
  // Dynamic NTK: each token's sequence length picks its row (rotary.h).
  ops::rotary_embedding_table(qkv, batch.positions, inv_freq_table, batch.attn.token_seq,
                              batch.attn.seq_kv_len, config.max_position_embeddings, num_heads,
                              head_dim, config.dim, interleaved, attention_scaling, ctx);
}

}  // namespace kiln::layers
