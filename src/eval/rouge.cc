#include "eval/rouge.h"

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "core/check.h"
#include "eval/porter_stemmer.h"
#include "eval/text.h"

namespace kiln::eval {
namespace {

using Tokens = std::vector<std::string>;
using Table = std::vector<std::vector<int>>;

double fmeasure(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; }

RougeScore score_ngrams(const Tokens& target, const Tokens& prediction, int n) {
  const auto ngrams = [n](const Tokens& t) {
    std::map<Tokens, int> c;
    for (size_t i = 0; i + n <= t.size(); ++i) ++c[Tokens(t.begin() + i, t.begin() + i + n)];
    return c;
  };
  const auto tc = ngrams(target), pc = ngrams(prediction);
  int inter = 0, tcount = 0, pcount = 0;
  for (const auto& [g, c] : tc) {
    tcount += c;
    if (auto it = pc.find(g); it != pc.end()) inter += std::min(c, it->second);
  }
  for (const auto& [g, c] : pc) pcount += c;
  RougeScore s;
  s.precision = static_cast<double>(inter) / std::max(pcount, 1);
  s.recall = static_cast<double>(inter) / std::max(tcount, 1);
  s.fmeasure = fmeasure(s.precision, s.recall);
  return s;
}

Table lcs_table(const Tokens& ref, const Tokens& can) {
  Table t(ref.size() + 1, std::vector<int>(can.size() + 1, 0));
  for (size_t i = 1; i <= ref.size(); ++i)
    for (size_t j = 1; j <= can.size(); ++j)
      t[i][j] = ref[i - 1] == can[j - 1] ? t[i - 1][j - 1] + 1 : std::max(t[i - 1][j], t[i][j - 1]);
  return t;
}

RougeScore score_lcs(const Tokens& target, const Tokens& prediction) {
  RougeScore s;
  if (target.empty() || prediction.empty()) return s;
  const int lcs = lcs_table(target, prediction).back().back();
  s.precision = static_cast<double>(lcs) / prediction.size();
  s.recall = static_cast<double>(lcs) / target.size();
  s.fmeasure = fmeasure(s.precision, s.recall);
  return s;
}

// Indices into ref of one LCS of (ref, can), rouge_score's _backtrack_norec.
std::vector<size_t> lcs_indices(const Tokens& ref, const Tokens& can) {
  const Table t = lcs_table(ref, can);
  std::vector<size_t> out;
  size_t i = ref.size(), j = can.size();
  while (i > 0 && j > 0) {
    if (ref[i - 1] == can[j - 1]) {
      out.push_back(i - 1);
      --i, --j;
    } else if (t[i][j - 1] > t[i - 1][j]) {
      --j;
    } else {
      --i;
    }
  }
  std::reverse(out.begin(), out.end());
  return out;
}

RougeScore summary_level_lcs(const std::vector<Tokens>& ref_sents,
                             const std::vector<Tokens>& can_sents) {
  RougeScore s;
  if (ref_sents.empty() || can_sents.empty()) return s;
  size_t m = 0, n = 0;
  for (const Tokens& t : ref_sents) m += t.size();
  for (const Tokens& t : can_sents) n += t.size();
  if (m == 0 || n == 0) return s;
  std::unordered_map<std::string, int> cnt_r, cnt_c;
  for (const Tokens& t : ref_sents)
    for (const std::string& w : t) ++cnt_r[w];
  for (const Tokens& t : can_sents)
    for (const std::string& w : t) ++cnt_c[w];
  int hits = 0;
  for (const Tokens& r : ref_sents) {
    std::set<size_t> uni;  // union of the LCS indices against every candidate sentence
    for (const Tokens& c : can_sents)
      for (size_t i : lcs_indices(r, c)) uni.insert(i);
    for (size_t i : uni) {
      const std::string& t = r[i];
      int& cc = cnt_c[t];
      int& cr = cnt_r[t];
      if (cc > 0 && cr > 0) {
        ++hits;
        --cc, --cr;
      }
    }
  }
  s.recall = static_cast<double>(hits) / m;
  s.precision = static_cast<double>(hits) / n;
  s.fmeasure = fmeasure(s.precision, s.recall);
  return s;
}

// rougeLsum sentences: text.split("\n"), empty strings dropped.
std::vector<std::string> newline_sentences(std::string_view text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    const size_t nl = text.find('\n', pos);
    const std::string_view piece = text.substr(pos, nl == std::string_view::npos ? nl : nl - pos);
    if (!piece.empty()) out.emplace_back(piece);
    if (nl == std::string_view::npos) break;
    pos = nl + 1;
  }
  return out;
}

}  // namespace

std::vector<std::string> rouge_tokenize(std::string_view text, bool use_stemmer) {
  // text.lower(), then [^a-z0-9]+ -> ' ': only ASCII letters and digits survive, plus the two
  // non-ASCII code points whose lowercase holds one (U+0130 -> "i\u0307", U+212A KELVIN -> "k").
  std::string s;
  for (char32_t cp : utf8_decode(text)) {
    if (cp >= 'A' && cp <= 'Z')
      s += static_cast<char>(cp - 'A' + 'a');
    else if ((cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9'))
      s += static_cast<char>(cp);
    else if (cp == 0x130)
      s += "i ";
    else if (cp == 0x212A)
      s += 'k';
    else
      s += ' ';
  }
  std::vector<std::string> tokens;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) {
      std::string tok = s.substr(i, j - i);
      if (use_stemmer && tok.size() > 3) tok = porter_stem(tok);
      if (!tok.empty()) tokens.push_back(std::move(tok));
    }
    i = j;
  }
  return tokens;
}

RougeScores rouge_score(std::string_view target, std::string_view prediction, bool use_stemmer) {
  RougeScores out;
  const Tokens t = rouge_tokenize(target, use_stemmer), p = rouge_tokenize(prediction, use_stemmer);
  out.rouge1 = score_ngrams(t, p, 1);
  out.rouge2 = score_ngrams(t, p, 2);
  out.rougeL = score_lcs(t, p);
  std::vector<Tokens> ts, ps;
  for (const std::string& sent : newline_sentences(target))
    ts.push_back(rouge_tokenize(sent, use_stemmer));
  for (const std::string& sent : newline_sentences(prediction))
    ps.push_back(rouge_tokenize(sent, use_stemmer));
  out.rougeLsum = summary_level_lcs(ts, ps);
  return out;
}

RougeCorpus corpus_rouge(const std::vector<std::string>& predictions,
                         const std::vector<std::string>& references, bool use_stemmer) {
  KILN_CHECK(predictions.size() == references.size(), "ROUGE: {} predictions but {} references",
             predictions.size(), references.size());
  RougeCorpus c;
  if (predictions.empty()) return c;
  for (size_t i = 0; i < predictions.size(); ++i) {
    const RougeScores s = rouge_score(references[i], predictions[i], use_stemmer);
    c.rouge1 += s.rouge1.fmeasure;
    c.rouge2 += s.rouge2.fmeasure;
    c.rougeL += s.rougeL.fmeasure;
    c.rougeLsum += s.rougeLsum.fmeasure;
  }
  const double n = static_cast<double>(predictions.size());
  c.rouge1 /= n, c.rouge2 /= n, c.rougeL /= n, c.rougeLsum /= n;
  return c;
}

}  // namespace kiln::eval
