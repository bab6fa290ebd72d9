#include "models/bart/config.h"

#include <cmath>

#include "core/check.h"
#include "models/common/config_fields.h"
#include "ops/activation_kind.h"

namespace kiln::models::bart {
namespace {

// A nullable token id: -1 for HF None (absent keeps the class default).
int64_t nullable_id(const io::JsonConfig& cfg, const char* key, int64_t dflt) {
  if (!cfg.json().contains(key)) return dflt;
  return cfg.has(key) ? cfg.get<int64_t>(key) : -1;
}

std::vector<int64_t> nullable_ids(const io::JsonConfig& cfg, const char* key,
                                  std::vector<int64_t> dflt) {
  if (!cfg.json().contains(key)) return dflt;
  return cfg.get_int_or_list(key);  // null -> empty
}

nlohmann::json id_json(int64_t id) { return id < 0 ? nlohmann::json(nullptr) : nlohmann::json(id); }

}  // namespace

const char* BartConfig::model_type() const {
  switch (family) {
    case Family::kBart:
      return "bart";
    case Family::kMbart:
      return "mbart";
    case Family::kMarian:
      return "marian";
    case Family::kFairseq:
      return "fairseq";
  }
  return "bart";
}

bool BartConfig::pre_ln(bool decoder) const {
  if (fairseq()) return decoder ? decoder_normalize_before : encoder_normalize_before;
  return family == Family::kMbart;
}

bool BartConfig::final_layer_norm(bool decoder) const {
  if (fairseq()) return decoder ? decoder_final_layer_norm : encoder_final_layer_norm;
  return family == Family::kMbart;
}

Positions BartConfig::positions() const {
  if (fairseq()) return fairseq_positions;
  return family == Family::kMarian ? Positions::kMarianSinusoidal : Positions::kLearned;
}

bool BartConfig::layernorm_embedding() const {
  if (fairseq()) return fairseq_layernorm_embedding;
  return family != Family::kMarian;
}

float BartConfig::embed_scale(bool decoder) const {
  const int64_t width = decoder ? d_model : encoder_d_model;
  return scale_embedding ? static_cast<float>(std::sqrt(static_cast<double>(width))) : 1.f;
}

int64_t BartConfig::target_vocab_size() const {
  return has_decoder_vocab() && !share_encoder_decoder_embeddings ? decoder_vocab_size : vocab_size;
}

int64_t BartConfig::decoder_embed_rows() const {
  return has_decoder_vocab() && !encoder_decoder_embeddings_tied() ? decoder_vocab_size
                                                                   : vocab_size;
}

bool BartConfig::encoder_decoder_embeddings_tied() const {
  return tie_word_embeddings && (!has_decoder_vocab() || share_encoder_decoder_embeddings);
}

int64_t BartConfig::decoder_start() const {
  return decoder_start_token_id >= 0 ? decoder_start_token_id : bos_token_id;
}

BartConfig BartConfig::from_json(const io::JsonConfig& cfg) {
  BartConfig c;
  const std::string type = cfg.get_or<std::string>("model_type", "bart");
  if (type == "bart") {
    c.family = Family::kBart;
  } else if (type == "mbart") {
    c.family = Family::kMbart;
    c.decoder_start_token_id = -1;  // MBartConfig: None (generation_config / language codes)
  } else if (type == "marian") {
    c.family = Family::kMarian;
    c.vocab_size = 58101;
    c.pad_token_id = 58100;
    c.bos_token_id = -1;
    c.eos_token_id = {0};
    c.decoder_start_token_id = 58100;
    c.forced_eos_token_id = {0};
  } else if (type == "fairseq") {
    // fairseq's Dictionary: <s>=0 <pad>=1 </s>=2 <unk>=3; generation starts from </s>.
    c.family = Family::kFairseq;
    c.forced_eos_token_id = {};
    c.share_encoder_decoder_embeddings = false;
    c.tie_word_embeddings = false;
    c.scale_embedding = true;
    c.activation_function = "relu";
  } else {
    KILN_FAIL("{}: model_type '{}' is not bart, mbart, marian or fairseq", cfg.source(), type);
  }
  c.vocab_size = cfg.get_or<int64_t>("vocab_size", c.vocab_size);
  c.decoder_vocab_size = c.vocab_size;
  if (c.has_decoder_vocab())  // HF: `decoder_vocab_size or vocab_size`
    c.decoder_vocab_size = cfg.get_or<int64_t>("decoder_vocab_size", c.vocab_size);
  c.max_position_embeddings =
      cfg.get_or<int64_t>("max_position_embeddings", c.max_position_embeddings);
  c.d_model = get_aliased(cfg, "d_model", "hidden_size", c.d_model);
  c.encoder_layers = get_aliased(cfg, "encoder_layers", "num_hidden_layers", c.encoder_layers);
  c.decoder_layers = cfg.get_or<int64_t>("decoder_layers", c.decoder_layers);
  c.encoder_attention_heads =
      get_aliased(cfg, "encoder_attention_heads", "num_attention_heads", c.encoder_attention_heads);
  c.decoder_attention_heads =
      cfg.get_or<int64_t>("decoder_attention_heads", c.decoder_attention_heads);
  c.encoder_ffn_dim = cfg.get_or<int64_t>("encoder_ffn_dim", c.encoder_ffn_dim);
  c.decoder_ffn_dim = cfg.get_or<int64_t>("decoder_ffn_dim", c.decoder_ffn_dim);
  c.activation_function = cfg.get_or<std::string>("activation_function", c.activation_function);
  c.scale_embedding = cfg.get_or<bool>("scale_embedding", c.scale_embedding);
  c.tie_word_embeddings = cfg.get_or<bool>("tie_word_embeddings", c.tie_word_embeddings);
  if (c.has_decoder_vocab())
    c.share_encoder_decoder_embeddings =
        cfg.get_or<bool>("share_encoder_decoder_embeddings", c.share_encoder_decoder_embeddings);
  c.pad_token_id = nullable_id(cfg, "pad_token_id", c.pad_token_id);
  c.bos_token_id = nullable_id(cfg, "bos_token_id", c.bos_token_id);
  c.eos_token_id = nullable_ids(cfg, "eos_token_id", c.eos_token_id);
  c.decoder_start_token_id = nullable_id(cfg, "decoder_start_token_id", c.decoder_start_token_id);
  c.forced_bos_token_id = nullable_id(cfg, "forced_bos_token_id", c.forced_bos_token_id);
  c.forced_eos_token_id = nullable_ids(cfg, "forced_eos_token_id", c.forced_eos_token_id);
  c.encoder_d_model = c.d_model;
  c.max_source_positions = c.max_position_embeddings;
  const std::string& src = cfg.source();
  if (c.fairseq()) {
    c.encoder_d_model = cfg.get_or<int64_t>("encoder_d_model", c.d_model);
    c.max_source_positions = cfg.get_or<int64_t>("max_source_positions", c.max_position_embeddings);
    c.encoder_normalize_before = cfg.get_or<bool>("encoder_normalize_before", false);
    c.decoder_normalize_before = cfg.get_or<bool>("decoder_normalize_before", false);
    c.encoder_final_layer_norm =
        cfg.get_or<bool>("encoder_final_layer_norm", c.encoder_normalize_before);
    c.decoder_final_layer_norm =
        cfg.get_or<bool>("decoder_final_layer_norm", c.decoder_normalize_before);
    c.fairseq_layernorm_embedding = cfg.get_or<bool>("layernorm_embedding", false);
    const std::string pos = cfg.get_or<std::string>("position_embedding_type", "sinusoidal");
    if (pos == "learned") {
      c.fairseq_positions = Positions::kLearned;
    } else if (pos == "sinusoidal") {
      c.fairseq_positions = Positions::kFairseqSinusoidal;
    } else if (pos == "none") {
      c.fairseq_positions = Positions::kNone;
    } else {
      KILN_FAIL("{}: position_embedding_type '{}' is not learned, sinusoidal or none", src, pos);
    }
    check_positive(cfg, "encoder_d_model", c.encoder_d_model);
    check_positive(cfg, "max_source_positions", c.max_source_positions);
    KILN_CHECK(c.pad_token_id >= 0, "{}: fairseq needs pad_token_id (positions start after it)",
               src);
    KILN_CHECK(!c.share_encoder_decoder_embeddings || c.tie_word_embeddings,
               "{}: share_encoder_decoder_embeddings (share_all_embeddings) needs "
               "tie_word_embeddings (share_decoder_input_output_embed)",
               src);
    KILN_CHECK(!c.share_encoder_decoder_embeddings ||
                   (c.encoder_d_model == c.d_model && c.vocab_size == c.decoder_vocab_size),
               "{}: shared embeddings need equal encoder/decoder widths ({} vs {}) and "
               "vocabularies ({} vs {})",
               src, c.encoder_d_model, c.d_model, c.vocab_size, c.decoder_vocab_size);
    KILN_CHECK(c.fairseq_positions != Positions::kFairseqSinusoidal ||
                   (c.encoder_d_model >= 4 && c.d_model >= 4),
               "{}: fairseq's sinusoidal positions need a width of at least 4", src);
  }

  check_positive(cfg, "vocab_size", c.vocab_size);
  check_positive(cfg, "decoder_vocab_size", c.decoder_vocab_size);
  check_positive(cfg, "max_position_embeddings", c.max_position_embeddings);
  check_positive(cfg, "d_model", c.d_model);
  check_positive(cfg, "encoder_layers", c.encoder_layers);
  check_positive(cfg, "decoder_layers", c.decoder_layers);
  check_positive(cfg, "encoder_attention_heads", c.encoder_attention_heads);
  check_positive(cfg, "decoder_attention_heads", c.decoder_attention_heads);
  check_positive(cfg, "encoder_ffn_dim", c.encoder_ffn_dim);
  check_positive(cfg, "decoder_ffn_dim", c.decoder_ffn_dim);
  for (const auto& [name, heads] :
       {std::pair{"encoder_attention_heads", c.encoder_attention_heads},
        std::pair{"decoder_attention_heads", c.decoder_attention_heads}})
    KILN_CHECK((name[0] == 'e' ? c.encoder_d_model : c.d_model) % heads == 0,
               "{}: {} ({}) must be divisible by {} ({})", src,
               name[0] == 'e' ? "encoder_d_model" : "d_model",
               name[0] == 'e' ? c.encoder_d_model : c.d_model, name, heads);
  KILN_CHECK(c.decoder_embed_rows() == c.target_vocab_size(),
             "{}: the decoder embeds {} tokens but predicts {} (decoder_vocab_size {} with "
             "share_encoder_decoder_embeddings and untied word embeddings is not supported)",
             src, c.decoder_embed_rows(), c.target_vocab_size(), c.decoder_vocab_size);
  ops::activation_from_name(c.activation_function);  // validates
  return c;
}

nlohmann::json BartConfig::to_json() const {
  nlohmann::json j = {{"model_type", model_type()},
                      {"is_encoder_decoder", true},
                      {"vocab_size", vocab_size},
                      {"max_position_embeddings", max_position_embeddings},
                      {"d_model", d_model},
                      {"encoder_layers", encoder_layers},
                      {"decoder_layers", decoder_layers},
                      {"encoder_attention_heads", encoder_attention_heads},
                      {"decoder_attention_heads", decoder_attention_heads},
                      {"encoder_ffn_dim", encoder_ffn_dim},
                      {"decoder_ffn_dim", decoder_ffn_dim},
                      {"activation_function", activation_function},
                      {"scale_embedding", scale_embedding},
                      {"tie_word_embeddings", tie_word_embeddings},
                      {"pad_token_id", id_json(pad_token_id)},
                      {"bos_token_id", id_json(bos_token_id)},
                      {"eos_token_id", int_or_list_json(eos_token_id)},
                      {"decoder_start_token_id", id_json(decoder_start_token_id)},
                      {"forced_bos_token_id", id_json(forced_bos_token_id)},
                      {"forced_eos_token_id", int_or_list_json(forced_eos_token_id)}};
  if (has_decoder_vocab()) {
    j["decoder_vocab_size"] = decoder_vocab_size;
    j["share_encoder_decoder_embeddings"] = share_encoder_decoder_embeddings;
  }
  if (fairseq()) {
    j["encoder_d_model"] = encoder_d_model;
    j["max_source_positions"] = max_source_positions;
    j["encoder_normalize_before"] = encoder_normalize_before;
    j["decoder_normalize_before"] = decoder_normalize_before;
    j["encoder_final_layer_norm"] = encoder_final_layer_norm;
    j["decoder_final_layer_norm"] = decoder_final_layer_norm;
    j["layernorm_embedding"] = fairseq_layernorm_embedding;
    j["position_embedding_type"] = fairseq_positions == Positions::kLearned ? "learned"
                                   : fairseq_positions == Positions::kNone  ? "none"
                                                                            : "sinusoidal";
  }
  return j;
}

}  // namespace kiln::models::bart
