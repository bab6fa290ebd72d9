#include "models/gpt_next/model.h"

#include <cmath>

#include "io/checkpoint.h"
#include "models/common/prenorm_forward.h"
#include "models/common/random_weights.h"
#include "models/common/step_workspace.h"
#include "ops/ops.h"

namespace kiln::models::gpt_next {

void Norm::forward(const Tensor& x, Tensor& out, ExecContext& ctx) const {
  if (rms)
    ops::rms_norm(x, weight, eps, out, ctx);
  else
    ops::layer_norm(x, weight, bias, eps, out, ctx);
}

void Norm::add_forward(Tensor& residual, const Tensor& delta, Tensor& out, ExecContext& ctx) const {
  if (rms)
    ops::add_rms_norm(residual, delta, weight, eps, out, ctx);
  else
    ops::add_layer_norm(residual, delta, weight, bias, eps, out, ctx);
}

GptNextModel::GptNextModel(const GptNextConfig& config, GptNextWeights weights,
                           const LoadOptions& options)
    : config_(config), weights_(std::move(weights)), allocator_(options.allocator) {
  spec_.model_type = "gpt_next";
  spec_.num_layers = static_cast<int>(config_.num_layers);
  spec_.num_heads = static_cast<int>(config_.num_attention_heads);
  spec_.num_kv_heads = static_cast<int>(config_.kv_heads());
  spec_.head_dim = static_cast<int>(config_.head_dim());
  spec_.vocab_size = config_.vocab_size;
  spec_.max_positions = config_.max_position_embeddings;
  spec_.device = options.allocator->device();
  spec_.dtype = spec_.device.is_cpu() ? DType::kFloat32 : options.dtype;
  KILN_CHECK(spec_.dtype == DType::kFloat32 || spec_.dtype == DType::kFloat16 ||
                 spec_.dtype == DType::kBFloat16,
             "gpt_next: unsupported compute dtype {}", dtype_name(spec_.dtype));

  ExecContext ctx;
  ctx.device = spec_.device;
  const bool one_p = config_.normalization == "layernorm1p";
  const bool rms = config_.normalization == "rmsnorm";
  const float eps = static_cast<float>(config_.layernorm_epsilon);
  // layernorm1p (Megatron's zero-centred gamma) applies weight + 1: computed in fp32 on the host,
  // then moved like every weight; the stored weights stay as they are (save() writes them back).
  const auto make_norm = [&](const Tensor& w, const Tensor& b) {
    Norm n;
    n.eps = eps;
    n.rms = rms;
    Tensor eff = w;
    if (one_p) {
      eff = Tensor::empty(w.shape(), DType::kFloat32);
      const float* s = w.data<float>();
      float* d = eff.data<float>();
      for (int64_t i = 0; i < w.numel(); ++i) d[i] = s[i] + 1.f;
    }
    n.weight = one_p ? ops::to_device(eff, spec_.dtype, allocator_, ctx) : eff;
    n.bias = b;
    return n;
  };
  std::vector<std::pair<Tensor, Tensor>> host_norms;  // fp32 host norm weights before the move
  for (const GptNextLayerWeights& w : weights_.layers) {
    host_norms.emplace_back(w.input_norm_w, w.post_norm_w);
  }
  const Tensor host_final = weights_.final_norm_w;
  for (const WeightEntry& e : weight_map(config_, weights_)) {
    *e.tensor = ops::to_device(*e.tensor, spec_.dtype, allocator_, ctx);
    spec_.weight_bytes += static_cast<int64_t>(e.tensor->nbytes());
  }
  if (config_.share_embeddings_and_output_weights) weights_.lm_head = weights_.embed;
  // Each step reads one embedding row per token; the head reads the whole table.
  if (!config_.share_embeddings_and_output_weights)
    spec_.weight_bytes -= static_cast<int64_t>(weights_.embed.nbytes());

  rotary_ = layers::RotaryEmbedding::create(config_.rope, allocator_);
  for (int64_t i = 0; i < config_.num_layers; ++i) {
    const GptNextLayerWeights& w = weights_.layers[i];
    Block b;
    b.input_norm = make_norm(one_p ? host_norms[i].first : w.input_norm_w, w.input_norm_b);
    b.post_norm = make_norm(one_p ? host_norms[i].second : w.post_norm_w, w.post_norm_b);
    b.attn.qkv = {w.qkv_w, Tensor()};
    b.attn.out = {w.out_w, Tensor()};
    b.attn.num_heads = spec_.num_heads;
    b.attn.num_kv_heads = spec_.num_kv_heads;
    b.attn.head_dim = spec_.head_dim;
    // Megatron: scores / sqrt(kv_channels) (apply_query_key_layer_scaling cancels out).
    b.attn.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(spec_.head_dim)));
    b.attn.rotary = rotary_;
    b.mlp = {{w.gate_up_w, Tensor()}, {w.down_w, Tensor()}, ops::ActivationKind::kSilu};
    blocks_.push_back(std::move(b));
  }
  final_norm_ = make_norm(one_p ? host_final : weights_.final_norm_w, weights_.final_norm_b);
}

void GptNextModel::reserve(int64_t max_num_tokens, int64_t max_logit_rows) {
  reserve_step_workspace(
      ws_, allocator_, spec_.dtype, max_num_tokens, max_logit_rows,
      prenorm_step_size(config_.hidden_size, config_.num_attention_heads, config_.kv_heads(),
                        config_.head_dim(), config_.ffn_hidden_size, config_.vocab_size,
                        rotary_->workspace_bytes()));
}

Tensor GptNextModel::forward(const layers::ForwardBatch& batch, layers::KvCacheView& kv,
                             ExecContext& ctx) {
  return prenorm_forward("gpt_next", weights_.embed, weights_.lm_head, blocks_, final_norm_,
                         spec_.dtype, batch, kv, ws_, ctx);
}

void GptNextModel::save(const std::string& dir, DType dtype) const {
  KILN_CHECK(spec_.device.is_cpu(), "gpt_next: save() needs the model loaded on the CPU");
  nlohmann::json cfg = config_.to_json();
  cfg["kiln_checkpoint"] = {{"version", 1}, {"dtype", std::string(dtype_name(dtype))}};
  save_checkpoint(dir, cfg, weight_map(config_, weights_), dtype);
}

std::unique_ptr<Model> load(const std::string& dir, const io::JsonConfig& cfg,
                            const LoadOptions& options) {
  KILN_CHECK(cfg.has("kiln_checkpoint"),
             "{}: a gpt_next model loads from a kiln checkpoint; convert the .nemo archive with "
             "`python3 tools/convert_nemo.py --nemo FILE --output_dir DIR`",
             cfg.source());
  const GptNextConfig config = GptNextConfig::from_json(cfg);
  const io::Checkpoint ckpt = io::Checkpoint::open(dir);
  GptNextWeights w;
  load_weights(ckpt, weight_map(config, w), /*kiln_format=*/true);
  return std::make_unique<GptNextModel>(config, std::move(w), options);
}

std::unique_ptr<Model> random_model(const io::JsonConfig& arch, uint64_t seed,
                                    const LoadOptions& options) {
  const GptNextConfig c = GptNextConfig::from_json(arch);
  GptNextWeights w;
  // layernorm1p stores weight - 1, so its norm weights start at 0 like everything else.
  fill_random_weights(weight_map(c, w), seed, [&](const std::string& k) {
    return k.find("layernorm.weight") != std::string::npos && c.normalization != "layernorm1p";
  });
  return std::make_unique<GptNextModel>(c, std::move(w), options);
}

}  // namespace kiln::models::gpt_next
