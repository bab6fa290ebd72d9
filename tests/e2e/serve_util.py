"""Helpers for the `kiln serve` end-to-end tests (stdlib only).

* ``KilnServer(model_dir, *args)``: a context manager that starts ``kiln serve --port 0`` on
  127.0.0.1, waits (bounded) for its "listening on http://127.0.0.1:PORT" line and always stops it
  (SIGTERM, then SIGKILL) on exit. ``.post(path, body)``, ``.get(path)``, ``.stream(path, body)``,
  ``.metrics()``.
* ``model_dir_with_tokenizer(dest, fixture, tokenizer_config=None)``: a GPT-2 fixture folder of
  symlinks plus the real GPT-2 tokenizer files (and optionally a tokenizer_config.json).
"""
from __future__ import annotations

import http.client
import json
import os
import shlex
import re
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import FIXTURES_DIR, REPO_ROOT, SHARED_DIR, kiln_bin_path

GPT2_FIXTURES = FIXTURES_DIR / "gpt2"
GPT2_TOKENIZER = SHARED_DIR / "data" / "tokenizers" / "gpt2"
START_TIMEOUT_S = 60
REQUEST_TIMEOUT_S = 60


def fixture_cases(fixture: str) -> dict:
    data = json.loads((GPT2_FIXTURES / fixture / "expected.json").read_text())
    return {c["name"]: c for c in data["cases"]}


def model_dir_with_tokenizer(dest: Path, fixture: str, tokenizer_config: dict | None = None) -> Path:
    files = {"vocab.json": GPT2_TOKENIZER / "encoder.json", "merges.txt": GPT2_TOKENIZER / "vocab.bpe"}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        pytest.skip(f"GPT-2 tokenizer files not found: {missing}")
    dest.mkdir(parents=True)
    for f in sorted((GPT2_FIXTURES / fixture).iterdir()):
        if f.name != "expected.json":
            os.symlink(f.resolve(), dest / f.name)
    for name, target in files.items():
        os.symlink(target.resolve(), dest / name)
    if tokenizer_config is not None:
        (dest / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    return dest


class KilnServer:
    def __init__(self, model_dir: Path | str, *args: str, log_dir: Path | None = None):
        self.cmd = [str(kiln_bin_path()), "serve", "--model_dir", str(model_dir), "--host",
                    "127.0.0.1", "--port", "0", *[str(a) for a in args],
                    # e.g. "--device cuda --dtype float32" to run the suite on a GPU
                    *shlex.split(os.environ.get("KILN_SERVE_ARGS", ""))]
        self.log_dir = log_dir
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self._lines: list[str] = []

    # ---- lifecycle ----
    def __enter__(self) -> "KilnServer":
        self.proc = subprocess.Popen(self.cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        found = threading.Event()

        def reader():
            for line in self.proc.stdout:
                self._lines.append(line)
                m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
                if m and not found.is_set():
                    self.port = int(m.group(1))
                    found.set()

        threading.Thread(target=reader, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not found.wait(0.1):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                out = self.output()
                self.stop()
                pytest.fail(f"kiln serve did not start: {' '.join(self.cmd)}\n{out}")
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
            pytest.fail(f"kiln serve ignored SIGTERM for 15 s\n{self.output()}")

    def output(self) -> str:
        return "".join(self._lines)[-6000:]

    # ---- HTTP ----
    def connection(self, timeout: float = REQUEST_TIMEOUT_S) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | str | dict | None = None,
                timeout: float = REQUEST_TIMEOUT_S) -> tuple[int, bytes, dict]:
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        conn = self.connection(timeout)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=headers)
            r = conn.getresponse()
            return r.status, r.read(), {k.lower(): v for k, v in r.getheaders()}
        finally:
            conn.close()

    def post(self, path: str, body, timeout: float = REQUEST_TIMEOUT_S) -> tuple[int, dict]:
        status, data, _ = self.request("POST", path, body, timeout)
        return status, json.loads(data)

    def get(self, path: str) -> tuple[int, bytes, dict]:
        return self.request("GET", path)

    def stream(self, path: str, body: dict, timeout: float = REQUEST_TIMEOUT_S) -> list:
        """POST with stream=true; the decoded `data:` events ("[DONE]" kept as a string)."""
        status, data, headers = self.request("POST", path, {**body, "stream": True}, timeout)
        assert status == 200, data
        assert headers["content-type"].startswith("text/event-stream"), headers
        events = []
        for block in data.decode().split("\n\n"):
            if not block:
                continue
            assert block.startswith("data: "), block
            payload = block[len("data: "):]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
        assert events and events[-1] == "[DONE]", events[-3:]
        return events

    def metrics(self) -> dict[str, float]:
        status, data, headers = self.get("/metrics")
        assert status == 200
        assert headers["content-type"].startswith("text/plain"), headers
        out = {}
        for line in data.decode().splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def wait_metrics(self, pred, timeout: float = 10.0) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        m = self.metrics()
        while not pred(m) and time.monotonic() < deadline:
            time.sleep(0.05)
            m = self.metrics()
        return m


def raw_stream_then_close(port: int, body: dict, chunks_before_close: int = 2,
                          timeout: float = 30.0) -> int:
    """Sends a streaming request over a raw socket, reads until `chunks_before_close` data events
    arrived, then closes the socket. Returns the number of events seen."""
    payload = json.dumps({**body, "stream": True}).encode()
    req = (f"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json"
           f"\r\nContent-Length: {len(payload)}\r\n\r\n").encode() + payload
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(req)
        buf = b""
        deadline = time.monotonic() + timeout
        while buf.count(b"data: ") < chunks_before_close and time.monotonic() < deadline:
            data = s.recv(4096)
            if not data:
                break
            buf += data
        return buf.count(b"data: ")
    finally:
        s.close()
