"""Parity of `kiln tokenize` with the PyPI `tokenizers` package on real vocabularies.

GPT-2 (encoder.json + vocab.bpe, built the way transformers' GPT2TokenizerFast builds it) and a
Llama-2-style SentencePiece BPE (tokenizer.json) encode a varied corpus; ids must match exactly,
and kiln's decode must match the reference decode. kiln runs in batch mode (one process per
vocabulary and flag set). Skipped only when `tokenizers` is not importable.
"""
import json
import os
import random
import shutil
import subprocess
from pathlib import Path

import pytest

tokenizers = pytest.importorskip("tokenizers")

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / ".." / "shared" / "data" / "tokenizers"
KILN = Path(os.environ.get("KILN_BIN", str(ROOT / "build" / "kiln")))
VOCABS = ["gpt2", "llama2"]

PROSE = (
    "The quick brown fox jumps over the lazy dog. It's a truth universally acknowledged that a "
    "single man in possession of a good fortune, must be in want of a wife. We're sure they'll "
    "say they've done it; I'm not, you'd think. Don't won't can't shouldn't."
)

CORPUS = [
    "",
    " ",
    "  ",
    "a",
    "Hello world",
    "Hello, world!",
    PROSE,
    " leading space",
    "trailing space ",
    "   many leading and trailing   ",
    "multiple     internal      spaces",
    "tabs\tand\ttabs\t\t",
    "newlines\nand\n\nblank\n\n\nlines\n",
    "windows\r\nline\r\nendings\r\n",
    "\n\n\n",
    "\t \n \r\n \u00a0 \u3000 \u2009",
    "it's they're we've you'll I'd I'm she's IT'S THEY'RE",
    "'s 're 've 'll 'd 'm 't",
    "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00c5ngstr\u00f6m Stra\u00dfe",
    "cafe\u0301 combining acute, n\u0303",
    "\u4f60\u597d\uff0c\u4e16\u754c\uff01\u6211\u7231\u81ea\u7136\u8bed\u8a00\u5904\u7406\u3002",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8\u3068\u30ab\u30bf\u30ab\u30ca",
    "\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645",
    "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e",
    "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! "
    "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5",
    "emoji \U0001f600\U0001f601\U0001f602 \U0001f44d\U0001f3fd \U0001f44b\U0001f3ff",
    "family \U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 zwj",
    "flags \U0001f1fa\U0001f1f8\U0001f1ef\U0001f1f5\U0001f1eb\U0001f1f7",
    "\u2764\ufe0f \u263a\ufe0f keycap 1\ufe0f\u20e3",
    "def f(x):\n    return x ** 2  # square\n",
    "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "<html><body class=\"x\">&amp;</body></html>",
    "SELECT * FROM users WHERE id = 42;",
    "3.14159 2.71828 1,000,000 -42 +7 1e-9",
    "12345678901234567890123456789012345678901234567890",
    "0" * 300,
    "phone: (555) 123-4567, year 2024",
    "<|endoftext|>",
    "Hello<|endoftext|>world",
    "a <|endoftext|> b <|endoftext|><|endoftext|>c",
    "<s>",
    "</s>",
    "<s>Hello</s>",
    "text <s> more </s> end",
    "<unk> token",
    "<s><s></s></s>",
    "<|endoftext",
    "<<s>> </s >",
    "<0x0A> <0xFF> byte-looking",
    "\ufffd replacement \ufffd\ufffd",
    "\x00 nul \x01\x02\x7f control",
    "\u200b zero \u200b width \ufeff bom",
    "\\xff\\xfe escaped",
    "a" * 1000,
    "supercalifragilisticexpialidocious" * 20,
    "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "\u2581 already \u2581\u2581 metaspace",
    "\u0120 \u010a gpt2 alphabet chars",
    "MiXeD CaSe WoRdS and ALLCAPS",
    "https://example.com/path?query=1&x=y#frag",
    "user@example.com",
    "!!!??? ... --- ___ *** ###",
    "\U0001d54f\U0001d556\U0001d569\U0001d565 math \u2200x\u2203y: x\u2260y",
    "\u00bd \u2153 \u00b2 \u2460 \u2167 fullwidth \uff21\uff22\uff23\uff11\uff12",
]


def _random_strings(n, seed=1234):
    rng = random.Random(seed)
    pool = (
        list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
        + list(" \t\n\r.,;:'\"!?()[]{}<>/\\|-_=+*&^%$#@~`")
        + ["'s", "'ll", " ", "  ", "\u00e9", "\u00fc", "\u00df", "\u0301", "\u4e2d", "\u6587",
           "\u3042", "\u0430", "\u05d0", "\u0627", "\u0915", "\u094d", "\U0001f600", "\U0001f44d",
           "\U0001f3fb", "\u200d", "\ufe0f", "\U0001f1fa", "\u00a0", "\u3000", "<s>", "</s>",
           "<|endoftext|>", "\u2581", "\ufffd"]
    )
    return ["".join(rng.choice(pool) for _ in range(rng.randint(1, 60))) for _ in range(n)]


def corpus():
    long_doc = "\n\n".join([PROSE] * 40 + ["\u4f60\u597d\u4e16\u754c " * 50])
    return CORPUS + _random_strings(150) + [long_doc]


def reference(vocab):
    d = DATA / vocab
    if vocab == "llama2":
        return tokenizers.Tokenizer.from_file(str(d / "tokenizer.json"))
    # GPT2TokenizerFast: byte-level BPE, no prefix space, ByteLevel decoder, <|endoftext|> special.
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    tok = Tokenizer(models.BPE.from_file(str(d / "encoder.json"), str(d / "vocab.bpe")))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken("<|endoftext|>", special=True, normalized=False)])
    return tok


def run_kiln(args, **kw):
    if not KILN.exists():
        pytest.fail(f"kiln binary not found at {KILN} (set KILN_BIN)")
    return subprocess.run([str(KILN), "tokenize", *args], capture_output=True, **kw)


def kiln_batch(vocab, lines, extra, tmp_path):
    f = tmp_path / f"{vocab}_in.jsonl"
    f.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    r = run_kiln(["--tokenizer_dir", str(DATA / vocab), "--input_file", str(f), *extra])
    assert r.returncode == 0, r.stderr.decode()
    out = r.stdout.decode("utf-8").splitlines()
    assert len(out) == len(lines)
    return [json.loads(x) for x in out]


@pytest.mark.parametrize("add_special", [True, False])
@pytest.mark.parametrize("vocab", VOCABS)
def test_encode_matches_tokenizers(vocab, add_special, tmp_path):
    ref = reference(vocab)
    texts = corpus()
    got = kiln_batch(vocab, texts, [] if add_special else ["--no_special_tokens"], tmp_path)
    mismatches = []
    for text, ids in zip(texts, got):
        want = ref.encode(text, add_special_tokens=add_special).ids
        if ids != want:
            mismatches.append((text[:80], ids[:20], want[:20]))
    assert not mismatches, f"{len(mismatches)} of {len(texts)} differ, e.g. {mismatches[:3]}"


@pytest.mark.parametrize("skip_special", [False, True])
@pytest.mark.parametrize("vocab", VOCABS)
def test_decode_matches_tokenizers(vocab, skip_special, tmp_path):
    ref = reference(vocab)
    id_lists = [ref.encode(t).ids for t in corpus()]
    id_lists.append(list(range(0, 300)))  # byte tokens, specials, odd pieces
    id_lists.append([ref.token_to_id("<|endoftext|>" if vocab == "gpt2" else "<s>")] * 3)
    got = kiln_batch(vocab, id_lists, ["--decode"] + (["--skip_special_tokens"] if skip_special
                                                          else []), tmp_path)
    for ids, text in zip(id_lists, got):
        assert text == ref.decode(ids, skip_special_tokens=skip_special), ids[:20]


@pytest.mark.parametrize("byte_fallback", [True, False])
def test_unigram_matches_tokenizers(byte_fallback, tmp_path):
    """A Unigram model over the llama pieces (scores made up, deterministic) with the llama
    normalizer: exercises kiln's Viterbi, unk fusing and byte fallback against the reference."""
    from tokenizers import Tokenizer, models

    llama = json.loads((DATA / "llama2" / "tokenizer.json").read_text(encoding="utf-8"))
    pieces = sorted(llama["model"]["vocab"].items(), key=lambda kv: kv[1])
    vocab = [(tok, -1.0 - (i % 997) / 97.0 - len(tok) * 0.01) for i, (tok, _) in enumerate(pieces)]
    vocab = [v for v in vocab if byte_fallback or not v[0].startswith("<0x")]
    ref = Tokenizer(models.Unigram(vocab, unk_id=0, byte_fallback=byte_fallback))
    ref.normalizer = tokenizers.normalizers.Sequence(
        [tokenizers.normalizers.Prepend("\u2581"), tokenizers.normalizers.Replace(" ", "\u2581")])
    path = tmp_path / "tokenizer.json"
    path.write_text(ref.to_str(), encoding="utf-8")
    texts = corpus()
    f = tmp_path / "in.jsonl"
    f.write_text("".join(json.dumps(x) + "\n" for x in texts), encoding="utf-8")
    r = run_kiln(["--tokenizer_dir", str(path), "--input_file", str(f)])
    assert r.returncode == 0, r.stderr.decode()
    got = [json.loads(x) for x in r.stdout.decode().splitlines()]
    bad = [(t[:60], g[:12], ref.encode(t).ids[:12]) for t, g in zip(texts, got)
           if g != ref.encode(t).ids]
    assert not bad, f"{len(bad)} of {len(texts)} differ, e.g. {bad[:3]}"


def test_transformers_reference_agrees_for_gpt2(tmp_path):
    """The tokenizers-only GPT-2 reference is what GPT2TokenizerFast does (when transformers is
    installed; transformers wants the vocab.json/merges.txt names, so copies go to tmp_path)."""
    transformers = pytest.importorskip("transformers")
    d = DATA / "gpt2"
    shutil.copy(d / "encoder.json", tmp_path / "vocab.json")
    shutil.copy(d / "vocab.bpe", tmp_path / "merges.txt")
    fast = transformers.GPT2TokenizerFast.from_pretrained(str(tmp_path))
    ref = reference("gpt2")
    for text in corpus():
        ids = ref.encode(text).ids
        assert fast(text)["input_ids"] == ids, text
        assert fast.decode(ids) == ref.decode(ids, skip_special_tokens=False), text


@pytest.mark.parametrize("vocab", VOCABS)
def test_single_text_and_decode_commands(vocab):
    ref = reference(vocab)
    text = "The quick brown fox, it's \u00e9t\u00e9 \U0001f600"
    r = run_kiln(["--tokenizer_dir", str(DATA / vocab), "--input_text", text])
    assert r.returncode == 0, r.stderr.decode()
    want = ref.encode(text).ids
    assert r.stdout.decode().strip() == "[" + ", ".join(map(str, want)) + "]"
    r = run_kiln(["--tokenizer_dir", str(DATA / vocab), "--decode", "--input_ids",
                  ",".join(map(str, want))])
    assert r.returncode == 0, r.stderr.decode()
    assert json.loads(r.stdout.decode()) == ref.decode(want, skip_special_tokens=False)


def test_gpt2_documented_example():
    r = run_kiln(["--tokenizer_dir", str(DATA / "gpt2"), "--input_text", "The quick"])
    assert r.stdout.decode().strip() == "[464, 2068]"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--tokenizer_dir", "/nonexistent/dir", "--input_text", "x"], "does not exist"),
        (["--tokenizer_dir", str(DATA / "gpt2"), "--decode", "--input_ids", "50257"], "id 50257"),
        (["--tokenizer_dir", str(DATA / "gpt2"), "--decode", "--input_ids", "-1"], "id -1"),
        (["--tokenizer_dir", str(DATA / "gpt2"), "--decode", "--input_ids", "1,x"], "'x'"),
        (["--tokenizer_dir", str(DATA / "gpt2")], "exactly one"),
    ],
)
def test_errors_are_reported(args, message):
    r = run_kiln(args)
    assert r.returncode == 1
    err = r.stderr.decode()
    assert err.startswith("kiln: error:") and message in err, err


def test_dir_without_tokenizer(tmp_path):
    r = run_kiln(["--tokenizer_dir", str(tmp_path), "--input_text", "x"])
    assert r.returncode == 1
    assert "tokenizer.json" in r.stderr.decode()
