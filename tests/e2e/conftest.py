"""Shared helpers for the end-to-end tests (pytest + stdlib only; no torch / transformers).

Module-level functions (importable as ``from conftest import run_kiln`` from tests in this folder)
and fixtures:

* ``REPO_ROOT``, ``FIXTURES_DIR``, ``SHARED_DIR``: paths. The repo checkout sits next to the
  shared data folder (``<repo>/../shared``).
* ``kiln_bin_path()``: ``$KILN_BIN`` or ``build/kiln`` (relative paths resolve against the repo root).
* ``run_kiln(args, timeout=120)``: run the binary from the repo root, capture text output, return
  the ``subprocess.CompletedProcess`` (never raises on a non-zero exit; a timeout fails the test).
* ``run_kiln_json(args, out_path)``: run with ``--output_json out_path``, fail with the command,
  exit code and output when it does not succeed, and return the parsed JSON.
* fixtures ``repo_root``, ``kiln_bin`` (skips when the default binary is not built; fails when an
  explicit ``$KILN_BIN`` does not exist), ``kiln`` (= ``run_kiln`` after ``kiln_bin``), ``kiln_json``.
"""
from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path
from typing import Sequence

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES_DIR = REPO_ROOT / "tests" / "fixtures"
# KILN_SHARED_DIR: where the shared data lives when it is not beside the checkout (GPU host).
SHARED_DIR = Path(os.environ.get("KILN_SHARED_DIR", REPO_ROOT / ".." / "shared")).resolve()
DEFAULT_TIMEOUT_S = 120


def kiln_bin_path() -> Path:
    p = Path(os.environ.get("KILN_BIN", "build/kiln"))
    return p if p.is_absolute() else REPO_ROOT / p


def _fmt_cmd(cmd: Sequence[str]) -> str:
    return " ".join(shlex.quote(str(c)) for c in cmd)


def run_kiln(args: Sequence[str], timeout: float = DEFAULT_TIMEOUT_S,
             **kwargs) -> subprocess.CompletedProcess:
    """Run ``kiln ARGS...`` from the repo root; returns the CompletedProcess (text mode)."""
    cmd = [str(kiln_bin_path()), *[str(a) for a in args]]
    try:
        return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"kiln timed out after {timeout} s: {_fmt_cmd(cmd)}\n"
                    f"stdout:\n{e.stdout}\nstderr:\n{e.stderr}")


def describe(proc: subprocess.CompletedProcess) -> str:
    """Command line, exit code and (tail of) the output of a finished kiln process."""
    return (f"$ {_fmt_cmd(proc.args)}\nexit code {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}")


def run_kiln_json(args: Sequence[str], out_path: Path | str,
                  timeout: float = DEFAULT_TIMEOUT_S) -> dict:
    """Run kiln with ``--output_json out_path``; require success and return the parsed JSON."""
    out_path = Path(out_path)
    if out_path.exists():
        out_path.unlink()
    proc = run_kiln([*args, "--output_json", str(out_path)], timeout=timeout)
    assert proc.returncode == 0, f"kiln failed\n{describe(proc)}"
    assert out_path.is_file(), f"kiln did not write {out_path}\n{describe(proc)}"
    try:
        return json.loads(out_path.read_text())
    except json.JSONDecodeError as e:
        pytest.fail(f"--output_json is not valid JSON ({e})\n{describe(proc)}")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def kiln_bin() -> Path:
    p = kiln_bin_path()
    if not p.is_file():
        if "KILN_BIN" in os.environ:
            pytest.fail(f"KILN_BIN={os.environ['KILN_BIN']} does not exist")
        pytest.skip(f"kiln binary not built ({p}); build it or set KILN_BIN")
    return p


@pytest.fixture
def kiln(kiln_bin):
    """``kiln(args, timeout=120) -> CompletedProcess``."""
    return run_kiln


@pytest.fixture
def kiln_json(kiln_bin):
    """``kiln_json(args, out_path) -> dict`` (the --output_json of a successful run)."""
    return run_kiln_json
