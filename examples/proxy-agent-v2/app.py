"""The proxy-agent-v2 example's demo app: the platform's router as runbook
002 describes it. It sends v2_traffic_percentage % of the requests to v2 and
the rest to v1, reading the percentage from the `feature-flags` ConfigMap as
mounted in its pod (a directory with one file per key, kept in sync by the
kubelet), and serves:

  /health   {"status": "healthy", "version": "v1" | "v2"}
  /metrics  the percentage it routes with, v1's baseline (measured before v2
            took traffic), and each version's request rate, error rate (%)
            and p95 latency (ms)

The versions' figures are fixed, so that a gate's outcome is reproducible:
v2 is healthier than v1 until the percentage reaches --fail-at, where its
error rate and latency jump past the runbook's rollback thresholds.
"""
import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--flags", required=True, help="directory where the ConfigMap is mounted")
parser.add_argument("--fail-at", type=float, default=1000)
parser.add_argument("--rps", type=int, default=100)
args = parser.parse_args()

V1 = {"error_rate": 0.5, "latency_p95_ms": 300}
V2 = {"error_rate": 0.4, "latency_p95_ms": 180}
V2_FAILING = {"error_rate": 8.0, "latency_p95_ms": 650}


def percentage():
    try:
        with open(os.path.join(args.flags, "v2_traffic_percentage")) as f:
            return max(0, min(100, int(f.read().strip() or 0)))
    except (FileNotFoundError, ValueError):
        return 0


def metrics():
    pct = percentage()
    v2 = V2_FAILING if pct >= args.fail_at else V2
    share = {"v1": args.rps * (100 - pct) // 100, "v2": args.rps * pct // 100}
    return {
        "v2_traffic_percentage": pct,
        "baseline": V1,
        "v1": dict(V1, requests_per_second=share["v1"]),
        "v2": dict(v2, requests_per_second=share["v2"]),
    }


class App(BaseHTTPRequestHandler):
    def send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self.send(200, {"status": "healthy", "version": "v2" if percentage() == 100 else "v1"})
        elif self.path == "/metrics":
            self.send(200, metrics())
        else:
            self.send(404, {"error": "not found"})

    def log_message(self, *a):
        pass


ThreadingHTTPServer(("127.0.0.1", args.port), App).serve_forever()
