// `kiln eval translate | summarize`: run a model over a JSONL of {"source", "reference"} records
// and score the outputs (translate: sacrebleu BLEU + chrF; summarize: rouge_score
// ROUGE-1/2/L/Lsum), optionally next to Hugging Face transformers' outputs for the same inputs
// (--compare_hf runs tools/eval_hf.py in a subprocess; both sides are scored by the same C++ metric
// code). `transcribe` (WER) comes with Whisper.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <tuple>

#include "commands.h"
#include "core/check.h"
#include "device_options.h"
#include "eval/bleu.h"
#include "eval/rouge.h"
#include "generation_flags.h"
#include "kiln/engine.h"
#include "tokenizer/tokenizer.h"

namespace kiln::cli {
namespace {

namespace fs = std::filesystem;

struct EvalArgs {
  std::string task;  // "translate" | "summarize"
  std::string dataset, source_field = "source", reference_field = "reference";
  std::optional<int64_t> max_samples;
  std::string prefix, suffix, src_lang, tgt_lang;
  int64_t max_input_length = 0;
  bool use_stemmer = false;
  std::string model_dir, engine_dir, tokenizer_dir, output_json;
  bool no_add_special_tokens = false;
  GenerationFlags gen;  // as `kiln run`; unset: the model's generation_config.json, as HF
  int64_t batch_size = 8;
  EngineOptions engine;  // scheduler flags (add_scheduler_options)
  DeviceOptions device;
  // HF comparison.
  bool compare_hf = false;
  std::string python = "python3", hf_script, hf_model_dir;
};

struct Sample {
  int64_t line = 0;
  std::string source, reference;
  std::vector<int32_t> input_ids;
  std::vector<int32_t> output_ids;
  std::string output, finish_reason;
  std::optional<std::vector<int32_t>> hf_ids;
  std::optional<std::string> hf_output;
};

// A field by name; "a.b" also reaches into nested objects ({"translation": {"de": ...}}).
const nlohmann::json* find_field(const nlohmann::json& obj, const std::string& name) {
  if (auto it = obj.find(name); it != obj.end()) return &*it;
  const nlohmann::json* cur = &obj;
  std::stringstream ss(name);
  std::string part;
  while (std::getline(ss, part, '.')) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(part);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return cur == &obj ? nullptr : cur;
}

std::vector<Sample> read_jsonl(const EvalArgs& a) {
  KILN_CHECK(!a.dataset.empty(), "give the data with --dataset FILE.jsonl");
  std::ifstream f(a.dataset);
  KILN_CHECK(f.good(), "--dataset: cannot open '{}'", a.dataset);
  std::vector<Sample> out;
  std::string line;
  int64_t lineno = 0;
  while (std::getline(f, line)) {
    ++lineno;
    if (a.max_samples && static_cast<int64_t>(out.size()) >= *a.max_samples) break;
    if (line.find_first_not_of(" \t\r\n") == std::string::npos) continue;  // blank line
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error& e) {
      KILN_FAIL("{}:{}: not valid JSON: {}", a.dataset, lineno, e.what());
    }
    KILN_CHECK(j.is_object(), "{}:{}: expected a JSON object per line, got {}", a.dataset, lineno,
               j.type_name());
    Sample s;
    s.line = lineno;
    for (auto [field, flag, dst] :
         {std::tuple{&a.source_field, "--source_field", &s.source},
          std::tuple{&a.reference_field, "--reference_field", &s.reference}}) {
      const nlohmann::json* v = find_field(j, *field);
      KILN_CHECK(v != nullptr, "{}:{}: missing field '{}' (choose the field with {})", a.dataset,
                 lineno, *field, flag);
      KILN_CHECK(v->is_string(), "{}:{}: field '{}' must be a string, got {}", a.dataset, lineno,
                 *field, v->type_name());
      *dst = v->get<std::string>();
    }
    out.push_back(std::move(s));
  }
  KILN_CHECK(!f.bad(), "--dataset: error reading '{}'", a.dataset);
  KILN_CHECK(!out.empty(), "--dataset '{}' has no samples", a.dataset);
  return out;
}

// decode(ids, skip_special_tokens=true), dropping ids the tokenizer does not know (models whose
// embedding is padded past the vocabulary, e.g. T5's 32128 rows for 32100 tokens).
std::string safe_decode(const tok::Tokenizer& tk, const std::vector<int32_t>& ids) {
  std::vector<int32_t> known;
  for (int32_t id : ids)
    if (id >= 0 && id < tk.vocab_size()) known.push_back(id);
  return tk.decode(known, /*skip_special_tokens=*/true);
}

// mBART-style language codes: "en_XX", "de_DE" (and M2M100's "__en__").
bool is_lang_code(const std::string& t) {
  if (t.size() >= 5 && t.starts_with("__") && t.ends_with("__")) return true;
  const size_t u = t.find('_');
  if (u == std::string::npos || (u != 2 && u != 3) || t.size() != u + 3) return false;
  for (size_t i = 0; i < u; ++i)
    if (t[i] < 'a' || t[i] > 'z') return false;
  return std::isupper(static_cast<unsigned char>(t[u + 1])) &&
         std::isupper(static_cast<unsigned char>(t[u + 2]));
}

// Token ids of one source: special tokens as the tokenizer adds them, the language code among
// them swapped for --src_lang (as HF's tokenizer.src_lang), and the text truncated so that the
// whole fits --max_input_length (as HF's truncation=True: the special tokens stay).
std::vector<int32_t> encode_source(const tok::Tokenizer& tk, const std::string& text,
                                   bool add_special, std::optional<int32_t> src_lang_id,
                                   const std::string& src_lang, int64_t max_len) {
  std::vector<int32_t> plain = tk.encode(text, false);
  std::vector<int32_t> pre, suf;
  if (add_special) {
    const std::vector<int32_t> full = tk.encode(text, true);
    bool split = false;
    for (size_t p = 0; !split && p + plain.size() <= full.size(); ++p) {
      if (std::equal(plain.begin(), plain.end(), full.begin() + p)) {
        pre.assign(full.begin(), full.begin() + p);
        suf.assign(full.begin() + p + plain.size(), full.end());
        split = true;
      }
    }
    if (!split) plain = full;  // special tokens not simply around the text: keep as is
  }
  if (src_lang_id) {
    bool swapped = false;
    for (auto* part : {&pre, &suf})
      for (int32_t& id : *part)
        if (is_lang_code(tk.id_to_token(id))) id = *src_lang_id, swapped = true;
    KILN_CHECK(swapped,
               "--src_lang {}: the tokenizer adds no language code to the source (is this "
               "an mBART-style tokenizer?)",
               src_lang);
  }
  if (max_len > 0 && static_cast<int64_t>(pre.size() + plain.size() + suf.size()) > max_len) {
    const int64_t keep =
        std::max<int64_t>(0, max_len - static_cast<int64_t>(pre.size() + suf.size()));
    plain.resize(std::min<size_t>(plain.size(), keep));
  }
  std::vector<int32_t> ids = pre;
  ids.insert(ids.end(), plain.begin(), plain.end());
  ids.insert(ids.end(), suf.begin(), suf.end());
  return ids;
}

SamplingOptions sampling_options(const EvalArgs& a, std::optional<int32_t> forced_bos) {
  SamplingOptions so = a.gen.to_sampling_options();
  so.forced_bos_token_id = forced_bos;
  return so;
}

// The generation settings as HF generate() kwargs (only those given; the rest: generation_config).
nlohmann::json hf_generation_kwargs(const EvalArgs& a, std::optional<int32_t> forced_bos) {
  nlohmann::json g = a.gen.to_hf_kwargs();
  if (forced_bos) g["forced_bos_token_id"] = *forced_bos;
  return g;
}

std::string find_hf_script(const EvalArgs& a) {
  if (!a.hf_script.empty()) return a.hf_script;
  if (const char* env = std::getenv("KILN_EVAL_HF_SCRIPT")) return env;
  std::vector<fs::path> candidates;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path().parent_path() / "tools" / "eval_hf.py");  // build/kiln
    candidates.push_back(exe.parent_path() / "tools" / "eval_hf.py");
  }
  candidates.push_back(fs::current_path() / "tools" / "eval_hf.py");
  for (const fs::path& p : candidates)
    if (fs::is_regular_file(p, ec)) return p.string();
  return {};
}

// Runs argv; returns the exit status (127: could not start).
int run_process(const std::vector<std::string>& args) {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    dup2(STDERR_FILENO, STDOUT_FILENO);  // the helper's chatter goes to our stderr
    std::vector<char*> argv;
    for (const std::string& s : args) argv.push_back(const_cast<char*>(s.c_str()));
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return 127;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Fills hf_ids / hf_output; returns a reason when HF could not run (kiln continues alone).
std::optional<std::string> run_hf(const EvalArgs& a, const std::string& tokenizer_dir,
                                  std::optional<int32_t> forced_bos, std::vector<Sample>& samples,
                                  const tok::Tokenizer& tk, std::string& hf_version) {
  const std::string model = !a.hf_model_dir.empty() ? a.hf_model_dir : a.model_dir;
  if (model.empty())
    return "--compare_hf needs a Hugging Face folder: --model_dir, or --hf_model_dir with "
           "--engine_dir";
  const std::string script = find_hf_script(a);
  if (script.empty())
    return "tools/eval_hf.py not found (give --hf_script or set KILN_EVAL_HF_SCRIPT)";
  std::error_code ec;
  fs::path dir = fs::temp_directory_path(ec);
  if (ec) dir = ".";
  dir /= "kiln_eval_hf_" + std::to_string(getpid());
  fs::create_directories(dir, ec);
  const fs::path in = dir / "request.json", out = dir / "outputs.json";
  nlohmann::json req = {{"model_dir", model},
                        {"tokenizer_dir", tokenizer_dir},
                        {"device", a.device.device},
                        {"dtype", a.device.dtype},
                        {"seed", a.gen.seed},
                        {"generation", hf_generation_kwargs(a, forced_bos)},
                        {"inputs", nlohmann::json::array()}};
  for (const Sample& s : samples) req["inputs"].push_back(s.input_ids);
  {
    std::ofstream f(in);
    f << req.dump() << "\n";
    if (!f.good()) return "cannot write " + in.string();
  }
  std::fprintf(stderr, "kiln: --compare_hf: running %s %s on %zu samples\n", a.python.c_str(),
               script.c_str(), samples.size());
  const int rc =
      run_process({a.python, script, "--request", in.string(), "--output", out.string()});
  std::optional<std::string> why;
  if (rc == 127) {
    why = "'" + a.python + "' could not be run (give --python)";
  } else if (rc == 3) {
    why = "transformers / torch are not installed for " + a.python;
  } else if (rc != 0) {
    why = "tools/eval_hf.py failed (exit code " + std::to_string(rc) + "; see its output above)";
  } else {
    try {
      std::ifstream f(out);
      const nlohmann::json j = nlohmann::json::parse(f);
      const auto& outs = j.at("outputs");
      if (outs.size() != samples.size()) throw std::runtime_error("wrong number of outputs");
      for (size_t i = 0; i < samples.size(); ++i) {
        samples[i].hf_ids = outs[i].at("ids").get<std::vector<int32_t>>();
        const auto& t = outs[i].at("text");
        // HF's own decode when the helper could load the tokenizer; else kiln decodes HF's ids.
        samples[i].hf_output =
            t.is_string() ? t.get<std::string>() : safe_decode(tk, *samples[i].hf_ids);
      }
      hf_version = j.value("transformers_version", "");
    } catch (const std::exception& e) {
      for (Sample& s : samples) s.hf_ids.reset(), s.hf_output.reset();
      why = std::string("unreadable output from tools/eval_hf.py: ") + e.what();
    }
  }
  fs::remove_all(dir, ec);
  return why;
}

nlohmann::json score(const EvalArgs& a, const std::vector<std::string>& hyps,
                     const std::vector<std::string>& refs) {
  if (a.task == "translate") {
    const eval::BleuScore b = eval::corpus_bleu(hyps, refs);
    return {{"bleu", b.score},
            {"chrf", eval::corpus_chrf(hyps, refs)},
            {"bleu_precisions", b.precisions},
            {"bleu_bp", b.bp},
            {"sys_len", b.sys_len},
            {"ref_len", b.ref_len}};
  }
  const eval::RougeCorpus r = eval::corpus_rouge(hyps, refs, a.use_stemmer);
  return {{"rouge1", 100 * r.rouge1},
          {"rouge2", 100 * r.rouge2},
          {"rougeL", 100 * r.rougeL},
          {"rougeLsum", 100 * r.rougeLsum}};
}

void run_eval(const EvalArgs& a) {
  KILN_CHECK(a.model_dir.empty() != a.engine_dir.empty(),
             "give exactly one of --model_dir and --engine_dir");
  KILN_CHECK(!a.max_samples || *a.max_samples > 0, "--max_samples must be > 0, got {}",
             a.max_samples.value_or(0));
  KILN_CHECK(!a.gen.max_new_tokens || *a.gen.max_new_tokens >= 0,
             "--max_new_tokens must be >= 0, got {}", a.gen.max_new_tokens.value_or(0));
  KILN_CHECK(a.max_input_length >= 0, "--max_input_length must be >= 0");
  std::vector<Sample> samples = read_jsonl(a);

  // The tokenizer first: a missing one fails before the model loads.
  const std::string model = a.model_dir.empty() ? a.engine_dir : a.model_dir;
  const std::string tokenizer_dir = a.tokenizer_dir.empty() ? model : a.tokenizer_dir;
  std::unique_ptr<tok::Tokenizer> tk;
  try {
    tk = tok::Tokenizer::from_dir(tokenizer_dir);
  } catch (const std::exception& e) {
    KILN_FAIL("kiln eval needs the model's tokenizer: {}{}", e.what(),
              a.tokenizer_dir.empty() ? " (pass --tokenizer_dir)" : "");
  }
  std::optional<int32_t> src_lang_id, forced_bos = a.gen.forced_bos_token_id;
  if (!a.src_lang.empty()) {
    src_lang_id = tk->token_to_id(a.src_lang);
    KILN_CHECK(src_lang_id, "--src_lang '{}' is not a token of the tokenizer in '{}'", a.src_lang,
               tokenizer_dir);
  }
  if (!a.tgt_lang.empty()) {
    const auto id = tk->token_to_id(a.tgt_lang);
    KILN_CHECK(id, "--tgt_lang '{}' is not a token of the tokenizer in '{}'", a.tgt_lang,
               tokenizer_dir);
    KILN_CHECK(!a.gen.forced_bos_token_id || *a.gen.forced_bos_token_id == *id,
               "--tgt_lang {} (id {}) contradicts --forced_bos_token_id {}", a.tgt_lang, *id,
               *a.gen.forced_bos_token_id);
    forced_bos = *id;  // mBART-50: the first generated token is the target language code
  }
  for (Sample& s : samples) {
    s.input_ids = encode_source(*tk, a.prefix + s.source + a.suffix, !a.no_add_special_tokens,
                                src_lang_id, a.src_lang, a.max_input_length);
    KILN_CHECK(!s.input_ids.empty(), "{}:{}: the source encodes to no tokens", a.dataset, s.line);
  }

  EngineOptions eo = a.engine;  // the scheduler flags
  eo.model_dir = model;
  eo.tokenizer_dir = a.tokenizer_dir;
  apply_device_options(a.device, eo);
  eo.max_queue_size = a.batch_size + 1;
  auto engine = Engine::create(eo);
  const SamplingOptions so = sampling_options(a, forced_bos);

  // At most --batch_size requests in flight; the next one enters as the oldest finishes.
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::shared_ptr<RequestStream>> streams(samples.size());
  size_t next = 0;
  const auto enqueue_next = [&] {
    Request r;
    r.prompt_ids = samples[next].input_ids;
    r.sampling = so;
    r.detokenize = false;
    try {
      streams[next] = engine->enqueue(r);
    } catch (const std::exception& e) {
      KILN_FAIL("{}:{}: {}", a.dataset, samples[next].line, e.what());
    }
    ++next;
  };
  int64_t generated = 0, prompt_tokens = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    while (next < samples.size() && next < i + static_cast<size_t>(a.batch_size)) enqueue_next();
    Sample& s = samples[i];
    prompt_tokens += static_cast<int64_t>(s.input_ids.size());
    while (auto u = streams[i]->next()) {
      KILN_CHECK(!u->error, "{}:{}: {}", a.dataset, s.line, u->error.value_or(""));
      for (const SequenceDelta& d : u->sequences) {
        if (d.index != 0) continue;
        s.output_ids.insert(s.output_ids.end(), d.token_ids.begin(), d.token_ids.end());
        if (d.finish_reason) s.finish_reason = *d.finish_reason;
      }
      if (u->finished) break;
    }
    streams[i].reset();
    generated += static_cast<int64_t>(s.output_ids.size());
    s.output = safe_decode(*tk, s.output_ids);
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string device = engine->info().device;
  engine->shutdown();
  engine.reset();

  std::string hf_version;
  std::optional<std::string> hf_missing;
  if (a.compare_hf) {
    hf_missing = run_hf(a, tokenizer_dir, forced_bos, samples, *tk, hf_version);
    if (hf_missing)
      std::fprintf(stderr, "kiln: --compare_hf: %s; reporting kiln only\n", hf_missing->c_str());
  }
  const bool have_hf = a.compare_hf && !hf_missing;

  std::vector<std::string> hyps, refs, hf_hyps;
  int64_t identical = 0;
  for (const Sample& s : samples) {
    hyps.push_back(s.output);
    refs.push_back(s.reference);
    if (have_hf) {
      hf_hyps.push_back(*s.hf_output);
      identical += *s.hf_ids == s.output_ids;
    }
  }
  const nlohmann::json kiln_scores = score(a, hyps, refs);
  const nlohmann::json hf_scores = have_hf ? score(a, hf_hyps, refs) : nlohmann::json();

  std::printf("kiln eval %s: %zu samples from %s\n", a.task.c_str(), samples.size(),
              a.dataset.c_str());
  std::printf(
      "model %s on %s: %ld prompt + %ld generated tokens in %.3f s (%.1f generated tok/s)\n",
      model.c_str(), device.c_str(), static_cast<long>(prompt_tokens), static_cast<long>(generated),
      secs, generated / std::max(secs, 1e-9));
  const std::vector<std::string> keys =
      a.task == "translate" ? std::vector<std::string>{"bleu", "chrf"}
                            : std::vector<std::string>{"rouge1", "rouge2", "rougeL", "rougeLsum"};
  const std::map<std::string, std::string> names = {
      {"bleu", "BLEU"},      {"chrf", "chrF"},      {"rouge1", "ROUGE-1"},
      {"rouge2", "ROUGE-2"}, {"rougeL", "ROUGE-L"}, {"rougeLsum", "ROUGE-Lsum"}};
  std::printf("\n%-12s %10s%s\n", "metric", "kiln", have_hf ? "         hf" : "");
  for (const std::string& k : keys) {
    std::printf("%-12s %10.4f", names.at(k).c_str(), kiln_scores[k].get<double>());
    if (have_hf) std::printf(" %10.4f", hf_scores[k].get<double>());
    std::printf("\n");
  }
  if (a.task == "summarize")
    std::printf("(ROUGE: rouge_score F-measure x 100, mean over samples%s)\n",
                a.use_stemmer ? ", Porter stemmer" : "");
  else
    std::printf("(sacrebleu: BLEU 13a exp-smoothed, chrF char order 6)\n");
  const double identical_fraction = have_hf ? static_cast<double>(identical) / samples.size() : 0;
  if (have_hf)
    std::printf("identical outputs (kiln vs HF token ids): %ld / %zu (%.1f%%)\n",
                static_cast<long>(identical), samples.size(), 100 * identical_fraction);

  if (!a.output_json.empty()) {
    nlohmann::json per = nlohmann::json::array();
    for (size_t i = 0; i < samples.size(); ++i) {
      const Sample& s = samples[i];
      nlohmann::json o = {{"index", i},
                          {"line", s.line},
                          {"source", s.source},
                          {"reference", s.reference},
                          {"input_ids", s.input_ids},
                          {"output", s.output},
                          {"output_ids", s.output_ids},
                          {"finish_reason", s.finish_reason}};
      if (have_hf) {
        o["hf_output"] = *s.hf_output;
        o["hf_output_ids"] = *s.hf_ids;
        o["identical"] = *s.hf_ids == s.output_ids;
      }
      per.push_back(std::move(o));
    }
    nlohmann::json j = {{"task", a.task},
                        {"dataset", a.dataset},
                        {"model", model},
                        {"device", device},
                        {"num_samples", samples.size()},
                        {"generated_tokens", generated},
                        {"seconds", secs},
                        {"scores", {{"kiln", kiln_scores}}},
                        {"samples", per}};
    if (have_hf) {
      j["scores"]["hf"] = hf_scores;
      j["identical_fraction"] = identical_fraction;
      j["transformers_version"] = hf_version;
    } else if (a.compare_hf) {
      j["hf_skipped"] = *hf_missing;
    }
    std::ofstream f(a.output_json);
    KILN_CHECK(f.good(), "cannot open --output_json '{}' for writing", a.output_json);
    f << j.dump() << "\n";
    KILN_CHECK(f.good(), "cannot write --output_json '{}'", a.output_json);
  }
}

void add_task(CLI::App* eval, const std::string& task, const std::string& help) {
  auto a = std::make_shared<EvalArgs>();
  a->task = task;
  auto* sub = eval->add_subcommand(task, help);
  sub->add_option("--dataset", a->dataset, "JSONL file: one {\"source\", \"reference\"} per line")
      ->required();
  sub->add_option("--source_field", a->source_field, "Source field ('a.b' reaches into objects)")
      ->capture_default_str();
  sub->add_option("--reference_field", a->reference_field, "Reference field")
      ->capture_default_str();
  sub->add_option("--max_samples", a->max_samples, "Evaluate the first N samples only");
  sub->add_option("--prefix", a->prefix, "Text put before every source (e.g. 'summarize: ')");
  sub->add_option("--suffix", a->suffix, "Text put after every source (e.g. ' TL;DR: ')");
  sub->add_option("--max_input_length", a->max_input_length,
                  "Truncate sources to this many tokens, special tokens kept (0: no limit)");
  if (task == "translate") {
    sub->add_option("--src_lang", a->src_lang, "mBART-style source language code (e.g. en_XX)");
    sub->add_option("--tgt_lang", a->tgt_lang,
                    "Target language code: forced as the first generated token (e.g. de_DE)");
  } else {
    sub->add_flag("--use_stemmer", a->use_stemmer, "ROUGE: Porter-stem tokens (rouge_score)");
  }
  sub->add_option("--model_dir", a->model_dir, "Hugging Face model folder");
  sub->add_option("--engine_dir", a->engine_dir, "kiln checkpoint folder (from `kiln convert`)");
  sub->add_option("--tokenizer_dir", a->tokenizer_dir, "Tokenizer folder (default: the model's)");
  sub->add_flag("--no_add_special_tokens", a->no_add_special_tokens,
                "Do not add BOS/EOS-style special tokens to the sources");
  add_generation_flags(sub, a->gen);
  sub->add_option("--batch_size", a->batch_size, "Requests in flight at once")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  add_scheduler_options(sub, a->engine);
  add_device_options(sub, a->device);
  sub->add_option("--output_json", a->output_json, "Write per-sample outputs and the scores here");
  sub->add_flag("--compare_hf", a->compare_hf,
                "Also generate with transformers (tools/eval_hf.py) and score both side by side");
  sub->add_option("--python", a->python, "Python for --compare_hf")->capture_default_str();
  sub->add_option("--hf_script", a->hf_script,
                  "Path of tools/eval_hf.py (default: found "
                  "next to the kiln binary's source tree)");
  sub->add_option("--hf_model_dir", a->hf_model_dir,
                  "HF folder for --compare_hf (default: --model_dir)");
  sub->callback([a] { run_eval(*a); });
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto* eval = app.add_subcommand(
      "eval", "Score a model on a JSONL dataset: translate (BLEU, chrF) or summarize (ROUGE)");
  eval->require_subcommand(1);
  add_task(eval, "translate", "Translate sources; score with sacrebleu-compatible BLEU and chrF");
  add_task(eval, "summarize", "Summarize sources; score with rouge_score-compatible ROUGE");
  auto* transcribe = eval->add_subcommand("transcribe", "Speech to text with WER (needs Whisper)");
  transcribe->allow_extras();
  transcribe->callback(
      [] { KILN_FAIL("kiln eval transcribe is not available yet: it needs Whisper support"); });
}

}  // namespace kiln::cli
