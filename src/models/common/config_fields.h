// Reading HF config.json fields the way every family's config.cc does: attribute_map aliases,
// positive-size checks with one message, and int-or-list token ids written back as HF writes them.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/json_config.h"

namespace kiln::models {

// cfg[key] if present, else cfg[alias] (HF's attribute_map), else dflt.
int64_t get_aliased(const io::JsonConfig& cfg, const char* key, const char* alias, int64_t dflt);

// Fails with "<source>: <name> must be positive, got <value>" unless value > 0.
void check_positive(const io::JsonConfig& cfg, const char* name, int64_t value);

// The fields GPT-2-style configs share (gpt2, gpt_bigcode: same names, aliases and defaults but
// the activation, which each family's config sets); the family's config derives from it.
struct GptFields {
  int64_t vocab_size = 50257;
  int64_t n_positions = 1024;
  int64_t n_embd = 768;
  int64_t n_layer = 12;
  int64_t n_head = 12;
  int64_t n_inner = 0;  // 0 (HF: None) means 4 * n_embd
  std::string activation_function;
  double layer_norm_epsilon = 1e-5;
  bool scale_attn_weights = true;
  bool tie_word_embeddings = true;
  int64_t bos_token_id = 50256;
  int64_t inner() const { return n_inner > 0 ? n_inner : 4 * n_embd; }
  int64_t head_dim() const { return n_embd / n_head; }
};

// Reads them over the defaults in f (get_aliased: HF's attribute_map aliases), then checks the
// shape: positive sizes, n_embd divisible by n_head, n_inner >= 0 (0 = 4 x n_embd), positive
// eps, a known activation, and no add_cross_attention (family names the model in that message,
// e.g. "GPT-2").
void read_gpt_fields(const io::JsonConfig& cfg, GptFields& f, const char* family);

// Them under HF's config.json names (n_inner 0 as null), for a family's to_json to extend.
nlohmann::json gpt_fields_json(const GptFields& f);

// Token ids as HF's config.json holds them: [] -> null, [x] -> x, else the list.
nlohmann::json int_or_list_json(const std::vector<int64_t>& ids);

}  // namespace kiln::models
