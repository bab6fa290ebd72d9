#!/usr/bin/env python3
"""Builds the SentencePiece `.model` tokenizer fixtures (T5, mBART, mBART-50, Marian) for kiln.

Trains tiny deterministic SentencePiece models (unigram for T5/Marian, bpe for mBART, as the real
ones), saves each with the transformers *slow* tokenizer class built from it (save_pretrained:
tokenizer_config.json, special_tokens_map.json, vocab.json...), and records that class's ids,
decodes and vocabulary for a corpus of edge-case strings in expected.json beside it. Also writes
t5_json/: the same T5 model through transformers' slow->fast converter (tokenizer.json: Unigram +
Precompiled + Metaspace), with HF `tokenizers`' ids and decodes.

The reference is the sentencepiece-backed slow classes of transformers 4 (4.57): transformers 5
rebuilds T5/MBart/MBart50 from a .model as a `tokenizers` pipeline (mBART's BPE model becomes a
Unigram without normalizer), which is not what SentencePiece (and the models' training) does.
Run with a transformers 4 environment:
    python3 -m venv /tmp/tf4 && /tmp/tf4/bin/pip install "transformers==4.57.1" sentencepiece protobuf
    /tmp/tf4/bin/python tools/make_spm_model_fixtures.py
`python3 tools/make_spm_model_fixtures.py --compare-v5` (transformers 5) reports where
transformers 5's AutoTokenizer differs from the recorded expectations.

Each .model is trained with a normalization_rule_tsv holding only the nmt_nfkc rules whose source
characters occur in the corpus (as tools/make_spm_fixtures.py does for charsmaps), so the models
stay small while normalizing the corpus exactly as nmt_nfkc does.
"""
import json
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
OUT = os.path.join(ROOT, "tests", "fixtures", "tokenizers")

from make_spm_fixtures import CORPUS as _BASE_CORPUS, TRAIN_TEXT, charsmap_rules  # noqa: E402

SPECIAL_STRINGS = [
    "Hello </s> world",
    "</s>",
    "<pad><unk></s>",
    "a<unk>b",
    "x <extra_id_0> y <extra_id_3>z",
    "<extra_id_0><extra_id_1>",
    "  <extra_id_2>  spaced  ",
    "<extra_id_99> not a sentinel here",
    "<s> bos and </s> eos",
    "fill <mask> here",
    "fill<mask>here",
    "en_XX de_DE ro_RO in text",
    "zh_CN中文",
    ">>fr<< Bonjour le monde",
    ">>de<<Hallo",
    "text >>fr<< middle",
    ">>xx<< unknown code",
    "\u2581already\u2581has\u2581underlines",
    "▁",
    "Hello world! How are you? I'm fine, isn't it .",
]
CORPUS = _BASE_CORPUS[:150] + SPECIAL_STRINGS

MARIAN_TARGET_TEXT = [
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "Bonjour le monde, ça va très bien aujourd'hui.",
    "Größe, Straße, Mädchen, Übung, naïveté, œuvre.",
    "日本語の文章と中文句子。",
    "Zahlen 0123456789 und Zeichen @#$%&*()[]{}.",
    "Emoji 😀 👍 ✨ und mehr.",
]


def write_train(tmp, name, lines):
    path = os.path.join(tmp, name + ".txt")
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(3):
            for line in lines:
                f.write(line + "\n")
    return path


def reduced_rules_tsv(tmp, spm, train_path):
    """nmt_nfkc rules restricted to the corpus' characters, as a normalization_rule_tsv."""
    from transformers.convert_slow_tokenizer import import_protobuf
    prefix = os.path.join(tmp, "full_nmt_nfkc")
    spm.SentencePieceTrainer.train(
        input=train_path, model_prefix=prefix, vocab_size=300, model_type="unigram",
        character_coverage=1.0, hard_vocab_limit=False, num_threads=1, minloglevel=2)
    m = import_protobuf().ModelProto()
    with open(prefix + ".model", "rb") as f:
        m.ParseFromString(f.read())
    rules = charsmap_rules(m.normalizer_spec.precompiled_charsmap)
    chars = set("".join(CORPUS + TRAIN_TEXT + MARIAN_TARGET_TEXT))
    tsv = os.path.join(tmp, "rules.tsv")
    with open(tsv, "w", encoding="utf-8") as f:
        for src, dst in sorted(rules.items()):
            s = src.decode("utf-8")
            if all(c in chars for c in s):
                hexes = lambda t: " ".join("%X" % ord(c) for c in t)
                f.write(hexes(s) + "\t" + hexes(dst.decode("utf-8")) + "\n")
    return tsv


def train(spm, tmp, out_path, train_path, tsv, model_type, vocab_size, **ids):
    prefix = os.path.join(tmp, os.path.basename(out_path) + "_" + model_type)
    spm.SentencePieceTrainer.train(
        input=train_path, model_prefix=prefix, vocab_size=vocab_size, model_type=model_type,
        normalization_rule_tsv=tsv, character_coverage=1.0, hard_vocab_limit=False,
        num_threads=1, shuffle_input_sentence=False, input_sentence_size=0, seed_sentencepiece_size=100000,
        minloglevel=2, **ids)
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    # The trainer records its (temporary) file paths in the model: drop them so reruns are
    # byte-identical.
    from transformers.convert_slow_tokenizer import import_protobuf
    m = import_protobuf().ModelProto()
    with open(prefix + ".model", "rb") as f:
        m.ParseFromString(f.read())
    del m.trainer_spec.input[:]
    m.trainer_spec.model_prefix = os.path.basename(out_path)
    m.normalizer_spec.normalization_rule_tsv = "rules.tsv"
    with open(out_path, "wb") as g:
        g.write(m.SerializeToString(deterministic=True))


def record(tok, name):
    """Expected ids/decodes of a slow tokenizer for the corpus, plus its vocabulary."""
    cases = []
    for s in CORPUS:
        ids = tok.encode(s)
        cases.append({
            "text": s,
            "ids": ids,
            "ids_no_special": tok.encode(s, add_special_tokens=False),
            "decoded": tok.decode(ids),
            "decoded_skip": tok.decode(ids, skip_special_tokens=True),
        })
    n = len(tok)
    # Id sequences that mix specials, added tokens and pieces in every order.
    step = max(1, n // 37)
    decode_cases = []
    seqs = [list(range(0, min(n, 12))), list(range(n - 12, n)), list(range(0, n, step)),
            [n - 1, 5, 6, n - 2, 7, 0, 1, 2, 3], [2, 2, 9, 9, 1, 1]]
    for seq in seqs:
        seq = [i for i in seq if 0 <= i < n]
        decode_cases.append({"ids": seq, "decoded": tok.decode(seq),
                             "decoded_skip": tok.decode(seq, skip_special_tokens=True)})
    vocab = [tok.convert_ids_to_tokens(i) for i in range(n)]
    return {"class": type(tok).__name__, "vocab_size": n, "id_to_token": vocab,
            "cases": cases, "decode_cases": decode_cases}


def save(name, tok, extra=None):
    d = os.path.join(OUT, name)
    tok.save_pretrained(d)
    for f in ("added_tokens.json",):  # not needed: tokenizer_config.json has added_tokens_decoder
        p = os.path.join(d, f)
        if os.path.exists(p):
            os.remove(p)
    exp = record(tok, name)
    if extra:
        exp.update(extra)
    import transformers, sentencepiece
    exp["transformers_version"] = transformers.__version__
    exp["sentencepiece_version"] = sentencepiece.__version__
    with open(os.path.join(d, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(exp, f, ensure_ascii=False, separators=(",", ":"))
    print(name, exp["class"], "vocab", exp["vocab_size"], file=sys.stderr)


def t5_json_fixture(t5_dir):
    """T5 through the slow->fast converter: tokenizer.json + tokenizers' outputs."""
    from transformers import T5TokenizerFast
    import tokenizers
    fast = T5TokenizerFast.from_pretrained(t5_dir, from_slow=True)
    d = os.path.join(OUT, "t5_json")
    os.makedirs(d, exist_ok=True)
    fast.backend_tokenizer.save(os.path.join(d, "tokenizer.json"))
    hf = tokenizers.Tokenizer.from_file(os.path.join(d, "tokenizer.json"))
    cases = []
    for s in CORPUS:
        ids = hf.encode(s).ids
        cases.append({"text": s, "ids": ids,
                      "ids_no_special": hf.encode(s, add_special_tokens=False).ids,
                      "decoded": hf.decode(ids, skip_special_tokens=False),
                      "decoded_skip": hf.decode(ids, skip_special_tokens=True)})
    with open(os.path.join(d, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizers_version": tokenizers.__version__,
                   "vocab_size": hf.get_vocab_size(with_added_tokens=True), "cases": cases},
                  f, ensure_ascii=False, separators=(",", ":"))
    print("t5_json vocab", hf.get_vocab_size(), file=sys.stderr)


def main():
    import sentencepiece as spm
    import transformers
    from transformers import T5Tokenizer, MBartTokenizer, MBart50Tokenizer, MarianTokenizer
    assert transformers.__version__.startswith("4."), "needs transformers 4 (see the docstring)"
    with tempfile.TemporaryDirectory() as tmp:
        src_train = write_train(tmp, "src", TRAIN_TEXT)
        tgt_train = write_train(tmp, "tgt", MARIAN_TARGET_TEXT + TRAIN_TEXT[::3])
        tsv = reduced_rules_tsv(tmp, spm, src_train)

        # T5: unigram, <pad>=0 </s>=1 <unk>=2, no <s>; 10 sentinels.
        t5_model = os.path.join(tmp, "t5", "spiece.model")
        train(spm, tmp, t5_model, src_train, tsv, "unigram", 300,
              pad_id=0, eos_id=1, unk_id=2, bos_id=-1)
        t5 = T5Tokenizer(t5_model, extra_ids=10)
        save("t5_spm", t5)
        t5_json_fixture(os.path.join(OUT, "t5_spm"))

        # mBART: bpe with SentencePiece's default <unk>=0 <s>=1 </s>=2 (fairseq offset 1).
        mb_model = os.path.join(tmp, "mbart", "sentencepiece.bpe.model")
        train(spm, tmp, mb_model, src_train, tsv, "bpe", 300)
        save("mbart_spm", MBartTokenizer(mb_model, src_lang="ro_RO", tgt_lang="en_XX"))
        save("mbart50_spm", MBart50Tokenizer(mb_model, src_lang="de_DE", tgt_lang="en_XX"))

        # Marian: separate source/target unigram models, one joint vocab.json (with language
        # codes) and a separate_vocabs variant.
        src_model = os.path.join(tmp, "marian", "source.spm")
        tgt_model = os.path.join(tmp, "marian", "target.spm")
        train(spm, tmp, src_model, src_train, tsv, "unigram", 320)
        train(spm, tmp, tgt_model, tgt_train, tsv, "unigram", 300)
        sp_src = spm.SentencePieceProcessor(model_file=src_model)
        sp_tgt = spm.SentencePieceProcessor(model_file=tgt_model)

        def pieces(sp):
            return [sp.id_to_piece(i) for i in range(sp.get_piece_size())
                    if sp.id_to_piece(i) not in ("<unk>", "<s>", "</s>")]

        joint = {"</s>": 0, "<unk>": 1, ">>fr<<": 2, ">>de<<": 3}
        for p in pieces(sp_src) + pieces(sp_tgt):
            joint.setdefault(p, len(joint))
        joint["<pad>"] = len(joint)
        vocab_path = os.path.join(tmp, "marian", "vocab.json")
        with open(vocab_path, "w", encoding="utf-8") as f:
            json.dump(joint, f, ensure_ascii=False)
        save("marian_spm", MarianTokenizer(src_model, tgt_model, vocab_path,
                                           source_lang="en", target_lang="de"))

        def own(sp):
            v = {"</s>": 0, "<unk>": 1}
            for p in pieces(sp):
                v.setdefault(p, len(v))
            v["<pad>"] = len(v)
            return v

        src_vocab = os.path.join(tmp, "marian", "src_vocab.json")
        tgt_vocab = os.path.join(tmp, "marian", "tgt_vocab.json")
        for path, sp in ((src_vocab, sp_src), (tgt_vocab, sp_tgt)):
            with open(path, "w", encoding="utf-8") as f:
                json.dump(own(sp), f, ensure_ascii=False)
        save("marian_sep_spm", MarianTokenizer(src_model, tgt_model, src_vocab,
                                               target_vocab_file=tgt_vocab, separate_vocabs=True,
                                               source_lang="en", target_lang="de"))


def compare_v5():
    """Reports where transformers 5's AutoTokenizer differs from the recorded expectations."""
    import transformers
    from transformers import AutoTokenizer
    print("transformers", transformers.__version__)
    for name in ("t5_spm", "mbart_spm", "mbart50_spm", "marian_spm", "marian_sep_spm"):
        d = os.path.join(OUT, name)
        exp = json.load(open(os.path.join(d, "expected.json"), encoding="utf-8"))
        tok = AutoTokenizer.from_pretrained(d)
        enc = dec = 0
        for c in exp["cases"]:
            ids = tok.encode(c["text"])
            if ids != c["ids"]:
                enc += 1
                if enc <= 3:
                    print(f"  {name} encode {c['text']!r}: v5 {ids} vs {c['ids']}")
            try:
                dec += tok.decode(c["ids"]) != c["decoded"]
            except Exception as e:  # transformers 5's separate-vocab Marian decodes via the spm ids
                dec += 1
                if dec == 1:
                    print(f"  {name} decode raises {type(e).__name__}: {e}")
        print(f"{name}: {type(tok).__name__} len {len(tok)} (expected {exp['vocab_size']}); "
              f"encode differs {enc}/{len(exp['cases'])}, decode differs {dec}")


if __name__ == "__main__":
    compare_v5() if "--compare-v5" in sys.argv else main()
