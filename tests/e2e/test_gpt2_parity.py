"""GPT-2 greedy-decoding parity of `kiln run` with Hugging Face transformers.

The fixtures under tests/fixtures/gpt2/<name>/ are tiny seeded random HF checkpoints written by
tools/make_fixtures.py, each with an expected.json holding the prompts and the token ids that
`GPT2LMHeadModel.generate(do_sample=False, ...)` appended for each prompt run alone (batch 1,
fp32 on CPU, eager attention; 16-bit checkpoints widened to fp32). kiln must reproduce them
exactly, for every prompt alone and for all prompts of a case packed into one batch. The
real-vocabulary fixture is also driven with --input_text through the real GPT-2 tokenizer, and a
few fixtures go through `kiln convert` + `kiln run --engine_dir`.

First-step logits (first_logits in expected.json) are checked by the C++ model tests, not here.
Only pytest and the standard library are needed.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import FIXTURES_DIR, SHARED_DIR, describe, run_kiln, run_kiln_json

GPT2_FIXTURES = FIXTURES_DIR / "gpt2"
GPT2_TOKENIZER = SHARED_DIR / "data" / "tokenizers" / "gpt2"
# Fixtures that also go through `kiln convert --dtype float32` (sharded input, a bf16 checkpoint
# widened on conversion, and a generation_config.json with a list of EOS ids).
CONVERT_FIXTURES = ["silu_sharded", "gelu_new_bf16", "eos_list"]


def _load_fixtures() -> dict[str, dict]:
    out = {}
    for p in sorted(GPT2_FIXTURES.glob("*/expected.json")):
        out[p.parent.name] = json.loads(p.read_text())
    return out


FIXTURES = _load_fixtures()
ID_CASES = [(f, c["name"]) for f, e in FIXTURES.items() for c in e["cases"]]
TEXT_CASES = [(f, c["name"]) for f, e in FIXTURES.items() for c in e["cases"] if "prompt_texts" in c]


def _case(fixture: str, case: str) -> dict:
    return next(c for c in FIXTURES[fixture]["cases"] if c["name"] == case)


def _ids_arg(ids) -> str:
    return ",".join(str(int(t)) for t in ids)


def _gen_args(case: dict) -> list[str]:
    args = ["--max_new_tokens", str(case["max_new_tokens"])]
    rp = float(case.get("repetition_penalty", 1.0))
    if rp != 1.0:
        args += ["--repetition_penalty", repr(rp)]
    return args


def _prompt_args(prompts) -> list[str]:
    args = []
    for p in prompts:
        args += ["--input_ids", _ids_arg(p)]
    return args


def _check_outputs(got, want, what: str) -> None:
    assert isinstance(got, list) and len(got) == len(want), (
        f"{what}: expected {len(want)} outputs, got {got!r}")
    bad = [f"  prompt {i}: expected {w}\n            got      {g}"
           for i, (g, w) in enumerate(zip(got, want)) if list(g) != list(w)]
    assert not bad, f"{what}: output ids differ from Hugging Face\n" + "\n".join(bad)


def _id(param) -> str:
    return "/".join(param) if isinstance(param, tuple) else str(param)


# ------------------------------------------------------------------------------------------------
# Fixture sanity (runs without the kiln binary).


@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_fixture_is_consistent(fixture):
    d = GPT2_FIXTURES / fixture
    exp = FIXTURES[fixture]
    cfg = json.loads((d / "config.json").read_text())
    assert exp["config_name"] == fixture
    assert (d / "model.safetensors").is_file() or (d / "model.safetensors.index.json").is_file()
    eos = []
    gen_cfg = d / "generation_config.json"
    if gen_cfg.is_file():
        e = json.loads(gen_cfg.read_text()).get("eos_token_id")
        eos = e if isinstance(e, list) else [] if e is None else [e]
    for c in exp["cases"]:
        n = len(c["prompts"])
        assert n > 0 and len(c["outputs"]) == n, c["name"]
        if "first_logits" in c:
            assert len(c["first_logits"]) == n
            assert all(len(row) == cfg["vocab_size"] for row in c["first_logits"])
        if "prompt_texts" in c:
            assert len(c["prompt_texts"]) == n and len(c["output_texts"]) == n
        for p, o in zip(c["prompts"], c["outputs"]):
            assert 1 <= len(p) and len(p) + c["max_new_tokens"] <= cfg["n_positions"]
            assert all(0 <= t < cfg["vocab_size"] for t in p + o)
            assert 1 <= len(o) <= c["max_new_tokens"]
            # generation stops exactly at the first EOS (kept) or at max_new_tokens
            assert not any(t in eos for t in o[:-1])
            assert len(o) == c["max_new_tokens"] or o[-1] in eos


# ------------------------------------------------------------------------------------------------
# kiln vs the golden outputs.


@pytest.mark.parametrize("fixture,case", ID_CASES, ids=[_id(p) for p in ID_CASES])
def test_greedy_each_prompt_alone(kiln_bin, tmp_path, fixture, case):
    c = _case(fixture, case)
    model_dir = GPT2_FIXTURES / fixture
    got = []
    for i, p in enumerate(c["prompts"]):
        out = run_kiln_json(["run", "--model_dir", model_dir, *_prompt_args([p]), *_gen_args(c)],
                            tmp_path / f"out{i}.json")
        ids = out["output_ids"]
        assert isinstance(ids, list) and len(ids) == 1, f"prompt {i}: expected one output, got {ids!r}"
        got.append(ids[0])
    _check_outputs(got, c["outputs"], f"{fixture}/{case} (each prompt alone)")


@pytest.mark.parametrize("fixture,case", ID_CASES, ids=[_id(p) for p in ID_CASES])
def test_greedy_packed_batch(kiln_bin, tmp_path, fixture, case):
    c = _case(fixture, case)
    model_dir = GPT2_FIXTURES / fixture
    out = run_kiln_json(["run", "--model_dir", model_dir, *_prompt_args(c["prompts"]), *_gen_args(c)],
                        tmp_path / "out.json")
    _check_outputs(out["output_ids"], c["outputs"], f"{fixture}/{case} (one packed batch)")


@pytest.fixture
def gpt2_tokenizer_files():
    files = {"vocab.json": GPT2_TOKENIZER / "encoder.json", "merges.txt": GPT2_TOKENIZER / "vocab.bpe"}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        pytest.skip(f"GPT-2 tokenizer files not found: {missing}")
    return files


def _linked_model_dir(fixture: str, dest: Path, extra: dict[str, Path]) -> Path:
    """A model folder of symlinks: the fixture's files (except expected.json) + `extra`."""
    dest.mkdir()
    for f in sorted((GPT2_FIXTURES / fixture).iterdir()):
        if f.name != "expected.json":
            os.symlink(f.resolve(), dest / f.name)
    for name, target in extra.items():
        os.symlink(target.resolve(), dest / name)
    return dest


def _as_text_list(texts, n: int):
    # output_text is one string per prompt; tolerate a bare string for a single prompt
    return [texts] if isinstance(texts, str) and n == 1 else texts


@pytest.mark.parametrize("fixture,case", TEXT_CASES, ids=[_id(p) for p in TEXT_CASES])
def test_real_vocab_text(kiln_bin, tmp_path, gpt2_tokenizer_files, fixture, case):
    c = _case(fixture, case)
    model_dir = _linked_model_dir(fixture, tmp_path / "model", gpt2_tokenizer_files)
    gen = _gen_args(c)
    # each text alone
    got_ids, got_text = [], []
    for i, text in enumerate(c["prompt_texts"]):
        out = run_kiln_json(["run", "--model_dir", model_dir, "--input_text", text, *gen],
                            tmp_path / f"out{i}.json")
        assert len(out["output_ids"]) == 1, out
        got_ids.append(out["output_ids"][0])
        got_text += _as_text_list(out["output_text"], 1)
    _check_outputs(got_ids, c["outputs"], f"{fixture}/{case} (--input_text, alone)")
    assert got_text == c["output_texts"]
    # all texts in one packed batch
    args = ["run", "--model_dir", model_dir, *gen]
    for text in c["prompt_texts"]:
        args += ["--input_text", text]
    out = run_kiln_json(args, tmp_path / "out_batch.json")
    _check_outputs(out["output_ids"], c["outputs"], f"{fixture}/{case} (--input_text, packed)")
    assert _as_text_list(out["output_text"], len(c["prompt_texts"])) == c["output_texts"]


@pytest.mark.parametrize("fixture", [f for f in CONVERT_FIXTURES if f in FIXTURES] or
                         [pytest.param("none", marks=pytest.mark.skip("no fixtures"))])
def test_convert_then_run_engine(kiln_bin, tmp_path, fixture):
    engine = tmp_path / "engine"
    proc = run_kiln(["convert", "--model_dir", GPT2_FIXTURES / fixture, "--output_dir", engine,
                     "--dtype", "float32"])
    assert proc.returncode == 0, f"kiln convert failed\n{describe(proc)}"
    for c in FIXTURES[fixture]["cases"]:
        out = run_kiln_json(["run", "--engine_dir", engine, *_prompt_args(c["prompts"]), *_gen_args(c)],
                            tmp_path / f"out_{c['name']}.json")
        _check_outputs(out["output_ids"], c["outputs"], f"{fixture}/{c['name']} (converted engine)")
