"""`kiln serve` end to end: the real server on 127.0.0.1 (a free port) over the tiny GPT-2
fixtures, driven with the stdlib as an OpenAI client would drive it."""
from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from serve_util import (GPT2_FIXTURES, KilnServer, fixture_cases, model_dir_with_tokenizer,
                        raw_stream_then_close)

CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")


@pytest.fixture(scope="module")
def text_server(kiln_bin, tmp_path_factory):
    """real_vocab_fp16 + the GPT-2 tokenizer + a chat template."""
    d = model_dir_with_tokenizer(tmp_path_factory.mktemp("serve") / "model", "real_vocab_fp16",
                                 {"chat_template": CHAT_TEMPLATE, "bos_token": "<|endoftext|>",
                                  "eos_token": "<|endoftext|>"})
    with KilnServer(d, "--served_model_name", "tiny-gpt2") as s:
        yield s


@pytest.fixture(scope="module")
def ids_server(kiln_bin):
    """base_gelu_new: no tokenizer, token ids only."""
    with KilnServer(GPT2_FIXTURES / "base_gelu_new") as s:
        yield s


def greedy(prompt, max_tokens, **kw):
    return {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, **kw}


def test_health_models_metrics(text_server):
    status, body, _ = text_server.get("/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    status, body, _ = text_server.get("/v1/models")
    models = json.loads(body)
    assert status == 200 and models["object"] == "list"
    assert [m["id"] for m in models["data"]] == ["tiny-gpt2"]
    m = text_server.metrics()
    for name in ["kiln_requests_queued", "kiln_requests_running", "kiln_kv_blocks_used",
                 "kiln_kv_blocks_free", "kiln_kv_blocks_total", "kiln_requests_finished_total",
                 "kiln_requests_cancelled_total", "kiln_preemptions_total",
                 "kiln_prompt_tokens_total", "kiln_generation_tokens_total",
                 "kiln_generation_tokens_per_second",
                 'kiln_time_to_first_token_seconds_bucket{le="+Inf"}',
                 "kiln_time_to_first_token_seconds_sum", "kiln_time_to_first_token_seconds_count",
                 'kiln_inter_token_latency_seconds_bucket{le="+Inf"}',
                 "kiln_inter_token_latency_seconds_count"]:
        assert name in m, name
    assert m["kiln_kv_blocks_total"] > 0


def test_completions_text_greedy_equals_hf(text_server):
    case = fixture_cases("real_vocab_fp16")["greedy_text"]
    for text, ids, out_ids, out_text in zip(case["prompt_texts"], case["prompts"], case["outputs"],
                                            case["output_texts"]):
        status, r = text_server.post("/v1/completions",
                                     greedy(text, case["max_new_tokens"], model="tiny-gpt2",
                                            return_token_ids=True))
        assert status == 200, r
        assert r["object"] == "text_completion" and r["model"] == "tiny-gpt2"
        assert r["id"].startswith("cmpl-") and isinstance(r["created"], int)
        (choice,) = r["choices"]
        assert choice["index"] == 0 and choice["finish_reason"] == "length"
        assert choice["logprobs"] is None
        assert choice["text"] == out_text
        assert choice["token_ids"] == out_ids and choice["prompt_token_ids"] == ids
        assert r["usage"] == {"prompt_tokens": len(ids), "completion_tokens": len(out_ids),
                              "total_tokens": len(ids) + len(out_ids)}
        # the same prompt as token ids
        status, r2 = text_server.post("/v1/completions", greedy(ids, case["max_new_tokens"]))
        assert status == 200 and r2["choices"][0]["text"] == out_text


def test_completions_ids_greedy_equals_hf(ids_server):
    for case in fixture_cases("base_gelu_new").values():
        extra = {} if case["repetition_penalty"] == 1.0 else {"repetition_penalty":
                                                               case["repetition_penalty"]}
        # one request with the list of prompts, and each prompt alone
        status, r = ids_server.post("/v1/completions",
                                    greedy(case["prompts"], case["max_new_tokens"],
                                           return_token_ids=True, **extra))
        assert status == 200, r
        assert [c["token_ids"] for c in r["choices"]] == case["outputs"]
        for p, out in zip(case["prompts"], case["outputs"]):
            status, r = ids_server.post("/v1/completions",
                                        greedy(p, case["max_new_tokens"], return_token_ids=True,
                                               **extra))
            assert status == 200, r
            assert r["choices"][0]["token_ids"] == out
            assert r["choices"][0]["text"] == ""  # no tokenizer


def test_streaming_equals_non_streamed(text_server):
    body = greedy("The quick brown fox", 20, logprobs=2)
    status, whole = text_server.post("/v1/completions", body)
    assert status == 200
    events = text_server.stream("/v1/completions", {**body, "stream_options": {"include_usage": True}})
    chunks, usage = events[:-2], events[-2]
    assert len(chunks) >= 2
    for c in chunks:
        assert c["object"] == "text_completion" and c["id"] == chunks[0]["id"]
        assert c["usage"] is None
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole["choices"][0]["text"]
    assert [c["choices"][0]["finish_reason"] for c in chunks][-1] == "length"
    tokens = sum((c["choices"][0]["logprobs"]["tokens"] for c in chunks), [])
    assert tokens == whole["choices"][0]["logprobs"]["tokens"]
    lp = whole["choices"][0]["logprobs"]
    assert len(lp["token_logprobs"]) == len(lp["top_logprobs"]) == len(lp["text_offset"]) == 20
    assert all(1 <= len(t) <= 3 for t in lp["top_logprobs"])
    assert usage["choices"] == [] and usage["usage"] == whole["usage"]


def test_stop_strings_and_n(text_server):
    status, r = text_server.post("/v1/completions", greedy("Hello, my name is", 8, stop=" amid"))
    assert status == 200, r
    assert r["choices"][0]["text"] == " Kak Eve" and r["choices"][0]["finish_reason"] == "stop"
    status, r = text_server.post("/v1/completions",
                                 {"prompt": "Hello", "max_tokens": 5, "n": 3, "seed": 7})
    assert status == 200, r
    assert [c["index"] for c in r["choices"]] == [0, 1, 2]
    assert r["usage"]["completion_tokens"] == 15
    status, r2 = text_server.post("/v1/completions",
                                  {"prompt": "Hello", "max_tokens": 5, "n": 3, "seed": 7})
    assert [c["text"] for c in r2["choices"]] == [c["text"] for c in r["choices"]]  # seeded


def test_chat(text_server):
    messages = [{"role": "user", "content": "Hello"}]
    status, r = text_server.post("/v1/chat/completions",
                                 {"messages": messages, "max_tokens": 6, "temperature": 0,
                                  "logprobs": True, "top_logprobs": 2})
    assert status == 200, r
    assert r["object"] == "chat.completion" and r["id"].startswith("chatcmpl-")
    (choice,) = r["choices"]
    assert choice["message"]["role"] == "assistant"
    assert choice["finish_reason"] == "length"
    content = choice["logprobs"]["content"]
    assert len(content) == 6 and all(len(c["top_logprobs"]) == 2 for c in content)
    assert "".join(c["token"] for c in content) == choice["message"]["content"]
    # the template's text through /v1/completions gives the same tokens
    status, c = text_server.post("/v1/completions", greedy("user: Hello\nassistant:", 6))
    assert status == 200 and c["choices"][0]["text"] == choice["message"]["content"]
    assert c["usage"]["prompt_tokens"] == r["usage"]["prompt_tokens"]
    # streamed: role first, then content deltas, finish_reason last
    events = text_server.stream("/v1/chat/completions",
                                {"messages": messages, "max_tokens": 6, "temperature": 0})
    chunks = events[:-1]
    assert chunks[0]["object"] == "chat.completion.chunk"
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks)
    assert text == choice["message"]["content"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_chat_without_template_is_400(ids_server, kiln_bin, tmp_path):
    d = model_dir_with_tokenizer(tmp_path / "model", "real_vocab_fp16")
    with KilnServer(d) as s:
        status, r = s.post("/v1/chat/completions",
                           {"messages": [{"role": "user", "content": "hi"}]})
        assert status == 400, r
        assert "chat template" in r["error"]["message"]
        assert r["error"]["type"] == "invalid_request_error"


def assert_error(status, r, expected_status, param=None):
    assert status == expected_status, r
    err = r["error"]
    assert set(err) == {"message", "type", "param", "code"}, err
    assert isinstance(err["message"], str) and err["message"]
    if expected_status == 400:
        assert err["type"] == "invalid_request_error"
    if param is not None:
        assert err["param"] == param, err


@pytest.mark.parametrize("body,param", [
    ("{not json", None),
    ("[1, 2]", None),
    ({"prompt": "x", "unknown_field": 1}, "unknown_field"),
    ({"prompt": "x", "max_tokens": -5}, "max_tokens"),
    ({"prompt": "x", "max_tokens": "5"}, "max_tokens"),
    ({"prompt": "x", "temperature": "hot"}, "temperature"),
    ({"prompt": "x", "top_p": 5}, "top_p"),
    ({"prompt": [1, 2, 50257]}, "prompt"),
    ({"prompt": [1, -1]}, "prompt"),
    ({"prompt": {"a": 1}}, "prompt"),
    ({"prompt": "x", "max_tokens": 100}, "prompt"),          # over the 64-token context
    ({"prompt": list(range(70)), "max_tokens": 1}, "prompt"),
    ({"prompt": "x", "stop": 5}, "stop"),
    ({"prompt": "x", "n": 0}, "n"),
    ({"prompt": "x", "best_of": 4}, "best_of"),
    ({"prompt": "x", "logprobs": 99}, "logprobs"),
    ({"prompt": "x", "echo": True, "logprobs": 1}, "echo"),
    ({"max_tokens": 4}, "prompt"),
])
def test_malformed_requests_are_400(text_server, body, param):
    status, r = text_server.post("/v1/completions", body)
    assert_error(status, r, 400, param)


def test_http_errors_and_still_healthy(text_server):
    status, r = text_server.post("/v1/completions", {"prompt": "x", "model": "gpt-4"})
    assert_error(status, r, 404, "model")
    status, data, _ = text_server.request("GET", "/v1/nope")
    assert_error(status, json.loads(data), 404)
    status, data, headers = text_server.request("GET", "/v1/completions")
    assert_error(status, json.loads(data), 405)
    assert headers.get("allow") == "POST"
    status, data, _ = text_server.request("POST", "/v1/completions",
                                          json.dumps({"prompt": "x" * (17 << 20)}))
    assert_error(status, json.loads(data), 413)
    status, body, _ = text_server.get("/health")
    assert status == 200
    status, r = text_server.post("/v1/completions", greedy("Hello", 2))
    assert status == 200


def test_cancel_mid_stream_frees_kv_blocks(kiln_bin, tmp_path):
    # a long stream (the 50257-token vocabulary, 16 sequences: about 1.5 s on 2 cores), so the
    # disconnect lands mid-generation
    with KilnServer(GPT2_FIXTURES / "real_vocab_fp16") as s:
        before = s.metrics()["kiln_requests_cancelled_total"]
        seen = raw_stream_then_close(s.port, {"prompt": [464, 2068], "max_tokens": 60, "n": 16,
                                              "return_token_ids": True}, chunks_before_close=2)
        assert seen >= 2
        m = s.wait_metrics(lambda m: m["kiln_requests_running"] == 0
                           and m["kiln_kv_blocks_used"] == 0
                           and m["kiln_requests_cancelled_total"] > before, timeout=5)
        assert m["kiln_requests_running"] == 0, m
        assert m["kiln_kv_blocks_used"] == 0, m
        assert m["kiln_requests_cancelled_total"] == before + 1, m
        assert m["kiln_http_client_disconnects_total"] == 1, m
        status, _, _ = s.get("/health")
        assert status == 200


def test_concurrent_mixed_requests_match_alone(ids_server):
    case = fixture_cases("base_gelu_new")["greedy"]
    reqs = []
    for i, p in enumerate(case["prompts"]):
        reqs.append(greedy(p, case["max_new_tokens"], return_token_ids=True))  # HF greedy
        reqs.append({"prompt": p, "max_tokens": 6, "seed": 100 + i, "top_k": 20,
                     "return_token_ids": True})                              # sampled, seeded
        reqs.append({"prompt": p, "max_tokens": 5, "num_beams": 3, "n": 2,
                     "return_token_ids": True})                              # beam search
        reqs.append(greedy(p[:1], 3, return_token_ids=True))                  # short

    def run(body):
        status, r = ids_server.post("/v1/completions", body)
        assert status == 200, r
        return [c["token_ids"] for c in r["choices"]]

    alone = [run(b) for b in reqs]
    assert [alone[4 * i][0] for i in range(len(case["prompts"]))] == case["outputs"]
    with ThreadPoolExecutor(len(reqs) * 2) as pool:
        together = list(pool.map(run, reqs * 2))
    assert together == alone * 2


def test_overload_gives_429_and_loses_nothing(kiln_bin):
    with KilnServer(GPT2_FIXTURES / "base_gelu_new", "--max_queue_size", "2",
                    "--max_batch_size", "1") as s:
        def run(i):
            return s.post("/v1/completions", greedy([97, i % 100], 40, return_token_ids=True))

        with ThreadPoolExecutor(24) as pool:
            results = list(pool.map(run, range(24)))
        codes = [st for st, _ in results]
        assert set(codes) <= {200, 429}, codes
        assert codes.count(429) >= 1 and codes.count(200) >= 1, codes
        for status, r in results:
            if status == 200:
                assert len(r["choices"][0]["token_ids"]) == 40
            else:
                assert r["error"]["type"] == "rate_limit_exceeded", r
        m = s.wait_metrics(lambda m: m["kiln_requests_running"] == 0, timeout=5)
        assert m["kiln_requests_queued"] == 0 and m["kiln_kv_blocks_used"] == 0, m
        assert m["kiln_http_queue_full_total"] == codes.count(429)
        assert s.post("/v1/completions", greedy([97], 2))[0] == 200


def test_200_concurrent_streams_with_a_small_kv_cache(kiln_bin):
    """200 streaming greedy requests against ~10% of the KV blocks they need: all complete, each
    equal to the same request alone (preemption / waiting must not change greedy outputs)."""
    case = fixture_cases("base_gelu_new")["greedy"]
    prompts = [p for p in case["prompts"] if len(p) < 20] + [[5, 6, 7, 8, 9, 10, 11, 12]]
    max_tokens = 24
    block = 4
    demand = sum(-(-(len(prompts[i % len(prompts)]) + max_tokens) // block) for i in range(200))
    blocks = max(demand // 10, 16)
    t0 = time.monotonic()
    with KilnServer(GPT2_FIXTURES / "base_gelu_new", "--tokens_per_block", str(block),
                    "--num_kv_blocks", str(blocks), "--max_batch_size", "32") as s:
        def run(i):
            body = greedy(prompts[i % len(prompts)], max_tokens, return_token_ids=True)
            events = s.stream("/v1/completions", body, timeout=50)
            ids = sum((e["choices"][0]["token_ids"] for e in events[:-1]), [])
            return ids, events[-2]["choices"][0]["finish_reason"]

        alone = [run(i) for i in range(len(prompts))]
        for i, p in enumerate(case["prompts"]):
            if p in prompts:
                assert alone[prompts.index(p)][0][:10] == case["outputs"][i]
        results = [None] * 200
        errors = []

        def worker(i):
            try:
                results[i] = run(i)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"request {i}: {e!r}")

        threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=max(1.0, 55 - (time.monotonic() - t0)))
        assert not errors, errors[:5]
        assert all(r is not None for r in results), "some streams did not finish in time"
        for i, r in enumerate(results):
            assert r == alone[i % len(prompts)], f"request {i}"
        m = s.wait_metrics(lambda m: m["kiln_requests_running"] == 0, timeout=5)
        assert m["kiln_kv_blocks_used"] == 0 and m["kiln_requests_queued"] == 0, m
        assert m["kiln_kv_blocks_total"] == blocks
        print(f"200 streams: {time.monotonic() - t0:.1f} s, {blocks} KV blocks for a demand of "
              f"{demand}, preemptions {m['kiln_preemptions_total']:.0f}")
    assert time.monotonic() - t0 < 60


def test_sigterm_stops_gracefully(kiln_bin):
    s = KilnServer(GPT2_FIXTURES / "real_vocab_fp16")
    with s:
        conn = s.connection(timeout=30)
        conn.request("POST", "/v1/completions",
                     body=json.dumps({"prompt": [464], "max_tokens": 60, "n": 16, "stream": True,
                                      "return_token_ids": True}),
                     headers={"Content-Type": "application/json"})
        r = conn.getresponse()
        assert r.status == 200
        first = r.readline()
        assert first.startswith(b"data: "), first
        t0 = time.monotonic()
        s.proc.send_signal(__import__("signal").SIGTERM)
        rest = r.read().decode()  # the stream ends: every choice finishes, then [DONE]
        conn.close()
        assert rest.rstrip().endswith("data: [DONE]"), rest[-300:]
        assert s.proc.wait(timeout=15) == 0, s.output()
        assert time.monotonic() - t0 < 10
        assert "shutting down" in s.output()
