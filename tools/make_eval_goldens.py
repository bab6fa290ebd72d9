#!/usr/bin/env python3
"""Golden scores for kiln's C++ metrics (src/eval): sacrebleu (corpus BLEU, chrF, the 13a
tokenizer), rouge_score (ROUGE-1/2/L/Lsum with and without stemming) and NLTK's Porter stemmer as
rouge_score uses it. Writes tests/fixtures/eval/goldens.json, read by tests/unit/eval_metrics_test.cc.

    pip install sacrebleu rouge-score   # (rouge-score pulls in nltk)
    python3 tools/make_eval_goldens.py
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import sacrebleu
from nltk.stem import porter
from rouge_score import rouge_scorer
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "fixtures" / "eval" / "goldens.json"

# (hypothesis, reference) pairs: punctuation, numbers, unicode, empty strings, length mismatch,
# multi-sentence (newline-separated) summaries, HTML entities, odd whitespace.
PAIRS = [
    ("The cat sat on the mat.", "The cat is sitting on the mat."),
    ("Hello, world! It's 3.14 or 1,000 or 2-3 items.", "Hello world: it is 3.14, or 1,000; 2-3 items!"),
    ("", "A reference with no hypothesis."),
    ("A hypothesis with no reference.", ""),
    ("", ""),
    ("short", "this reference is much much longer than the hypothesis and goes on"),
    ("this hypothesis is much much longer than its reference and keeps going and going", "short one"),
    ("Der schnelle braune Fuchs springt über den faulen Hund.", "Der schnelle, braune Fuchs sprang über den faulen Hund."),
    ("Ça coûte 5 € — très cher !", "Cela coûte 5 € : trop cher !"),
    ("東京は日本の首都です。", "東京は日本の首都である。"),
    ("naïve café résumé İstanbul K-band", "naive cafe resume istanbul k band"),
    ("Police arrested 3 men.\nThey were charged on Monday.", "Three men were arrested by police.\nThe men were charged Monday."),
    ("First sentence here.\n\nSecond sentence there.\nThird!", "First sentence.\nSecond sentence here there.\n"),
    ("&quot;Quoted&quot; &amp; escaped &lt;tags&gt; <skipped> word-\nbreak", "\"Quoted\" & escaped <tags> wordbreak"),
    ("tabs\tand\u00a0non-breaking\u2009spaces  and   runs ", "tabs and non-breaking spaces and runs"),
    ("e.g. U.S.A., Dr. Smith's (re)search [2019] {x} ~y~ a/b @home #tag $5 50% ^_^ |pipe| `q`",
     "e.g. USA, Dr Smith's research 2019: x y a / b at home tag 5 dollars 50 % pipe q"),
    ("numbers 1.5, 2,500 and 10-20 years; ver. 3.0.1.", "numbers 1.5 , 2,500 and 10 - 20 years ; version 3.0.1 ."),
    ("The running runners ran happily; generously, they were running.", "A runner runs happily and generously ran."),
    ("organizations organized the organizational meetings", "the organization organizes meetings"),
    ("the the the the the", "the cat the dog"),
    ("repeat repeat repeat", "repeat"),
    ("Emoji 😀 and symbols ✓ ★ ∑ mixed in.", "Emoji 😀 and symbols ✓ mixed in."),
]

STEM_WORDS = """caresses ponies ties caress cats feed agreed plastered bled motoring sing conflated
troubled sized hopping tanned falling hissing fizzed failing filing happy sky skies dying lying tying
news innings inning outings canning howe proceed exceed succeed relational conditional rational
valenci hesitanci digitizer conformabli radicalli differentli vileli analogousli vietnamization
predication operator feudalism decisiveness hopefulness callousness formaliti sensitiviti
sensibiliti triplicate formative formalize electriciti electrical hopeful goodness revival
allowance inference airliner gyroscopic adjustable defensible irritant replacement adjustment
dependent adoption homologou communism activate angulariti homologous effective bowdlerize probate
rate cease controll roll generously tried spied flies enjoy enjoyment yyyy syzygy toy analogy
archaeology fully hopefulli ties dies lies eyes 1990s 2019 abcd yyyyy says played playing buyer
ied died tied agreed eed speed seed bleed dried cried oily mystify trying cycling""".split()


def bleu_case(hyps, refs):
    b = sacrebleu.corpus_bleu(hyps, [refs])
    c = sacrebleu.corpus_chrf(hyps, [refs])
    return {"hyps": hyps, "refs": refs, "bleu": b.score, "counts": list(b.counts),
            "totals": list(b.totals), "precisions": list(b.precisions), "bp": b.bp,
            "sys_len": b.sys_len, "ref_len": b.ref_len, "chrf": c.score}


def main():
    hyps = [h for h, _ in PAIRS]
    refs = [r for _, r in PAIRS]
    cases = [dict(name="all", **bleu_case(hyps, refs))]
    for i, (h, r) in enumerate(PAIRS):
        cases.append(dict(name=f"pair{i}", **bleu_case([h], [r])))
    cases.append(dict(name="empty_hyps", **bleu_case(["", ""], ["a b c", "d e"])))
    cases.append(dict(name="perfect", **bleu_case(refs[:2], refs[:2])))

    tok = Tokenizer13a()
    tokenized = [{"in": s, "out": tok(s.rstrip())} for s in hyps + refs]

    types = ["rouge1", "rouge2", "rougeL", "rougeLsum"]
    rouge = []
    for stem in (False, True):
        scorer = rouge_scorer.RougeScorer(types, use_stemmer=stem)
        for h, r in PAIRS:
            s = scorer.score(r, h)
            rouge.append({"target": r, "prediction": h, "use_stemmer": stem,
                          **{t: [s[t].precision, s[t].recall, s[t].fmeasure] for t in types}})

    stemmer = porter.PorterStemmer()
    words = list(dict.fromkeys(STEM_WORDS))
    # Plus every distinct word of the repo's prose (several thousand real English words).
    prose = " ".join(p.read_text(errors="ignore") for p in [REPO / "README.md", REPO / "docs" / "design.md"]
                     if p.is_file())
    for w in sorted(set(re.findall(r"[a-z]{4,}", prose.lower()))):
        if w not in words:
            words.append(w)
    words = words[:4000]
    stems = {w: stemmer.stem(w) for w in words}

    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "versions": {"sacrebleu": sacrebleu.__version__},
        "bleu": cases, "tokenize_13a": tokenized, "rouge": rouge, "stems": stems,
    }, ensure_ascii=False, indent=0) + "\n")
    print(f"wrote {OUT} ({len(cases)} BLEU cases, {len(rouge)} ROUGE cases, {len(stems)} stems)")


if __name__ == "__main__":
    main()
