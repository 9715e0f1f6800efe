#!/usr/bin/env python3
"""A minimal RFC 3161 time-stamp authority over HTTP for the tests, on loopback only.
Wraps `openssl ts -reply`: POST application/timestamp-query -> application/timestamp-reply
(RFC 3161 section 3.4). Prints the port it listens on, then serves until it is killed.
Usage: tsa_http.py TSA_DIR [--port N] [--fail-first N]
  TSA_DIR       made by local_tsa.sh
  --port N      0 (the default) picks a free port
  --fail-first  answer the first N requests with 503, to exercise the client's retries"""
import argparse, http.server, os, subprocess, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("tsa_dir")
ap.add_argument("--port", type=int, default=0)
ap.add_argument("--fail-first", type=int, default=0)
args = ap.parse_args()
state = {"failures_left": args.fail_first}

class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n) if 0 < n < 65536 else b""
        if state["failures_left"] > 0:
            state["failures_left"] -= 1
            self.send_error(503, "simulated outage"); return
        if self.headers.get("Content-Type") != "application/timestamp-query" or not body:
            self.send_error(400); return
        with tempfile.TemporaryDirectory() as t:
            q = os.path.join(t, "q.tsq"); r = os.path.join(t, "r.tsr")
            with open(q, "wb") as f:
                f.write(body)
            p = subprocess.run(["openssl", "ts", "-reply", "-config",
                                os.path.join(args.tsa_dir, "tsa.cnf"),
                                "-queryfile", q, "-out", r], capture_output=True)
            if p.returncode != 0:
                self.send_error(500, p.stderr.decode(errors="replace")[:200]); return
            with open(r, "rb") as f:
                data = f.read()
        self.send_response(200)
        self.send_header("Content-Type", "application/timestamp-reply")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass

srv = http.server.HTTPServer(("127.0.0.1", args.port), Handler)
print(srv.server_address[1], flush=True)
srv.serve_forever()
