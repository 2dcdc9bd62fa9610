"""The devmatrix-v2 example's stand-in backend: / answers 503 while
state/maintenance says "on"; /api/v1/health always answers, with the release
in state/release."""
import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--state", required=True)
args = parser.parse_args()


def read(name):
    try:
        with open(os.path.join(args.state, name)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


class App(BaseHTTPRequestHandler):
    def send(self, status, body, kind):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/api/v1/health":
            body = {"status": "healthy", "version": read("release"), "maintenance": read("maintenance") == "on"}
            self.send(200, json.dumps(body), "application/json")
        elif self.path == "/":
            if read("maintenance") == "on":
                self.send(503, "<html>DevMatrix is being upgraded</html>", "text/html")
            else:
                self.send(200, "<html>DevMatrix %s</html>" % read("release"), "text/html")
        else:
            self.send(404, "not found", "text/plain")

    def log_message(self, *a):
        pass


ThreadingHTTPServer(("127.0.0.1", args.port), App).serve_forever()
