"""Tiny stand-in for a Flash Connect app instance (test backend only).

Answers JSON on any path and method, naming the colour and instance that answered, so the
proxy tests can see where each request went. Started as flash-echo@<colour>-<port>.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

COLOUR, PORT = sys.argv[1].rsplit("-", 1)
PORT = int(PORT)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without this, Nagle + delayed ACK add 40 ms.
    disable_nagle_algorithm = True
    server_version = "flash-echo"

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        payload = json.dumps({
            "colour": COLOUR,
            "instance": "%s-%d" % (COLOUR, PORT),
            "method": self.command,
            "path": self.path,
            "body_bytes": len(body),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        # A wrong colour from the app: the proxy must hide it and name the real one itself.
        self.send_header("X-Flash-Colour", "from-app")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

    def log_message(self, *args):
        pass


ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("0.0.0.0", PORT), Handler).serve_forever()
