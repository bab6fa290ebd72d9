#include "generation_flags.h"

namespace kiln::cli {

SamplingOptions GenerationFlags::to_sampling_options() const {
  SamplingOptions so;
  so.max_new_tokens = max_new_tokens;
  so.min_new_tokens = min_new_tokens;
  if (do_sample) so.do_sample = true;
  so.temperature = temperature;
  so.top_k = top_k;
  so.top_p = top_p;
  so.min_p = min_p;
  so.repetition_penalty = repetition_penalty;
  so.seed = seed;
  so.num_beams = num_beams;
  so.length_penalty = length_penalty;
  if (early_stopping)
    so.early_stopping = *early_stopping == "never"  ? EarlyStopping::kNever
                        : *early_stopping == "true" ? EarlyStopping::kTrue
                                                    : EarlyStopping::kFalse;
  so.num_return_sequences = num_return_sequences;
  so.no_repeat_ngram_size = no_repeat_ngram_size;
  so.min_length = min_length;
  so.forced_bos_token_id = forced_bos_token_id;
  so.decoder_start_token_id = decoder_start_token_id;
  if (!forced_eos_token_id.empty()) so.forced_eos_token_id = forced_eos_token_id;
  return so;
}

nlohmann::json GenerationFlags::to_hf_kwargs() const {
  nlohmann::json g = nlohmann::json::object();
  const auto put = [&](const char* k, const auto& v) {
    if (v) g[k] = *v;
  };
  put("max_new_tokens", max_new_tokens);
  put("min_new_tokens", min_new_tokens);
  put("temperature", temperature);
  put("top_k", top_k);
  put("top_p", top_p);
  put("min_p", min_p);
  put("repetition_penalty", repetition_penalty);
  put("num_beams", num_beams);
  put("num_return_sequences", num_return_sequences);
  put("length_penalty", length_penalty);
  put("no_repeat_ngram_size", no_repeat_ngram_size);
  put("min_length", min_length);
  put("forced_bos_token_id", forced_bos_token_id);
  put("decoder_start_token_id", decoder_start_token_id);
  if (!forced_eos_token_id.empty()) g["forced_eos_token_id"] = forced_eos_token_id;
  if (early_stopping)
    g["early_stopping"] = *early_stopping == "never" ? nlohmann::json("never")
                                                     : nlohmann::json(*early_stopping == "true");
  if (do_sample) g["do_sample"] = true;
  return g;
}

void add_generation_flags(CLI::App* sub, GenerationFlags& g) {
  sub->add_option("--max_new_tokens", g.max_new_tokens, "Tokens to generate (HF semantics)");
  sub->add_option("--min_new_tokens", g.min_new_tokens, "Suppress the end token before this");
  sub->add_flag("--do_sample", g.do_sample, "Sample instead of greedy / beam decoding");
  sub->add_option("--temperature", g.temperature, "Sampling temperature");
  sub->add_option("--top_k", g.top_k, "Top-k filter (0 disables; HF default 50)");
  sub->add_option("--top_p", g.top_p, "Top-p (nucleus) filter");
  sub->add_option("--repetition_penalty", g.repetition_penalty, "HF repetition penalty");
  sub->add_option("--min_p", g.min_p, "Min-p filter (0 disables)");
  sub->add_option("--num_beams", g.num_beams, "Beam search width (HF num_beams)");
  sub->add_option("--length_penalty", g.length_penalty, "Beam search length penalty");
  sub->add_option("--early_stopping", g.early_stopping, "Beam search: true | false | never")
      ->check(CLI::IsMember({"true", "false", "never"}));
  sub->add_option("--num_return_sequences", g.num_return_sequences, "Beams to return");
  sub->add_option("--no_repeat_ngram_size", g.no_repeat_ngram_size,
                  "Ban repeating n-grams of this size (HF; 0 disables)");
  sub->add_option("--min_length", g.min_length,
                  "HF min_length: no end token while the sequence (prompt + generated) is shorter");
  sub->add_option("--forced_bos_token_id", g.forced_bos_token_id,
                  "Force this first generated token (HF; -1 disables the model's)");
  sub->add_option("--forced_eos_token_id", g.forced_eos_token_id,
                  "Force this end token at the maximum length (HF; repeatable)");
  sub->add_option("--decoder_start_token_id", g.decoder_start_token_id,
                  "Encoder-decoder models: first decoder token (HF)");
  sub->add_option("--seed", g.seed, "Random seed for sampling (per request)");
}

}  // namespace kiln::cli
