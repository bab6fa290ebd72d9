#!/usr/bin/env python3
"""Builds the SentencePiece `Precompiled` normalizer fixtures for kiln's tokenizer tests.

Trains tiny Unigram models with the `sentencepiece` trainer under several normalization rules,
converts each to a HF tokenizer.json with transformers' slow->fast converter (which emits a
`Precompiled` normalizer carrying SentencePiece's charsmap), and records HF `tokenizers`'
normalize_str / encode ids / decode for a fixed corpus of edge-case strings.

Writes tests/fixtures/tokenizers/<name>/{tokenizer.json,expected.json}.
Usage: python3 tools/make_spm_fixtures.py   (needs sentencepiece, transformers, tokenizers)

The full nmt_nfkc/nfkc_cf charsmaps are ~240 KB of base64 each, so each fixture carries a reduced
charsmap: every rule of the full map whose source uses only characters that occur in the corpus,
recompiled by SentencePiece's own builder (normalization_rule_tsv). A rule can only fire on text
made of its characters, so HF's outputs on the corpus are identical for both maps (checked below).
"""
import base64
import json
import os
import sys
import tempfile

import sentencepiece as spm
import tokenizers
import types

from transformers.convert_slow_tokenizer import T5Converter, import_protobuf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizers")

TRAIN_TEXT = [
    "The quick brown fox jumps over the lazy dog.",
    "Café, naïve, résumé, façade, coöperate, jalapeño, Ångström, Œuvre, straße.",
    "Ｆｕｌｌ－ｗｉｄｔｈ ｆｏｒｍｓ：ＡＢＣ １２３ ！？ and half-width ｶﾀｶﾅ.",
    "Ligatures: ﬁne ﬂow ﬀ ﬃ ﬄ ﬅ ﬆ; roman numerals Ⅻ ⅳ; superscripts x² y³ ½ ¼ ™ ℃ №.",
    "日本語のテキストです。東京は大きい都市です。漢字とひらがなとカタカナ。",
    "中文文本测试，你好世界！我们喜欢学习语言。",
    "한국어 텍스트입니다. 안녕하세요 세계.",
    "النص العربي هنا. مرحبا بالعالم. ﻻ ﷺ",
    "Русский текст: Привет, мир! Ёлка и ёж.",
    "Ελληνικά: Καλημέρα κόσμε, ΣΊΣΥΦΟΣ.",
    "हिन्दी पाठ: नमस्ते दुनिया। क्षत्रिय",
    "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🇯🇵 ❤️ ✨ and more 🙂.",
    "Spaces:\u00a0nbsp\u2002en\u2003em\u3000ideographic\u200bzwsp\u2009thin\u202fnarrow.",
    "Control\tchars\x01here\x7f and\u200d joiners\u200c and soft\u00adhyphen.",
    "Numbers 0123456789 and symbols @#$%^&*()_+-=[]{}|;':\",./<>?`~",
    "Mixed CASE Words With Capitals AND lowercase; İstanbul, ǅ, ﬃ.",
    "Combining: e\u0301 a\u0308 n\u0303 o\u0302\u0323 Z\u0351\u0352\u0353.",
    "Vietnamese: Tiếng Việt có dấu, người, được.",
    "Thai: ภาษาไทย สวัสดีครับ",
    "Long   runs     of      spaces and ---- dashes ____ and .... dots.",
]

CORPUS = [
    "",
    " ",
    "   ",
    "\t",
    "\n",
    " \n\t \u3000 ",
    "Hello world",
    "  leading and trailing spaces  ",
    "multiple     inner     spaces",
    "Café naïve résumé",
    "Cafe\u0301 nai\u0308ve",
    "ﬁ ﬂ ﬀ ﬃ ﬄ ﬅ ﬆ",
    "ﬁne ﬂower ofﬁce",
    "Ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
    "ｶﾀｶﾅ ﾊﾟﾋﾟ ｶﾞ",
    "Ⅻ ⅳ x² y³ ½ ¼ ™ ℃ № ㎏ ㍿",
    "日本語のテキスト",
    "中文文本测试，你好世界！",
    "한국어 텍스트",
    "\u1100\u1161\u11a8 decomposed hangul",
    "النص العربي ﻻ ﷺ ﷽",
    "Привет, мир! Ёлка",
    "ΣΊΣΥΦΟΣ Καλημέρα",
    "नमस्ते दुनिया क्षत्रिय",
    "😀 👍🏽 👨‍👩‍👧‍👦 🇯🇵 ❤️ ✨",
    "👩🏽‍💻 🏳️‍🌈 🧑‍🤝‍🧑",
    "a\u200db\u200cc",
    "soft\u00adhyphen",
    "nbsp\u00a0en\u2002em\u2003ideo\u3000zwsp\u200bthin\u2009narrow\u202f.",
    "line\u2028sep\u2029para\u0085nel",
    "ctrl\x01\x02\x03\x7f\x1b[0m",
    "tab\there\r\nnewline",
    "\ufeffBOM at start",
    "replacement \ufffd char",
    "private use \ue000\uf8ff",
    "noncharacter-ish \ufdd0 \U0010fffd",
    "math \U0001d400\U0001d401\U0001d402 𝒜𝓑",
    "circled ①②③ ⓐⓑ ㊀",
    "e\u0301\u0301\u0301\u0301 stacked",
    "Z\u0351\u0352\u0353\u0354\u0355\u0356 zalgo",
    "o\u0302\u0323 ộ ọ\u0302",
    "Å Å Å",
    "Ω Ω K K",
    "İstanbul ǅ ǈ ß ẞ",
    "Tiếng Việt có dấu",
    "ภาษาไทย สวัสดี",
    "\u0915\u094d\u0937 ksha",
    "x" * 300,
    "ab" * 150,
    "日" * 100,
    " " * 50 + "x" + " " * 50,
    "ﬁ" * 40,
    "😀" * 30,
    "\u3000" * 10 + "ideographic",
    "e\u0301" * 20,
    "mixed ＡＢＣabc日本😀ﬁ\u00a0end",
    "‘quotes’ “double” „low“ «guillemets» ‹›",
    "dashes – — ― ‐ ‑ ‒ −",
    "ellipsis … and ‥ two-dot",
    "\u2126 \u212b \u2160 \u2170",
    "\U0001f1fa\U0001f1f8\U0001f1ec\U0001f1e7",
    "keycap 1\ufe0f\u20e3 #\ufe0f\u20e3",
    "variation ︎ \u2764\ufe0e \u2764\ufe0f",
    "\U000e0067 tag chars \U000e0001",
    "a\u0000b",
    "\u00a0",
    "\u200b",
    "\u0301 leading combining",
    "ｱ\u3099 ｶ\u309a",
    "halfwidth ﾞ ﾟ ｰ",
    "㌀ ㌔ ㍻ ㋿",
    "ﾀﾞｲｽｷ",
    "¹²³⁴ ₁₂₃",
    "ĳ Ǆ ŉ ſt",
    "ǰ ǲ ʼn",
    "ｈｅｌｌｏ　ｗｏｒｌｄ",
    "The quick brown fox jumps over the lazy dog.",
]

# A few more generated combinations so every fixture sees ~200 strings.
_pieces = ["ﬁ", "Ａ", " ", "\u3000", "e\u0301", "😀", "日", "\u200d", "ｶﾞ", "½", "\t", "é",
           "\u00a0", "ß", "Ω", "ﬃ", "👍🏽", "\u0308", "x", "ア"]
for i in range(len(_pieces)):
    for j in range(0, len(_pieces), 3):
        CORPUS.append(_pieces[i] + "a" + _pieces[j] + " " + _pieces[(i + j) % len(_pieces)])
        if len(CORPUS) >= 200:
            break
    if len(CORPUS) >= 200:
        break

CONFIGS = [
    ("spm_nmt_nfkc", "nmt_nfkc", False),
    ("spm_nfkc_cf", "nfkc_cf", False),
    ("spm_nmt_nfkc_remove_ws", "nmt_nfkc", True),
]


def train(tmp, name, rule, remove_ws):
    text_path = os.path.join(tmp, "train.txt")
    with open(text_path, "w", encoding="utf-8") as f:
        for _ in range(3):
            for line in TRAIN_TEXT:
                f.write(line + "\n")
    prefix = os.path.join(tmp, name)
    spm.SentencePieceTrainer.train(
        input=text_path, model_prefix=prefix, vocab_size=300, model_type="unigram",
        normalization_rule_name=rule, remove_extra_whitespaces=remove_ws,
        character_coverage=1.0, hard_vocab_limit=False, num_threads=1,
        shuffle_input_sentence=False, input_sentence_size=0, minloglevel=2)
    return prefix + ".model"


def charsmap_rules(blob):
    """Decompiles a SentencePiece charsmap: {source bytes: target bytes} for every trie key."""
    trie_size = int.from_bytes(blob[:4], "little")
    units = [int.from_bytes(blob[4 + 4 * i:8 + 4 * i], "little") for i in range(trie_size // 4)]
    pool = blob[4 + trie_size // 4 * 4:]

    def offset(u):
        return (u >> 10) << ((u & (1 << 9)) >> 6)

    rules = {}

    def walk(pos, key):
        base = pos ^ offset(units[pos])
        for c in range(1, 256):
            child = base ^ c
            if child >= len(units) or (units[child] & ((1 << 31) | 0xFF)) != c:
                continue
            if (units[child] >> 8) & 1:
                value = units[child ^ offset(units[child])] & ((1 << 31) - 1)
                rules[key + bytes([c])] = pool[value:pool.index(b"\0", value)]
            walk(child, key + bytes([c]))

    walk(0, b"")
    return rules


def reduced_charsmap(tmp, name, blob, chars):
    rules = charsmap_rules(blob)
    tsv = os.path.join(tmp, name + ".tsv")
    kept = 0
    with open(tsv, "w", encoding="utf-8") as f:
        for src, dst in sorted(rules.items()):
            s = src.decode("utf-8")
            if all(c in chars for c in s):
                hexes = lambda t: " ".join("%X" % ord(c) for c in t)
                f.write(hexes(s) + "\t" + hexes(dst.decode("utf-8")) + "\n")
                kept += 1
    prefix = os.path.join(tmp, name + "_reduced")
    spm.SentencePieceTrainer.train(
        input=os.path.join(tmp, "train.txt"), model_prefix=prefix, vocab_size=300,
        model_type="unigram", normalization_rule_tsv=tsv, character_coverage=1.0,
        hard_vocab_limit=False, num_threads=1, minloglevel=2)
    m = import_protobuf().ModelProto()
    with open(prefix + ".model", "rb") as f:
        m.ParseFromString(f.read())
    print(name, "charsmap rules kept", kept, "of", len(rules), file=sys.stderr)
    return m.normalizer_spec.precompiled_charsmap


def hf_cases(tok_json):
    hf = tokenizers.Tokenizer.from_str(json.dumps(tok_json))
    cases = []
    for s in CORPUS:
        ids = hf.encode(s).ids
        cases.append({
            "text": s,
            "normalized": hf.normalizer.normalize_str(s),
            "ids": ids,
            "decoded": hf.decode(ids, skip_special_tokens=False),
        })
    return cases


def main():
    assert len(CORPUS) >= 150, len(CORPUS)
    with tempfile.TemporaryDirectory() as tmp:
        for name, rule, remove_ws in CONFIGS:
            model = train(tmp, name, rule, remove_ws)
            proc = spm.SentencePieceProcessor(model_file=model)
            # T5's converter (Precompiled + Strip + Replace, Metaspace, Unigram, "$A </s>") driven
            # by a stand-in for the slow tokenizer: only the attributes the converter reads.
            slow = types.SimpleNamespace(vocab_file=model, _extra_ids=0, legacy=True,
                                         add_prefix_space=True,
                                         convert_tokens_to_ids=proc.piece_to_id)
            tok_json = json.loads(T5Converter(slow).converted().to_str())
            assert any(n.get("type") == "Precompiled"
                       for n in tok_json["normalizer"]["normalizers"]), name
            full_cases = hf_cases(tok_json)
            pre = tok_json["normalizer"]["normalizers"][0]
            blob = base64.b64decode(pre["precompiled_charsmap"])
            chars = set("".join(CORPUS))
            pre["precompiled_charsmap"] = base64.b64encode(
                reduced_charsmap(tmp, name, blob, chars)).decode("ascii")
            cases = hf_cases(tok_json)
            assert cases == full_cases, name
            d = os.path.join(OUT, name)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "tokenizer.json"), "w", encoding="utf-8") as f:
                json.dump(tok_json, f, ensure_ascii=False, separators=(",", ":"))
            with open(os.path.join(d, "expected.json"), "w", encoding="utf-8") as f:
                json.dump({"tokenizers_version": tokenizers.__version__, "cases": cases}, f,
                          ensure_ascii=False, indent=0)
            print(name, rule, "remove_ws" if remove_ws else "keep_ws", len(cases), "cases",
                  file=sys.stderr)


if __name__ == "__main__":
    main()
