"""`kiln eval translate | summarize` end to end: JSONL in, scores out (and their agreement with
sacrebleu / rouge_score on the very outputs kiln wrote, when those packages are installed), the
--compare_hf path, and clear errors for bad input.

Encoder-decoder fixtures (tests/fixtures/t5, mbart) have random weights and a 128-token
vocabulary; the tests give them a word-level tokenizer.json of 128 tokens written here."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import FIXTURES_DIR, SHARED_DIR, describe, run_kiln

T5 = FIXTURES_DIR / "t5" / "gelu_tied_scaled_fp16"
MBART = FIXTURES_DIR / "mbart" / "pre_ln_forced_bos_lang"
GPT2 = FIXTURES_DIR / "gpt2" / "real_vocab_fp16"

WORDS = ("the a cat dog sat on mat fox jumps over lazy quick brown day sunny it was is were "
         "police arrested three men they charged monday stocks fell rates investors worried "
         "new engine runs faster researchers announced that summarize translate english german "
         "to : . , ! ? and of in for with by at from as be has have had not but or").split()

SAMPLES = [
    {"source": "The quick brown fox jumps over the lazy dog.", "reference": "A fox jumps over a dog."},
    {"source": "Police arrested three men. They were charged on Monday.",
     "reference": "Three men were arrested.\nThey were charged Monday."},
    {"source": "Stocks fell as investors worried about rates.", "reference": "Stocks fell."},
]


def write_tokenizer(d: Path, specials: list[str], template: list[str]) -> dict[str, int]:
    """A 128-token word-level tokenizer.json: specials first, then WORDS, then fillers."""
    vocab: dict[str, int] = {}
    for t in specials + WORDS:
        vocab.setdefault(t, len(vocab))
    i = 0
    while len(vocab) < 128:
        vocab.setdefault(f"w{i}", len(vocab))
        i += 1
    single = [{"SpecialToken": {"id": t, "type_id": 0}} if t != "$A" else
              {"Sequence": {"id": "A", "type_id": 0}} for t in template]
    tok = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": vocab[t], "content": t, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True} for t in specials],
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {"type": "TemplateProcessing", "single": single, "pair": single,
                           "special_tokens": {t: {"id": t, "ids": [vocab[t]], "tokens": [t]}
                                              for t in template if t != "$A"}},
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"},
    }
    (d / "tokenizer.json").write_text(json.dumps(tok))
    return vocab


def model_with_tokenizer(tmp_path: Path, fixture: Path, specials, template) -> tuple[Path, dict]:
    d = tmp_path / fixture.name
    d.mkdir()
    for f in fixture.iterdir():
        if f.name != "expected.json":
            os.symlink(f, d / f.name)
    return d, write_tokenizer(d, specials, template)


def t5_dir(tmp_path):
    return model_with_tokenizer(tmp_path, T5, ["<pad>", "</s>", "<unk>"], ["$A", "</s>"])


def write_jsonl(path: Path, rows, **rename) -> Path:
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps({rename.get(k, k): v for k, v in r.items()}) + "\n")
    return path


def eval_json(args, out: Path) -> dict:
    proc = run_kiln([*args, "--output_json", str(out)], timeout=300)
    assert proc.returncode == 0, describe(proc)
    return json.loads(out.read_text())


@pytest.fixture
def kiln_ok(kiln_bin):
    return kiln_bin


def test_summarize_t5_scores_match_rouge_score(kiln_ok, tmp_path):
    model, vocab = t5_dir(tmp_path)
    data = write_jsonl(tmp_path / "d.jsonl", SAMPLES)
    out = eval_json(["eval", "summarize", "--model_dir", model, "--dataset", data,
                     "--prefix", "summarize: ", "--max_new_tokens", "8", "--batch_size", "2"],
                    tmp_path / "o.json")
    assert out["task"] == "summarize" and out["num_samples"] == 3
    s0 = out["samples"][0]
    # The prefix is tokenized with the source, and the tokenizer's </s> ends the encoder input.
    assert s0["input_ids"][:2] == [vocab["summarize"], vocab[":"]]
    assert s0["input_ids"][-1] == vocab["</s>"]
    assert all(0 < len(s["output_ids"]) <= 8 for s in out["samples"])
    scores = out["scores"]["kiln"]
    assert set(scores) == {"rouge1", "rouge2", "rougeL", "rougeLsum"}
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    scorer = rouge_scorer.RougeScorer(types)
    per = [scorer.score(s["reference"], s["output"]) for s in out["samples"]]
    for t in types:
        want = 100 * sum(p[t].fmeasure for p in per) / len(per)
        assert scores[t] == pytest.approx(want, abs=1e-9), t


def test_translate_t5_bleu_matches_sacrebleu(kiln_ok, tmp_path):
    model, _ = t5_dir(tmp_path)
    # TRT-LLM-like field names, a nested one, blank lines, --max_samples.
    rows = [{"translation": {"en": s["source"], "de": s["reference"]}} for s in SAMPLES]
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    out = eval_json(["eval", "translate", "--model_dir", model, "--dataset", data,
                     "--source_field", "translation.en", "--reference_field", "translation.de",
                     "--max_samples", "2", "--max_new_tokens", "6", "--num_beams", "2"],
                    tmp_path / "o.json")
    assert out["num_samples"] == 2
    assert [s["reference"] for s in out["samples"]] == [s["reference"] for s in SAMPLES[:2]]
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps = [s["output"] for s in out["samples"]]
    refs = [s["reference"] for s in out["samples"]]
    assert out["scores"]["kiln"]["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score, abs=1e-9)
    assert out["scores"]["kiln"]["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score, abs=1e-9)


def test_translate_mbart_language_codes(kiln_ok, tmp_path):
    specials = ["<s>", "<pad>", "</s>", "<unk>", "en_XX", "de_DE", "fr_XX"]
    model, vocab = model_with_tokenizer(tmp_path, MBART, specials, ["en_XX", "$A", "</s>"])
    data = write_jsonl(tmp_path / "d.jsonl", SAMPLES[:2])
    out = eval_json(["eval", "translate", "--model_dir", model, "--dataset", data,
                     "--src_lang", "fr_XX", "--tgt_lang", "de_DE", "--max_new_tokens", "5"],
                    tmp_path / "o.json")
    for s in out["samples"]:
        assert s["input_ids"][0] == vocab["fr_XX"] and s["input_ids"][-1] == vocab["</s>"]
        assert s["output_ids"][0] == vocab["de_DE"]  # forced_bos_token_id = id of --tgt_lang
        assert "de_DE" not in s["output"]  # special tokens are skipped in the text
    proc = run_kiln(["eval", "translate", "--model_dir", model, "--dataset", data,
                     "--tgt_lang", "xx_YY"])
    assert proc.returncode != 0 and "--tgt_lang 'xx_YY'" in proc.stderr, describe(proc)


def test_summarize_gpt2_continuation(kiln_ok, tmp_path):
    tok = SHARED_DIR / "data" / "tokenizers" / "gpt2"
    if not (tok / "encoder.json").is_file():
        pytest.skip("GPT-2 tokenizer not found")
    data = write_jsonl(tmp_path / "d.jsonl", SAMPLES, source="article", reference="highlights")
    out = eval_json(["eval", "summarize", "--model_dir", GPT2, "--tokenizer_dir", tok,
                     "--dataset", data, "--source_field", "article", "--reference_field",
                     "highlights", "--suffix", " TL;DR:", "--max_new_tokens", "6",
                     "--use_stemmer"], tmp_path / "o.json")
    assert all(len(s["output_ids"]) == 6 for s in out["samples"])
    assert "ROUGE" not in json.dumps(out["scores"])  # keys are rouge1 ... rougeLsum


def test_compare_hf(kiln_ok, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    model, _ = t5_dir(tmp_path)
    data = write_jsonl(tmp_path / "d.jsonl", SAMPLES)
    proc = run_kiln(["eval", "summarize", "--model_dir", model, "--dataset", data,
                     "--max_new_tokens", "6", "--compare_hf", "--output_json", tmp_path / "o.json"],
                    timeout=600)
    assert proc.returncode == 0, describe(proc)
    out = json.loads((tmp_path / "o.json").read_text())
    assert "hf" in out["scores"], describe(proc)
    assert "identical outputs" in proc.stdout
    for s in out["samples"]:
        assert s["identical"] == (s["output_ids"] == s["hf_output_ids"])
    # Greedy decoding of the same fp32 model: kiln and transformers agree token for token.
    assert out["identical_fraction"] == 1.0, describe(proc)


def test_compare_hf_without_python_continues(kiln_ok, tmp_path):
    model, _ = t5_dir(tmp_path)
    data = write_jsonl(tmp_path / "d.jsonl", SAMPLES[:1])
    out = eval_json(["eval", "summarize", "--model_dir", model, "--dataset", data,
                     "--max_new_tokens", "2", "--compare_hf", "--python", "/nonexistent/python3"],
                    tmp_path / "o.json")
    assert "hf" not in out["scores"] and "could not be run" in out["hf_skipped"]


@pytest.mark.parametrize("content, message", [
    ('{"source": "a", "reference": "b"}\n{"source": "a", \n', "d.jsonl:2: not valid JSON"),
    ('{"source": "a", "reference": "b"}\n\n[1, 2]\n', "d.jsonl:3: expected a JSON object"),
    ('{"source": "a"}\n', "d.jsonl:1: missing field 'reference'"),
    ('{"text": "a", "reference": "b"}\n', "missing field 'source' (choose the field with --source_field)"),
    ('{"source": 5, "reference": "b"}\n', "d.jsonl:1: field 'source' must be a string"),
    ("\n\n", "has no samples"),
])
def test_bad_jsonl(kiln_ok, tmp_path, content, message):
    model, _ = t5_dir(tmp_path)
    (tmp_path / "d.jsonl").write_text(content)
    proc = run_kiln(["eval", "summarize", "--model_dir", model, "--dataset", tmp_path / "d.jsonl"])
    assert proc.returncode != 0 and message in proc.stderr, describe(proc)


def test_bad_invocations(kiln_ok, tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", SAMPLES[:1])
    cases = [
        (["eval", "summarize", "--model_dir", T5, "--dataset", data], "needs the model's tokenizer"),
        (["eval", "summarize", "--model_dir", T5, "--dataset", tmp_path / "none.jsonl"], "cannot open"),
        (["eval", "translate", "--model_dir", T5, "--dataset", data, "--max_samples", "0"], "--max_samples"),
        (["eval", "summarize", "--dataset", data], "exactly one of --model_dir and --engine_dir"),
        (["eval", "transcribe"], "Whisper"),
    ]
    for args, message in cases:
        proc = run_kiln(args)
        assert proc.returncode != 0 and message in proc.stderr, describe(proc)
