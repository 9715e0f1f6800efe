"""Fill an engagement file with N synthetic items (default 1,000,000) for bench/readiness.sh.

The engagement must exist (the script ingests a small real archive first, which creates the
schema and the origin). Items cycle through the catalogue's kinds with their default tags and
times spread over two years; rows go into `items` and `item_details` exactly as ingest writes
them."""
import hashlib
import sqlite3
import sys

KINDS = [
    ("pr_approval", "A.6.1.3 A.6.2.3", "7.5.3 8.1"),
    ("ci_run", "A.6.2.4", "8.1"),
    ("training_run", "A.6.2.3 A.6.2.4 A.7.5", "8.1"),
    ("model_card", "A.6.2.7 A.8.2 A.9.4", "7.4 7.5.1"),
    ("incident_ticket", "A.6.2.6 A.8.4", "10.2 8.1"),
    ("event_log", "A.6.2.8", "9.1"),
    ("deployment_record", "A.6.2.5", "8.1"),
    ("monitoring_alert", "A.6.2.6", "8.1 9.1"),
    ("human_oversight_record", "A.9.2", "8.1"),
    ("risk_register_entry", "", "6.1.1 6.1.2 8.2"),
]
SOURCES = ["github", "jira", "mlflow", "s3-logs"]
START = 1_735_689_600  # 2025-01-01
SPAN = 2 * 365 * 86_400


def main(path, n):
    db = sqlite3.connect(path)
    (origin,) = db.execute("SELECT origin FROM origins LIMIT 1").fetchone()
    (base,) = db.execute("SELECT coalesce(max(id), 0) FROM items").fetchone()
    batch_items, batch_details = [], []
    for i in range(n):
        kind, controls, clauses = KINDS[i % len(KINDS)]
        source = SOURCES[i % len(SOURCES)]
        digest = hashlib.sha256(str(i).encode()).digest()
        t = START + (i * 7919) % SPAN
        row = base + i + 1
        item_id = f"{source}-bench-{i:07d}-{digest.hex()[:12]}"
        batch_items.append((row, item_id, origin, digest, kind, source, controls, clauses, "", t))
        batch_details.append((row, 1 + i // 5000, i % 5000, f"Synthetic {kind} {i}", "operation",
                              "bench", f"ref-{i}", None, None, None, None,
                              "2027-01-01T00:00:00Z", f"data/items/{item_id}/artefact/a.txt", 10,
                              "text/plain", "[]", "{}"))
        if len(batch_items) == 50_000:
            flush(db, batch_items, batch_details)
    flush(db, batch_items, batch_details)
    db.commit()


def flush(db, items, details):
    db.executemany("INSERT INTO items (id, item_id, origin, sha256, kind, source_name, controls, "
                   "clauses, actor_key, source_time) VALUES (?,?,?,?,?,?,?,?,?,?)", items)
    db.executemany("INSERT INTO item_details (id, bundle_seq, leaf_index, title, phase, connector, "
                   "reference, url, source_time_text, period_start, period_end, collected, "
                   "artefact_path, size, media_type, actors, attributes) "
                   "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", details)
    items.clear()
    details.clear()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000)
