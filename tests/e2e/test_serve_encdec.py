"""`kiln serve` end to end with encoder–decoder models (T5, BART, FairSeq), driven with the stdlib
as an OpenAI client would drive it.

For these models the prompt is the ENCODER input; the decoder starts from decoder_start_token_id,
which the outputs (token ids and text) exclude. Covered:

* /v1/completions with token-id prompts == the fixtures' HF greedy goldens (T5 and BART), one
  prompt per request and all of a case's prompts as a list of lists in one request, and the same
  requests from many threads at once == each alone; beam search (num_beams, and use_beam_search +
  best_of) == the fixtures' beam goldens;
* a random-weight T5 built with `kiln build` + the t5_spm SentencePiece tokenizer: text in, text
  out, streaming == non-streaming (ids and text), text == the tokenizer's decode of the ids,
  usage.prompt_tokens == the encoder input length; a client that disconnects mid-stream gets its
  request cancelled and every KV block (self- and cross-attention) back;
* lengths: max_tokens is bounded by the decoder's positions, the prompt only by the encoder's
  (FairSeq fixture with 64 encoder / 48 decoder positions; BART with 40 / 40);
* /health, /v1/models, /metrics; chat completions without a chat template -> 400;
* preemption under a small KV cache keeps the greedy goldens; logprobs streamed == whole; logprob
  token strings join to the text (SentencePiece leading spaces) and text_offset indexes it in
  characters.

One server per model (module-scoped fixtures). pytest + stdlib only.
"""
from __future__ import annotations

import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import FIXTURES_DIR, describe, run_kiln
from serve_util import KilnServer, raw_stream_then_close

T5 = FIXTURES_DIR / "t5" / "v1_0_relu_tied_legacy"
BART = FIXTURES_DIR / "bart" / "gelu_tied_forced_bos"
# converted FairSeq transformer: max_source_positions 64, max_position_embeddings (decoder) 48
FAIRSEQ = FIXTURES_DIR / "fairseq" / "postln_sinusoidal_shared_all"
T5_SPM = FIXTURES_DIR / "tokenizers" / "t5_spm"


def _expected(d: Path) -> dict:
    return json.loads((d / "expected.json").read_text())


def _config(d: Path) -> dict:
    return json.loads((d / "config.json").read_text())


def greedy(prompt, max_tokens, **kw):
    return {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0,
            "return_token_ids": True, **kw}


def case_body(case: dict) -> dict | None:
    """Request fields equivalent to a fixture case's HF generate kwargs (None: not expressible)."""
    if case.get("max_new_tokens") is None:
        return None
    extra = {}
    if case.get("repetition_penalty", 1.0) != 1.0:
        extra["repetition_penalty"] = case["repetition_penalty"]
    for k, v in case.get("generation", {}).items():
        if k in ("no_repeat_ngram_size", "min_length"):
            extra[k] = v
        else:
            return None
    return extra


def greedy_cases(d: Path):
    for c in _expected(d)["cases"]:
        if "beam_outputs" not in c and case_body(c) is not None:
            yield c


def beam_cases(d: Path):
    for c in _expected(d)["cases"]:
        if "beam_outputs" in c and case_body(c) is not None and not c.get("use_defaults"):
            yield c


def post_ok(server, body, path="/v1/completions"):
    status, r = server.post(path, body)
    assert status == 200, (body, r)
    return r


def assert_error(status, r, expected_status, param=None, *phrases):
    assert status == expected_status, r
    err = r["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    if expected_status == 400:
        assert err["type"] == "invalid_request_error", err
    if param is not None:
        assert err["param"] == param, err
    for p in phrases:
        assert p.lower() in err["message"].lower(), (p, err)


# --- servers ------------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=[T5, BART], ids=["t5", "bart"])
def fixture_server(request, kiln_bin):
    """A committed HF fixture (no tokenizer: ids in, ids out) and its expected.json."""
    with KilnServer(request.param, "--served_model_name", f"kiln-{request.param.parent.name}") as s:
        yield s, request.param


@pytest.fixture(scope="module")
def fairseq_server(kiln_bin):
    with KilnServer(FAIRSEQ / "converted") as s:
        yield s


@pytest.fixture(scope="module")
def text_model(kiln_bin, tmp_path_factory) -> Path:
    """Random-weight T5 (kiln build) + the t5_spm SentencePiece tokenizer copied in."""
    vocab = json.loads((T5_SPM / "expected.json").read_text())["vocab_size"]
    engine = tmp_path_factory.mktemp("serve_encdec") / "t5_spm"
    # (seed 5, untied: varied outputs that never pick <pad>, the decoder start token)
    config = dict(vocab_size=vocab, d_model=64, d_kv=16, num_heads=4, d_ff=96, num_layers=2,
                  num_decoder_layers=2, feed_forward_proj="gated-gelu", n_positions=256,
                  decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
                  tie_word_embeddings="false")
    args = ["build", "--model_type", "t5", "--output_dir", str(engine), "--dtype", "float32",
            "--seed", "5"]
    for k, v in config.items():
        args += ["--config", f"{k}={v}"]
    proc = run_kiln(args)
    assert proc.returncode == 0, describe(proc)
    for f in T5_SPM.iterdir():
        if f.name != "expected.json":
            shutil.copy(f, engine / f.name)
    return engine


@pytest.fixture(scope="module")
def text_server(text_model):
    with KilnServer(text_model, "--served_model_name", "tiny-t5") as s:
        yield s


def tok_encode(model: Path, text: str) -> list[int]:
    proc = run_kiln(["tokenize", "--tokenizer_dir", str(model), "--input_text", text])
    assert proc.returncode == 0, describe(proc)
    return json.loads(proc.stdout)


def tok_decode(model: Path, ids: list[int], skip_special: bool = True) -> str:
    proc = run_kiln(["tokenize", "--tokenizer_dir", str(model), "--decode", "--input_ids",
                     ",".join(map(str, ids)), *(["--skip_special_tokens"] if skip_special else [])])
    assert proc.returncode == 0, describe(proc)
    return json.loads(proc.stdout)


# --- HF goldens through the server --------------------------------------------------------------
def test_health_models_metrics(fixture_server):
    s, d = fixture_server
    status, body, _ = s.get("/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    status, body, _ = s.get("/v1/models")
    assert status == 200, body
    models = json.loads(body)
    assert models["object"] == "list" and len(models["data"]) == 1
    card = models["data"][0]
    assert card["object"] == "model" and card["id"] == f"kiln-{d.parent.name}"
    cfg = _config(d)
    # the decoder's positions (T5: n_positions, default 512)
    dec_positions = cfg.get("max_position_embeddings") or cfg.get("n_positions", 512)
    assert card["max_model_len"] == dec_positions
    m = s.metrics()
    for name in ["kiln_requests_running", "kiln_kv_blocks_used", "kiln_kv_blocks_total",
                 "kiln_requests_finished_total", "kiln_prompt_tokens_total"]:
        assert name in m, name
    assert m["kiln_kv_blocks_total"] > 0


def test_greedy_equals_hf_alone_and_batched(fixture_server):
    s, d = fixture_server
    eos = _config(d)["eos_token_id"]
    cases = list(greedy_cases(d))
    assert cases
    for case in cases:
        extra = case_body(case)
        n = case["max_new_tokens"]
        # all of the case's prompts in one request (list of lists)
        r = post_ok(s, greedy(case["prompts"], n, model=f"kiln-{d.parent.name}", **extra))
        assert r["model"] == f"kiln-{d.parent.name}"
        assert [c["index"] for c in r["choices"]] == list(range(len(case["prompts"])))
        assert [c["token_ids"] for c in r["choices"]] == case["outputs"], case["name"]
        assert [c["prompt_token_ids"] for c in r["choices"]] == case["prompts"]
        assert r["usage"]["prompt_tokens"] == sum(map(len, case["prompts"]))
        assert r["usage"]["completion_tokens"] == sum(map(len, case["outputs"]))
        # each prompt alone
        for p, out in zip(case["prompts"], case["outputs"]):
            r = post_ok(s, greedy(p, n, **extra))
            (c,) = r["choices"]
            assert c["token_ids"] == out, (case["name"], p)
            assert c["prompt_token_ids"] == p
            assert c["text"] == ""  # no tokenizer
            # HF stops on EOS (BART's generation_config also forces EOS as the last token)
            stopped = out[-1] == eos
            assert c["finish_reason"] == ("stop" if stopped else "length"), (c, out)
            assert stopped or len(out) == n
            assert r["usage"] == {"prompt_tokens": len(p), "completion_tokens": len(out),
                                  "total_tokens": len(p) + len(out)}


def test_beam_equals_hf(fixture_server):
    s, d = fixture_server
    cases = list(beam_cases(d))
    assert cases, "the fixture has a beam case"
    for case in cases:
        k, nrs = case["num_beams"], case["num_return_sequences"]
        common = {"max_tokens": case["max_new_tokens"], "length_penalty": case["length_penalty"],
                  "early_stopping": case["early_stopping"], "n": nrs, "return_token_ids": True,
                  **case_body(case)}
        for beam_fields in ({"num_beams": k}, {"use_beam_search": True, "best_of": k}):
            # the case's prompts in one request: choices are prompt-major, n per prompt
            r = post_ok(s, {"prompt": case["prompts"], **common, **beam_fields})
            got = [c["token_ids"] for c in r["choices"]]
            want = [seq for seqs in case["beam_outputs"] for seq in seqs]
            assert got == want, (case["name"], beam_fields)
            assert [c["index"] for c in r["choices"]] == list(range(len(want)))
            for p, seqs in zip(case["prompts"], case["beam_outputs"]):
                r = post_ok(s, {"prompt": p, **common, **beam_fields})
                assert [c["token_ids"] for c in r["choices"]] == seqs, (case["name"], p)


def test_concurrent_requests_equal_alone(fixture_server):
    s, d = fixture_server
    reqs = []
    for case in list(greedy_cases(d))[:2]:
        extra = case_body(case)
        reqs.append(greedy(case["prompts"], case["max_new_tokens"], **extra))   # batched
        reqs += [greedy(p, case["max_new_tokens"], **extra) for p in case["prompts"]]
    for case in beam_cases(d):
        reqs += [{"prompt": p, "max_tokens": case["max_new_tokens"],
                  "num_beams": case["num_beams"], "n": case["num_return_sequences"],
                  "length_penalty": case["length_penalty"],
                  "early_stopping": case["early_stopping"], "return_token_ids": True}
                 for p in case["prompts"]]
    reqs.append({"prompt": [5, 6, 7], "max_tokens": 6, "seed": 3, "top_k": 20,
                 "return_token_ids": True})  # sampled, seeded

    def run(body):
        r = post_ok(s, body)
        return [c["token_ids"] for c in r["choices"]]

    alone = [run(b) for b in reqs]
    with ThreadPoolExecutor(len(reqs) * 2) as pool:
        together = list(pool.map(run, reqs * 2))
    assert together == alone * 2
    m = s.wait_metrics(lambda m: m["kiln_requests_running"] == 0 and m["kiln_kv_blocks_used"] == 0)
    assert m["kiln_kv_blocks_used"] == 0 and m["kiln_requests_queued"] == 0, m


def test_ids_outside_vocabulary_are_400(fixture_server):
    s, d = fixture_server
    v = _config(d)["vocab_size"]
    for prompt in ([5, v, 6], [[5, 6], [7, -1]]):
        status, r = s.post("/v1/completions", greedy(prompt, 2))
        assert_error(status, r, 400, "prompt")
    status, r = s.post("/v1/completions", {"prompt": "some text", "max_tokens": 2})
    assert_error(status, r, 400, "prompt", "tokenizer")


def test_chat_without_template_is_400(fixture_server, text_server):
    for srv in (fixture_server[0], text_server):
        status, r = srv.post("/v1/chat/completions",
                             {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4})
        assert_error(status, r, 400, None, "chat template")


# --- lengths: decoder positions bound max_tokens, encoder positions bound the prompt ------------
def test_fairseq_greedy_and_lengths(fairseq_server):
    s = fairseq_server
    cfg = _config(FAIRSEQ / "converted")
    enc, dec = cfg["max_source_positions"], cfg["max_position_embeddings"]
    assert enc > dec  # the fixture's point here
    case = _expected(FAIRSEQ)["cases"][0]
    r = post_ok(s, greedy(case["prompts"], case["max_new_tokens"]))
    assert [c["token_ids"] for c in r["choices"]] == case["outputs"]

    status, body, _ = s.get("/v1/models")
    assert json.loads(body)["data"][0]["max_model_len"] == dec

    long_prompt = [(i % 40) + 4 for i in range(dec + 5)] + [2]        # > decoder, <= encoder
    assert dec < len(long_prompt) <= enc
    r = post_ok(s, greedy(long_prompt, 8))
    assert r["usage"]["prompt_tokens"] == len(long_prompt)
    assert 1 <= len(r["choices"][0]["token_ids"]) <= 8
    # the decoder holds its start token + max_tokens: dec - 1 is the most a request may ask for,
    # whatever the prompt length
    r = post_ok(s, greedy(long_prompt, dec - 1, ignore_eos=True))
    assert len(r["choices"][0]["token_ids"]) == dec - 1
    assert r["choices"][0]["finish_reason"] == "length"
    status, r = s.post("/v1/completions", greedy([5, 2], dec))
    assert_error(status, r, 400, "prompt", str(dec))
    # the encoder's limit
    r = post_ok(s, greedy([7] * (enc - 1) + [2], 2))
    status, r = s.post("/v1/completions", greedy([7] * enc + [2], 2))
    assert_error(status, r, 400, "prompt", str(enc), str(enc + 1))
    status, r = s.post("/v1/completions", greedy([[5, 2], [7] * enc + [2]], 2))
    assert_error(status, r, 400, "prompt", str(enc))
    assert s.get("/health")[0] == 200
    m = s.wait_metrics(lambda m: m["kiln_requests_running"] == 0 and m["kiln_kv_blocks_used"] == 0)
    assert m["kiln_kv_blocks_used"] == 0, m


def test_prompt_plus_max_tokens_may_exceed_positions(fixture_server):
    """BART: 40 learned positions in the encoder and the decoder; T5: n_positions (512) bounds
    both. A full-length encoder input still leaves the decoder all of its positions."""
    s, d = fixture_server
    cfg = _config(d)
    n = cfg.get("max_position_embeddings") or cfg.get("n_positions", 512)
    r = post_ok(s, greedy([5] * n, 8, ignore_eos=True))  # a decoder-only model would reject it
    assert r["usage"]["prompt_tokens"] == n and len(r["choices"][0]["token_ids"]) == 8
    if n <= 64:  # the decoder's every position (start token + n - 1), cheap for BART
        r = post_ok(s, greedy([5] * n, n - 1, ignore_eos=True))
        assert len(r["choices"][0]["token_ids"]) == n - 1
    status, r = s.post("/v1/completions", greedy([5] * 3, n))
    assert_error(status, r, 400, "prompt", str(n))
    status, r = s.post("/v1/completions", greedy([5] * (n + 1), 2))
    assert_error(status, r, 400, "prompt", str(n), str(n + 1))
    m = s.wait_metrics(lambda m: m["kiln_requests_running"] == 0 and m["kiln_kv_blocks_used"] == 0)
    assert m["kiln_kv_blocks_used"] == 0, m


# --- text in, text out (SentencePiece) ----------------------------------------------------------
TEXTS = ["Hello world.", "translate English to German: the house is small", "a"]


def test_text_streaming_equals_non_streaming(text_server, text_model):
    for text in TEXTS:
        body = {"prompt": text, "max_tokens": 12, "temperature": 0, "return_token_ids": True,
                "model": "tiny-t5"}
        whole = post_ok(text_server, body)
        assert whole["model"] == "tiny-t5" and whole["object"] == "text_completion"
        (c,) = whole["choices"]
        ids = c["token_ids"]
        enc = tok_encode(text_model, text)
        assert c["prompt_token_ids"] == enc
        assert whole["usage"] == {"prompt_tokens": len(enc), "completion_tokens": len(ids),
                                  "total_tokens": len(enc) + len(ids)}
        assert 1 <= len(ids) <= 12
        assert c["text"] == tok_decode(text_model, ids)
        # the decoder start token (<pad>, id 0) is not part of the output
        raw = post_ok(text_server, {**body, "skip_special_tokens": False})["choices"][0]
        assert raw["token_ids"] == ids
        assert raw["text"] == tok_decode(text_model, ids, skip_special=False)
        assert not raw["text"].startswith("<pad>"), raw
        if c["finish_reason"] == "length":
            assert len(ids) == 12

        events = text_server.stream("/v1/completions",
                                    {**body, "stream_options": {"include_usage": True}})
        chunks, usage = events[:-2], events[-2]
        assert chunks and all(ch["id"] == chunks[0]["id"] for ch in chunks)
        assert all(ch["usage"] is None for ch in chunks)
        assert sum((ch["choices"][0]["token_ids"] for ch in chunks), []) == ids
        assert "".join(ch["choices"][0]["text"] for ch in chunks) == c["text"]
        assert chunks[-1]["choices"][0]["finish_reason"] == c["finish_reason"]
        assert usage["choices"] == [] and usage["usage"] == whole["usage"]

    # a list of strings in one request == each alone == `kiln run` on the same engine
    alone = [post_ok(text_server, greedy(t, 12))["choices"][0] for t in TEXTS]
    r = post_ok(text_server, greedy(TEXTS, 12))
    assert [c["text"] for c in r["choices"]] == [c["text"] for c in alone]
    assert [c["token_ids"] for c in r["choices"]] == [c["token_ids"] for c in alone]
    out = text_model.parent / "run.json"
    args = ["run", "--engine_dir", str(text_model), "--max_new_tokens", "12", "--output_json",
            str(out)]
    for t in TEXTS:
        args += ["--input_text", t]
    proc = run_kiln(args)
    assert proc.returncode == 0, describe(proc)
    cli = json.loads(out.read_text())
    assert cli["output_ids"] == [c["token_ids"] for c in alone]
    assert cli["output_text"] == [c["text"] for c in alone]
    assert len({tuple(ids) for ids in cli["output_ids"]}) == len(TEXTS)  # not degenerate


def test_text_beam_and_echo(text_server, text_model):
    r = post_ok(text_server, {"prompt": TEXTS[1], "max_tokens": 8, "num_beams": 3, "n": 2,
                              "return_token_ids": True})
    assert len(r["choices"]) == 2
    for c in r["choices"]:
        assert c["text"] == tok_decode(text_model, c["token_ids"])
    # echo: the encoder input is echoed, the completion follows
    plain = post_ok(text_server, {"prompt": TEXTS[0], "max_tokens": 5, "temperature": 0})
    r = post_ok(text_server, {"prompt": TEXTS[0], "max_tokens": 5, "temperature": 0, "echo": True})
    assert r["choices"][0]["text"] == TEXTS[0] + plain["choices"][0]["text"]


def test_cancel_mid_stream_frees_kv_blocks(text_server):
    s = text_server
    before = s.metrics()
    cancelled, gone = "kiln_requests_cancelled_total", "kiln_http_client_disconnects_total"
    seen = raw_stream_then_close(s.port, {"prompt": TEXTS[1], "max_tokens": 250, "n": 16,
                                          "ignore_eos": True, "return_token_ids": True},
                                 chunks_before_close=2)
    assert seen >= 2
    m = s.wait_metrics(lambda m: m["kiln_requests_running"] == 0
                       and m["kiln_kv_blocks_used"] == 0
                       and m[cancelled] > before[cancelled],
                       timeout=5)
    assert m["kiln_requests_running"] == 0, m
    assert m["kiln_kv_blocks_used"] == 0, m
    assert m[cancelled] == before[cancelled] + 1, m
    assert m[gone] == before[gone] + 1, m
    assert s.get("/health")[0] == 200
    r = post_ok(s, {"prompt": "a", "max_tokens": 3, "temperature": 0})
    assert r["choices"][0]["finish_reason"] in ("length", "stop")


def test_text_logprobs_streamed_equal_whole(text_server):
    body = {"prompt": TEXTS[0], "max_tokens": 10, "temperature": 0, "logprobs": 2,
            "return_token_ids": True}
    whole = post_ok(text_server, body)["choices"][0]
    lp = whole["logprobs"]
    assert len(lp["tokens"]) == len(lp["token_logprobs"]) == len(lp["text_offset"]) == 10
    assert all(1 <= len(t) <= 3 for t in lp["top_logprobs"])
    events = text_server.stream("/v1/completions", body)
    for key in ("tokens", "token_logprobs"):
        assert sum((e["choices"][0]["logprobs"][key] for e in events[:-1]), []) == lp[key], key


def test_text_logprob_offsets_streamed_equal_whole(text_server):
    body = {"prompt": TEXTS[0], "max_tokens": 10, "temperature": 0, "logprobs": 1}
    lp = post_ok(text_server, body)["choices"][0]["logprobs"]
    events = text_server.stream("/v1/completions", body)
    assert sum((e["choices"][0]["logprobs"]["text_offset"] for e in events[:-1]), []) == \
        lp["text_offset"]


def test_text_logprob_tokens_join_to_the_text(text_server):
    c = post_ok(text_server, {"prompt": TEXTS[0], "max_tokens": 10, "temperature": 0,
                              "logprobs": 1})["choices"][0]
    assert " " in c["text"]  # SentencePiece pieces with a word-boundary '▁'
    assert "".join(c["logprobs"]["tokens"]) == c["text"]


def test_text_logprob_offsets_index_the_text(text_server, text_model):
    c = post_ok(text_server, {"prompt": TEXTS[0], "max_tokens": 10, "temperature": 0,
                              "logprobs": 1, "return_token_ids": True})["choices"][0]
    ids, text = c["token_ids"], c["text"]
    assert any(ord(ch) > 127 for ch in text)  # multi-byte characters in the completion
    want = [len(tok_decode(text_model, ids[:i])) if i else 0 for i in range(len(ids))]
    assert c["logprobs"]["text_offset"] == want


def test_preemption_with_a_small_kv_cache_keeps_greedy_outputs(kiln_bin):
    """40 concurrent BART requests against 24 KV blocks of 4 tokens (self- and cross-attention
    blocks share the pool): all complete, equal to the HF goldens, and every block comes back."""
    case = _expected(BART)["cases"][0]
    with KilnServer(BART, "--tokens_per_block", "4", "--num_kv_blocks", "24",
                    "--max_batch_size", "16") as s:
        def run(i):
            k = i % len(case["prompts"])
            r = post_ok(s, greedy(case["prompts"][k], case["max_new_tokens"]))
            return r["choices"][0]["token_ids"] == case["outputs"][k]

        with ThreadPoolExecutor(40) as pool:
            assert all(pool.map(run, range(40)))
        m = s.wait_metrics(lambda m: m["kiln_requests_running"] == 0)
        assert m["kiln_kv_blocks_used"] == 0 and m["kiln_requests_queued"] == 0, m
        assert m["kiln_kv_blocks_total"] == 24
        assert m["kiln_preemptions_total"] > 0, m  # the point of the small cache
