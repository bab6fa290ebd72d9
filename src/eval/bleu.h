// Corpus BLEU and chrF with sacrebleu 2.x semantics and defaults (one reference per segment):
// BLEU: tokenizer 13a, no lowercasing, max order 4, smoothing 'exp', brevity penalty;
// chrF: character order 6, no word n-grams (chrF, not chrF++), beta 2, whitespace dropped.
// Scores are on sacrebleu's 0-100 scale and match it to floating-point rounding.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kiln::eval {

// sacrebleu's Tokenizer13a (mteval-v13a): tokens joined by single spaces.
std::string tokenize_13a(std::string_view line);

struct BleuScore {
  double score = 0;               // 0..100
  std::vector<int64_t> correct;   // matching n-grams, n = 1..4
  std::vector<int64_t> total;     // hypothesis n-grams, n = 1..4
  std::vector<double> precisions; // 0..100 (smoothed)
  double bp = 0;                  // brevity penalty
  int64_t sys_len = 0, ref_len = 0;
};

// sacrebleu.corpus_bleu(hypotheses, [references]). Throws kiln::Error when the sizes differ.
BleuScore corpus_bleu(const std::vector<std::string>& hypotheses,
                      const std::vector<std::string>& references);

// sacrebleu.corpus_chrf(hypotheses, [references]).score. Throws when the sizes differ.
double corpus_chrf(const std::vector<std::string>& hypotheses,
                   const std::vector<std::string>& references);

}  // namespace kiln::eval
