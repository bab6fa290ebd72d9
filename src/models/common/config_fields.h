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

// GPT-2-style configs (gpt2, gpt_bigcode: same field names): positive sizes, n_embd divisible by
// n_head, n_inner >= 0 (0 = 4 x n_embd), positive eps, a known activation, and no
// add_cross_attention (family names the model in that message, e.g. "GPT-2").
struct GptShapeFields {
  int64_t vocab_size, n_positions, n_embd, n_layer, n_head, n_inner;
  double layer_norm_epsilon;
  std::string activation_function;
};
void check_gpt_shape(const io::JsonConfig& cfg, const GptShapeFields& f, const char* family);

// Token ids as HF's config.json holds them: [] -> null, [x] -> x, else the list.
nlohmann::json int_or_list_json(const std::vector<int64_t>& ids);

}  // namespace kiln::models
