#include "model_source.h"

#include <map>

#include "core/check.h"

namespace kiln::cli {
namespace {

// LLaMA-only architecture flags. They live here rather than in ModelSource (one per subcommand's
// ModelSource, keyed by its address; CLI11 binds the storage at add_options time).
struct LlamaFlags {
  std::optional<int64_t> n_kv_head, inter_size, head_dim;
  std::optional<double> rope_theta, rms_norm_eps;
};
std::map<const ModelSource*, LlamaFlags>& llama_flags() {
  static std::map<const ModelSource*, LlamaFlags> m;
  return m;
}

}  // namespace

void ModelSource::add_options(CLI::App* sub, bool allow_dirs) {
  if (allow_dirs) {
    sub->add_option("--model_dir", model_dir, "Hugging Face model folder");
    sub->add_option("--engine_dir", engine_dir, "kiln checkpoint folder");
  }
  sub->add_option("--model_type", model_type,
                  "Random weights of this family (gpt2, gpt_bigcode, opt, llama, gpt_next, t5, "
                  "mt5, umt5, bart, mbart, marian)");
  sub->add_option("--n_layer", n_layer, "Layers (random weights)");
  sub->add_option("--n_embd", n_embd, "Hidden size (random weights)");
  sub->add_option("--n_head", n_head, "Attention heads (random weights)");
  sub->add_option("--n_inner", n_inner, "MLP size (default 4 x n_embd)");
  sub->add_option("--vocab_size", vocab_size, "Vocabulary (random weights)");
  sub->add_option("--n_positions", n_positions, "Positions (random weights)");
  sub->add_option("--activation_function", activation_function, "Activation (random weights)");
  LlamaFlags& lf = llama_flags()[this];
  sub->add_option("--n_kv_head", lf.n_kv_head, "llama: KV heads (default n_head)");
  sub->add_option("--inter_size", lf.inter_size, "llama: MLP size (gpt2: alias of --n_inner)");
  sub->add_option("--head_dim", lf.head_dim, "llama: head size (default n_embd / n_head)");
  sub->add_option("--rope_theta", lf.rope_theta, "llama: RoPE base (default 10000)");
  sub->add_option("--rms_norm_eps", lf.rms_norm_eps, "llama: RMSNorm epsilon (default 1e-6)");
  sub->add_option("--config", config,
                  "KEY=VALUE: a HF config.json field of the random model (repeatable; e.g. "
                  "--model_type t5 --config d_model=1024 --config num_layers=24)");
  sub->add_option("--seed", seed, "Seed of the random weights");
}

namespace {

// Applies --config KEY=VALUE pairs: VALUE is parsed as JSON when it is JSON, else a string.
nlohmann::json with_overrides(nlohmann::json j, const std::vector<std::string>& config) {
  for (const std::string& kv : config) {
    const size_t eq = kv.find('=');
    KILN_CHECK(eq != std::string::npos && eq > 0, "--config '{}': expected KEY=VALUE", kv);
    const std::string key = kv.substr(0, eq), value = kv.substr(eq + 1);
    nlohmann::json v = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
    j[key] = v.is_discarded() ? nlohmann::json(value) : v;
  }
  return j;
}

bool is_encoder_decoder_type(const std::string& t) {
  return t == "t5" || t == "mt5" || t == "umt5" || t == "bart" || t == "mbart" || t == "marian";
}

}  // namespace

nlohmann::json ModelSource::architecture() const {
  return with_overrides(flag_architecture(), config);
}

nlohmann::json ModelSource::flag_architecture() const {
  const auto lf_it = llama_flags().find(this);
  const LlamaFlags lf = lf_it == llama_flags().end() ? LlamaFlags{} : lf_it->second;
  if (model_type == "llama") {  // the gpt2-style flags under LlamaConfig's names
    nlohmann::json j = {{"model_type", "llama"}};
    if (activation_function != "gelu_new") j["hidden_act"] = activation_function;  // default silu
    const auto put = [&](const char* k, const auto& v) {
      if (v) j[k] = *v;
    };
    put("num_hidden_layers", n_layer);
    put("hidden_size", n_embd);
    put("num_attention_heads", n_head);
    put("num_key_value_heads", lf.n_kv_head);
    put("intermediate_size", lf.inter_size ? lf.inter_size : n_inner);
    put("head_dim", lf.head_dim);
    put("vocab_size", vocab_size);
    put("max_position_embeddings", n_positions);
    put("rope_theta", lf.rope_theta);
    put("rms_norm_eps", lf.rms_norm_eps);
    return j;
  }
  nlohmann::json j = {{"model_type", model_type}, {"activation_function", activation_function}};
  // Encoder–decoder families keep their own default activation; the GPT-2-style size flags
  // given are passed on (the family maps them onto both stacks), the rest comes from --config.
  if (is_encoder_decoder_type(model_type) && activation_function == "gelu_new")
    j.erase("activation_function");
  const auto put = [&](const char* k, const std::optional<int64_t>& v) {
    if (v) j[k] = *v;
  };
  put("n_layer", n_layer);
  put("n_embd", n_embd);
  put("n_head", n_head);
  put("n_inner", lf.inter_size ? lf.inter_size : n_inner);
  put("vocab_size", vocab_size);
  put("n_positions", n_positions);
  return j;
}

std::unique_ptr<models::Model> ModelSource::load(const models::LoadOptions& options) const {
  const int sources = !model_dir.empty() + !engine_dir.empty() + from_flags();
  KILN_CHECK(sources == 1, "give exactly one of --model_dir, --engine_dir and --model_type");
  if (from_flags()) return models::random_model(architecture(), seed, options);
  return models::load_model(model_dir.empty() ? engine_dir : model_dir, options);
}

std::string ModelSource::describe() const {
  if (!from_flags()) return model_dir.empty() ? engine_dir : model_dir;
  return architecture().dump();
}

}  // namespace kiln::cli
