"""The quickstart's demo service: GET /health reports the routing it reads
from its config file, and an error rate that jumps once v2 carries at least
--fail-at percent of the traffic."""
import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--config", required=True)
parser.add_argument("--fail-at", type=float, default=1000)
args = parser.parse_args()


class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/health":
            self.send_error(404)
            return
        with open(args.config) as f:
            routing = json.load(f)
        v2 = routing.get("v2", 0)
        body = {
            "status": "ok",
            "v1": routing.get("v1", 0),
            "v2": v2,
            "error_rate": 0.5 if v2 >= args.fail_at else 0.0,
        }
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


ThreadingHTTPServer(("127.0.0.1", args.port), Health).serve_forever()
