"""Encoder–decoder models (T5, mT5, UMT5, BART, mBART, Marian) through the CLI as a user drives it.

* ``kiln run --model_dir`` on every committed fixture (tests/fixtures/<family>/*/expected.json):
  the greedy goldens (HF ``generate``) of every case whose options have kiln run flags, all of a
  case's prompts packed into one call (and, for each fixture's first case, each prompt alone),
  and the beam cases (packed; flags, or the generation_config.json defaults);
* ``kiln build --model_type t5|bart|marian --config KEY=VALUE ...`` with a SentencePiece tokenizer
  fixture copied in (vocab_size = the tokenizer's size), ``kiln run --engine_dir --input_text``:
  random weights, so only that it runs, the text decodes, ids are in range, --output_json fields;
* ``kiln convert`` of one fixture per family, then ``kiln run --engine_dir``: the same tokens;
* bad input: encoder input longer than the model's positions, ids outside the vocabulary,
  --num_beams above --max_batch_size, a T5 config.json whose shapes disagree with the weights ->
  ``kiln: error:`` and exit 1.

The ids given to ``kiln run`` are the encoder input; outputs exclude the decoder start token and
end with EOS when generation stopped on it. pytest + stdlib only (no torch).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import FIXTURES_DIR, describe, run_kiln

FAMILIES = ["t5", "mt5", "umt5", "bart", "mbart", "marian"]
TOKENIZERS = FIXTURES_DIR / "tokenizers"

# case["generation"] keys that `kiln run` has flags for (max_length has none: such cases are
# left to the C++ parity test, which drives the engine API).
_FLAG_KEYS = {"no_repeat_ngram_size", "min_length", "forced_bos_token_id", "forced_eos_token_id",
              "decoder_start_token_id", "min_new_tokens"}


def _fixtures():
    for fam in FAMILIES:
        root = FIXTURES_DIR / fam
        if not root.is_dir():
            continue
        for d in sorted(root.iterdir()):
            if (d / "expected.json").is_file():
                yield fam, d


def _load(d: Path) -> dict:
    return json.loads((d / "expected.json").read_text())


def _ids(p) -> str:
    return ",".join(map(str, p))


def _case_flags(case: dict) -> list[str] | None:
    """kiln run flags equivalent to a fixture case's HF generate kwargs (None: not expressible)."""
    flags = []
    if case.get("max_new_tokens") is not None:
        flags += ["--max_new_tokens", str(case["max_new_tokens"])]
    if case.get("repetition_penalty", 1.0) != 1.0:
        flags += ["--repetition_penalty", str(case["repetition_penalty"])]
    for k, v in case.get("generation", {}).items():
        if k not in _FLAG_KEYS:
            return None
        if v is None:
            if k != "forced_bos_token_id":
                return None
            v = -1  # drop the model's forced BOS
        for x in (v if isinstance(v, list) else [v]):
            flags += [f"--{k}", str(x)]
    return flags


def _greedy_cases():
    for fam, d in _fixtures():
        for k, case in enumerate(_load(d)["cases"]):
            flags = _case_flags(case)
            if flags is None:
                continue
            yield pytest.param(d, case, flags, k == 0, id=f"{fam}-{d.name}-{case['name']}")


def _beam_cases():
    for fam, d in _fixtures():
        for case in _load(d)["cases"]:
            if "beam_outputs" in case and _case_flags(case) is not None:
                yield pytest.param(d, case, id=f"{fam}-{d.name}-{case['name']}")


def _run_ids(model_args, prompts, flags, out: Path, timeout=120) -> dict:
    args = ["run", *model_args, *flags]
    for p in prompts:
        args += ["--input_ids", _ids(p)]
    out = Path(out)
    if out.exists():
        out.unlink()
    proc = run_kiln([*args, "--output_json", str(out)], timeout=timeout)
    assert proc.returncode == 0, describe(proc)
    return json.loads(out.read_text())


# --- goldens through the CLI --------------------------------------------------------------------
@pytest.mark.parametrize("fixture,case,flags,alone", list(_greedy_cases()))
def test_greedy_matches_hf(kiln_bin, tmp_path, fixture, case, flags, alone):
    # greedy: --num_beams 1 (some generation_config.json files ask for beams by default)
    flags = [*flags, "--num_beams", "1"]
    model = ["--model_dir", str(fixture)]
    packed = _run_ids(model, case["prompts"], flags, tmp_path / "packed.json")
    assert packed["output_ids"] == case["outputs"], "several prompts in one call"
    assert len(packed["finish_reason"]) == len(case["prompts"])
    if not alone:  # each prompt alone: the first case of each fixture (the rest differ by options)
        return
    for i, (p, want) in enumerate(zip(case["prompts"], case["outputs"])):
        alone = _run_ids(model, [p], flags, tmp_path / f"alone{i}.json")
        assert alone["output_ids"] == [want], f"prompt {i} alone"


@pytest.mark.parametrize("fixture,case", list(_beam_cases()))
def test_beam_matches_hf(kiln_bin, tmp_path, fixture, case):
    flags = _case_flags(case)
    if not case.get("use_defaults"):  # else generation_config.json's beam settings apply
        flags += ["--num_beams", str(case["num_beams"]), "--length_penalty",
                  str(case["length_penalty"]), "--early_stopping",
                  str(case["early_stopping"]).lower(), "--num_return_sequences",
                  str(case["num_return_sequences"])]
    out = _run_ids(["--model_dir", str(fixture)], case["prompts"], flags, tmp_path / "beam.json")
    assert out["sequences"] == case["beam_outputs"]
    assert out["output_ids"] == [s[0] for s in case["beam_outputs"]]


def test_every_family_has_fixtures():
    fams = {f for f, _ in _fixtures()}
    assert fams == set(FAMILIES), f"missing fixtures for {set(FAMILIES) - fams}"
    assert list(_beam_cases()), "no beam case"


# --- kiln convert round trip ---------------------------------------------------------------------
def _first_fixture_per_family():
    seen = set()
    for fam, d in _fixtures():
        if fam not in seen:
            seen.add(fam)
            yield pytest.param(d, id=f"{fam}-{d.name}")


@pytest.mark.parametrize("fixture", list(_first_fixture_per_family()))
def test_convert_round_trip(kiln_bin, tmp_path, fixture):
    engine = tmp_path / "engine"
    proc = run_kiln(["convert", "--model_dir", str(fixture), "--output_dir", str(engine),
                     "--dtype", "float32"])
    assert proc.returncode == 0, describe(proc)
    assert (engine / "config.json").is_file()
    # generation_config.json travels with the checkpoint: its defaults (no_repeat_ngram_size,
    # forced BOS/EOS, bad_words_ids, ...) must still apply
    assert (engine / "generation_config.json").is_file()
    for case in _load(fixture)["cases"]:
        flags = _case_flags(case)
        if flags is None:
            continue
        flags += ["--num_beams", "1"]
        got = _run_ids(["--engine_dir", str(engine)], case["prompts"], flags,
                       tmp_path / f"{case['name']}.json")
        assert got["output_ids"] == case["outputs"], case["name"]


# --- random models built from flags + a SentencePiece tokenizer ---------------------------------
def _tokenizer_size(tok: str) -> int:
    return int(json.loads((TOKENIZERS / tok / "expected.json").read_text())["vocab_size"])


# The engine looks for a tokenizer only when tokenizer.json, vocab.json or encoder.json exists
# (src/api/engine.cc load_tokenizer), so a folder with just spiece.model / sentencepiece.bpe.model
# gets none although `kiln tokenize` loads it (Marian's vocab.json passes the gate). strict: once
# the engine loads them these pass and the marker must go.

# model_type, tokenizer fixture, extra --config fields (ids must match the tokenizer's specials)
BUILDS = [
    pytest.param("t5", "t5_spm", dict(d_model=32, d_kv=8, num_heads=4, d_ff=48, num_layers=2,
                                      num_decoder_layers=1, feed_forward_proj="gated-gelu",
                                      decoder_start_token_id=0, pad_token_id=0, eos_token_id=1),
                 id="t5-t5_spm"),
    pytest.param("bart", "mbart_spm", dict(d_model=32, encoder_layers=2, decoder_layers=1,
                                           encoder_attention_heads=4, decoder_attention_heads=2,
                                           encoder_ffn_dim=48, decoder_ffn_dim=40,
                                           max_position_embeddings=64, bos_token_id=0,
                                           pad_token_id=1, eos_token_id=2,
                                           decoder_start_token_id=2),
                 id="bart-mbart_spm"),
    pytest.param("marian", "marian_spm", dict(d_model=32, encoder_layers=1, decoder_layers=2,
                                              encoder_attention_heads=4, decoder_attention_heads=4,
                                              encoder_ffn_dim=32, decoder_ffn_dim=32,
                                              max_position_embeddings=64, pad_token_id=-1,
                                              decoder_start_token_id=-1, eos_token_id=0),
                 id="marian-marian_spm"),
]


@pytest.mark.parametrize("model_type,tok,config", BUILDS)
def test_build_run_text(kiln_bin, tmp_path, model_type, tok, config):
    vocab = _tokenizer_size(tok)
    config = {k: (vocab - 1 if v == -1 else v) for k, v in config.items()}  # Marian: pad = last
    engine = tmp_path / "engine"
    args = ["build", "--model_type", model_type, "--config", f"vocab_size={vocab}",
            "--output_dir", str(engine), "--dtype", "float32", "--seed", "7"]
    for k, v in config.items():
        args += ["--config", f"{k}={v}"]
    proc = run_kiln(args)
    assert proc.returncode == 0, describe(proc)
    written = json.loads((engine / "config.json").read_text())
    assert written["model_type"] == model_type and written["vocab_size"] == vocab
    for f in (TOKENIZERS / tok).iterdir():
        if f.name != "expected.json":
            shutil.copy(f, engine / f.name)

    texts = ["Hello world.", "translate English to German: the house is small", "a"]
    max_new = 8
    base = ["run", "--engine_dir", str(engine), "--max_new_tokens", str(max_new)]
    out_path = tmp_path / "out.json"
    args = [*base, "--output_json", str(out_path)]
    for t in texts:
        args += ["--input_text", t]
    proc = run_kiln(args)
    assert proc.returncode == 0, describe(proc)
    out = json.loads(out_path.read_text())
    assert set(out) >= {"output_ids", "output_text", "finish_reason", "sequences"}, out.keys()
    assert len(out["output_ids"]) == len(out["output_text"]) == len(out["finish_reason"]) == 3
    eos = config["eos_token_id"]
    for ids, text, reason, seqs in zip(out["output_ids"], out["output_text"],
                                       out["finish_reason"], out["sequences"]):
        assert 1 <= len(ids) <= max_new
        assert all(isinstance(i, int) and 0 <= i < vocab for i in ids), ids
        assert isinstance(text, str)
        assert reason in ("length", "stop"), reason
        if reason == "stop":
            assert ids[-1] == eos, (ids, reason)
        else:
            assert len(ids) == max_new, (ids, reason)
        assert seqs == [ids]

    # a prompt alone gives the tokens it got packed with the others
    for i, t in enumerate(texts):
        alone = tmp_path / f"alone{i}.json"
        proc = run_kiln([*base, "--output_json", str(alone), "--input_text", t])
        assert proc.returncode == 0, describe(proc)
        assert json.loads(alone.read_text())["output_ids"] == [out["output_ids"][i]]


# --- bad input ---------------------------------------------------------------------------------
def expect_error(proc, *phrases: str) -> None:
    assert proc.returncode == 1, describe(proc)
    assert "kiln: error:" in proc.stderr, describe(proc)
    for p in phrases:
        assert p.lower() in proc.stderr.lower(), f"missing {p!r}\n" + describe(proc)


BART = FIXTURES_DIR / "bart" / "gelu_tied_forced_bos"
T5 = FIXTURES_DIR / "t5" / "v1_0_relu_tied_legacy"


def _config(d: Path) -> dict:
    return json.loads((d / "config.json").read_text())


def test_encoder_input_longer_than_positions(kiln_bin):
    n = _config(BART)["max_position_embeddings"]
    ok = run_kiln(["run", "--model_dir", BART, "--input_ids", _ids([5] * n),
                   "--max_new_tokens", "2"])
    assert ok.returncode == 0, describe(ok)
    expect_error(run_kiln(["run", "--model_dir", BART, "--input_ids", _ids([5] * (n + 1)),
                           "--max_new_tokens", "2"]), "encoder", str(n))


def test_t5_encoder_input_longer_than_n_positions(kiln_bin):
    n = _config(T5).get("n_positions", 512)
    expect_error(run_kiln(["run", "--model_dir", T5, "--input_ids", _ids([5] * (n + 1)),
                           "--max_new_tokens", "2"]), "encoder", str(n))


@pytest.mark.parametrize("fixture", [BART, T5], ids=["bart", "t5"])
@pytest.mark.parametrize("bad", ["-1", "vocab"])
def test_ids_outside_vocabulary(kiln_bin, fixture, bad):
    v = _config(fixture)["vocab_size"]
    tok = str(v) if bad == "vocab" else bad
    expect_error(run_kiln(["run", "--model_dir", fixture, "--input_ids", f"5,{tok},6",
                           "--max_new_tokens", "2"]), "vocabulary")


def test_one_bad_prompt_in_a_packed_call(kiln_bin):
    v = _config(BART)["vocab_size"]
    expect_error(run_kiln(["run", "--model_dir", BART, "--input_ids", "5,6", "--input_ids",
                           f"7,{v + 3}", "--max_new_tokens", "2"]), "vocabulary")


def test_num_beams_above_max_batch_size(kiln_bin):
    expect_error(run_kiln(["run", "--model_dir", T5, "--input_ids", "5,6,1", "--max_new_tokens",
                           "3", "--num_beams", "4", "--max_batch_size", "2"]),
                 "num_beams", "max_batch_size")


def test_num_return_sequences_above_num_beams(kiln_bin):
    proc = run_kiln(["run", "--model_dir", T5, "--input_ids", "5,6,1", "--max_new_tokens", "3",
                     "--num_beams", "2", "--num_return_sequences", "3"])
    expect_error(proc, "num_return_sequences")


def test_max_new_tokens_beyond_decoder_positions(kiln_bin):
    n = _config(BART)["max_position_embeddings"]
    expect_error(run_kiln(["run", "--model_dir", BART, "--input_ids", "5,6",
                           "--max_new_tokens", str(n + 5)]), "positions")


@pytest.mark.parametrize("key,value,phrase", [
    ("d_model", 32, "shape"),             # weights are [.., 24]
    ("d_kv", 8, "shape"),                 # q/k/v/o inner dim 4 heads x 6
    ("d_ff", 41, "shape"),
    ("num_heads", 5, "shape"),
    ("num_layers", 3, "block.2"),         # the file has 2 encoder blocks
    ("vocab_size", 100, "shape"),
    ("relative_attention_num_buckets", 2, "relative_attention_num_buckets"),
    ("feed_forward_proj", "gated-gelu-relu", "feed_forward_proj"),
])
def test_t5_inconsistent_config(kiln_bin, tmp_path, key, value, phrase):
    d = tmp_path / "t5"
    shutil.copytree(T5, d)
    cfg = _config(d)
    cfg[key] = value
    (d / "config.json").write_text(json.dumps(cfg))
    expect_error(run_kiln(["run", "--model_dir", d, "--input_ids", "5,6,1", "--max_new_tokens",
                           "2"]), phrase)


def test_t5_build_inconsistent_config(kiln_bin, tmp_path):
    # kiln build validates the config like a loaded one
    proc = run_kiln(["build", "--model_type", "t5", "--config", "d_model=32", "--config",
                     "relative_attention_num_buckets=8", "--config",
                     "relative_attention_max_distance=3", "--output_dir", tmp_path / "e",
                     "--dtype", "float32"])
    expect_error(proc, "relative_attention_max_distance")
