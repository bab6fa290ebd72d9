#!/usr/bin/env python3
"""Convert a FairSeq transformer NMT checkpoint (``fairseq-train --arch transformer*``) to kiln.

Usage:  python3 tools/convert_fairseq.py --checkpoint model.pt --data_dir DIR --output_dir CKPT
                                         [--dtype auto|float32|float16|bfloat16] [--allow_pickle]

The ``.pt`` is a dict with the training configuration ("cfg": {"model": ..., "task": ...}, the model
part a dict — nested ``encoder``/``decoder`` as fairseq's TransformerConfig — or an argparse
Namespace; older checkpoints: "args", a Namespace) and "model", the state dict with fairseq's names.
``DIR`` holds the dictionaries: ``dict.<source_lang>.txt`` / ``dict.<target_lang>.txt`` (the langs
from the config), else ``dict.src.txt`` / ``dict.tgt.txt``, else one ``dict.txt`` for both. fairseq
is not needed: the file is read with ``torch.load(weights_only=True)`` allowing argparse.Namespace
(``--allow_pickle`` for checkpoints holding other objects, trusted files only).

The output (``kiln run --engine_dir CKPT``) is kiln's BART-family encoder–decoder with
``model_type: "fairseq"`` (src/models/bart/): config.json (encoder_d_model / d_model, layers, heads,
ffn dims, activation_function, scale_embedding (not no_scale_embedding), per-stack
normalize_before and final layer_norm, layernorm_embedding, position_embedding_type learned /
sinusoidal / none, max_source_positions / max_position_embeddings (= max_target_positions),
vocab_size / decoder_vocab_size from the dictionaries, share_encoder_decoder_embeddings
(share_all_embeddings), tie_word_embeddings (share_decoder_input_output_embed), fairseq's special
ids), model.safetensors with kiln names (self-attention q|k|v and cross-attention k|v fused),
generation_config.json (decoder start </s> = 2; pad never generated, as fairseq's
SequenceGenerator) and the dictionaries copied. Inputs are dictionary ids; a source sentence ends
with </s> as in fairseq's datasets.

Anything kiln would compute differently is an error naming the option: adaptive input / softmax,
cross_self_attention, no_cross_attention, decoder_input_dim / decoder_output_dim other than
decoder_embed_dim (project_in/out_dim), NormFormer scales, layers_to_keep, unknown tensors.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
from pathlib import Path

import torch

from kiln_safetensors import ST_DTYPES, write_safetensors  # noqa: E402 (tools/)


class ConvertError(Exception):
    pass


def fail(msg: str):
    raise ConvertError(msg)


ACTIVATIONS = {"relu": "relu", "relu_squared": "relu2", "gelu": "gelu",
               "gelu_accurate": "gelu_accurate", "gelu_fast": "gelu_accurate", "tanh": "tanh",
               "linear": "linear", "swish": "silu"}

# fairseq's transformer base_architecture defaults (a config may leave any of them out).
DEFAULTS = dict(encoder_attention_heads=8, decoder_attention_heads=8,
                encoder_normalize_before=False, decoder_normalize_before=False,
                encoder_learned_pos=False, decoder_learned_pos=False, activation_fn="relu",
                share_decoder_input_output_embed=False, share_all_embeddings=False,
                no_token_positional_embeddings=False, adaptive_softmax_cutoff=None,
                adaptive_input=False, no_cross_attention=False, cross_self_attention=False,
                no_scale_embedding=False, layernorm_embedding=False, no_decoder_final_norm=False,
                max_source_positions=1024, max_target_positions=1024, tie_adaptive_weights=False)


# ---------------------------------------------------------------------------------------------
# Checkpoint and configuration
def load_checkpoint(path: Path, allow_pickle: bool) -> dict:
    if not path.is_file():
        fail(f"{path}: no such file")
    try:
        torch.serialization.add_safe_globals([argparse.Namespace])
        ck = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a bad checkpoint
        hint = "" if allow_pickle else " (if it holds other objects and you trust it: --allow_pickle)"
        fail(f"{path}: cannot load the checkpoint: {str(e).splitlines()[0]}{hint}")
    if not isinstance(ck, dict) or not isinstance(ck.get("model"), dict):
        fail(f"{path}: not a fairseq checkpoint (expected a dict with a 'model' state dict)")
    return ck


def _as_dict(x) -> dict | None:
    if isinstance(x, argparse.Namespace):
        return dict(vars(x))
    if isinstance(x, dict):
        return dict(x)
    return None


def model_args(ck: dict, path: Path) -> tuple[dict, dict]:
    """(flat model options with fairseq's legacy names, task options)."""
    cfg, task = _as_dict(ck.get("cfg")), {}
    if cfg is not None and cfg.get("model") is not None:
        m = _as_dict(cfg["model"])
        if m is None:
            fail(f"{path}: cfg.model is neither a dict nor a Namespace")
        task = _as_dict(cfg.get("task")) or {}
    elif ck.get("args") is not None:
        m = _as_dict(ck["args"])
        if m is None:
            fail(f"{path}: 'args' is not an argparse Namespace")
        task = m
    else:
        fail(f"{path}: no model configuration (neither cfg.model nor args)")
    flat = {}
    for k, v in m.items():
        if k in ("encoder", "decoder") and isinstance(v, (dict, argparse.Namespace)):
            for kk, vv in (_as_dict(v) or {}).items():  # TransformerConfig's nested stacks
                flat[f"{k}_{kk}"] = vv
        else:
            flat[k] = v
    for k, v in DEFAULTS.items():
        if flat.get(k) is None and v is not None:
            flat[k] = v
    arch = str(flat.get("arch", flat.get("_name", "transformer")) or "transformer")
    if not arch.startswith("transformer"):
        fail(f"{path}: arch '{arch}' is not a fairseq transformer (transformer*)")
    return flat, task


def check_supported(a: dict):
    def bad(cond, what):
        if cond:
            fail(f"unsupported option: {what}")

    bad(a.get("adaptive_input"), "adaptive_input")
    bad(a.get("adaptive_softmax_cutoff") not in (None, "", 0), "adaptive_softmax_cutoff")
    bad(a.get("cross_self_attention"), "cross_self_attention")
    bad(a.get("no_cross_attention"), "no_cross_attention (a decoder without encoder attention)")
    for k in ("encoder_layers_to_keep", "decoder_layers_to_keep"):
        bad(a.get(k), k)
    for k in ("scale_attn", "scale_fc", "scale_heads", "scale_resids"):
        bad(a.get(k), f"{k} (NormFormer)")
    for k in ("decoder_input_dim", "decoder_output_dim"):
        v = a.get(k)
        if v is not None and a.get("decoder_embed_dim") is not None and v != a["decoder_embed_dim"]:
            fail(f"unsupported option: {k} = {v} differs from decoder_embed_dim = "
                 f"{a['decoder_embed_dim']} (project_in_dim / project_out_dim)")
    act = a.get("activation_fn")
    if act not in ACTIVATIONS:
        fail(f"unsupported activation_fn '{act}' (supported: {', '.join(sorted(ACTIVATIONS))})")


# ---------------------------------------------------------------------------------------------
# Dictionaries
def read_dict(path: Path) -> list[str]:
    """fairseq Dictionary.load: <s> <pad> </s> <unk>, then one "symbol count [flags]" per line."""
    symbols = ["<s>", "<pad>", "</s>", "<unk>"]
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.rstrip()
        if not line:
            continue
        parts = line.rsplit(" ", 1)
        overwrite = False
        if len(parts) == 2 and parts[1] == "#fairseq:overwrite":
            overwrite, parts = True, parts[0].rsplit(" ", 1)
        if len(parts) != 2 or not re.fullmatch(r"-?\d+", parts[1]):
            fail(f"{path}:{n}: not a fairseq dictionary line ('<symbol> <count>'): {line!r}")
        if parts[0] in symbols and not overwrite:
            fail(f"{path}:{n}: duplicate symbol {parts[0]!r}")
        symbols.append(parts[0])
    return symbols


def find_dicts(data_dir: Path, a: dict, task: dict) -> tuple[Path, Path]:
    if not data_dir.is_dir():
        fail(f"{data_dir}: no such directory (--data_dir holds dict.<lang>.txt)")
    src, tgt = task.get("source_lang") or a.get("source_lang"), \
        task.get("target_lang") or a.get("target_lang")
    candidates = []
    if src and tgt:
        candidates.append((data_dir / f"dict.{src}.txt", data_dir / f"dict.{tgt}.txt"))
    candidates.append((data_dir / "dict.src.txt", data_dir / "dict.tgt.txt"))
    candidates.append((data_dir / "dict.txt", data_dir / "dict.txt"))
    for s, t in candidates:
        if s.is_file() and t.is_file():
            return s, t
    have = sorted(p.name for p in data_dir.glob("dict*.txt"))
    want = " or ".join(f"{s.name} + {t.name}" for s, t in candidates)
    fail(f"{data_dir}: no dictionaries ({want}); found {have or 'none'}")


# ---------------------------------------------------------------------------------------------
# Weights
def upgrade_names(sd: dict) -> dict:
    """fairseq's upgrade_state_dict_named renames (layer_norms.N, embed_out) and version keys."""
    out = {}
    for k, v in sd.items():
        if k.endswith(".version") or k.endswith("embed_positions._float_tensor") or \
                k.endswith("embed_positions.weights"):  # sinusoidal buffers, recomputed
            continue
        m = re.match(r"^(encoder|decoder)\.layers\.(\d+)\.layer_norms\.(\d)\.(weight|bias)$", k)
        if m:
            names = (["self_attn_layer_norm", "final_layer_norm"] if m[1] == "encoder" else
                     ["self_attn_layer_norm", "encoder_attn_layer_norm", "final_layer_norm"])
            k = f"{m[1]}.layers.{m[2]}.{names[int(m[3])]}.{m[4]}"
        if k == "decoder.embed_out":
            k = "decoder.output_projection.weight"
        if not isinstance(v, torch.Tensor):
            fail(f"state dict entry '{k}' is not a tensor")
        out[k] = v
    return out


class Weights:
    def __init__(self, sd: dict):
        self.sd, self.used = sd, set()

    def has(self, k):
        return k in self.sd

    def get(self, k, shape=None):
        if k not in self.sd:
            fail(f"state dict has no '{k}'")
        self.used.add(k)
        t = self.sd[k]
        if shape is not None and tuple(t.shape) != tuple(shape):
            fail(f"'{k}' has shape {list(t.shape)}, expected {list(shape)}")
        return t

    def unused(self):
        return sorted(set(self.sd) - self.used)


def attention(w: Weights, p: str, d: int, kdim: int):
    """(q [d, d], q bias, k, k bias, v, v bias) of fairseq's MultiheadAttention (separate or the
    pre-0.9 fused in_proj_weight)."""
    if w.has(p + "in_proj_weight"):
        if kdim != d:
            fail(f"{p}in_proj_weight with kdim {kdim} != {d}")
        W, B = w.get(p + "in_proj_weight", (3 * d, d)), w.get(p + "in_proj_bias", (3 * d,))
        return W[:d], B[:d], W[d:2 * d], B[d:2 * d], W[2 * d:], B[2 * d:]
    for k in ("bias_k", "bias_v"):
        if w.has(p + k):
            fail(f"unsupported: {p}{k} (add_bias_kv)")
    out = []
    for proj, cols in (("q_proj", d), ("k_proj", kdim), ("v_proj", kdim)):
        out += [w.get(f"{p}{proj}.weight", (d, cols)), w.get(f"{p}{proj}.bias", (d,))]
    return tuple(out)


def kiln_weights(sd: dict, a: dict, src_vocab: int, tgt_vocab: int) -> tuple[dict, dict]:
    """fairseq names -> kiln names (src/models/bart/weights.cc); returns (tensors, config)."""
    w = Weights(sd)
    enc_emb = w.get("encoder.embed_tokens.weight")
    if enc_emb.dim() != 2:
        fail("encoder.embed_tokens.weight is not a matrix")
    V_src, de = enc_emb.shape
    share_all = bool(a["share_all_embeddings"])
    tie = bool(a["share_decoder_input_output_embed"]) or share_all
    dec_emb = w.get("decoder.embed_tokens.weight")
    if dec_emb.dim() != 2:
        fail("decoder.embed_tokens.weight is not a matrix")
    V_tgt, dd = dec_emb.shape
    if share_all and (V_src != V_tgt or de != dd or not torch.equal(enc_emb, dec_emb)):
        fail("share_all_embeddings, but encoder.embed_tokens and decoder.embed_tokens differ")
    for name, rows, v in (("source", V_src, src_vocab), ("target", V_tgt, tgt_vocab)):
        if rows != v:
            fail(f"the {name} embedding has {rows} rows but the {name} dictionary {v} symbols")
    for k, dim in (("encoder_embed_dim", de), ("decoder_embed_dim", dd)):
        if a.get(k) is not None and a[k] != dim:
            fail(f"{k} = {a[k]} but the embedding is {dim} wide")
    t = {"encoder.embed_tokens": enc_emb}
    if not share_all:
        t["decoder.embed_tokens"] = dec_emb
    if tie:
        if w.has("decoder.output_projection.weight"):
            w.get("decoder.output_projection.weight", (V_tgt, dd))  # the same table
    else:
        t["lm_head"] = w.get("decoder.output_projection.weight", (V_tgt, dd))
    positions = "none" if a["no_token_positional_embeddings"] else None
    cfg = {}
    for stack, d in (("encoder", de), ("decoder", dd)):
        heads = int(a[f"{stack}_attention_heads"])
        if heads <= 0 or d % heads:
            fail(f"{stack}_embed_dim {d} is not divisible by {stack}_attention_heads {heads}")
        max_pos = int(a["max_source_positions" if stack == "encoder" else "max_target_positions"])
        learned = bool(a[f"{stack}_learned_pos"])
        kind = positions or ("learned" if learned else "sinusoidal")
        if cfg.get("position_embedding_type", kind) != kind:
            fail("encoder_learned_pos and decoder_learned_pos differ (kiln: one position scheme)")
        cfg["position_embedding_type"] = kind
        if kind == "learned":
            t[f"{stack}.embed_positions.weight"] = w.get(f"{stack}.embed_positions.weight",
                                                         (max_pos + 2, d))
        elif w.has(f"{stack}.embed_positions.weight"):
            fail(f"{stack}.embed_positions.weight is stored but {stack}_learned_pos is false")
        elif kind == "sinusoidal" and d < 4:
            fail(f"{stack}_embed_dim {d}: fairseq's sinusoidal positions need at least 4")
        if a["layernorm_embedding"]:
            for s in ("weight", "bias"):
                t[f"{stack}.layernorm_embedding.{s}"] = w.get(f"{stack}.layernorm_embedding.{s}", (d,))
        elif w.has(f"{stack}.layernorm_embedding.weight"):
            fail(f"{stack}.layernorm_embedding is stored but layernorm_embedding is false")
        layers = 0
        while w.has(f"{stack}.layers.{layers}.fc1.weight"):
            layers += 1
        if layers == 0:
            fail(f"state dict has no {stack}.layers.0.fc1.weight")
        if a.get(f"{stack}_layers") is not None and int(a[f"{stack}_layers"]) != layers:
            fail(f"{stack}_layers = {a[f'{stack}_layers']} but the state dict has {layers}")
        ffn = w.sd[f"{stack}.layers.0.fc1.weight"].shape[0]
        for i in range(layers):
            p = f"{stack}.layers.{i}."
            q, qb, k, kb, v, vb = attention(w, p + "self_attn.", d, d)
            t[p + "self_attn.qkv.weight"] = torch.cat([q, k, v])
            t[p + "self_attn.qkv.bias"] = torch.cat([qb, kb, vb])
            names = ["self_attn.out_proj.weight", "self_attn.out_proj.bias",
                     "self_attn_layer_norm.weight", "self_attn_layer_norm.bias",
                     "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
                     "final_layer_norm.weight", "final_layer_norm.bias"]
            shapes = [(d, d), (d,), (d,), (d,), (ffn, d), (ffn,), (d, ffn), (d,), (d,), (d,)]
            if stack == "decoder":
                q, qb, k, kb, v, vb = attention(w, p + "encoder_attn.", d, de)
                t[p + "encoder_attn.q_proj.weight"], t[p + "encoder_attn.q_proj.bias"] = q, qb
                t[p + "encoder_attn.kv.weight"] = torch.cat([k, v])
                t[p + "encoder_attn.kv.bias"] = torch.cat([kb, vb])
                names += ["encoder_attn.out_proj.weight", "encoder_attn.out_proj.bias",
                          "encoder_attn_layer_norm.weight", "encoder_attn_layer_norm.bias"]
                shapes += [(d, d), (d,), (d,), (d,)]
            for n, s in zip(names, shapes):
                t[p + n] = w.get(p + n, s)
        pre = bool(a[f"{stack}_normalize_before"])
        final = pre and not (stack == "decoder" and a["no_decoder_final_norm"])
        if final:
            for s in ("weight", "bias"):
                t[f"{stack}.layer_norm.{s}"] = w.get(f"{stack}.layer_norm.{s}", (d,))
        elif w.has(f"{stack}.layer_norm.weight"):
            fail(f"{stack}.layer_norm is stored but {stack}_normalize_before is false"
                 + (" or no_decoder_final_norm is set" if stack == "decoder" else ""))
        cfg.update({f"{stack}_layers": layers, f"{stack}_attention_heads": heads,
                    f"{stack}_ffn_dim": ffn, f"{stack}_normalize_before": pre,
                    f"{stack}_final_layer_norm": final})
        cfg["max_source_positions" if stack == "encoder" else "max_position_embeddings"] = max_pos
    left = w.unused()
    if left:
        fail(f"state dict entries kiln does not know: {', '.join(left[:8])}"
             + (f" (+{len(left) - 8} more)" if len(left) > 8 else ""))
    cfg.update(d_model=dd, encoder_d_model=de, vocab_size=V_src, decoder_vocab_size=V_tgt,
               activation_function=ACTIVATIONS[a["activation_fn"]],
               scale_embedding=not a["no_scale_embedding"],
               layernorm_embedding=bool(a["layernorm_embedding"]),
               share_encoder_decoder_embeddings=share_all, tie_word_embeddings=tie)
    return t, cfg


# ---------------------------------------------------------------------------------------------
DTYPE_NAMES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


def convert(checkpoint: Path, data_dir: Path, out_dir: Path, dtype: str = "auto",
            allow_pickle: bool = False) -> None:
    ck = load_checkpoint(checkpoint, allow_pickle)
    a, task = model_args(ck, checkpoint)
    check_supported(a)
    src_dict, tgt_dict = find_dicts(data_dir, a, task)
    src_syms, tgt_syms = read_dict(src_dict), read_dict(tgt_dict)
    tensors, cfg = kiln_weights(upgrade_names(ck["model"]), a, len(src_syms), len(tgt_syms))
    dtypes = {t.dtype for t in tensors.values()}
    if any(d not in ST_DTYPES for d in dtypes):
        fail(f"weights have unsupported dtypes {sorted(map(str, dtypes))}")
    if dtype == "auto":
        target = tensors["encoder.embed_tokens"].dtype
    else:
        target = {"float32": torch.float32, "float16": torch.float16,
                  "bfloat16": torch.bfloat16}[dtype]
    tensors = {k: v.to(target) for k, v in tensors.items()}
    ids = dict(bos_token_id=0, pad_token_id=1, eos_token_id=2, decoder_start_token_id=2)
    config = dict(model_type="fairseq", architectures=["FairseqTransformerModel"],
                  is_encoder_decoder=True, **cfg, **ids, forced_bos_token_id=None,
                  forced_eos_token_id=None,
                  kiln_checkpoint={"version": 1, "dtype": DTYPE_NAMES[target]})
    gen = dict(**ids, bad_words_ids=[[1]])  # SequenceGenerator: lprobs[:, pad] = -inf
    out_dir.mkdir(parents=True, exist_ok=True)
    write_safetensors(out_dir / "model.safetensors", tensors)
    dump = lambda o: json.dumps(o, indent=2, ensure_ascii=False) + "\n"  # noqa: E731
    (out_dir / "config.json").write_text(dump(config), encoding="utf-8")
    (out_dir / "generation_config.json").write_text(dump(gen), encoding="utf-8")
    shutil.copyfile(src_dict, out_dir / "dict.src.txt")
    shutil.copyfile(tgt_dict, out_dir / "dict.tgt.txt")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--checkpoint", required=True, type=Path, help="fairseq checkpoint .pt")
    ap.add_argument("--data_dir", required=True, type=Path,
                    help="folder with the dictionaries (dict.<lang>.txt)")
    ap.add_argument("--output_dir", required=True, type=Path, help="kiln checkpoint folder")
    ap.add_argument("--dtype", default="auto", choices=["auto", "float32", "float16", "bfloat16"],
                    help="weight dtype of the checkpoint (auto: the checkpoint's)")
    ap.add_argument("--allow_pickle", action="store_true",
                    help="load the .pt with full unpickling (trusted files only)")
    a = ap.parse_args(argv)
    try:
        convert(a.checkpoint, a.data_dir, a.output_dir, a.dtype, a.allow_pickle)
    except ConvertError as e:
        print(f"convert_fairseq: error: {e}", file=sys.stderr)
        return 1
    print(f"convert_fairseq: wrote {a.output_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
