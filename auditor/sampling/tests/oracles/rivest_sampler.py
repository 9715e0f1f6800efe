"""Independent re-implementation of Rivest's sampler.py (version of 14 November 2011), used to
regenerate the without-replacement vector. Run: python3 rivest_sampler.py"""
import hashlib


def draws(seed, a, b, n, with_replacement, skip=0):
    count, old, new, log = 0, [], [], []
    while len(old) + len(new) < n:
        count += 1
        h = int.from_bytes(hashlib.sha256(f"{seed},{count}".encode("utf-8")).digest(), "big")
        pick = a + h % (b - a + 1)
        if not with_replacement and (pick in old or pick in new):
            log.append((count, pick, "rejected"))
            continue
        (old if len(old) < skip else new).append(pick)
        log.append((count, pick, "picked"))
    return new, log


if __name__ == "__main__":
    picks, log = draws("3546311556112163624615351222", 1, 876, 47, False)
    print(picks)
    print([entry for entry in log if entry[2] == "rejected"], "last counter", log[-1][0])
