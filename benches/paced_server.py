#!/usr/bin/env python3
"""A loopback file server that sends every response at a fixed rate per connection.

nginx's limit_rate grants a full second's worth of bytes up front, so a 2 MiB file at 2 MiB/s
arrives at once; this paces every byte instead. Usage: paced_server.py ROOT PORT BYTES_PER_SEC
"""

import http.server
import os
import socketserver
import sys
import time

ROOT, PORT, RATE = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
CHUNK = 16 * 1024


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        path = os.path.normpath(os.path.join(ROOT, self.path.split("?")[0].lstrip("/")))
        if not path.startswith(ROOT) or not os.path.isfile(path):
            self.send_error(404)
            return
        with open(path, "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        start = time.monotonic()
        for sent in range(0, len(body), CHUNK):
            due = start + sent / RATE
            now = time.monotonic()
            if due > now:
                time.sleep(due - now)
            self.wfile.write(body[sent:sent + CHUNK])
        # The last chunk is due when the whole body would have taken at RATE.
        due = start + len(body) / RATE
        if due > time.monotonic():
            time.sleep(due - time.monotonic())
        self.wfile.flush()

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # The default backlog of 5 drops the SYNs of a sixth simultaneous connect, which then waits
    # a full second for its retransmission.
    request_queue_size = 1024


Server(("127.0.0.1", PORT), Handler).serve_forever()
