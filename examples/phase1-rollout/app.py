"""The phase1-rollout example's demo app: serves /healthz, / and /metrics
from the files under --state, the way the production app of runbook 004
would answer its health checks and dashboards."""
import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--state", required=True)
parser.add_argument("--fail-at", type=float, default=1000)
args = parser.parse_args()


def read(name, default=""):
    try:
        with open(os.path.join(args.state, name)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return default


def percentage():
    for line in read("flags.env").splitlines():
        if line.startswith("PHASE_1_ROLLOUT_PERCENTAGE="):
            return int(line.split("=", 1)[1])
    return 0


class App(BaseHTTPRequestHandler):
    def send(self, status, body, kind):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/healthz":
            body = {"status": "healthy", "api_version": read("api/VERSION")}
            self.send(200, json.dumps(body), "application/json")
        elif self.path == "/":
            page = "<html><body>webapp %s</body></html>" % read("webapp/VERSION")
            self.send(200, page, "text/html")
        elif self.path == "/metrics":
            pct = percentage()
            failing = pct >= args.fail_at
            body = {
                "rollout_percentage": pct,
                "error_rate": 0.12 if failing else 0.01,
                "p95_latency_ms": 850 if failing else 42,
            }
            self.send(200, json.dumps(body), "application/json")
        else:
            self.send(404, "not found", "text/plain")

    def log_message(self, *a):
        pass


ThreadingHTTPServer(("127.0.0.1", args.port), App).serve_forever()
