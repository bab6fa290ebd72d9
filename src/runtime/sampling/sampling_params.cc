#include "runtime/sampling/sampling_params.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/check.h"
#include "io/json_config.h"

namespace kiln::runtime {

int64_t SamplingParams::resolve_max_new(int64_t prompt_len) const {
  if (max_new_tokens >= 0) return max_new_tokens;
  return std::max<int64_t>(1, max_length - prompt_len);
}

void SamplingParams::validate(int64_t vocab_size) const {
  KILN_CHECK(min_new_tokens >= 0, "min_new_tokens must be >= 0, got {}", min_new_tokens);
  KILN_CHECK(!(temperature <= 0.f) && std::isfinite(temperature),
             "temperature must be a positive number, got {}", temperature);
  KILN_CHECK(top_k >= 0, "top_k must be >= 0, got {}", top_k);
  KILN_CHECK(top_p > 0.f && top_p <= 1.f, "top_p must be in (0, 1], got {}", top_p);
  KILN_CHECK(min_p >= 0.f && min_p <= 1.f, "min_p must be in [0, 1], got {}", min_p);
  KILN_CHECK(repetition_penalty > 0.f && std::isfinite(repetition_penalty),
             "repetition_penalty must be a positive number, got {}", repetition_penalty);
  KILN_CHECK(presence_penalty >= -2.f && presence_penalty <= 2.f,
             "presence_penalty must be in [-2, 2], got {}", presence_penalty);
  KILN_CHECK(frequency_penalty >= -2.f && frequency_penalty <= 2.f,
             "frequency_penalty must be in [-2, 2], got {}", frequency_penalty);
  for (int32_t e : eos_token_ids)
    KILN_CHECK(e >= 0, "eos_token_id must be >= 0, got {}", e);
  for (int32_t e : stop_token_ids)
    KILN_CHECK(e >= 0, "stop_token_ids must be >= 0, got {}", e);
  for (const std::string& s : stop) KILN_CHECK(!s.empty(), "stop strings must be non-empty");
  KILN_CHECK(logprobs >= -1 && logprobs <= kMaxLogprobs,
             "logprobs must be in [0, {}] (or -1 for none), got {}", kMaxLogprobs, logprobs);
  KILN_CHECK(n >= 1 && n <= kMaxN, "n must be in [1, {}], got {}", kMaxN, n);
  KILN_CHECK(num_beams >= 1, "num_beams must be >= 1, got {}", num_beams);
  KILN_CHECK(std::isfinite(length_penalty), "length_penalty must be a finite number, got {}",
             length_penalty);
  KILN_CHECK(early_stopping >= 0 && early_stopping <= 2,
             "early_stopping must be 0 (False), 1 (True) or 2 (\"never\"), got {}", early_stopping);
  KILN_CHECK(num_return_sequences >= 1, "num_return_sequences must be >= 1, got {}",
             num_return_sequences);
  if (num_beams > 1) {
    KILN_CHECK(!do_sample, "beam sampling is not supported (num_beams = {} with do_sample)",
               num_beams);
    KILN_CHECK(num_return_sequences <= num_beams,
               "num_return_sequences ({}) must be <= num_beams ({})", num_return_sequences,
               num_beams);
    KILN_CHECK(n == 1, "n must be 1 with beam search (num_beams = {}); use num_return_sequences",
               num_beams);
  } else {
    // HF: greedy decoding cannot return several sequences (they would all be equal).
    KILN_CHECK(do_sample || num_return_sequences == 1,
               "greedy decoding (do_sample = false, num_beams = 1) does not support "
               "num_return_sequences = {}; set do_sample or num_beams",
               num_return_sequences);
    KILN_CHECK(num_return_sequences <= kMaxN, "num_return_sequences must be <= {}, got {}", kMaxN,
               num_return_sequences);
  }
  (void)vocab_size;  // eos ids outside the vocabulary can never be produced; HF allows them
}

SamplingParams load_generation_defaults(const std::string& dir) {
  SamplingParams p;
  const std::string gen_path = dir + "/generation_config.json";
  const bool has_gen = std::filesystem::exists(gen_path);
  const io::JsonConfig cfg = io::JsonConfig::load(has_gen ? gen_path : dir + "/config.json");
  if (cfg.has("eos_token_id"))
    for (int64_t e : cfg.get_int_or_list("eos_token_id")) p.eos_token_ids.push_back(static_cast<int32_t>(e));
  p.pad_token_id = static_cast<int32_t>(cfg.get_or<int64_t>("pad_token_id", -1));
  p.bos_token_id = static_cast<int32_t>(cfg.get_or<int64_t>("bos_token_id", -1));
  if (!has_gen) return p;
  p.max_new_tokens = cfg.get_or<int64_t>("max_new_tokens", -1);
  p.max_length = cfg.get_or<int64_t>("max_length", p.max_length);
  p.min_new_tokens = cfg.get_or<int64_t>("min_new_tokens", 0);
  p.do_sample = cfg.get_or<bool>("do_sample", false);
  p.temperature = static_cast<float>(cfg.get_or<double>("temperature", 1.0));
  p.top_k = cfg.get_or<int64_t>("top_k", 50);
  p.top_p = static_cast<float>(cfg.get_or<double>("top_p", 1.0));
  p.repetition_penalty = static_cast<float>(cfg.get_or<double>("repetition_penalty", 1.0));
  p.min_p = static_cast<float>(cfg.get_or<double>("min_p", 0.0));  // null: disabled
  p.num_beams = cfg.get_or<int>("num_beams", 1);
  p.length_penalty = static_cast<float>(cfg.get_or<double>("length_penalty", 1.0));
  p.num_return_sequences = cfg.get_or<int>("num_return_sequences", 1);
  if (cfg.has("early_stopping")) {
    const nlohmann::json& v = cfg.json().at("early_stopping");
    if (v.is_boolean()) {
      p.early_stopping = v.get<bool>() ? 1 : 0;
    } else {
      KILN_CHECK(v.is_string() && v.get<std::string>() == "never",
                 "{}: 'early_stopping' must be true, false or \"never\", got {}", cfg.source(),
                 v.dump());
      p.early_stopping = 2;
    }
  }
  return p;
}

}  // namespace kiln::runtime
