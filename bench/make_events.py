#!/usr/bin/env python3
"""Writes GB gigabytes (decimal, of uncompressed JSON lines) of a LiteLLM proxy's standard
logging payload into FOLDER as a rotated log: the oldest segments compressed (`app.jsonl.N.gz`,
gzip -1), the two newest plain (`app.jsonl.1` and the live `app.jsonl`), modification times in
rotation order. One line per model call of one system, 0.5 s apart, with prompt and response.

    bench/make_events.py FOLDER GB [SEGMENT_MB]
"""
import os
import random
import subprocess
import sys

folder, gb = sys.argv[1], float(sys.argv[2])
segment_mb = int(sys.argv[3]) if len(sys.argv) > 3 else 256
os.makedirs(folder, exist_ok=True)
random.seed(7)
users = ["adjuster-%04d" % i for i in range(200)]
template = (
    '{"id":"chatcmpl-%016x","trace_id":"%032x","call_type":"acompletion","stream":false,'
    '"status":"%s","custom_llm_provider":"azure","model":"gpt-4o-2024-08-06","model_id":"azure-eu-gpt4o-1",'
    '"model_group":"gpt-4o","startTime":%d.%03d,"endTime":%d.%03d,"response_time":1.2,'
    '"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,"response_cost":0.0042,"cache_hit":false,'
    '"end_user":"%s","request_tags":["claims-triage","prod"],'
    '"metadata":{"user_api_key_alias":"claims-assistant-prod","user_api_key_team_id":"team-claims",'
    '"user_api_key_team_alias":"claims-assistant","user_api_key_user_id":"%s"},'
    '"model_parameters":{"temperature":0.2,"max_tokens":800},'
    '"messages":[{"role":"system","content":"You triage motor insurance claims. Answer with a category and a short reason."},'
    '{"role":"user","content":"Claim %d: rear-end collision at low speed, photos attached, the policyholder reports neck pain and asks whether a rental car is covered while the vehicle is repaired."}],'
    '"response":{"choices":[{"message":{"role":"assistant","content":"Category: injury-fast-track. Reason: reported injury with clear liability; rental cover depends on the policy extension."}}]},'
    '"error_str":%s}\n'
)
total = int(gb * 1e9)
segment = segment_mb * 1_000_000
segments = max(1, (total + segment - 1) // segment)
t = 1_790_553_600  # 2026-09-28T00:00:00Z, in half seconds below
half = 0
written = 0
lines = 0
names = []
for n in range(segments):
    # Newest last: app.jsonl.K.gz … app.jsonl.2.gz, app.jsonl.1, app.jsonl.
    k = segments - 1 - n
    name = "app.jsonl" if k == 0 else ("app.jsonl.%d" % k if k == 1 else "app.jsonl.%d.gz" % k)
    path = os.path.join(folder, name)
    if name.endswith(".gz"):
        out = open(path, "wb")
        proc = subprocess.Popen(["gzip", "-1", "-c"], stdin=subprocess.PIPE, stdout=out)
        sink = proc.stdin
    else:
        proc = None
        sink = open(path, "wb")
    target = min(segment, total - written)
    size = 0
    chunk = []
    while size < target:
        s = t + half // 2
        ms = (half % 2) * 500
        pt, ct = 400 + half % 1700, 40 + half % 500
        user = users[half % len(users)]
        failure = half % 97 == 0
        line = template % (
            random.getrandbits(64), random.getrandbits(128),
            "failure" if failure else "success", s, ms, s + 1, ms, pt, ct, pt + ct, user, user,
            100000 + half % 900000,
            '"litellm.RateLimitError: rate limit exceeded"' if failure else "null",
        )
        chunk.append(line)
        size += len(line)
        half += 1
        lines += 1
        if len(chunk) >= 4096:
            sink.write("".join(chunk).encode())
            chunk = []
    sink.write("".join(chunk).encode())
    sink.close()
    if proc:
        proc.wait()
        out.close()
    written += size
    # Rotation order: each segment a minute newer than the one before.
    os.utime(path, (1_800_000_000 + n * 60, 1_800_000_000 + n * 60))
    names.append(name)
print(lines, written, " ".join(names))
