"""A text-heavy workspace, as ML teams' archives mostly are: training logs, JSON metric
histories and CI logs. Deterministic (seeded), so every run measures the same bytes.

    python3 bench/make_text_workspace.py DIR SIZE_MB
"""

import json
import os
import random
import sys


def training_log(rng, lines):
    out = []
    loss, auc = 1.2, 0.5
    for step in range(lines):
        loss = max(0.01, loss * (0.9995 + rng.random() * 0.0008))
        auc = min(0.999, auc + rng.random() * 0.0002)
        out.append(
            f"2026-09-14T{step // 3600 % 24:02d}:{step // 60 % 60:02d}:{step % 60:02d}Z INFO "
            f"trainer step={step} epoch={step // 1000} loss={loss:.6f} val_auc={auc:.6f} "
            f"lr={0.001 * 0.99 ** (step // 1000):.8f} grad_norm={rng.random() * 3:.4f} "
            f"gpu_mem_mb={20000 + rng.randint(0, 900)} throughput_samples_s={rng.randint(900, 1100)}\n"
        )
    return "".join(out)


def metrics(rng, points):
    history = [
        {"step": i, "timestamp": 1789000000 + i * 30, "loss": round(1.0 / (1 + i * 0.01) + rng.random() * 0.01, 6),
         "val_auc": round(0.5 + min(0.49, i * 0.0001) + rng.random() * 0.001, 6)}
        for i in range(points)
    ]
    return json.dumps({"run_id": f"{rng.getrandbits(64):016x}", "metrics": history}, indent=2)


def ci_log(rng, lines):
    steps = ["checkout", "setup-python", "install", "lint", "unit-tests", "train-smoke", "evaluate"]
    return "".join(
        f"2026-09-14T10:{i // 60 % 60:02d}:{i % 60:02d}.{rng.randint(0, 999999):06d}Z "
        f"[{steps[i % len(steps)]}] {'PASSED' if rng.random() > 0.01 else 'RETRY'} "
        f"tests/test_model.py::test_case_{i % 500} ({rng.random():.3f}s)\n"
        for i in range(lines)
    )


def main():
    root, size_mb = sys.argv[1], int(sys.argv[2])
    rng = random.Random(42)
    target = size_mb * 1024 * 1024
    written, i = 0, 0
    kinds = [("runs/train-{:04d}.log", lambda: training_log(rng, 40_000)),
             ("runs/metrics-{:04d}.json", lambda: metrics(rng, 30_000)),
             ("ci/job-{:04d}.log", lambda: ci_log(rng, 30_000))]
    while written < target:
        pattern, make = kinds[i % len(kinds)]
        path = os.path.join(root, pattern.format(i))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        data = make().encode()
        with open(path, "wb") as f:
            f.write(data)
        written += len(data)
        i += 1
    print(f"{i} files, {written} bytes")


if __name__ == "__main__":
    main()
