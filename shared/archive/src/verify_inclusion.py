#!/usr/bin/env python3
"""Checks the inclusion proofs of an evidence item proof directory with the Python standard
library only: recomputes each file's leaf from its bytes and walks its RFC 9162 (section
2.1.3.2) inclusion proof up to the root in `checkpoint`. Exit status 0 when every proof holds."""
import base64, hashlib, json, os, sys

d = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(d, "proof.json")) as f:
    proof = json.load(f)
with open(os.path.join(d, "checkpoint")) as f:
    origin, size, root = f.read().split("\n")[:3]
size, root = int(size), base64.b64decode(root)
ok = size == proof["tree_size"] and origin == proof["origin"]
for leaf in proof["leaves"]:
    h, n = hashlib.sha256(), 0
    with open(os.path.join(d, leaf["file"]), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
            n += len(chunk)
    text = "evidence-leaf/v1\n%s\n%s\n%d\n" % (leaf["zip_name"], h.hexdigest(), n)
    r = hashlib.sha256(b"\x00" + text.encode()).digest()
    fn, sn = leaf["leaf_index"], size - 1
    good = fn <= sn
    for p in map(base64.b64decode, leaf["inclusion"]):
        if sn == 0:
            good = False
            break
        if fn & 1 or fn == sn:
            r = hashlib.sha256(b"\x01" + p + r).digest()
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = hashlib.sha256(b"\x01" + r + p).digest()
        fn >>= 1
        sn >>= 1
    good = good and sn == 0 and r == root
    print(("OK      " if good else "FAILED  ") + leaf["file"])
    ok = ok and good
print("the files are in the tree of the checkpoint" if ok else "FAILED")
sys.exit(0 if ok else 1)
