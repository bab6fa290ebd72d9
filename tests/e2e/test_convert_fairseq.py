"""FairSeq transformer NMT: tools/convert_fairseq.py on the seeded fixtures, and `kiln run` on the result.

tests/fixtures/fairseq/<name>/ holds checkpoint.pt + dict.src.txt / dict.tgt.txt, the converted/
kiln checkpoint (committed, so the C++ parity tests need no Python) and expected.json
(tools/make_fairseq_fixture.py: golden outputs of its pure-torch fairseq reference). Here:

* the converter reproduces converted/ byte for byte from checkpoint.pt (needs torch);
* broken or unsupported checkpoints fail with exit code 1 and a message naming the problem;
* `kiln run --engine_dir converted/` reproduces the golden ids;
* options the fixtures leave out (no_token_positional_embeddings, no_decoder_final_norm,
  relu_squared, swish, fp16 storage) convert and run as the pure-torch reference decodes.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES_DIR, REPO_ROOT, run_kiln_json

FS_FIXTURES = FIXTURES_DIR / "fairseq"
CONVERTER = REPO_ROOT / "tools" / "convert_fairseq.py"
NAMES = sorted(p.parent.name for p in FS_FIXTURES.glob("*/expected.json"))
BASE = "preln_learned_unshared_gelu"  # the base of the bad checkpoints


def _expected(name: str) -> dict:
    return json.loads((FS_FIXTURES / name / "expected.json").read_text(encoding="utf-8"))


def _convert(ckpt: Path, data: Path, out: Path, *extra) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(CONVERTER), "--checkpoint", str(ckpt), "--data_dir",
                           str(data), "--output_dir", str(out), *extra],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("name", NAMES)
def test_converter_reproduces_committed_checkpoint(torch, tmp_path, name):
    out = tmp_path / "ckpt"
    proc = _convert(FS_FIXTURES / name / "checkpoint.pt", FS_FIXTURES / name, out)
    assert proc.returncode == 0, proc.stderr
    want_dir = FS_FIXTURES / name / "converted"
    want = sorted(p.name for p in want_dir.iterdir())
    assert sorted(p.name for p in out.iterdir()) == want
    for f in want:
        assert (out / f).read_bytes() == (want_dir / f).read_bytes(), f"{name}/converted/{f} differs"


# ---------------------------------------------------------------------------------------------
# Bad checkpoints: the base fixture with one thing broken.
def _load(torch):
    return torch.load(FS_FIXTURES / BASE / "checkpoint.pt", weights_only=False)


def _model_cfg(ck):
    return ck["cfg"]["model"]  # a Namespace in the base fixture


def _set(**kw):
    def edit(ck):
        for k, v in kw.items():
            setattr(_model_cfg(ck), k, v)
    return edit


def _drop(key):
    return lambda ck: ck["model"].pop(key)


def _add(key, shape):
    def edit(ck):
        import torch
        ck["model"][key] = torch.zeros(shape)
    return edit


def _reshape(key):
    def edit(ck):
        ck["model"][key] = ck["model"][key][:-1]
    return edit


def _no_config(ck):
    ck["cfg"] = None
    ck["args"] = None


class Opaque:  # a pickled object weights_only loading refuses
    pass


def _opaque(ck):
    ck["extra_state"] = {"obj": Opaque()}


BAD = {
    "adaptive_softmax": (_set(adaptive_softmax_cutoff="100,200"), "adaptive_softmax_cutoff"),
    "adaptive_input": (_set(adaptive_input=True), "adaptive_input"),
    "cross_self_attention": (_set(cross_self_attention=True), "cross_self_attention"),
    "project_out_dim": (_set(decoder_output_dim=16), "decoder_output_dim"),
    "normformer": (_set(scale_attn=True), "NormFormer"),
    "activation": (_set(activation_fn="softplus"), "activation_fn 'softplus'"),
    "not_transformer": (_set(arch="lstm"), "not a fairseq transformer"),
    "heads": (_set(decoder_attention_heads=5), "not divisible by decoder_attention_heads"),
    "layers": (_set(encoder_layers=4), "encoder_layers = 4 but the state dict has 3"),
    "missing_tensor": (_drop("decoder.layers.1.fc2.bias"), "no 'decoder.layers.1.fc2.bias'"),
    "missing_final_norm": (_drop("encoder.layer_norm.weight"), "encoder.layer_norm.weight"),
    "bad_shape": (_reshape("decoder.embed_positions.weight"), "decoder.embed_positions.weight"),
    "unknown_tensor": (_add("decoder.layers.0.attn_ln.weight", (32,)),
                       "does not know: decoder.layers.0.attn_ln.weight"),
    "bias_kv": (_add("encoder.layers.0.self_attn.bias_k", (1, 1, 24)), "add_bias_kv"),
    "no_config": (_no_config, "no model configuration"),
    "pickled_object": (_opaque, "--allow_pickle"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_checkpoint_is_a_clear_error(torch, tmp_path, case):
    edit, message = BAD[case]
    ck = _load(torch)
    edit(ck)
    path = tmp_path / "bad.pt"
    torch.save(ck, path)
    proc = _convert(path, FS_FIXTURES / BASE, tmp_path / "out")
    assert proc.returncode == 1, (case, proc.stdout, proc.stderr)
    assert "convert_fairseq: error:" in proc.stderr and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr


def test_bad_files_and_dictionaries(torch, tmp_path):
    src = FS_FIXTURES / BASE
    # Not a checkpoint at all / no such file / not a dict with "model".
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    for path, msg in ((junk, "cannot load the checkpoint"), (tmp_path / "nope.pt", "no such file")):
        proc = _convert(path, src, tmp_path / "out")
        assert proc.returncode == 1 and msg in proc.stderr, proc.stderr
    torch.save({"weights": {}}, tmp_path / "nomodel.pt")
    proc = _convert(tmp_path / "nomodel.pt", src, tmp_path / "out")
    assert proc.returncode == 1 and "not a fairseq checkpoint" in proc.stderr, proc.stderr
    # No dictionaries; a dictionary of the wrong size; a malformed dictionary line.
    data = tmp_path / "data"
    data.mkdir()
    proc = _convert(src / "checkpoint.pt", data, tmp_path / "out")
    assert proc.returncode == 1 and "no dictionaries" in proc.stderr, proc.stderr
    shutil.copy(src / "dict.src.txt", data)
    (data / "dict.tgt.txt").write_text((src / "dict.tgt.txt").read_text() + "extra 1\n")
    proc = _convert(src / "checkpoint.pt", data, tmp_path / "out")
    assert proc.returncode == 1 and "target dictionary" in proc.stderr, proc.stderr
    (data / "dict.tgt.txt").write_text("word-without-count\n")
    proc = _convert(src / "checkpoint.pt", data, tmp_path / "out")
    assert proc.returncode == 1 and "dict.tgt.txt:1" in proc.stderr, proc.stderr


def test_dtype_and_language_dictionaries(torch, tmp_path):
    """--dtype float16; dictionaries found by the config's source_lang / target_lang."""
    src = FS_FIXTURES / BASE
    ck = _load(torch)
    ck["cfg"]["task"].update(source_lang="de", target_lang="en")
    torch.save(ck, tmp_path / "model.pt")
    shutil.copy(src / "dict.src.txt", tmp_path / "dict.de.txt")
    shutil.copy(src / "dict.tgt.txt", tmp_path / "dict.en.txt")
    proc = _convert(tmp_path / "model.pt", tmp_path, tmp_path / "out", "--dtype", "float16")
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads((tmp_path / "out" / "config.json").read_text())
    assert cfg["kiln_checkpoint"]["dtype"] == "float16"
    assert cfg["model_type"] == "fairseq" and cfg["position_embedding_type"] == "learned"


# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_kiln_run_converted_engine(kiln_bin, tmp_path, name):
    engine = FS_FIXTURES / name / "converted"
    for c in _expected(name)["cases"]:
        args = ["run", "--engine_dir", engine, "--max_new_tokens", str(c["max_new_tokens"])]
        for p in c["prompts"]:
            args += ["--input_ids", ",".join(map(str, p))]
        out = run_kiln_json(args, tmp_path / f"{c['name']}.json")
        assert out["output_ids"] == c["outputs"], c["name"]


# Options the committed fixtures do not carry: a fresh seeded model, converted and run by kiln,
# against tools/make_fairseq_fixture.py's reference.
VARIANTS = {
    "no_positions_relu_squared": dict(
        no_token_positional_embeddings=True, activation_fn="relu_squared",
        encoder_normalize_before=True, decoder_normalize_before=True, no_decoder_final_norm=True),
    "swish_layernorm_embedding_shared_io": dict(
        activation_fn="swish", layernorm_embedding=True, share_decoder_input_output_embed=True,
        decoder_learned_pos=False, encoder_learned_pos=False, no_scale_embedding=True),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_more_options_against_reference(torch, kiln_bin, tmp_path, variant):
    sys.path.insert(0, str(REPO_ROOT / "tools"))
    import make_fairseq_fixture as mk
    spec = dict(layout="args", seed=21, src_words=30, tgt_words=26,
                args=dict(encoder_embed_dim=16, encoder_ffn_embed_dim=24, encoder_layers=2,
                          encoder_attention_heads=2, decoder_embed_dim=16, decoder_ffn_embed_dim=20,
                          decoder_layers=2, decoder_attention_heads=4, max_source_positions=32,
                          max_target_positions=40, **VARIANTS[variant]))
    for attempt in range(64):
        a, sd, src_txt, tgt_txt, cases = mk.generate(spec, spec["seed"] + 1000 * attempt)
        if mk.good(cases):
            break
    torch.save(mk.checkpoint("args", a, sd), tmp_path / "model.pt")
    (tmp_path / "dict.src.txt").write_text(src_txt)
    (tmp_path / "dict.tgt.txt").write_text(tgt_txt)
    proc = _convert(tmp_path / "model.pt", tmp_path, tmp_path / "ckpt")
    assert proc.returncode == 0, proc.stderr
    for c in cases:
        args = ["run", "--engine_dir", tmp_path / "ckpt", "--max_new_tokens",
                str(c["max_new_tokens"])]
        for p in c["prompts"]:
            args += ["--input_ids", ",".join(map(str, p))]
        out = run_kiln_json(args, tmp_path / f"{c['name']}.json")
        assert out["output_ids"] == c["outputs"], (variant, c["name"])
