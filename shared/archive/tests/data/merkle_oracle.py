#!/usr/bin/env python3
"""Independent RFC 6962 oracle: writes merkle_oracle_vectors.json, the larger-tree vectors.

A direct transcription of RFC 6962 section 2.1 (MTH, PATH, PROOF/SUBPROOF) over hashlib, sharing no
code with the Rust implementation. Run from this directory:
    python3 merkle_oracle.py > merkle_oracle_vectors.json
"""
import hashlib
import json


def sha256(data):
    return hashlib.sha256(data).digest()


def leaf(data):
    return sha256(b"\x00" + data)


def node(left, right):
    return sha256(b"\x01" + left + right)


def split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d):
    if not d:
        return sha256(b"")
    if len(d) == 1:
        return d[0]
    k = split(len(d))
    return node(mth(d[:k]), mth(d[k:]))


def path(m, d):
    if len(d) == 1:
        return []
    k = split(len(d))
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m, d, whole):
    n = len(d)
    if m == n:
        return [] if whole else [mth(d)]
    k = split(n)
    if m <= k:
        return subproof(m, d[:k], whole) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def proof(m, d):
    return subproof(m, d, True) if 0 < m < len(d) else []


INCLUSION = [(0, 1), (6, 7), (10, 15), (24, 31), (81, 95), (0, 1000), (999, 1000), (511, 1025),
             (1024, 1025), (700, 1337)]
CONSISTENCY = [(3, 7), (4, 7), (7, 8), (10, 15), (24, 31), (81, 95), (1, 1000), (512, 1000),
               (999, 1000), (1000, 1025), (1024, 1025), (777, 1337)]


def main():
    leaves = [leaf(str(i).encode()) for i in range(1337)]
    sizes = sorted({n for _, n in INCLUSION} | {s for pair in CONSISTENCY for s in pair})
    hexes = lambda hashes: [h.hex() for h in hashes]
    vectors = {
        "source": "Computed by merkle_oracle.py beside this file, an independent Python (hashlib) "
                  "transcription of RFC 6962 section 2.1; not published vectors.",
        "notes": "Leaf i is leaf_hash of the ASCII decimal digits of i (\"0\", \"1\", ...). "
                 "Hashes are lowercase hex; indices are 0-based.",
        "leaf_count": len(leaves),
        "roots": [{"size": n, "root": mth(leaves[:n]).hex()} for n in sizes],
        "inclusion": [{"index": i, "size": n, "path": hexes(path(i, leaves[:n]))}
                      for i, n in INCLUSION],
        "consistency": [{"old_size": m, "new_size": n, "proof": hexes(proof(m, leaves[:n]))}
                        for m, n in CONSISTENCY],
    }
    print(json.dumps(vectors, indent=1))


if __name__ == "__main__":
    main()
