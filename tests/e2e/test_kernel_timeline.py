"""tools/kernel_timeline.py on a synthetic `kiln bench --kernel_timeline` CSV: case selection,
graph-only filter, steps split at idle gaps, durations and leads (overlap under PDL negative);
and the bench flag's clear error on a CPU device."""
import subprocess
import sys
from pathlib import Path

from conftest import describe, run_kiln

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "kernel_timeline.py"
HEADER = "batch,input_len,output_len,start_ns,end_ns,grid,block,stream,graph,correlation,name"


def row(case, start, end, grid, graph, name):
    return f'{case},{start},{end},{grid},128,7,{graph},1,"{name}"'


def run(path, *args):
    return subprocess.run([sys.executable, str(TOOL), str(path), *args], check=True,
                          capture_output=True, text=True).stdout.splitlines()


def test_groups_graph_kernels_per_case(tmp_path):
    c = "1,128,128"
    lines = [HEADER,
             row(c, 0, 50_000, 9, 0, "prefill"),  # not a graph node
             # step 1: gemv 1..5 us, attn starts 0.5 us before gemv ends (PDL), gemv 2 us after
             row(c, 100_000, 105_000, 300, 3, "_Z4gemvPf"),
             row(c, 104_500, 108_000, 25, 3, "_Z4attnPf"),
             row(c, 110_000, 114_000, 300, 3, "_Z4gemvPf"),
             # step 2 after a 100 us idle gap: its first kernel's lead is not counted
             row(c, 214_000, 220_000, 300, 3, "_Z4gemvPf"),
             row(c, 219_000, 222_000, 25, 3, "_Z4attnPf"),
             row("8,128,128", 0, 1_000, 1, 3, "other_case")]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n")
    out = run(path)
    assert out[0].startswith("case 1,128,128: 5 kernels in 2 steps")
    body = {l.split()[-3]: l.split() for l in out[2:]}
    assert set(body) == {"gemv", "attn"}
    gemv, attn = body["gemv"], body["attn"]
    assert gemv[:3] == ["3", "5.00", "15.0"] and gemv[3] == "2.00"  # one lead: 110 - 108 us
    assert attn[:3] == ["2", "3.25", "6.5"] and attn[3] == "-0.75"  # leads -0.5 and -1.0 us
    # increments (end - the latest end before): gemv 114 - 108 = 6 (step 2's first has none);
    # attn 108 - 105 = 3 and 222 - 220 = 2; per step: summed over the 2 steps / 2
    assert gemv[4:6] == ["6.00", "3.0"] and attn[4:6] == ["2.50", "2.5"]
    by_pred = {}
    for l in run(path, "--by_predecessor")[2:]:
        fields, pred = l.split(" <- ")
        by_pred[(fields.split()[-3], pred)] = fields.split()
    assert set(by_pred) == {("gemv", "(step start)"), ("gemv", "attn/25"), ("attn", "gemv/300")}
    assert by_pred[("gemv", "(step start)")][:2] == ["2", "5.50"]  # 5 and 6 us, no increments
    assert by_pred[("gemv", "attn/25")][4] == "6.00"
    assert by_pred[("attn", "gemv/300")][4] == "2.50"
    assert not any("prefill" in l or "other_case" in l for l in out)
    assert "1 kernels" in run(path, "--case", "8,128,128")[0]
    assert "6 kernels" in run(path, "--all")[0]


def test_bench_flag_needs_cuda(tmp_path):
    r = run_kiln(["bench", "--model_type", "gpt2", "--n_layer", "1", "--n_embd", "64", "--n_head",
                  "2", "--vocab_size", "100", "--n_positions", "64", "--batch_size", "1",
                  "--input_output_len", "4,4", "--skip_roofline", "--device", "cpu",
                  "--kernel_timeline", str(tmp_path / "t.csv")])
    assert r.returncode != 0, describe(r)
    assert "--kernel_timeline needs a CUDA device" in r.stderr, describe(r)
    assert "kiln bench:" not in r.stdout, describe(r)  # refused before the model loads
