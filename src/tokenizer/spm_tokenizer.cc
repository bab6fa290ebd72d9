// SentencePiece `.model` tokenizers (see spm_tokenizer.h). The reference is transformers 4's
// sentencepiece-backed classes (tokenization_t5.py, tokenization_mbart.py,
// tokenization_mbart50.py, tokenization_marian.py and PreTrainedTokenizer's tokenize/_decode):
// transformers 5 rebuilds T5/mBART from a .model as a `tokenizers` pipeline (mBART's BPE model as a
// Unigram), which SentencePiece itself does not do.
#include "tokenizer/spm_tokenizer.h"

#include <sentencepiece_processor.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/check.h"
#include "tokenizer/unicode.h"

namespace kiln::tok {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

constexpr std::string_view kUnderline = "\xE2\x96\x81";  // ▁

const char* const kMBartCodes[] = {"ar_AR", "cs_CZ", "de_DE", "en_XX", "es_XX", "et_EE", "fi_FI",
                                   "fr_XX", "gu_IN", "hi_IN", "it_IT", "ja_XX", "kk_KZ", "ko_KR",
                                   "lt_LT", "lv_LV", "my_MM", "ne_NP", "nl_XX", "ro_RO", "ru_RU",
                                   "si_LK", "tr_TR", "vi_VN", "zh_CN"};
const char* const kMBart50Extra[] = {"af_ZA", "az_AZ", "bn_IN", "fa_IR", "he_IL", "hr_HR", "id_ID",
                                     "ka_GE", "km_KH", "mk_MK", "ml_IN", "mn_MN", "mr_IN", "pl_PL",
                                     "ps_AF", "pt_XX", "sv_SE", "sw_KE", "ta_IN", "te_IN", "th_TH",
                                     "tl_XX", "uk_UA", "ur_PK", "xh_ZA", "gl_ES", "sl_SI"};

std::unique_ptr<sentencepiece::SentencePieceProcessor> load_spm(const fs::path& path) {
  KILN_CHECK(fs::is_regular_file(path), "tokenizer: {} does not exist", path.string());
  auto sp = std::make_unique<sentencepiece::SentencePieceProcessor>();
  const auto status = sp->Load(path.string());
  KILN_CHECK(status.ok(), "tokenizer: malformed SentencePiece model {}: {}", path.string(),
             status.ToString());
  KILN_CHECK(sp->GetPieceSize() > 0, "tokenizer: SentencePiece model {} has no pieces",
             path.string());
  return sp;
}

json read_json(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), "tokenizer: cannot open {}", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::exception& e) {
    KILN_FAIL("tokenizer: malformed JSON in {}: {}", path.string(), e.what());
  }
}

// {"piece": id, ...} (Marian's vocab.json / target_vocab.json).
Vocab read_piece_vocab(const fs::path& path) {
  const json j = read_json(path);
  KILN_CHECK(j.is_object() && !j.empty(), "tokenizer: {} must hold a non-empty JSON object",
             path.string());
  Vocab v;
  for (const auto& [piece, id] : j.items()) {
    KILN_CHECK(
        id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < (int64_t{1} << 30),
        "tokenizer: {}: id of '{}' must be a non-negative integer", path.string(), piece);
    v.emplace(piece, id.get<int32_t>());
  }
  return v;
}

// A tokenizer_config.json special token: "text", {"content": "text"}, or null (none).
std::optional<std::string> token_text(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string()) {
    return j["content"].get<std::string>();
  }
  return std::nullopt;
}

// Python's str.isspace().
bool py_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// Python's str.strip() with no arguments (text: valid UTF-8).
std::string py_strip(std::string_view s) {
  size_t b = 0;
  while (b < s.size()) {
    char32_t cp;
    const size_t n = decode_utf8(s, b, &cp);
    if (!py_space(cp)) break;
    b += n;
  }
  size_t e = s.size();
  while (e > b) {
    size_t start = e - 1;
    while (start > b && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
    char32_t cp;
    decode_utf8(s, start, &cp);
    if (!py_space(cp)) break;
    e = start;
  }
  return std::string(s.substr(b, e - b));
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
    s.replace(pos, from.size(), to);
  }
}

// PreTrainedTokenizerBase.clean_up_tokenization.
std::string clean_up_tokenization(std::string s) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (const auto& [from, to] : kRules) replace_all(s, from, to);
  return s;
}

}  // namespace

SpmTokenizer::SpmTokenizer() = default;
SpmTokenizer::~SpmTokenizer() = default;

void SpmTokenizer::add_token(AddedToken t) {
  KILN_CHECK(t.id >= 0 && t.id < (1 << 30), "tokenizer: added token '{}' has invalid id {}",
             t.content, t.id);
  encoder_[t.content] = t.id;
  if (static_cast<size_t>(t.id) >= id_to_token_.size()) id_to_token_.resize(t.id + 1);
  id_to_token_[t.id] = t.content;
  added_.add(std::move(t));
}

std::unique_ptr<SpmTokenizer> SpmTokenizer::from_dir(const fs::path& dir, const json& config) {
  std::string cls = config.is_object() ? config.value("tokenizer_class", std::string()) : "";
  if (cls.ends_with("Fast")) cls.resize(cls.size() - 4);
  const bool has_t5 = fs::is_regular_file(dir / "spiece.model");
  const bool has_mbart = fs::is_regular_file(dir / "sentencepiece.bpe.model");
  const bool has_marian = fs::is_regular_file(dir / "source.spm");
  Kind kind;
  if (cls == "T5Tokenizer" || (cls.empty() && has_t5)) {
    kind = Kind::kT5;
  } else if (cls == "MBartTokenizer" || (cls.empty() && has_mbart)) {
    kind = Kind::kMBart;
  } else if (cls == "MBart50Tokenizer") {
    kind = Kind::kMBart50;
  } else if (cls == "MarianTokenizer" || (cls.empty() && has_marian)) {
    kind = Kind::kMarian;
  } else if (has_t5 || has_mbart || has_marian) {
    KILN_FAIL(
        "tokenizer: {} holds SentencePiece files but tokenizer_class '{}' is not supported "
        "without tokenizer.json (supported: T5Tokenizer, MBartTokenizer, MBart50Tokenizer, "
        "MarianTokenizer)",
        dir.string(), cls);
  } else {
    return nullptr;
  }
  const json& cfg = config.is_object() ? config : json::object();

  std::unique_ptr<SpmTokenizer> tok(new SpmTokenizer());
  tok->kind_ = kind;
  tok->clean_up_spaces_ = cfg.value("clean_up_tokenization_spaces", false);

  // Special-token attributes: the class's defaults, replaced by the config's (null: none).
  std::vector<std::pair<const char*, std::string>> defaults;
  if (kind == Kind::kMarian) {
    defaults = {{"unk_token", "<unk>"}, {"eos_token", "</s>"}, {"pad_token", "<pad>"}};
  } else if (kind == Kind::kT5) {
    defaults = {{"eos_token", "</s>"}, {"unk_token", "<unk>"}, {"pad_token", "<pad>"}};
  } else {
    defaults = {{"bos_token", "<s>"},    {"eos_token", "</s>"},  {"sep_token", "</s>"},
                {"cls_token", "<s>"},    {"unk_token", "<unk>"}, {"pad_token", "<pad>"},
                {"mask_token", "<mask>"}};
  }
  std::unordered_map<std::string, std::string> special;  // attribute -> token
  for (const auto& [key, value] : defaults) {
    if (!cfg.contains(key)) {
      special[key] = value;
    } else if (auto t = token_text(cfg[key])) {
      special[key] = *t;
    }
  }
  auto special_of = [&](const char* key) -> std::string {
    auto it = special.find(key);
    KILN_CHECK(it != special.end(), "tokenizer: {} needs a {}",
               cls.empty() ? "this tokenizer" : cls, key);
    return it->second;
  };
  std::vector<std::string> additional;
  if (cfg.contains("additional_special_tokens") && cfg["additional_special_tokens"].is_array()) {
    for (const json& j : cfg["additional_special_tokens"]) {
      if (auto t = token_text(j)) additional.push_back(*t);
    }
  }

  std::vector<AddedToken> class_added;  // the class's own added tokens, before the config's
  auto special_token = [](std::string content, int32_t id) {
    AddedToken t;
    t.content = std::move(content);
    t.id = id;
    t.special = true;
    return t;
  };

  if (kind == Kind::kT5 || kind == Kind::kMBart || kind == Kind::kMBart50) {
    const fs::path model = dir / (kind == Kind::kT5 ? "spiece.model" : "sentencepiece.bpe.model");
    KILN_CHECK(fs::is_regular_file(model), "tokenizer: {} needs {}",
               cls.empty() ? "T5Tokenizer" : cls, model.string());
    tok->source_ = load_spm(model);
  }
  if (kind == Kind::kT5) {
    const auto& sp = *tok->source_;
    const int32_t n = sp.GetPieceSize();
    const json& legacy = cfg.contains("legacy") ? cfg["legacy"] : json();
    KILN_CHECK(legacy.is_null() || legacy.get<bool>(),
               "tokenizer: T5Tokenizer with legacy=false is not supported (only the default "
               "legacy behaviour)");
    tok->strip_first_prefix_ = cfg.value("add_prefix_space", true);
    for (int32_t i = 0; i < n; ++i) {
      tok->id_to_token_.push_back(sp.IdToPiece(i));
      tok->encoder_.emplace(sp.IdToPiece(i), i);
    }
    tok->unk_id_ = sp.unk_id();
    tok->base_vocab_size_ = n;
    for (const char* key : {"pad_token", "eos_token", "unk_token"}) {
      auto it = special.find(key);
      if (it == special.end()) continue;
      const int id = sp.PieceToId(it->second);
      KILN_CHECK(id != sp.unk_id() || sp.IdToPiece(id) == it->second,
                 "tokenizer: T5 special token '{}' is not in spiece.model", it->second);
      class_added.push_back(special_token(it->second, id));
    }
    const int extra_ids = cfg.value("extra_ids", 100);
    bool has_extra = false;
    for (const std::string& a : additional) has_extra |= a.find("<extra_id_") != std::string::npos;
    if (!has_extra) {
      for (int i = 0; i < extra_ids; ++i) additional.push_back(fmt::format("<extra_id_{}>", i));
    }
    for (int i = 0; i < extra_ids; ++i) {
      AddedToken t = special_token(fmt::format("<extra_id_{}>", i), n - 1 + extra_ids - i);
      t.lstrip = t.rstrip = true;
      class_added.push_back(std::move(t));
    }
    tok->suffix_ = {sp.PieceToId(special_of("eos_token"))};
    tok->t5_eos_once_ = true;
  } else if (kind == Kind::kMBart || kind == Kind::kMBart50) {
    const auto& sp = *tok->source_;
    const int32_t n = sp.GetPieceSize();
    constexpr int32_t kOffset = 1;
    std::vector<std::string> codes(std::begin(kMBartCodes), std::end(kMBartCodes));
    if (kind == Kind::kMBart50)
      codes.insert(codes.end(), std::begin(kMBart50Extra), std::end(kMBart50Extra));
    const int32_t ncodes = static_cast<int32_t>(codes.size());
    tok->id_to_token_.resize(n + ncodes + kOffset + 1);
    for (int32_t i = 1; i < n; ++i) {  // spm id i -> i + 1; spm's <unk> (0) -> fairseq <unk>
      tok->id_to_token_[i + kOffset] = sp.IdToPiece(i);
      tok->encoder_.emplace(sp.IdToPiece(i), i + kOffset);
    }
    tok->unk_id_ = 3;
    tok->base_vocab_size_ = n + ncodes + kOffset + 1;
    const std::pair<const char*, int32_t> fairseq[] = {
        {"<s>", 0}, {"<pad>", 1}, {"</s>", 2}, {"<unk>", 3}};
    for (const auto& [content, id] : fairseq) class_added.push_back(special_token(content, id));
    std::vector<std::string> extra = std::move(additional);
    additional = codes;
    for (std::string& a : extra) {
      if (std::find(additional.begin(), additional.end(), a) == additional.end()) {
        additional.push_back(std::move(a));
      }
    }
    for (int32_t i = 0; i < ncodes; ++i)
      class_added.push_back(special_token(codes[i], n + i + kOffset));
    AddedToken mask = special_token(special_of("mask_token"), n + ncodes + kOffset);
    mask.lstrip = true;
    class_added.push_back(std::move(mask));
    std::string src_lang = "en_XX";
    if (cfg.contains("src_lang") && cfg["src_lang"].is_string()) src_lang = cfg["src_lang"];
    auto code = std::find(codes.begin(), codes.end(), src_lang);
    KILN_CHECK(code != codes.end(), "tokenizer: src_lang '{}' is not a {} language code", src_lang,
               kind == Kind::kMBart ? "mBART" : "mBART-50");
    const int32_t lang_id = n + static_cast<int32_t>(code - codes.begin()) + kOffset;
    if (kind == Kind::kMBart) {
      tok->suffix_ = {2, lang_id};  // [</s>, src_lang_code]
    } else {
      tok->prefix_ = {lang_id};  // [src_lang_code] ... [</s>]
      tok->suffix_ = {2};
    }
  } else {  // Marian
    for (const char* f : {"source.spm", "target.spm", "vocab.json"}) {
      KILN_CHECK(fs::is_regular_file(dir / f), "tokenizer: MarianTokenizer needs {}",
                 (dir / f).string());
    }
    tok->source_ = load_spm(dir / "source.spm");
    tok->target_ = load_spm(dir / "target.spm");
    tok->encoder_ = read_piece_vocab(dir / "vocab.json");
    const bool separate = cfg.value("separate_vocabs", false);
    Vocab decoder_vocab;
    if (separate) {
      KILN_CHECK(fs::is_regular_file(dir / "target_vocab.json"),
                 "tokenizer: MarianTokenizer with separate_vocabs needs {}",
                 (dir / "target_vocab.json").string());
      decoder_vocab = read_piece_vocab(dir / "target_vocab.json");
    }
    const Vocab& dec = separate ? decoder_vocab : tok->encoder_;
    const std::string unk = special_of("unk_token");
    auto unk_it = tok->encoder_.find(unk);
    KILN_CHECK(unk_it != tok->encoder_.end(), "tokenizer: {} has no '{}'",
               (dir / "vocab.json").string(), unk);
    tok->unk_id_ = unk_it->second;
    tok->base_vocab_size_ = static_cast<int32_t>(tok->encoder_.size());
    int32_t max_id = tok->base_vocab_size_ - 1;
    for (const auto& [piece, id] : dec) max_id = std::max(max_id, id);
    tok->id_to_token_.assign(max_id + 1, unk);  // decoder.get(id, unk_token)
    for (const auto& [piece, id] : dec) tok->id_to_token_[id] = piece;
    for (const auto& [key, content] : special) {
      auto it = tok->encoder_.find(content);
      KILN_CHECK(it != tok->encoder_.end(), "tokenizer: {} has no {} '{}'",
                 (dir / "vocab.json").string(), key, content);
      class_added.push_back(special_token(content, it->second));
    }
    tok->suffix_ = {tok->encoder_.at(special_of("eos_token"))};
  }

  for (AddedToken& t : class_added) tok->add_token(std::move(t));
  // The saved added_tokens_decoder (ids and flags as the class saved them) has the last word.
  try {
    if (cfg.contains("added_tokens_decoder") && cfg["added_tokens_decoder"].is_object()) {
      for (const auto& [id_text, entry] : cfg["added_tokens_decoder"].items()) {
        auto content = token_text(entry);
        KILN_CHECK(content.has_value(), "tokenizer: added_tokens_decoder entry {} has no content",
                   id_text);
        AddedToken t;
        t.content = *content;
        t.id = std::stoi(id_text);
        t.special = entry.value("special", false);
        t.lstrip = entry.value("lstrip", false);
        t.rstrip = entry.value("rstrip", false);
        t.single_word = entry.value("single_word", false);
        t.normalized = false;  // the slow classes match added tokens in the raw text
        if (kind == Kind::kMarian && static_cast<size_t>(t.id) < tok->id_to_token_.size()) {
          // Marian's decoder is the (target) vocab; an added token only changes encoding.
          const std::string keep = tok->id_to_token_[t.id];
          tok->add_token(std::move(t));
          tok->id_to_token_[std::stoi(id_text)] = keep;
        } else {
          tok->add_token(std::move(t));
        }
      }
    }
  } catch (const json::exception& e) {
    KILN_FAIL("tokenizer: malformed added_tokens_decoder: {}", e.what());
  } catch (const std::logic_error& e) {
    KILN_FAIL("tokenizer: malformed added_tokens_decoder id: {}", e.what());
  }
  if (kind == Kind::kMarian) {
    tok->id_to_token_.resize(std::max<size_t>(tok->id_to_token_.size(), tok->encoder_.size()),
                             special_of("unk_token"));
  }
  tok->added_.build(nullptr);
  tok->vocab_size_ =
      static_cast<int32_t>(kind == Kind::kMarian ? tok->encoder_.size() : tok->id_to_token_.size());

  for (const auto& [key, content] : special) tok->special_tokens_.insert(content);
  for (const std::string& a : additional) tok->special_tokens_.insert(a);
  // HF _decode: added tokens that are not special, and additional special tokens above the
  // base vocabulary, are decoded on their own (T5's sentinels).
  for (const std::string& a : additional) {
    auto it = tok->encoder_.find(a);
    if (it != tok->encoder_.end() && it->second >= tok->base_vocab_size_)
      tok->legacy_added_.insert(a);
  }
  for (int32_t id = 0; id < static_cast<int32_t>(tok->id_to_token_.size()); ++id) {
    if (const AddedToken* t = tok->added_.find(id)) {
      if (!tok->special_tokens_.contains(t->content)) tok->legacy_added_.insert(t->content);
    }
  }
  return tok;
}

std::vector<int32_t> SpmTokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::string owned;
  if (!is_valid_utf8(text)) {
    owned = utf8_lossy(text);
    text = owned;
  }
  std::vector<int32_t> ids;
  std::vector<std::string> pieces;
  auto push_piece = [&](const std::string& piece) {
    if (const AddedToken* t = added_.find(std::string_view(piece))) {
      ids.push_back(t->id);
    } else if (auto it = encoder_.find(piece); it != encoder_.end()) {
      ids.push_back(it->second);
    } else {
      ids.push_back(unk_id_);
    }
  };
  for (const TextSegment& seg : added_.split(text, /*normalized_pass=*/false)) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      continue;
    }
    std::string chunk(text.substr(seg.begin, seg.end - seg.begin));
    if (kind_ == Kind::kMarian && chunk.starts_with(">>")) {  // language code: >>fr<<
      const size_t end = chunk.find("<<");
      if (end != std::string::npos) {
        push_piece(chunk.substr(0, end + 2));
        chunk.erase(0, end + 2);
      }
    }
    pieces.clear();
    const auto status = source_->Encode(chunk, &pieces);
    KILN_CHECK(status.ok(), "tokenizer: SentencePiece encode failed: {}", status.ToString());
    for (const std::string& p : pieces) push_piece(p);
  }
  if (add_special_tokens) {
    if (t5_eos_once_ && !ids.empty() && ids.back() == suffix_.front()) return ids;
    ids.insert(ids.begin(), prefix_.begin(), prefix_.end());
    ids.insert(ids.end(), suffix_.begin(), suffix_.end());
  }
  return ids;
}

std::string SpmTokenizer::sp_decode(const std::vector<std::string>& pieces) const {
  const auto& sp = target_ ? *target_ : *source_;
  std::string out;
  const auto status = sp.Decode(pieces, &out);
  KILN_CHECK(status.ok(), "tokenizer: SentencePiece decode failed: {}", status.ToString());
  return out;
}

// The class's convert_tokens_to_string.
std::string SpmTokenizer::tokens_to_string(const std::vector<std::string>& tokens_in) const {
  std::vector<std::string> tokens = tokens_in;
  std::string out;
  switch (kind_) {
    case Kind::kMBart: {
      for (const std::string& t : tokens) out += t;
      replace_all(out, kUnderline, " ");
      return py_strip(out);
    }
    case Kind::kMarian: {
      std::vector<std::string> cur;
      for (const std::string& t : tokens) {
        if (special_tokens_.contains(t)) {
          out += sp_decode(cur) + t + " ";
          cur.clear();
        } else {
          cur.push_back(t);
        }
      }
      out += sp_decode(cur);
      replace_all(out, kUnderline, " ");
      return py_strip(out);
    }
    case Kind::kT5:
    case Kind::kMBart50: {
      if (kind_ == Kind::kT5 && strip_first_prefix_ && tokens[0].starts_with(kUnderline)) {
        tokens[0].erase(0, kUnderline.size());
      }
      std::vector<std::string> cur;
      bool prev_special = false;
      for (const std::string& t : tokens) {
        if (special_tokens_.contains(t)) {
          if (!prev_special) out += " ";
          out += sp_decode(cur) + t;
          prev_special = true;
          cur.clear();
        } else {
          cur.push_back(t);
          prev_special = false;
        }
      }
      out += sp_decode(cur);
      return py_strip(out);
    }
  }
  return out;
}

// PreTrainedTokenizer._decode (spaces_between_special_tokens=True).
std::string SpmTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::vector<std::string> sub_texts, current;
  for (int32_t id : ids) {
    KILN_CHECK(id >= 0 && id < static_cast<int32_t>(id_to_token_.size()),
               "tokenizer: cannot decode id {}: vocab size is {}", id, id_to_token_.size());
    const std::string& token = id_to_token_[id];
    if (skip_special_tokens && special_tokens_.contains(token)) continue;
    if (legacy_added_.contains(token)) {
      if (!current.empty()) {
        std::string s = tokens_to_string(current);
        if (!s.empty()) sub_texts.push_back(std::move(s));
        current.clear();
      }
      sub_texts.push_back(token);
    } else {
      current.push_back(token);
    }
  }
  if (!current.empty()) sub_texts.push_back(tokens_to_string(current));
  std::string text;
  for (size_t i = 0; i < sub_texts.size(); ++i) {
    if (i > 0) text.push_back(' ');
    text += sub_texts[i];
  }
  return clean_up_spaces_ ? clean_up_tokenization(std::move(text)) : text;
}

std::optional<int32_t> SpmTokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* t = added_.find(token)) return t->id;
  if (auto it = encoder_.find(token); it != encoder_.end()) return it->second;
  return std::nullopt;
}

std::string SpmTokenizer::id_to_token(int32_t id) const {
  KILN_CHECK(id >= 0 && id < static_cast<int32_t>(id_to_token_.size()),
             "tokenizer: id {} out of range [0, {})", id, id_to_token_.size());
  return id_to_token_[id];
}

}  // namespace kiln::tok
