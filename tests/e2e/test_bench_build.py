"""`kiln build` (random weights from flags) and `kiln bench` (CPU) as a user runs them."""
from __future__ import annotations

import csv
import json

from conftest import describe, run_kiln

ARCH = ["--model_type", "gpt2", "--n_layer", "2", "--n_embd", "64", "--n_head", "4",
        "--vocab_size", "300", "--n_positions", "128"]


def test_build_then_run(tmp_path):
    out = tmp_path / "ckpt"
    proc = run_kiln(["build", *ARCH, "--output_dir", str(out), "--dtype", "float16"])
    assert proc.returncode == 0, describe(proc)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["n_layer"] == 2 and cfg["kiln_checkpoint"]["dtype"] == "float16"
    res = tmp_path / "o.json"
    proc = run_kiln(["run", "--engine_dir", str(out), "--input_ids", "1,2,3", "--max_new_tokens",
                     "5", "--output_json", str(res)])
    assert proc.returncode == 0, describe(proc)
    ids = json.loads(res.read_text())["output_ids"][0]
    assert len(ids) == 5 and all(0 <= t < 300 for t in ids)


def test_bench_cpu_csv(tmp_path):
    out = tmp_path / "b.csv"
    proc = run_kiln(["bench", *ARCH, "--batch_size", "1;3", "--input_output_len", "8,4;16,2",
                     "--csv", str(out)], timeout=300)
    assert proc.returncode == 0, describe(proc)
    assert "roofline: copy bandwidth" in proc.stdout
    rows = list(csv.DictReader(out.open()))
    assert [(r["batch"], r["input_len"], r["output_len"]) for r in rows] == [
        ("1", "8", "4"), ("3", "8", "4"), ("1", "16", "2"), ("3", "16", "2")]
    for r in rows:
        assert float(r["output_tok_s"]) > 0 and float(r["first_token_ms"]) > 0


def test_bench_bad_lists():
    for flags in (["--batch_size", "1;x"], ["--input_output_len", "8"], ["--batch_size", "0"]):
        proc = run_kiln(["bench", *ARCH, *flags])
        assert proc.returncode == 1 and "kiln: error:" in proc.stderr, describe(proc)


def test_build_needs_model_type(tmp_path):
    proc = run_kiln(["build", "--output_dir", str(tmp_path / "x")])
    assert proc.returncode == 1 and "--model_type" in proc.stderr, describe(proc)


def test_cuda_device_without_cuda_build_or_gpu():
    proc = run_kiln(["bench", *ARCH, "--device", "cuda", "--batch_size", "1",
                     "--input_output_len", "4,2"])
    # A CPU-only build says it has no CUDA backend; a CUDA build without a GPU says so too.
    assert proc.returncode == 1 and "cuda" in proc.stderr.lower(), describe(proc)
    proc = run_kiln(["bench", *ARCH, "--device", "tpu"])
    assert proc.returncode == 1 and "--device" in proc.stderr, describe(proc)
