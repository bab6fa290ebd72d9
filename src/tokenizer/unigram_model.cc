// Unigram (SentencePiece) as HF tokenizers encodes it: a Viterbi pass over the lattice of vocab
// pieces found by prefix search at each character start; characters no piece covers cost
// min_score - 10 as unk; consecutive unks are fused; with byte_fallback, a piece missing from the
// vocab (a fused unk) becomes its <0xXX> byte tokens. Ties keep the first (shortest) candidate, as
// HF does. The prefix-search trie is first-child/next-sibling with a 256-way root (compact for
// 250k-piece vocabularies).
#include <algorithm>
#include <array>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "tokenizer/model.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {

namespace {

class PieceTrie {
 public:
  PieceTrie() { root_.fill(-1); }
  void insert(std::string_view piece, int32_t id) {
    if (piece.empty()) return;
    int32_t node = child_of_root(static_cast<unsigned char>(piece[0]), true);
    for (size_t i = 1; i < piece.size(); ++i) {
      node = child(node, static_cast<unsigned char>(piece[i]), true);
    }
    nodes_[node].id = id;
  }
  // Calls fn(length, id) for each piece that prefixes text[start..], shortest first.
  template <typename Fn>
  void prefixes(std::string_view text, size_t start, Fn&& fn) const {
    int32_t node = root_[static_cast<unsigned char>(text[start])];
    for (size_t i = start; node >= 0;) {
      if (nodes_[node].id >= 0) fn(i + 1 - start, nodes_[node].id);
      if (++i >= text.size()) break;
      node = const_cast<PieceTrie*>(this)->child(node, static_cast<unsigned char>(text[i]), false);
    }
  }

 private:
  struct Node {
    int32_t first_child = -1;
    int32_t next_sibling = -1;
    int32_t id = -1;
    unsigned char byte = 0;
  };
  int32_t child_of_root(unsigned char b, bool create) {
    if (root_[b] < 0 && create) {
      nodes_.push_back({-1, -1, -1, b});
      root_[b] = static_cast<int32_t>(nodes_.size()) - 1;
    }
    return root_[b];
  }
  int32_t child(int32_t node, unsigned char b, bool create) {
    for (int32_t c = nodes_[node].first_child; c >= 0; c = nodes_[c].next_sibling) {
      if (nodes_[c].byte == b) return c;
    }
    if (!create) return -1;
    nodes_.push_back({-1, nodes_[node].first_child, -1, b});
    const int32_t c = static_cast<int32_t>(nodes_.size()) - 1;
    nodes_[node].first_child = c;
    return c;
  }
  std::array<int32_t, 256> root_;
  std::vector<Node> nodes_;
};

class UnigramModel : public Model {
 public:
  UnigramModel(std::vector<std::pair<std::string, double>> pieces, std::optional<int32_t> unk_id,
               bool byte_fallback)
      : pieces_(std::move(pieces)), unk_id_(unk_id), byte_fallback_(byte_fallback) {
    for (size_t id = 0; id < pieces_.size(); ++id) {
      vocab_.emplace(pieces_[id].first, static_cast<int32_t>(id));
      min_score_ = std::min(min_score_, pieces_[id].second);
      trie_.insert(pieces_[id].first, static_cast<int32_t>(id));
    }
    if (unk_id_) {
      KILN_CHECK(*unk_id_ >= 0 && *unk_id_ < static_cast<int32_t>(pieces_.size()),
                 "tokenizer: Unigram unk_id {} is outside the vocab", *unk_id_);
    }
  }

  void tokenize(std::string_view word, std::vector<int32_t>& ids) const override {
    for (const std::string& piece : viterbi(word)) {
      auto it = vocab_.find(piece);
      if (it != vocab_.end()) {
        ids.push_back(it->second);
        continue;
      }
      if (byte_fallback_) {
        std::vector<int32_t> bytes;
        for (unsigned char b : piece) {
          auto ib = vocab_.find(fmt::format("<0x{:02X}>", b));
          if (ib == vocab_.end()) break;
          bytes.push_back(ib->second);
        }
        if (bytes.size() == piece.size()) {
          ids.insert(ids.end(), bytes.begin(), bytes.end());
          continue;
        }
      }
      KILN_CHECK(unk_id_.has_value(), "tokenizer: Unigram needs an unk_id to encode '{}'", piece);
      ids.push_back(*unk_id_);
    }
  }
  std::optional<int32_t> token_to_id(std::string_view token) const override {
    auto it = vocab_.find(token);
    return it == vocab_.end() ? std::nullopt : std::optional<int32_t>(it->second);
  }
  const std::string* id_to_token(int32_t id) const override {
    if (id < 0 || id >= vocab_size()) return nullptr;
    return &pieces_[id].first;
  }
  int32_t vocab_size() const override { return static_cast<int32_t>(pieces_.size()); }

 private:
  static constexpr double kUnkPenalty = 10.0;

  std::vector<std::string> viterbi(std::string_view s) const {
    struct Best {
      int32_t id = -1;
      double score = 0.0;
      int64_t start = -1;
    };
    std::vector<Best> best(s.size() + 1);
    const double unk_score = min_score_ - kUnkPenalty;
    for (size_t start = 0; start < s.size();) {
      const double base = best[start].score;
      const size_t char_len = utf8_char_len(static_cast<unsigned char>(s[start]));
      bool has_single = false;
      trie_.prefixes(s, start, [&](size_t len, int32_t id) {
        Best& target = best[start + len];
        const double candidate = pieces_[id].second + base;
        if (target.start < 0 || candidate > target.score) {
          target = {id, candidate, static_cast<int64_t>(start)};
        }
        has_single = has_single || len == char_len;
      });
      if (!has_single) {
        KILN_CHECK(unk_id_.has_value(), "tokenizer: Unigram needs an unk_id to encode '{}'",
                   s.substr(start, char_len));
        Best& target = best[start + char_len];
        const double candidate = unk_score + base;
        if (target.start < 0 || candidate > target.score) {
          target = {*unk_id_, candidate, static_cast<int64_t>(start)};
        }
      }
      start += char_len;
    }
    std::vector<std::string> out;
    std::string unk_run;  // fused unks, collected back to front
    for (size_t end = s.size(); end > 0;) {
      const Best& node = best[end];
      const size_t start = static_cast<size_t>(node.start);
      if (unk_id_ && node.id == *unk_id_) {
        unk_run.insert(0, s.substr(start, end - start));
      } else {
        if (!unk_run.empty()) out.push_back(std::move(unk_run)), unk_run.clear();
        out.emplace_back(s.substr(start, end - start));
      }
      end = start;
    }
    if (!unk_run.empty()) out.push_back(std::move(unk_run));
    std::reverse(out.begin(), out.end());
    return out;
  }

  std::vector<std::pair<std::string, double>> pieces_;
  Vocab vocab_;
  PieceTrie trie_;
  double min_score_ = std::numeric_limits<double>::max();
  std::optional<int32_t> unk_id_;
  bool byte_fallback_;
};

}  // namespace

std::unique_ptr<Model> make_unigram_model(const nlohmann::json& config) {
  KILN_CHECK(config.contains("vocab") && config["vocab"].is_array(),
             "tokenizer: Unigram model needs a \"vocab\" list of [piece, score]");
  std::vector<std::pair<std::string, double>> pieces;
  pieces.reserve(config["vocab"].size());
  for (const auto& entry : config["vocab"]) {
    KILN_CHECK(
        entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_number(),
        "tokenizer: Unigram vocab entries must be [piece, score], got {}", entry.dump());
    pieces.emplace_back(entry[0].get<std::string>(), entry[1].get<double>());
  }
  std::optional<int32_t> unk_id;
  if (config.contains("unk_id") && !config["unk_id"].is_null()) {
    unk_id = config["unk_id"].get<int32_t>();
  }
  return std::make_unique<UnigramModel>(std::move(pieces), unk_id,
                                        config.value("byte_fallback", false));
}

}  // namespace kiln::tok
