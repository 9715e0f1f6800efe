#!/usr/bin/env python3
"""Generate a benchmark workspace: 2,000 small text files and three large binary files, about
SIZE_MB in total, deterministic for a given size. Usage: make_workspace.py DIR SIZE_MB"""
import os
import random
import sys

out, size_mb = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
words = [w.encode() for w in "model risk policy review approval incident training data eval owner".split()]
small_total = 0
for i in range(2000):
    folder = os.path.join(out, "docs", f"{i % 40:02d}")
    os.makedirs(folder, exist_ok=True)
    n = rng.randint(2_048, 64 * 1024)
    body = b" ".join(rng.choice(words) for _ in range(n // 6))[:n]
    with open(os.path.join(folder, f"record-{i:05d}.md"), "wb") as f:
        f.write(body)
    small_total += len(body)
large = max(size_mb * 1024 * 1024 - small_total, 0) // 3
os.makedirs(os.path.join(out, "runs"), exist_ok=True)
chunk = rng.randbytes(1024 * 1024)
for j in range(3):
    with open(os.path.join(out, "runs", f"training-{j}.log"), "wb") as f:
        left = large
        while left > 0:
            piece = chunk[: min(left, len(chunk))]
            f.write(piece)
            left -= len(piece)
            chunk = chunk[1:] + chunk[:1]
print(f"{small_total + 3 * large} bytes in 2003 files")
