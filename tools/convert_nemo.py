#!/usr/bin/env python3
"""Convert a NeMo Megatron GPT ``.nemo`` archive ("GPT-Next", e.g. GPT-2B-001) to a kiln checkpoint.

Usage:  python3 tools/convert_nemo.py --nemo model.nemo --output_dir CKPT [--dtype auto|float32|
                                      float16|bfloat16] [--allow_pickle]

A ``.nemo`` file is a tar (optionally gzipped) holding ``model_config.yaml``, the weights
``model_weights.ckpt`` (a torch state dict with Megatron names; also ``mp_rank_00/`` for a single
tensor-parallel rank) and the SentencePiece ``tokenizer.model`` the yaml names
(``tokenizer.model: nemo:<file>``). The output folder is what kiln loads (``kiln run --engine_dir``):

* ``config.json``: ``model_type: "gpt_next"`` with NeMo's field names (hidden_size, ffn_hidden_size,
  num_layers, num_attention_heads, num_query_groups, kv_channels, normalization,
  layernorm_epsilon, activation, rotary_percentage, rotary_base, seq_len_interpolation_factor,
  max_position_embeddings, share_embeddings_and_output_weights), the padded vocab_size, the
  tokenizer's bos/eos ids and ``kiln_checkpoint``;
* ``model.safetensors`` with kiln names (src/models/gpt_next/weights.h), written by this script
  (byte-for-byte reproducible: names sorted, no dependency on the safetensors package);
* ``tokenizer.json``: the SentencePiece model rewritten as a Hugging Face tokenizer (BPE or Unigram,
  byte fallback, the .model's whitespace rules), parsed from the protobuf here without the
  sentencepiece package; ``tokenizer.model`` copied as well; ``generation_config.json``.

What kiln supports (anything else is an error naming the option): a pre-LN GPT with rotary
positions (``position_embedding_type: rope`` on the first ``rotary_percentage`` of each head,
Megatron's rotate-half pairing, ``rotary_base``, linear ``seq_len_interpolation_factor``), no biases
(``bias: false``), ``activation`` swiglu / fast-swiglu, ``normalization`` layernorm, layernorm1p
(weight + 1; also ``layernorm_zero_centered_gamma``) or rmsnorm, grouped-query attention
(``num_query_groups``), tied or untied output layer, tensor/pipeline parallel size 1.

Weight layouts: Megatron's fused QKV rows are per query group ``[q_0 .. q_{r-1}, k, v]`` x head_dim
(r = heads / groups; plain MHA is per head ``[q, k, v]``); kiln's fused qkv is ``[all q; all k;
all v]``, so the rows are regrouped here. Megatron's SwiGLU fc1 (``dense_h_to_4h`` /
``linear_fc1``, [2 * ffn, hidden]) is ``[gate; up]``: Megatron-core's glu() does
``act(chunk0) * chunk1`` and NeMo's fast-swiglu chunks the same way, which is kiln's gate_up
order; NeMo's older unfused form keeps ``dense_h_to_4h`` (activated) and ``dense_h_to_4h_2``
(linear) apart and is concatenated in that order.
"""
from __future__ import annotations

import argparse
import io
import json
import re
import struct
import sys
import tarfile
from pathlib import Path

import torch

from kiln_safetensors import ST_DTYPES, write_safetensors  # noqa: E402 (tools/)
import yaml


class ConvertError(Exception):
    pass


def fail(msg: str):
    raise ConvertError(msg)


# ---------------------------------------------------------------------------------------------
# Archive
class Archive:
    def __init__(self, path: Path):
        if not path.is_file():
            fail(f"{path}: no such file")
        try:
            self.tar = tarfile.open(path, "r:*")
            members = self.tar.getmembers()
        except (tarfile.TarError, EOFError, OSError) as e:
            fail(f"{path}: not a .nemo archive (tar or tar.gz): {e}")
        self.path = path
        self.files = {}
        for m in members:
            if m.isfile():
                self.files[m.name[2:] if m.name.startswith("./") else m.name] = m

    def has(self, name: str) -> bool:
        return name in self.files

    def read(self, name: str) -> bytes:
        f = self.tar.extractfile(self.files[name])
        return f.read()


# ---------------------------------------------------------------------------------------------
# Config
def resolve_interpolations(cfg: dict) -> dict:
    """Resolves OmegaConf's simple ``${key}`` / ``${.key}`` references to other top-level keys."""
    pat = re.compile(r"^\$\{\.?([A-Za-z0-9_.]+)\}$")

    def lookup(key, depth=0):
        node = cfg
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                fail(f"model_config.yaml: cannot resolve ${{{key}}}")
            node = node[part]
        if isinstance(node, str) and pat.match(node) and depth < 10:
            return lookup(pat.match(node).group(1), depth + 1)
        return node

    out = {}
    for k, v in cfg.items():
        out[k] = lookup(pat.match(v).group(1)) if isinstance(v, str) and pat.match(v) else v
    return out


def model_config(raw: dict) -> dict:
    """The kiln gpt_next config fields from NeMo's model_config.yaml (with NeMo's defaults)."""
    if isinstance(raw.get("model"), dict) and "num_layers" not in raw:
        raw = raw["model"]  # a full training config: the model section
    c = resolve_interpolations(raw)

    def need(k):
        if c.get(k) is None:
            fail(f"model_config.yaml: missing '{k}'")
        return c[k]

    tp = int(c.get("tensor_model_parallel_size", 1) or 1)
    pp = int(c.get("pipeline_model_parallel_size", 1) or 1)
    if tp != 1 or pp != 1:
        fail(f"model_config.yaml: tensor_model_parallel_size {tp} / pipeline_model_parallel_size "
             f"{pp}: only single-rank (1/1) archives are supported")
    pos = str(c.get("position_embedding_type", "learned_absolute"))
    if pos != "rope":
        fail(f"model_config.yaml: position_embedding_type '{pos}' is not supported "
             "(gpt_next needs 'rope')")
    for key in ("bias", "add_bias_linear", "add_qkv_bias"):
        if c.get(key) is True:
            fail(f"model_config.yaml: {key}: true (linear biases) is not supported (gpt_next has no "
                 "biases)")
    act = str(c.get("activation", "gelu")).lower()
    if act not in ("swiglu", "fast-swiglu"):
        fail(f"model_config.yaml: activation '{act}' is not supported (supported: swiglu, "
             "fast-swiglu)")
    norm = str(c.get("normalization", "layernorm")).lower()
    norm = {"layernorm": "layernorm", "layernorm1p": "layernorm1p", "rmsnorm": "rmsnorm",
            "fused_layernorm": "layernorm", "low_precision_layernorm": "layernorm"}.get(norm, norm)
    if norm not in ("layernorm", "layernorm1p", "rmsnorm"):
        fail(f"model_config.yaml: normalization '{norm}' is not supported (supported: layernorm, "
             "layernorm1p, rmsnorm)")
    if c.get("layernorm_zero_centered_gamma") is True:
        if norm != "layernorm":
            fail("model_config.yaml: layernorm_zero_centered_gamma needs normalization layernorm")
        norm = "layernorm1p"
    block = str(c.get("transformer_block_type", "pre_ln"))
    if block != "pre_ln":
        fail(f"model_config.yaml: transformer_block_type '{block}' is not supported (pre_ln only)")
    for key, ok in (("apply_residual_connection_post_layernorm", False),
                    ("normalize_attention_scores", True), ("headscale", False),
                    ("bias_dropout_add_fusion_with_post_ln", None)):
        if ok is not None and key in c and c[key] is not None and bool(c[key]) != ok:
            fail(f"model_config.yaml: {key}: {c[key]} is not supported")
    heads = int(need("num_attention_heads"))
    hidden = int(need("hidden_size"))
    groups = c.get("num_query_groups")
    groups = heads if groups in (None, 0) else int(groups)
    if heads % groups:
        fail(f"model_config.yaml: num_attention_heads {heads} is not a multiple of "
             f"num_query_groups {groups}")
    kv_channels = c.get("kv_channels")
    head_dim = hidden // heads if kv_channels is None else int(kv_channels)
    if kv_channels is None and hidden % heads:
        fail(f"model_config.yaml: hidden_size {hidden} not divisible by num_attention_heads {heads}")
    pct = float(c.get("rotary_percentage", 1.0))
    rot = int(head_dim * pct)
    if not 0.0 < pct <= 1.0 or rot < 2 or rot % 2:
        fail(f"model_config.yaml: rotary_percentage {pct} gives {rot} rotary dims of {head_dim}: "
             "must be a positive even number")
    max_pos = c.get("max_position_embeddings") or c.get("encoder_seq_length")
    if max_pos is None:
        fail("model_config.yaml: missing 'max_position_embeddings' / 'encoder_seq_length'")
    interp = c.get("seq_len_interpolation_factor")
    rope_scaling = c.get("rotary_scaling") or c.get("rope_scaling")
    if rope_scaling not in (None, False, {}):
        fail(f"model_config.yaml: rope scaling {rope_scaling} is not supported")
    return dict(
        hidden_size=hidden,
        ffn_hidden_size=int(need("ffn_hidden_size")),
        num_layers=int(need("num_layers")),
        num_attention_heads=heads,
        num_query_groups=groups,
        kv_channels=head_dim,
        normalization=norm,
        layernorm_epsilon=float(c.get("layernorm_epsilon", 1e-5)),
        activation="swiglu",
        bias=False,
        position_embedding_type="rope",
        rotary_percentage=pct,
        rotary_base=float(c.get("rotary_base", 10000.0)),
        seq_len_interpolation_factor=None if interp is None else float(interp),
        max_position_embeddings=int(max_pos),
        share_embeddings_and_output_weights=bool(c.get("share_embeddings_and_output_weights", True)),
    )


# ---------------------------------------------------------------------------------------------
# Weights
def load_state_dict(arc: Archive, allow_pickle: bool) -> dict:
    names = [n for n in arc.files if n.endswith("model_weights.ckpt")]
    if not names:
        if any(n.startswith("model_weights/") for n in arc.files):
            fail(f"{arc.path}: a distributed (torch_dist/zarr) checkpoint; only model_weights.ckpt "
                 "archives are supported")
        fail(f"{arc.path}: no model_weights.ckpt in the archive")
    if len(names) > 1:
        fail(f"{arc.path}: {len(names)} weight files ({', '.join(sorted(names))}): only "
             "single-rank archives are supported")
    data = arc.read(names[0])
    try:
        sd = torch.load(io.BytesIO(data), map_location="cpu", weights_only=not allow_pickle)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad archive
        hint = "" if allow_pickle else " (if it holds non-tensor objects you trust, --allow_pickle)"
        fail(f"{arc.path}: cannot load {names[0]}: {e}{hint}")
    if isinstance(sd, dict) and isinstance(sd.get("state_dict"), dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        fail(f"{arc.path}: {names[0]} is not a state dict")
    out = {}
    for k, v in sd.items():
        if k.endswith("_extra_state") or k.endswith("rotary_pos_emb.inv_freq"):
            continue
        for p in ("model.module.", "module.", "model."):
            if k.startswith(p):
                k = k[len(p):]
                break
        if k.startswith("language_model."):
            k = k[len("language_model."):]
        if not isinstance(v, torch.Tensor):
            fail(f"{arc.path}: '{k}' is not a tensor")
        out[k] = v
    return out


def kiln_weights(sd: dict, c: dict, vocab: int | None) -> tuple[dict, int]:
    """Megatron names -> kiln names (src/models/gpt_next/weights.cc); returns (tensors, vocab)."""
    sd = dict(sd)
    h, ffn, L = c["hidden_size"], c["ffn_hidden_size"], c["num_layers"]
    heads, groups, hd = c["num_attention_heads"], c["num_query_groups"], c["kv_channels"]
    r = heads // groups
    norm_bias = c["normalization"] != "rmsnorm"
    out = {}

    def take(*names, shape=None):
        for n in names:
            if n in sd:
                t = sd.pop(n)
                if shape is not None and tuple(t.shape) != tuple(shape):
                    fail(f"weight '{n}' has shape {list(t.shape)}, the config implies {list(shape)}")
                if not t.is_floating_point():
                    fail(f"weight '{n}' has dtype {t.dtype}, expected a floating type")
                return t
        fail(f"missing weight '{names[0]}'" + (f" (or {', '.join(names[1:])})" if names[1:] else ""))

    emb = take("embedding.word_embeddings.weight")
    if emb.dim() != 2 or emb.shape[1] != h:
        fail(f"weight 'embedding.word_embeddings.weight' has shape {list(emb.shape)}, expected "
             f"[vocab, {h}]")
    vocab = emb.shape[0]
    if "embedding.position_embeddings.weight" in sd:
        fail("learned position embeddings present: not a rope model")
    out["embed_tokens"] = emb
    mcore = any(k.startswith("decoder.") for k in sd)
    for i in range(L):
        e = f"encoder.layers.{i}." if not mcore else f"decoder.layers.{i}."
        k = f"layers.{i}."

        def norm(kiln, *names):
            out[k + kiln + ".weight"] = take(*[n + "weight" for n in names], shape=[h])
            if norm_bias:
                out[k + kiln + ".bias"] = take(*[n + "bias" for n in names], shape=[h])

        if mcore:
            norm("input_layernorm", e + "input_layernorm.",
                 e + "self_attention.linear_qkv.layer_norm_")
            qkv = take(e + "self_attention.linear_qkv.weight", shape=[(heads + 2 * groups) * hd, h])
            dense = take(e + "self_attention.linear_proj.weight", shape=[h, heads * hd])
            norm("post_attention_layernorm", e + "pre_mlp_layernorm.",
                 e + "mlp.linear_fc1.layer_norm_")
            fc1 = take(e + "mlp.linear_fc1.weight", shape=[2 * ffn, h])
            fc2 = take(e + "mlp.linear_fc2.weight", shape=[h, ffn])
        else:
            norm("input_layernorm", e + "input_layernorm.")
            qkv = take(e + "self_attention.query_key_value.weight",
                       shape=[(heads + 2 * groups) * hd, h])
            dense = take(e + "self_attention.dense.weight", shape=[h, heads * hd])
            norm("post_attention_layernorm", e + "post_attention_layernorm.")
            if e + "mlp.dense_h_to_4h_2.weight" in sd:
                fc1 = torch.cat([take(e + "mlp.dense_h_to_4h.weight", shape=[ffn, h]),
                                 take(e + "mlp.dense_h_to_4h_2.weight", shape=[ffn, h])])
            else:
                fc1 = take(e + "mlp.dense_h_to_4h.weight", shape=[2 * ffn, h])
            fc2 = take(e + "mlp.dense_4h_to_h.weight", shape=[h, ffn])
        g = qkv.reshape(groups, r + 2, hd, h)
        out[k + "attn.qkv.weight"] = torch.cat([g[:, :r].reshape(heads * hd, h),
                                                g[:, r].reshape(groups * hd, h),
                                                g[:, r + 1].reshape(groups * hd, h)])
        out[k + "attn.out.weight"] = dense
        out[k + "mlp.gate_up.weight"] = fc1
        out[k + "mlp.down.weight"] = fc2
    f = "decoder.final_layernorm." if mcore else "encoder.final_layernorm."
    out["final_layernorm.weight"] = take(f + "weight", shape=[h])
    if norm_bias:
        out["final_layernorm.bias"] = take(f + "bias", shape=[h])
    if not c["share_embeddings_and_output_weights"]:
        out["lm_head"] = take("output_layer.weight", shape=[vocab, h])
    elif "output_layer.weight" in sd:
        fail("share_embeddings_and_output_weights is true but the archive has output_layer.weight")
    biases = sorted(n for n in sd if n.endswith(".bias") and "norm" not in n)
    if biases:
        fail(f"linear biases are not supported (gpt_next has none): {', '.join(biases[:4])}")
    if sd:
        fail(f"unexpected weights (layer count or layout mismatch?): {', '.join(sorted(sd)[:6])}")
    return out, vocab




# ---------------------------------------------------------------------------------------------
# SentencePiece .model -> tokenizer.json (protobuf parsed by hand: sentencepiece_model.proto)
def _varint(b: bytes, i: int) -> tuple[int, int]:
    v = s = 0
    while True:
        x = b[i]
        i += 1
        v |= (x & 0x7F) << s
        s += 7
        if x < 0x80:
            return v, i


def _fields(b: bytes):
    """(field number, wire type, value) of a protobuf message; value = int or bytes."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 1:
            v, i = b[i:i + 8], i + 8
        elif wt == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt == 5:
            v, i = b[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported wire type {wt}")
        yield num, wt, v


def _int32(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def parse_spm(data: bytes) -> dict:
    pieces, trainer, norm = [], {}, {}
    try:
        for num, wt, v in _fields(data):
            if num == 1 and wt == 2:
                p = {"piece": "", "score": 0.0, "type": 1}
                for n2, w2, v2 in _fields(v):
                    if n2 == 1:
                        p["piece"] = v2.decode("utf-8")
                    elif n2 == 2 and w2 == 5:
                        p["score"] = struct.unpack("<f", v2)[0]
                    elif n2 == 3:
                        p["type"] = v2
                pieces.append(p)
            elif num == 2 and wt == 2:
                for n2, w2, v2 in _fields(v):
                    trainer[n2] = v2
            elif num == 3 and wt == 2:
                for n2, w2, v2 in _fields(v):
                    norm[n2] = v2
    except (ValueError, IndexError, UnicodeDecodeError) as e:
        fail(f"tokenizer model: not a SentencePiece model ({e})")
    if not pieces:
        fail("tokenizer model: not a SentencePiece model (no pieces)")
    return dict(
        pieces=pieces,
        model_type=trainer.get(3, 1),
        byte_fallback=bool(trainer.get(35, 0)),
        unk_id=_int32(trainer.get(40, 0)), bos_id=_int32(trainer.get(41, 1)),
        eos_id=_int32(trainer.get(42, 2)), pad_id=_int32(trainer.get(43, (1 << 64) - 1)),
        split_digits=bool(trainer.get(25, 0)),
        treat_whitespace_as_suffix=bool(trainer.get(24, 0)),
        norm_name=norm.get(1, b"").decode(), charsmap=norm.get(2, b""),
        add_dummy_prefix=bool(norm.get(3, 1)), remove_extra_whitespaces=bool(norm.get(4, 1)),
        escape_whitespaces=bool(norm.get(5, 1)),
    )


NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def spm_to_tokenizer_json(spm: dict, vocab_size: int) -> dict:
    """A HF tokenizer.json that encodes like SentencePiece's Encode (no BOS/EOS added, as NeMo's
    text_to_ids) and decodes like its Decode. Megatron pads the embedding to vocab_size rows
    (make_vocab_size_divisible_by); the padding ids become special added tokens <vocab_pad_ID>
    so that every id the model can emit decodes (to nothing, with special tokens skipped)."""
    import base64
    if spm["treat_whitespace_as_suffix"]:
        fail("tokenizer model: treat_whitespace_as_suffix is not supported")
    if not spm["escape_whitespaces"]:
        fail("tokenizer model: escape_whitespaces false is not supported")
    if spm["split_digits"]:
        print("convert_nemo: warning: the SentencePiece model splits digits; tokenizer.json does "
              "not reproduce that", file=sys.stderr)
    pieces = spm["pieces"]
    mtype = spm["model_type"]
    if mtype not in (1, 2):
        fail(f"tokenizer model: SentencePiece model_type {mtype} is not supported (BPE, Unigram)")
    added = []
    for i, p in enumerate(pieces):
        if p["type"] in (CONTROL, UNKNOWN, USER_DEFINED):
            special = p["type"] != USER_DEFINED
            added.append({"id": i, "content": p["piece"], "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": special})
    for i in range(len(pieces), vocab_size):
        added.append({"id": i, "content": f"<vocab_pad_{i}>", "single_word": False,
                      "lstrip": False, "rstrip": False, "normalized": False, "special": True})
    unk = spm["unk_id"]
    if mtype == 2:
        vocab = {p["piece"]: i for i, p in enumerate(pieces)}
        # SentencePiece BPE merges the adjacent pair whose merged piece scores highest: rank the
        # merges by that piece's score (transformers' SentencePieceExtractor order).
        normal = {p["piece"] for p in pieces if p["type"] == NORMAL}
        merges = []
        order = sorted(range(len(pieces)), key=lambda i: -pieces[i]["score"])
        for rank, i in enumerate(order):
            p = pieces[i]
            if p["type"] != NORMAL:
                continue
            s = p["piece"]
            local = [(s[:j], s[j:]) for j in range(1, len(s)) if s[:j] in normal and s[j:] in normal]
            local.sort(key=lambda lr: (vocab[lr[0]], vocab[lr[1]]))
            merges += [[l, r] for l, r in local]
        model = {"type": "BPE", "dropout": None, "unk_token": pieces[unk]["piece"],
                 "continuing_subword_prefix": None, "end_of_word_suffix": None, "fuse_unk": True,
                 "byte_fallback": spm["byte_fallback"], "ignore_merges": False,
                 "vocab": vocab, "merges": merges}
    else:
        model = {"type": "Unigram", "unk_id": unk,
                 "vocab": [[p["piece"], p["score"]] for p in pieces],
                 "byte_fallback": spm["byte_fallback"]}
    norms = []
    if spm["charsmap"]:
        norms.append({"type": "Precompiled",
                      "precompiled_charsmap": base64.b64encode(spm["charsmap"]).decode()})
        print(f"convert_nemo: warning: the SentencePiece normalizer '{spm['norm_name']}' is a "
              "precompiled charsmap; kiln's tokenizer does not support it yet", file=sys.stderr)
    if spm["remove_extra_whitespaces"]:
        # SentencePiece drops leading and trailing spaces and squeezes runs of spaces.
        norms.append({"type": "Replace", "pattern": {"Regex": "\\A +| +\\z"}, "content": ""})
        norms.append({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "})
    if spm["add_dummy_prefix"]:
        norms.append({"type": "Prepend", "prepend": "\u2581"})
    norms.append({"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"})
    decoders = [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}]
    if spm["byte_fallback"]:
        decoders.append({"type": "ByteFallback"})
    decoders.append({"type": "Fuse"})
    if spm["add_dummy_prefix"]:
        decoders.append({"type": "Strip", "content": " ", "start": 1, "stop": 0})
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
            "normalizer": {"type": "Sequence", "normalizers": norms}, "pre_tokenizer": None,
            "post_processor": None, "decoder": {"type": "Sequence", "decoders": decoders},
            "model": model}


def tokenizer_file(arc: Archive, raw_cfg: dict) -> str:
    cfg = raw_cfg.get("model", raw_cfg) if "num_layers" not in raw_cfg else raw_cfg
    tok = cfg.get("tokenizer") or {}
    lib = str(tok.get("library", "sentencepiece"))
    if lib != "sentencepiece":
        fail(f"model_config.yaml: tokenizer library '{lib}' is not supported (sentencepiece only)")
    ref = tok.get("model")
    if not ref:
        fail("model_config.yaml: no tokenizer.model")
    name = str(ref)
    if name.startswith("nemo:"):
        name = name[5:]
    for cand in (name, Path(name).name):
        if arc.has(cand):
            return cand
    fail(f"{arc.path}: tokenizer model '{ref}' is not in the archive")


# ---------------------------------------------------------------------------------------------
def convert(nemo: Path, out_dir: Path, dtype: str = "auto", allow_pickle: bool = False) -> None:
    arc = Archive(nemo)
    if not arc.has("model_config.yaml"):
        fail(f"{nemo}: no model_config.yaml in the archive")
    try:
        raw = yaml.safe_load(arc.read("model_config.yaml"))
    except yaml.YAMLError as e:
        fail(f"{nemo}: model_config.yaml is not valid YAML: {e}")
    if not isinstance(raw, dict):
        fail(f"{nemo}: model_config.yaml is not a mapping")
    cfg = model_config(raw)
    tok_name = tokenizer_file(arc, raw)
    spm_bytes = arc.read(tok_name)
    spm = parse_spm(spm_bytes)
    tensors, vocab = kiln_weights(load_state_dict(arc, allow_pickle), cfg, None)
    if vocab < len(spm["pieces"]):
        fail(f"embedding has {vocab} rows, fewer than the tokenizer's {len(spm['pieces'])} pieces")
    dtypes = {t.dtype for t in tensors.values()}
    if dtype == "auto":
        target = tensors["embed_tokens"].dtype
        if target not in ST_DTYPES:
            fail(f"weights have dtype {target}; pass --dtype float32|float16|bfloat16")
    else:
        target = {"float32": torch.float32, "float16": torch.float16,
                  "bfloat16": torch.bfloat16}[dtype]
    if any(d not in ST_DTYPES for d in dtypes):
        fail(f"weights have unsupported dtypes {sorted(map(str, dtypes))}")
    tensors = {k: v.to(target) for k, v in tensors.items()}
    ids = lambda i: None if i < 0 or i >= len(spm["pieces"]) else i  # noqa: E731
    config = dict(model_type="gpt_next", architectures=["MegatronGPTModel"], vocab_size=vocab,
                  **cfg, bos_token_id=ids(spm["bos_id"]), eos_token_id=ids(spm["eos_id"]),
                  pad_token_id=ids(spm["pad_id"]),
                  kiln_checkpoint={"version": 1, "dtype": {torch.float32: "float32",
                                                           torch.float16: "float16",
                                                           torch.bfloat16: "bfloat16"}[target]})
    gen = {k: config[k] for k in ("bos_token_id", "eos_token_id", "pad_token_id")
           if config[k] is not None}
    out_dir.mkdir(parents=True, exist_ok=True)
    write_safetensors(out_dir / "model.safetensors", tensors)
    dump = lambda o: json.dumps(o, indent=2, ensure_ascii=False) + "\n"  # noqa: E731
    (out_dir / "config.json").write_text(dump(config), encoding="utf-8")
    (out_dir / "generation_config.json").write_text(dump(gen), encoding="utf-8")
    (out_dir / "tokenizer.json").write_text(dump(spm_to_tokenizer_json(spm, vocab)), encoding="utf-8")
    (out_dir / "tokenizer.model").write_bytes(spm_bytes)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nemo", required=True, type=Path, help=".nemo archive")
    ap.add_argument("--output_dir", required=True, type=Path, help="kiln checkpoint folder")
    ap.add_argument("--dtype", default="auto", choices=["auto", "float32", "float16", "bfloat16"],
                    help="weight dtype of the checkpoint (auto: the archive's)")
    ap.add_argument("--allow_pickle", action="store_true",
                    help="load model_weights.ckpt with full unpickling (trusted files only)")
    a = ap.parse_args(argv)
    try:
        convert(a.nemo, a.output_dir, a.dtype, a.allow_pickle)
    except ConvertError as e:
        print(f"convert_nemo: error: {e}", file=sys.stderr)
        return 1
    print(f"convert_nemo: wrote {a.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
