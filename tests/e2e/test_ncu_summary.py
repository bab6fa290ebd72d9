"""tools/ncu_summary.py on a synthetic ncu CSV: grouping, units, skip and ordering."""
import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[2] / "tools" / "ncu_summary.py"
HEADER = ('"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream",'
          '"Block Size","Grid Size","Device","CC","Section Name","Metric Name","Metric Unit",'
          '"Metric Value"')


def row(i, name, grid, unit, value):
    return (f'"{i}","1","kiln","h","void {name}(int *)","1","7","(128, 1, 1)","{grid}","0","9.0",'
            f'"Command line profiler metrics","gpu__time_duration.sum","{unit}","{value}"')


def test_groups_by_kernel_and_grid(tmp_path):
    lines = ["==PROF== Connected", HEADER,
             row(0, "prefill_kernel", "(9, 1, 1)", "usecond", "999"),  # skipped
             row(1, "gemv", "(300, 1, 1)", "ns", "5,000"),
             row(2, "gemv", "(300, 1, 1)", "ns", "7,000"),
             row(3, "gemv", "(100, 1, 1)", "ns", "3,000"),
             row(4, "attn", "(25, 1, 1)", "usecond", "20")]
    path = tmp_path / "ncu.csv"
    path.write_text("\n".join(lines) + "\n")
    out = subprocess.run([sys.executable, str(TOOL), str(path), "--skip", "1"], check=True,
                         capture_output=True, text=True).stdout.splitlines()
    assert out[0] == "4 launches, 35.0 us in all"
    body = [l.split() for l in out[2:]]
    assert body[0][:3] == ["1", "20.00", "20.0"] and body[0][3] == "attn"
    assert body[1][:3] == ["2", "6.00", "12.0"] and body[1][3] == "gemv" and "(300," in out[3]
    assert body[2][:3] == ["1", "3.00", "3.0"] and "(100," in out[4]
    assert not any("prefill_kernel" in l for l in out)
