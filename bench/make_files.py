#!/usr/bin/env python3
"""Generate COUNT files of SIZE bytes each, incompressible (random) or tiny text, spread over
folders of 100, deterministic for given arguments.
Usage: make_files.py DIR COUNT SIZE random|text [EXT]"""
import os
import random
import sys

out, count, size, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ext = sys.argv[5] if len(sys.argv) > 5 else ("bin" if kind == "random" else "txt")
rng = random.Random(7)
block = rng.randbytes(max(size, 1) + 4096)
total = 0
for i in range(count):
    folder = os.path.join(out, f"d{i // 100:04d}")
    if i % 100 == 0:
        os.makedirs(folder, exist_ok=True)
    if kind == "random":
        offset = (i * 131) % 4096
        body = block[offset : offset + size]
        body = i.to_bytes(8, "little") + body[8:]
    else:
        body = f"record {i} status ok\n".encode()[:size] if size else b""
    with open(os.path.join(folder, f"f{i:06d}.{ext}"), "wb") as f:
        f.write(body)
    total += len(body)
print(f"{total} bytes in {count} files")
