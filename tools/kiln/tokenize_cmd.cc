// `kiln tokenize`: encode text to ids or decode ids to text with a model's tokenizer.
//   --input_text "..."       one JSON list of ids
//   --input_file F.jsonl     one JSON string per line in, one JSON list per line out (batch mode);
//                            with --decode, one JSON list of ids per line in, one JSON string out
//   --decode --input_ids 1,2 the text as one JSON string
// Errors are thrown as kiln::Error; main() prints them.
#include <cctype>
#include <climits>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "core/check.h"
#include "tokenizer/tokenizer.h"

namespace kiln::cli {

namespace {

struct TokenizeOptions {
  std::string tokenizer_dir;
  std::string input_text;
  std::string input_file;
  std::string input_ids;
  bool decode = false;
  bool no_special_tokens = false;
  bool skip_special_tokens = false;
};

std::unique_ptr<tok::Tokenizer> load(const std::string& path) {
  if (std::filesystem::is_regular_file(path)) return tok::Tokenizer::from_file(path);
  return tok::Tokenizer::from_dir(path);
}

std::string ids_json(const std::vector<int32_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out += ", ";
    out += std::to_string(ids[i]);
  }
  return out + "]";
}

std::string text_json(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<int32_t> parse_ids(const std::string& csv) {
  std::vector<int32_t> ids;
  size_t pos = 0;
  while (pos < csv.size()) {
    size_t end = csv.find(',', pos);
    if (end == std::string::npos) end = csv.size();
    std::string item = csv.substr(pos, end - pos);
    pos = end + 1;
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) item.pop_back();
    while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) {
      item.erase(0, 1);
    }
    if (item.empty()) continue;
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    KILN_CHECK(used == item.size() && v >= INT32_MIN && v <= INT32_MAX,
               "tokenize: --input_ids: '{}' is not an integer id", item);
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}

void run_file(const tok::Tokenizer& tokenizer, const TokenizeOptions& o) {
  std::ifstream in(o.input_file, std::ios::binary);
  KILN_CHECK(in.good(), "tokenize: cannot open --input_file {}", o.input_file);
  std::string line;
  size_t line_no = 0;
  std::string out;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      KILN_FAIL("tokenize: {} line {}: not JSON: {}", o.input_file, line_no, e.what());
    }
    if (o.decode) {
      KILN_CHECK(j.is_array(), "tokenize: {} line {}: expected a JSON list of ids", o.input_file,
                 line_no);
      std::vector<int32_t> ids;
      for (const auto& v : j) {
        KILN_CHECK(v.is_number_integer(), "tokenize: {} line {}: ids must be integers",
                   o.input_file, line_no);
        ids.push_back(v.get<int32_t>());
      }
      out += text_json(tokenizer.decode(ids, o.skip_special_tokens));
    } else {
      KILN_CHECK(j.is_string(), "tokenize: {} line {}: expected a JSON string", o.input_file,
                 line_no);
      out += ids_json(tokenizer.encode(j.get<std::string>(), !o.no_special_tokens));
    }
    out += '\n';
  }
  std::cout << out;
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto opts = std::make_shared<TokenizeOptions>();
  auto* sub = app.add_subcommand("tokenize", "Encode text to token ids (JSON list), or decode ids");
  sub->add_option("--tokenizer_dir", opts->tokenizer_dir,
                  "Folder with tokenizer.json (or vocab.json + merges.txt), or a tokenizer.json")
      ->required();
  CLI::Option* text_opt = sub->add_option("--input_text", opts->input_text, "Text to encode");
  CLI::Option* file_opt = sub->add_option(
      "--input_file", opts->input_file,
      "JSONL batch: one JSON string per line (with --decode: one JSON list of ids per line)");
  CLI::Option* ids_opt =
      sub->add_option("--input_ids", opts->input_ids, "Comma-separated ids to decode (--decode)");
  sub->add_flag("--decode", opts->decode, "Decode ids to text (prints a JSON string)");
  sub->add_flag("--no_special_tokens", opts->no_special_tokens,
                "Do not add BOS/EOS or other template tokens when encoding");
  sub->add_flag("--skip_special_tokens", opts->skip_special_tokens,
                "Drop special tokens when decoding");
  sub->callback([opts, text_opt, file_opt, ids_opt] {
    const TokenizeOptions& o = *opts;
    const size_t inputs = text_opt->count() + file_opt->count() + ids_opt->count();
    KILN_CHECK(inputs == 1,
               "tokenize: give exactly one of --input_text, --input_file, --input_ids");
    KILN_CHECK(!text_opt->count() || !o.decode,
               "tokenize: --decode takes --input_ids or --input_file");
    KILN_CHECK(!ids_opt->count() || o.decode, "tokenize: --input_ids needs --decode");
    const std::unique_ptr<tok::Tokenizer> tokenizer = load(o.tokenizer_dir);
    if (file_opt->count()) {
      run_file(*tokenizer, o);
    } else if (o.decode) {
      std::cout << text_json(tokenizer->decode(parse_ids(o.input_ids), o.skip_special_tokens))
                << "\n";
    } else {
      std::cout << ids_json(tokenizer->encode(o.input_text, !o.no_special_tokens)) << "\n";
    }
  });
}

}  // namespace kiln::cli
