// ROUGE-1/2/L/Lsum with Google rouge_score semantics (rouge_scorer.RougeScorer, the default
// tokenizer: lowercase, non-[a-z0-9] runs become spaces, optional NLTK Porter stemming of tokens
// longer than 3 characters; rougeLsum: summary-level LCS over newline-separated sentences).
// Corpus scores are the mean of the per-sample F-measures (HF `evaluate`'s rouge with
// use_aggregator=False, then averaged; its default bootstrap aggregator reports the median of
// resampled means, which is random and only close to this).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kiln::eval {

struct RougeScore {
  double precision = 0, recall = 0, fmeasure = 0;
};

struct RougeScores {
  RougeScore rouge1, rouge2, rougeL, rougeLsum;
};

struct RougeCorpus {  // mean F-measures, 0..1
  double rouge1 = 0, rouge2 = 0, rougeL = 0, rougeLsum = 0;
};

// rouge_score's tokenize.tokenize(text, stemmer).
std::vector<std::string> rouge_tokenize(std::string_view text, bool use_stemmer);

// RougeScorer([...], use_stemmer).score(target, prediction).
RougeScores rouge_score(std::string_view target, std::string_view prediction, bool use_stemmer);

// Mean F-measure over the pairs. Throws kiln::Error when the sizes differ.
RougeCorpus corpus_rouge(const std::vector<std::string>& predictions,
                         const std::vector<std::string>& references, bool use_stemmer);

}  // namespace kiln::eval
