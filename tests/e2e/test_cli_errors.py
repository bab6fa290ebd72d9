"""Bad input gets a clear error and a non-zero exit — never a crash, a hang or silent truncation.

Each case runs the real CLI on a damaged copy of a fixture and checks the exit code (1, not a
signal), the "kiln: error:" prefix and a phrase that names the problem.
"""
from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from conftest import FIXTURES_DIR, describe, run_kiln

BASE = FIXTURES_DIR / "gpt2" / "base_gelu_new"


def expect_error(proc, *phrases: str) -> None:
    assert proc.returncode == 1, describe(proc)
    assert "kiln: error:" in proc.stderr, describe(proc)
    for p in phrases:
        assert p.lower() in proc.stderr.lower(), f"missing {p!r}\n" + describe(proc)


@pytest.fixture
def model_copy(tmp_path: Path) -> Path:
    d = tmp_path / "model"
    shutil.copytree(BASE, d)
    return d


def run_ids(model: Path, ids: str = "1,2,3", *extra: str):
    return run_kiln(["run", "--model_dir", str(model), "--input_ids", ids, "--max_new_tokens", "4",
                     *extra], timeout=60)


def rewrite_header(path: Path, edit) -> None:
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    edit(header)
    new = json.dumps(header).encode()
    new += b" " * ((8 - len(new) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(new)) + new + raw[8 + n:])


def test_good_model_runs(model_copy):
    proc = run_ids(model_copy)
    assert proc.returncode == 0, describe(proc)


def test_missing_model_dir(tmp_path):
    expect_error(run_ids(tmp_path / "nope"), "does not exist")


def test_missing_safetensors(model_copy):
    (model_copy / "model.safetensors").unlink()
    expect_error(run_ids(model_copy), "safetensors")


def test_truncated_safetensors(model_copy):
    f = model_copy / "model.safetensors"
    f.write_bytes(f.read_bytes()[:-100])
    expect_error(run_ids(model_copy), "model.safetensors")


def test_tiny_file(model_copy):
    (model_copy / "model.safetensors").write_bytes(b"\x01\x02")
    expect_error(run_ids(model_copy), "model.safetensors")


def test_absurd_header_length(model_copy):
    f = model_copy / "model.safetensors"
    raw = f.read_bytes()
    f.write_bytes(struct.pack("<Q", 1 << 60) + raw[8:])
    expect_error(run_ids(model_copy), "header")


def test_garbage_header(model_copy):
    f = model_copy / "model.safetensors"
    raw = f.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    f.write_bytes(raw[:8] + b"{" + b"x" * (n - 1) + raw[8 + n:])
    expect_error(run_ids(model_copy), "model.safetensors")


def test_offsets_out_of_range(model_copy):
    def edit(h):
        name = next(k for k in h if k != "__metadata__")
        b, e = h[name]["data_offsets"]
        h[name]["data_offsets"] = [b, e + 10**9]
    rewrite_header(model_copy / "model.safetensors", edit)
    expect_error(run_ids(model_copy), "model.safetensors")


def test_dtype_size_mismatch(model_copy):
    def edit(h):
        name = next(k for k in h if k != "__metadata__" and h[k]["dtype"] == "F32")
        h[name]["dtype"] = "F16"
    rewrite_header(model_copy / "model.safetensors", edit)
    expect_error(run_ids(model_copy), "model.safetensors")


def test_unknown_dtype(model_copy):
    def edit(h):
        name = next(k for k in h if k != "__metadata__")
        h[name]["dtype"] = "F12"
    rewrite_header(model_copy / "model.safetensors", edit)
    expect_error(run_ids(model_copy), "F12")


def test_missing_weight(model_copy):
    def edit(h):
        h.pop("transformer.ln_f.bias")
        # keep the data section exactly covered: shrink nothing, so the reader must notice the gap
    rewrite_header(model_copy / "model.safetensors", edit)
    expect_error(run_ids(model_copy))


def edit_config(model: Path, **changes) -> None:
    cfg = json.loads((model / "config.json").read_text())
    for k, v in changes.items():
        if v is None:
            cfg.pop(k, None)
        else:
            cfg[k] = v
    (model / "config.json").write_text(json.dumps(cfg))


def test_missing_config(model_copy):
    (model_copy / "config.json").unlink()
    expect_error(run_ids(model_copy), "config.json")


def test_malformed_config_json(model_copy):
    (model_copy / "config.json").write_text('{"model_type": "gpt2", "n_embd": ')
    expect_error(run_ids(model_copy), "config.json")


def test_unknown_model_type(model_copy):
    edit_config(model_copy, model_type="gpt5")
    expect_error(run_ids(model_copy), "unsupported model_type 'gpt5'")


def test_missing_model_type(model_copy):
    edit_config(model_copy, model_type=None)
    expect_error(run_ids(model_copy), "model_type")


def test_config_wrong_type(model_copy):
    edit_config(model_copy, n_embd="big")
    expect_error(run_ids(model_copy), "n_embd")


def test_config_heads_do_not_divide(model_copy):
    cfg = json.loads((model_copy / "config.json").read_text())
    edit_config(model_copy, n_head=cfg["n_embd"] + 1)
    expect_error(run_ids(model_copy), "divisible")


def test_config_unknown_activation(model_copy):
    edit_config(model_copy, activation_function="gelu_newest")
    expect_error(run_ids(model_copy), "gelu_newest")


def test_config_shape_disagrees_with_weights(model_copy):
    cfg = json.loads((model_copy / "config.json").read_text())
    edit_config(model_copy, vocab_size=cfg["vocab_size"] + 1)
    expect_error(run_ids(model_copy), "shape")


def test_id_outside_vocab(model_copy):
    vocab = json.loads((model_copy / "config.json").read_text())["vocab_size"]
    expect_error(run_ids(model_copy, f"1,{vocab},2"), "outside the vocabulary")


def test_negative_id(model_copy):
    expect_error(run_ids(model_copy, "1,-5,2"), "outside the vocabulary")


@pytest.mark.parametrize("ids", ["", " ", "1,,2", "1,a", "1.5", "99999999999"])
def test_malformed_ids(model_copy, ids):
    expect_error(run_ids(model_copy, ids), "input_ids")


def test_prompt_longer_than_positions(model_copy):
    n_pos = json.loads((model_copy / "config.json").read_text())["n_positions"]
    ids = ",".join(["1"] * (n_pos + 1))
    expect_error(run_ids(model_copy, ids), "longer than the model's")


def test_prompt_plus_new_tokens_over_positions(model_copy):
    n_pos = json.loads((model_copy / "config.json").read_text())["n_positions"]
    ids = ",".join(["1"] * (n_pos - 2))
    expect_error(run_ids(model_copy, ids), "exceeds the model's")


def test_empty_text_prompt_without_tokenizer(model_copy):
    proc = run_kiln(["run", "--model_dir", str(model_copy), "--input_text", "hello"])
    expect_error(proc, "tokenizer")


@pytest.mark.parametrize("flags", [["--max_new_tokens", "-1"], ["--max_new_tokens", "abc"],
                                   ["--temperature", "0", "--do_sample"], ["--top_p", "2"],
                                   ["--bogus_flag"], ["--tokens_per_block", "0"]])
def test_bad_flags(model_copy, flags):
    proc = run_ids(model_copy, "1,2", *flags)
    assert proc.returncode != 0 and proc.returncode < 128, describe(proc)
    assert proc.stderr.strip(), describe(proc)


def test_no_prompt_and_both_dirs(model_copy):
    expect_error(run_kiln(["run", "--model_dir", str(model_copy)]), "prompts")
    expect_error(run_kiln(["run", "--model_dir", str(model_copy), "--engine_dir", str(model_copy),
                           "--input_ids", "1"]), "exactly one")


def test_bad_convert_dtype(model_copy, tmp_path):
    proc = run_kiln(["convert", "--model_dir", str(model_copy), "--output_dir",
                     str(tmp_path / "o"), "--dtype", "float13"])
    expect_error(proc, "float13")
