// See bpe_model.h. The merge loop mirrors HF's Word::merge_all (including how stale heap entries
// are detected) so ties resolve identically.
#include "tokenizer/bpe_model.h"

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/check.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {

namespace {

uint64_t pair_key(int32_t a, int32_t b) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
}

struct Symbol {
  int32_t id;
  int32_t prev;
  int32_t next;
  bool alive;
};

struct Candidate {
  int32_t rank;
  int32_t pos;
  int32_t new_id;
};

// Heap order: lowest rank first, then leftmost.
struct CandidateAfter {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  }
};

}  // namespace

BpeModel::BpeModel(Vocab vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                   BpeOptions options)
    : VocabModel(std::move(vocab)), options_(std::move(options)) {
  byte_ids_.fill(-1);
  for (int b = 0; b < 256; ++b) {
    auto it = vocab_.find(fmt::format("<0x{:02X}>", b));
    if (it != vocab_.end()) byte_ids_[b] = it->second;
  }
  const std::string& prefix = options_.continuing_subword_prefix;
  merges_.reserve(merges.size() * 2);
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto ia = vocab_.find(a);
    auto ib = vocab_.find(b);
    KILN_CHECK(ia != vocab_.end(), "tokenizer: BPE merge #{} '{} {}' uses '{}', not in the vocab",
               rank + 1, a, b, a);
    KILN_CHECK(ib != vocab_.end(), "tokenizer: BPE merge #{} '{} {}' uses '{}', not in the vocab",
               rank + 1, a, b, b);
    const std::string merged =
        a + (!prefix.empty() && b.starts_with(prefix) ? b.substr(prefix.size()) : b);
    auto im = vocab_.find(merged);
    KILN_CHECK(im != vocab_.end(),
               "tokenizer: BPE merge #{} '{} {}' makes '{}', which is not in the vocab", rank + 1,
               a, b, merged);
    merges_[pair_key(ia->second, ib->second)] = {static_cast<int32_t>(rank), im->second};
  }
  if (options_.unk_token) {
    // HF fails at encode time on a missing unk; failing at load is clearer.
    KILN_CHECK(vocab_.contains(*options_.unk_token),
               "tokenizer: BPE unk_token '{}' is not in the vocab", *options_.unk_token);
  }
}

void BpeModel::clear_cache() const {
  std::unique_lock lock(cache_mutex_);
  cache_.clear();
}

void BpeModel::tokenize(std::string_view word, std::vector<int32_t>& ids) const {
  if (word.empty()) return;
  if (options_.ignore_merges) {
    auto it = vocab_.find(word);
    if (it != vocab_.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    std::shared_lock lock(cache_mutex_);
    auto it = cache_.find(word);
    if (it != cache_.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = ids.size();
  merge_word(word, ids);
  if (cacheable) {
    std::unique_lock lock(cache_mutex_);
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    cache_.emplace(std::string(word), std::vector<int32_t>(ids.begin() + first, ids.end()));
  }
}

void BpeModel::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  std::vector<Symbol> symbols;
  symbols.reserve(word.size());
  auto add = [&](int32_t id) {
    const int32_t n = static_cast<int32_t>(symbols.size());
    symbols.push_back({id, n - 1, n + 1, true});
  };
  const std::string& prefix = options_.continuing_subword_prefix;
  const std::string& suffix = options_.end_of_word_suffix;
  const bool affixes = !prefix.empty() || !suffix.empty();
  std::optional<int32_t> unk_id;
  if (options_.unk_token) unk_id = vocab_.find(*options_.unk_token)->second;
  bool pending_unk = false;
  std::string piece;
  for (size_t i = 0; i < word.size();) {
    const size_t n = utf8_char_len(static_cast<unsigned char>(word[i]));
    std::string_view s = word.substr(i, n);
    const bool is_first = i == 0;
    i += n;
    if (affixes) {
      piece.clear();
      if (!is_first) piece.append(prefix);
      piece.append(s);
      if (i >= word.size()) piece.append(suffix);
      s = piece;
    }
    auto it = vocab_.find(s);
    if (it != vocab_.end()) {
      if (pending_unk) add(*unk_id), pending_unk = false;
      add(it->second);
      continue;
    }
    if (options_.byte_fallback) {
      bool all = true;
      for (unsigned char b : s) all = all && byte_ids_[b] >= 0;
      if (all) {
        for (unsigned char b : s) add(byte_ids_[b]);
        continue;
      }
    }
    if (unk_id) {
      if (pending_unk && !options_.fuse_unk) add(*unk_id);
      pending_unk = true;
    }
  }
  if (pending_unk) add(*unk_id);
  if (symbols.empty()) return;
  symbols.back().next = -1;

  std::vector<Candidate> heap;
  heap.reserve(symbols.size());
  for (size_t p = 0; p + 1 < symbols.size(); ++p) {
    auto it = merges_.find(pair_key(symbols[p].id, symbols[p + 1].id));
    if (it != merges_.end()) {
      heap.push_back({it->second.first, static_cast<int32_t>(p), it->second.second});
    }
  }
  std::make_heap(heap.begin(), heap.end(), CandidateAfter());
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), CandidateAfter());
    const Candidate top = heap.back();
    heap.pop_back();
    Symbol& cur = symbols[top.pos];
    if (!cur.alive || cur.next < 0) continue;
    const int32_t next_pos = cur.next;
    const Symbol right = symbols[next_pos];
    auto it = merges_.find(pair_key(cur.id, right.id));
    if (it == merges_.end() || it->second.second != top.new_id) continue;  // stale entry
    cur.id = top.new_id;
    cur.next = right.next;
    symbols[next_pos].alive = false;
    if (right.next >= 0) symbols[right.next].prev = top.pos;
    if (cur.prev >= 0) {
      auto ip = merges_.find(pair_key(symbols[cur.prev].id, cur.id));
      if (ip != merges_.end()) {
        heap.push_back({ip->second.first, cur.prev, ip->second.second});
        std::push_heap(heap.begin(), heap.end(), CandidateAfter());
      }
    }
    if (cur.next >= 0) {
      auto in = merges_.find(pair_key(cur.id, symbols[cur.next].id));
      if (in != merges_.end()) {
        heap.push_back({in->second.first, top.pos, in->second.second});
        std::push_heap(heap.begin(), heap.end(), CandidateAfter());
      }
    }
  }
  for (int32_t p = 0; p >= 0; p = symbols[p].next) out.push_back(symbols[p].id);
}

namespace {

std::vector<std::pair<std::string, std::string>> parse_merges(const nlohmann::json& merges) {
  KILN_CHECK(merges.is_array(), "tokenizer: BPE \"merges\" must be a list");
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const nlohmann::json& m = merges[i];
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      KILN_CHECK(space != std::string::npos && space > 0 && space + 1 < s.size(),
                 "tokenizer: BPE merge #{} '{}' is not \"left right\"", i + 1, s);
      out.emplace_back(s.substr(0, space), s.substr(space + 1));
    } else {
      KILN_CHECK(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(),
                 "tokenizer: BPE merge #{} must be \"a b\" or [\"a\", \"b\"]", i + 1);
      out.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    }
  }
  return out;
}

std::string string_or_empty(const nlohmann::json& config, const char* key) {
  auto it = config.find(key);
  return it == config.end() || it->is_null() ? std::string() : it->get<std::string>();
}

}  // namespace

std::unique_ptr<Model> make_bpe_model(const nlohmann::json& config) {
  KILN_CHECK(config.contains("vocab"), "tokenizer: BPE model needs a \"vocab\" object");
  Vocab vocab = parse_vocab_object(config["vocab"]);
  BpeOptions options;
  if (config.contains("unk_token") && !config["unk_token"].is_null()) {
    options.unk_token = config["unk_token"].get<std::string>();
  }
  options.continuing_subword_prefix = string_or_empty(config, "continuing_subword_prefix");
  options.end_of_word_suffix = string_or_empty(config, "end_of_word_suffix");
  options.fuse_unk = config.value("fuse_unk", false);
  options.byte_fallback = config.value("byte_fallback", false);
  options.ignore_merges = config.value("ignore_merges", false);
  const nlohmann::json empty = nlohmann::json::array();
  return std::make_unique<BpeModel>(
      std::move(vocab), parse_merges(config.contains("merges") ? config["merges"] : empty),
      std::move(options));
}

}  // namespace kiln::tok
