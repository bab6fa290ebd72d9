#include "runtime/sampling/sampling_params.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/check.h"
#include "io/json_config.h"

namespace kiln::runtime {

std::vector<int32_t> SamplingParams::end_ids() const {
  std::vector<int32_t> ids;
  if (!ignore_eos) ids = eos_token_ids;
  ids.insert(ids.end(), stop_token_ids.begin(), stop_token_ids.end());
  return ids;
}

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
  KILN_CHECK(no_repeat_ngram_size >= 0, "no_repeat_ngram_size must be >= 0 (0 disables), got {}",
             no_repeat_ngram_size);
  KILN_CHECK(encoder_no_repeat_ngram_size >= 0,
             "encoder_no_repeat_ngram_size must be >= 0 (0 disables), got {}",
             encoder_no_repeat_ngram_size);
  KILN_CHECK(min_length >= 0, "min_length must be >= 0, got {}", min_length);
  // eos ids outside the vocabulary can never be produced; HF allows them. The ids below index the
  // logits (HF fails with an index error or a ValueError), so they must be in the vocabulary.
  const auto check_id = [vocab_size](int64_t id, const char* what) {
    KILN_CHECK(id >= 0 && id < vocab_size, "{} {} is outside the vocabulary [0, {})", what, id,
               vocab_size);
  };
  if (decoder_start_token_id != -1) check_id(decoder_start_token_id, "decoder_start_token_id");
  if (forced_bos_token_id != -1) check_id(forced_bos_token_id, "forced_bos_token_id");
  for (int32_t t : forced_eos_token_ids) check_id(t, "forced_eos_token_id");
  for (int32_t t : suppress_tokens) check_id(t, "suppress_tokens id");
  for (int32_t t : begin_suppress_tokens) check_id(t, "begin_suppress_tokens id");
  for (size_t i = 0; i < bad_words_ids.size(); ++i) {
    KILN_CHECK(!bad_words_ids[i].empty(), "bad_words_ids[{}] is empty (each entry must be a "
               "non-empty list of token ids)", i);
    for (int32_t t : bad_words_ids[i]) check_id(t, "bad_words_ids token");
  }
}

bool SamplingParams::needs_host_processors() const {
  return no_repeat_ngram_size > 0 || encoder_no_repeat_ngram_size > 0 || !bad_words_ids.empty() ||
         min_length > 0 || forced_bos_token_id >= 0 || !forced_eos_token_ids.empty() ||
         !suppress_tokens.empty() || !begin_suppress_tokens.empty();
}

namespace {

std::vector<int32_t> id_list(const io::JsonConfig& cfg, const std::string& key) {
  std::vector<int32_t> out;
  for (int64_t e : cfg.get_int_or_list(key)) out.push_back(static_cast<int32_t>(e));
  return out;
}

// HF bad_words_ids: a list of lists of token ids.
std::vector<std::vector<int32_t>> bad_words(const io::JsonConfig& cfg) {
  std::vector<std::vector<int32_t>> out;
  if (!cfg.has("bad_words_ids")) return out;
  const nlohmann::json& v = cfg.json().at("bad_words_ids");
  const auto fail = [&] {
    KILN_FAIL("{}: 'bad_words_ids' must be a list of lists of token ids, got {}", cfg.source(),
              v.dump());
  };
  if (!v.is_array()) fail();
  for (const nlohmann::json& seq : v) {
    if (!seq.is_array()) fail();
    std::vector<int32_t> ids;
    for (const nlohmann::json& t : seq) {
      if (!t.is_number_integer()) fail();
      ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
    }
    out.push_back(std::move(ids));
  }
  return out;
}

}  // namespace

SamplingParams load_generation_defaults(const std::string& dir) {
  SamplingParams p;
  const std::string gen_path = dir + "/generation_config.json";
  const bool has_gen = std::filesystem::exists(gen_path);
  // Without generation_config.json HF reads the generation fields of config.json itself
  // (GenerationConfig.from_pretrained(config_file_name="config.json")).
  const io::JsonConfig cfg = io::JsonConfig::load(has_gen ? gen_path : dir + "/config.json");
  p.eos_token_ids = id_list(cfg, "eos_token_id");
  p.pad_token_id = static_cast<int32_t>(cfg.get_or<int64_t>("pad_token_id", -1));
  p.bos_token_id = static_cast<int32_t>(cfg.get_or<int64_t>("bos_token_id", -1));
  p.decoder_start_token_id =
      static_cast<int32_t>(cfg.get_or<int64_t>("decoder_start_token_id", -1));
  p.max_new_tokens = cfg.get_or<int64_t>("max_new_tokens", -1);
  p.max_length = cfg.get_or<int64_t>("max_length", p.max_length);
  p.min_new_tokens = cfg.get_or<int64_t>("min_new_tokens", 0);
  p.min_new_tokens_set = cfg.has("min_new_tokens");
  p.min_length = cfg.get_or<int64_t>("min_length", 0);
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
  p.no_repeat_ngram_size = cfg.get_or<int64_t>("no_repeat_ngram_size", 0);
  p.encoder_no_repeat_ngram_size = cfg.get_or<int64_t>("encoder_no_repeat_ngram_size", 0);
  p.bad_words_ids = bad_words(cfg);
  p.forced_bos_token_id = static_cast<int32_t>(cfg.get_or<int64_t>("forced_bos_token_id", -1));
  p.forced_eos_token_ids = id_list(cfg, "forced_eos_token_id");
  p.suppress_tokens = id_list(cfg, "suppress_tokens");
  p.begin_suppress_tokens = id_list(cfg, "begin_suppress_tokens");
  return p;
}

}  // namespace kiln::runtime
