"""GPT-Next: tools/convert_nemo.py on the seeded .nemo fixtures, and `kiln run` on the result.

tests/fixtures/gpt_next/<name>/ holds model.nemo, the converted/ kiln checkpoint (committed, so the
C++ parity tests need no Python) and expected.json (tools/make_nemo_fixture.py: golden outputs of
its pure-torch Megatron reference). Here:

* the converter reproduces converted/ byte for byte from model.nemo (needs torch and PyYAML);
* broken or unsupported archives fail with exit code 1 and a message naming the problem;
* the converted tokenizer.json (through HF `tokenizers`) encodes and decodes like SentencePiece
  itself over a text corpus (needs sentencepiece);
* `kiln run --engine_dir converted/` reproduces the golden ids from ids and from text.
"""
from __future__ import annotations

import io
import json
import random
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import FIXTURES_DIR, REPO_ROOT, run_kiln_json

NEMO_FIXTURES = FIXTURES_DIR / "gpt_next"
CONVERTER = REPO_ROOT / "tools" / "convert_nemo.py"
NAMES = sorted(p.parent.name for p in NEMO_FIXTURES.glob("*/expected.json"))
LEGACY = "rotary50_untied_layernorm"  # legacy NeMo names: the base of the bad archives


def _expected(name: str) -> dict:
    return json.loads((NEMO_FIXTURES / name / "expected.json").read_text(encoding="utf-8"))


def _convert(nemo: Path, out: Path, *extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CONVERTER), "--nemo", str(nemo), "--output_dir",
                           str(out), *extra], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def converter_deps():
    pytest.importorskip("torch")
    pytest.importorskip("yaml")


@pytest.mark.parametrize("name", NAMES)
def test_converter_reproduces_committed_checkpoint(converter_deps, tmp_path, name):
    out = tmp_path / "ckpt"
    proc = _convert(NEMO_FIXTURES / name / "model.nemo", out)
    assert proc.returncode == 0, proc.stderr
    want_dir = NEMO_FIXTURES / name / "converted"
    want = sorted(p.name for p in want_dir.iterdir())
    assert sorted(p.name for p in out.iterdir()) == want
    for f in want:
        assert (out / f).read_bytes() == (want_dir / f).read_bytes(), f"{name}/converted/{f} differs"


# ---------------------------------------------------------------------------------------------
# Bad archives: each is the first fixture's archive with one thing broken.
def _members(nemo: Path) -> dict[str, bytes]:
    with tarfile.open(nemo) as tar:
        return {m.name.removeprefix("./"): tar.extractfile(m).read() for m in tar.getmembers()
                if m.isfile()}


def _write(path: Path, files: dict[str, bytes], gz: bool = False) -> Path:
    with tarfile.open(path, "w:gz" if gz else "w") as tar:
        for name, data in files.items():
            ti = tarfile.TarInfo("./" + name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return path


def _with_yaml(files: dict, **changes) -> dict:
    import yaml
    cfg = yaml.safe_load(files["model_config.yaml"])
    cfg.update(changes)
    return dict(files, **{"model_config.yaml": yaml.safe_dump(cfg).encode()})


def _with_weights(files: dict, edit) -> dict:
    import torch
    sd = torch.load(io.BytesIO(files["model_weights.ckpt"]), weights_only=True)
    edit(sd)
    buf = io.BytesIO()
    torch.save(sd, buf)
    return dict(files, **{"model_weights.ckpt": buf.getvalue()})


def _add_bias(sd):
    import torch
    sd["model.language_model.encoder.layers.0.self_attention.dense.bias"] = torch.zeros(32)


def _widen_qkv(sd):
    import torch
    k = "model.language_model.encoder.layers.1.self_attention.query_key_value.weight"
    sd[k] = torch.zeros(sd[k].shape[0] + 3, sd[k].shape[1])


BAD = {
    "not_a_tar": (lambda f: None, "not a .nemo archive"),
    "no_yaml": (lambda f: {k: v for k, v in f.items() if k != "model_config.yaml"},
                "no model_config.yaml"),
    "no_weights": (lambda f: {k: v for k, v in f.items() if k != "model_weights.ckpt"},
                   "no model_weights.ckpt"),
    "no_tokenizer": (lambda f: {k: v for k, v in f.items() if k != "tokenizer.model"},
                     "tokenizer model 'nemo:tokenizer.model' is not in the archive"),
    "hidden_mismatch": (lambda f: _with_yaml(f, hidden_size=48), "has shape"),
    "qkv_mismatch": (lambda f: _with_weights(f, _widen_qkv), "query_key_value.weight' has shape"),
    "bias_in_yaml": (lambda f: _with_yaml(f, bias=True), "bias: true"),
    "bias_in_weights": (lambda f: _with_weights(f, _add_bias), "linear biases are not supported"),
    "learned_positions": (lambda f: _with_yaml(f, position_embedding_type="learned_absolute"),
                          "position_embedding_type 'learned_absolute'"),
    "gelu": (lambda f: _with_yaml(f, activation="gelu"), "activation 'gelu'"),
    "tensor_parallel": (lambda f: _with_yaml(f, tensor_model_parallel_size=2),
                        "tensor_model_parallel_size 2"),
    "missing_layer": (lambda f: _with_yaml(f, num_layers=3), "missing weight"),
    "extra_layer": (lambda f: _with_yaml(f, num_layers=1), "unexpected weights"),
    "bad_yaml": (lambda f: dict(f, **{"model_config.yaml": b"a: [unclosed"}), "not valid YAML"),
    "bad_tokenizer": (lambda f: dict(f, **{"tokenizer.model": b"\xff\xff\xff"}),
                      "not a SentencePiece model"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_archive_is_a_clear_error(converter_deps, tmp_path, case):
    src = NEMO_FIXTURES / LEGACY / "model.nemo"
    make, message = BAD[case]
    files = make(_members(src))
    nemo = tmp_path / "bad.nemo"
    if files is None:
        nemo.write_bytes(b"this is not a tar file")
    else:
        _write(nemo, files)
    proc = _convert(nemo, tmp_path / "out")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "convert_nemo: error:" in proc.stderr and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_gzipped_archive_and_dtype(converter_deps, tmp_path):
    src = NEMO_FIXTURES / LEGACY
    nemo = _write(tmp_path / "m.nemo", _members(src / "model.nemo"), gz=True)
    proc = _convert(nemo, tmp_path / "gz")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "gz" / "model.safetensors").read_bytes() == \
        (src / "converted" / "model.safetensors").read_bytes()
    proc = _convert(nemo, tmp_path / "f32", "--dtype", "float32")
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads((tmp_path / "f32" / "config.json").read_text())
    assert cfg["kiln_checkpoint"]["dtype"] == "float32"


# ---------------------------------------------------------------------------------------------
def _corpus() -> list[str]:
    rnd = random.Random(7)
    words = ("the quick brown fox kiln tokens river 42 1999 3.14 café naïve Straße 東京 🙂 "
             "attention weight\tx \n  double  spaces Unicode über ÆØÅ").split(" ")
    texts = ["", " ", "   ", "a", " a", "a ", "  a  b  ", "\n", "\t\t", "x\ny"]
    for _ in range(300):
        texts.append("".join(rnd.choice(words) + rnd.choice([" ", "", "  ", "\n"])
                             for _ in range(rnd.randint(1, 12))))
    return texts


@pytest.mark.parametrize("name", NAMES)
def test_tokenizer_json_matches_sentencepiece(name):
    spm = pytest.importorskip("sentencepiece")
    tokenizers = pytest.importorskip("tokenizers")
    d = NEMO_FIXTURES / name / "converted"
    sp = spm.SentencePieceProcessor(model_file=str(d / "tokenizer.model"))
    tok = tokenizers.Tokenizer.from_file(str(d / "tokenizer.json"))
    for text in _corpus():
        ids = sp.encode(text)
        assert tok.encode(text, add_special_tokens=False).ids == ids, repr(text)
        assert tok.decode(ids, skip_special_tokens=False) == sp.decode(ids), repr(text)


# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_kiln_run_converted_engine(kiln_bin, tmp_path, name):
    engine = NEMO_FIXTURES / name / "converted"
    for c in _expected(name)["cases"]:
        args = ["run", "--engine_dir", engine, "--max_new_tokens", str(c["max_new_tokens"])]
        for p in c["prompts"]:
            args += ["--input_ids", ",".join(map(str, p))]
        out = run_kiln_json(args, tmp_path / f"{c['name']}.json")
        assert out["output_ids"] == c["outputs"], c["name"]
        if "prompt_texts" not in c:
            continue
        args = ["run", "--engine_dir", engine, "--max_new_tokens", str(c["max_new_tokens"])]
        for t in c["prompt_texts"]:
            args += ["--input_text", t]
        out = run_kiln_json(args, tmp_path / f"{c['name']}_text.json")
        assert out["output_ids"] == c["outputs"], c["name"]
        assert out["output_text"] == c["output_texts"], c["name"]
