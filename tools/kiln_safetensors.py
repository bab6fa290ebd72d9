"""The safetensors writer the checkpoint converters share (tools/convert_nemo.py,
tools/convert_fairseq.py): tensors written in name order, 8-byte aligned header, so the output is
byte-reproducible. torch is the only dependency (the converters already need it)."""
import json
import struct
from pathlib import Path

import torch

ST_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}


def write_safetensors(path: Path, tensors: dict):
    header, blobs, off = {"__metadata__": {"format": "kiln"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        b = t.reshape(-1).view(torch.uint8).numpy().tobytes()
        header[name] = {"dtype": ST_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
