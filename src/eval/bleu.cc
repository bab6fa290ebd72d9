#include "eval/bleu.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "core/check.h"
#include "eval/text.h"

namespace kiln::eval {
namespace {

constexpr int kMaxOrder = 4;
constexpr int kCharOrder = 6;
constexpr double kBeta = 2.0;

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  std::string out;
  size_t pos = 0;
  for (size_t hit; (hit = s.find(from, pos)) != std::string::npos; pos = hit + from.size())
    out.append(s, pos, hit - pos).append(to);
  out.append(s, pos, std::string::npos);
  s = std::move(out);
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_period_comma(char c) { return c == '.' || c == ','; }
// [\{-\~\[-\` -\&\(-\+\:-\@\/]
bool is_13a_punct(char c) {
  const auto u = static_cast<unsigned char>(c);
  return (u >= 0x7B && u <= 0x7E) || (u >= 0x5B && u <= 0x60) || (u >= 0x20 && u <= 0x26) ||
         (u >= 0x28 && u <= 0x2B) || (u >= 0x3A && u <= 0x40) || u == '/';
}

// The regexes of sacrebleu's TokenizerRegexp, one left-to-right pass each (re.sub semantics:
// non-overlapping matches). Byte-wise is equivalent: every class is ASCII, and a multi-byte
// character never contains an ASCII byte.
std::string regexp_pass(const std::string& s) {
  std::string a;
  for (char c : s) {
    if (is_13a_punct(c)) {
      a += ' ', a += c, a += ' ';
    } else {
      a += c;
    }
  }
  std::string b;  // ([^0-9])([\.,]) -> '\1 \2 '
  for (size_t i = 0; i < a.size();) {
    if (i + 1 < a.size() && !is_digit(a[i]) && is_period_comma(a[i + 1])) {
      b += a[i], b += ' ', b += a[i + 1], b += ' ';
      i += 2;
    } else {
      b += a[i++];
    }
  }
  std::string c;  // ([\.,])([^0-9]) -> ' \1 \2'
  for (size_t i = 0; i < b.size();) {
    if (i + 1 < b.size() && is_period_comma(b[i]) && !is_digit(b[i + 1])) {
      c += ' ', c += b[i], c += ' ', c += b[i + 1];
      i += 2;
    } else {
      c += b[i++];
    }
  }
  std::string d;  // ([0-9])(-) -> '\1 \2 '
  for (size_t i = 0; i < c.size();) {
    if (i + 1 < c.size() && is_digit(c[i]) && c[i + 1] == '-') {
      d += c[i], d += ' ', d += '-', d += ' ';
      i += 2;
    } else {
      d += c[i++];
    }
  }
  std::string out;
  for (const std::string& w : py_split(d)) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

using Counts = std::unordered_map<std::string, int64_t>;

// All word n-grams of orders 1..kMaxOrder; key: the order digit, then ' ' + token per token
// (13a tokens hold no spaces).
Counts word_ngrams(const std::vector<std::string>& toks) {
  Counts c;
  for (int n = 1; n <= kMaxOrder; ++n) {
    for (size_t i = 0; i + n <= toks.size(); ++i) {
      std::string key(1, static_cast<char>('0' + n));
      for (int k = 0; k < n; ++k) key += ' ', key += toks[i + k];
      ++c[key];
    }
  }
  return c;
}

double my_log(double x) { return x == 0 ? -9999999999.0 : std::log(x); }

}  // namespace

std::string tokenize_13a(std::string_view line_in) {
  std::string line(line_in);
  replace_all(line, "<skipped>", "");
  replace_all(line, "-\n", "");
  replace_all(line, "\n", " ");
  if (line.find('&') != std::string::npos) {
    replace_all(line, "&quot;", "\"");
    replace_all(line, "&amp;", "&");
    replace_all(line, "&lt;", "<");
    replace_all(line, "&gt;", ">");
  }
  return regexp_pass(" " + line + " ");
}

BleuScore corpus_bleu(const std::vector<std::string>& hyps, const std::vector<std::string>& refs) {
  KILN_CHECK(hyps.size() == refs.size(), "BLEU: {} hypotheses but {} references", hyps.size(),
             refs.size());
  BleuScore s;
  s.correct.assign(kMaxOrder, 0);
  s.total.assign(kMaxOrder, 0);
  s.precisions.assign(kMaxOrder, 0.0);
  for (size_t k = 0; k < hyps.size(); ++k) {
    const std::vector<std::string> h = py_split(tokenize_13a(py_rstrip(hyps[k])));
    const std::vector<std::string> r = py_split(tokenize_13a(py_rstrip(refs[k])));
    s.sys_len += static_cast<int64_t>(h.size());
    s.ref_len += static_cast<int64_t>(r.size());
    const Counts hc = word_ngrams(h), rc = word_ngrams(r);
    for (const auto& [key, count] : hc) {
      const int n = key[0] - '0';
      s.total[n - 1] += count;
      if (auto it = rc.find(key); it != rc.end()) s.correct[n - 1] += std::min(count, it->second);
    }
  }
  if (s.sys_len < s.ref_len)
    s.bp = s.sys_len > 0 ? std::exp(1.0 - static_cast<double>(s.ref_len) / s.sys_len) : 0.0;
  else
    s.bp = 1.0;
  if (std::none_of(s.correct.begin(), s.correct.end(), [](int64_t c) { return c != 0; })) {
    s.score = 0.0;
    return s;
  }
  double smooth_mteval = 1.0;
  for (int n = 1; n <= kMaxOrder; ++n) {
    if (s.total[n - 1] == 0) break;
    if (s.correct[n - 1] == 0) {
      smooth_mteval *= 2;
      s.precisions[n - 1] = 100.0 / (smooth_mteval * static_cast<double>(s.total[n - 1]));
    } else {
      s.precisions[n - 1] =
          100.0 * static_cast<double>(s.correct[n - 1]) / static_cast<double>(s.total[n - 1]);
    }
  }
  double sum = 0;  // Python's sum(): left to right
  for (int n = 0; n < kMaxOrder; ++n) sum += my_log(s.precisions[n]);
  s.score = s.bp * std::exp(sum / kMaxOrder);
  return s;
}

double corpus_chrf(const std::vector<std::string>& hyps, const std::vector<std::string>& refs) {
  KILN_CHECK(hyps.size() == refs.size(), "chrF: {} hypotheses but {} references", hyps.size(),
             refs.size());
  // Per order: [hypothesis n-grams, reference n-grams, matches], summed over the corpus.
  std::vector<int64_t> stats(3 * kCharOrder, 0);
  const auto char_ngrams = [](const std::string& line) {
    std::string joined;
    for (const std::string& w : py_split(line)) joined += w;
    const std::vector<char32_t> cps = utf8_decode(joined);
    std::vector<Counts> out(kCharOrder);
    for (int n = 1; n <= kCharOrder; ++n)
      for (size_t i = 0; i + n <= cps.size(); ++i)
        ++out[n - 1][utf8_encode(std::vector<char32_t>(cps.begin() + i, cps.begin() + i + n))];
    return out;
  };
  for (size_t k = 0; k < hyps.size(); ++k) {
    const std::vector<Counts> h = char_ngrams(hyps[k]), r = char_ngrams(refs[k]);
    for (int n = 0; n < kCharOrder; ++n) {
      int64_t match = 0, hyp_count = 0, ref_count = 0;
      for (const auto& [g, c] : h[n]) {
        hyp_count += c;
        if (auto it = r[n].find(g); it != r[n].end()) match += std::min(c, it->second);
      }
      for (const auto& [g, c] : r[n]) ref_count += c;
      stats[3 * n] += r[n].empty() ? 0 : hyp_count;
      stats[3 * n + 1] += ref_count;
      stats[3 * n + 2] += match;
    }
  }
  const double eps = 1e-16, factor = kBeta * kBeta;
  double avg_prec = 0, avg_rec = 0;
  int effective_order = 0;
  for (int n = 0; n < kCharOrder; ++n) {
    const int64_t n_hyp = stats[3 * n], n_ref = stats[3 * n + 1], n_match = stats[3 * n + 2];
    const double prec = n_hyp > 0 ? static_cast<double>(n_match) / n_hyp : eps;
    const double rec = n_ref > 0 ? static_cast<double>(n_match) / n_ref : eps;
    if (n_hyp > 0 && n_ref > 0) {
      avg_prec += prec;
      avg_rec += rec;
      ++effective_order;
    }
  }
  if (effective_order == 0) return 0.0;
  avg_prec /= effective_order;
  avg_rec /= effective_order;
  if (avg_prec + avg_rec == 0) return 0.0;
  double score = (1 + factor) * avg_prec * avg_rec;  // sacrebleu's order of operations
  score /= (factor * avg_prec) + avg_rec;
  return 100 * score;
}

}  // namespace kiln::eval
