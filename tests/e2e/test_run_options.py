"""`kiln run` options that go through the engine API: beam search (HF's beam outputs from the
fixtures, several prompts batched), n > 1 samples, stop strings (text cut, finish "stop")."""
from __future__ import annotations

import json
import os

import pytest

from conftest import FIXTURES_DIR, SHARED_DIR


def _beam_cases():
    for fixture in sorted((FIXTURES_DIR / "gpt2").iterdir()):
        exp = fixture / "expected.json"
        if not exp.is_file():
            continue
        for case in json.loads(exp.read_text())["cases"]:
            if "beam_outputs" in case:
                yield pytest.param(fixture, case, id=f"{fixture.name}-{case['name']}")


@pytest.mark.parametrize("fixture,case", list(_beam_cases()))
def test_beam_search_matches_hf(kiln_json, tmp_path, fixture, case):
    args = ["run", "--model_dir", str(fixture), "--max_new_tokens", str(case["max_new_tokens"]),
            "--num_beams", str(case["num_beams"]), "--length_penalty", str(case["length_penalty"]),
            "--early_stopping", str(case["early_stopping"]).lower(),
            "--num_return_sequences", str(case["num_return_sequences"])]
    if case.get("repetition_penalty", 1.0) != 1.0:
        args += ["--repetition_penalty", str(case["repetition_penalty"])]
    for p in case["prompts"]:
        args += ["--input_ids", ",".join(map(str, p))]
    out = kiln_json(args, tmp_path / "out.json")
    assert out["sequences"] == case["beam_outputs"]


def _real_vocab_dir(tmp_path):
    tok = SHARED_DIR / "data" / "tokenizers" / "gpt2"
    if not (tok / "encoder.json").is_file():
        pytest.skip("GPT-2 tokenizer not found")
    d = tmp_path / "model"
    d.mkdir()
    for f in (FIXTURES_DIR / "gpt2" / "real_vocab_fp16").iterdir():
        os.symlink(f, d / f.name)
    os.symlink(tok / "encoder.json", d / "vocab.json")
    os.symlink(tok / "vocab.bpe", d / "merges.txt")
    return d


def test_stop_string_cuts_text(kiln_json, tmp_path):
    d = _real_vocab_dir(tmp_path)
    base = ["run", "--model_dir", str(d), "--input_text", "The quick brown fox", "--max_new_tokens", "16"]
    full = kiln_json(base, tmp_path / "a.json")
    text = full["output_text"][0]
    assert len(text) > 6
    stop = text[3:6]  # a piece of the greedy text: generation must stop where it first appears
    cut = kiln_json(base + ["--stop", stop], tmp_path / "b.json")
    assert cut["finish_reason"] == ["stop"]
    assert cut["output_text"][0] == text[: text.index(stop)]
    assert len(cut["output_ids"][0]) <= len(full["output_ids"][0])


def test_n_samples_are_seeded_and_distinct(kiln_json, tmp_path):
    fixture = FIXTURES_DIR / "gpt2" / "base_gelu_new"
    args = ["run", "--model_dir", str(fixture), "--input_ids", "1,2,3", "--max_new_tokens", "12",
            "--do_sample", "--temperature", "2", "--n", "3", "--seed", "11"]
    a = kiln_json(args, tmp_path / "a.json")
    b = kiln_json(args, tmp_path / "b.json")
    assert a["sequences"] == b["sequences"]
    assert len(a["sequences"][0]) == 3
    assert len({tuple(s) for s in a["sequences"][0]}) == 3
