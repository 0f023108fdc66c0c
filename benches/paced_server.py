#!/usr/bin/env python3
"""A loopback file server that caps every connection at a fixed rate, with no burst.

nginx's limit_rate is per request and grants a full second's worth of bytes up front, so a 2 MiB
file at 2 MiB/s arrives at once, and a client that asks for many small ranges gets a burst with
each. This paces every byte of a connection instead, across its keep-alive requests. It honours
`Range: bytes=A-B` / `bytes=A-` (206 with Content-Range), says `Accept-Ranges: bytes`, and sends
an ETag that `If-Range` is checked against, as a CDN does.

Usage: paced_server.py ROOT PORT BYTES_PER_SEC
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
    # When this connection may send its next byte: a connection that was idle gets no credit.
    next_due = 0.0

    def do_GET(self):
        path = os.path.normpath(os.path.join(ROOT, self.path.split("?")[0].lstrip("/")))
        if not path.startswith(ROOT) or not os.path.isfile(path):
            self.send_error(404)
            return
        st = os.stat(path)
        size = st.st_size
        etag = f'"{st.st_mtime_ns:x}-{size:x}"'
        first, last = 0, size - 1
        wanted = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        status = 200
        if wanted and wanted.startswith("bytes=") and if_range in (None, etag):
            a, _, b = wanted[6:].partition("-")
            first = int(a)
            last = min(int(b), size - 1) if b else size - 1
            if first >= size:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        self.send_response(status)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(last - first + 1))
        if status == 206:
            self.send_header("Content-Range", f"bytes {first}-{last}/{size}")
        self.end_headers()
        self.next_due = max(self.next_due, time.monotonic())
        try:
            with open(path, "rb") as f:
                f.seek(first)
                self.send_body(f, first, last)
        except (BrokenPipeError, ConnectionResetError):
            # The client hung up: a range it no longer wants.
            self.close_connection = True

    def send_body(self, f, first, last):
        for at in range(first, last + 1, CHUNK):
            piece = f.read(min(CHUNK, last + 1 - at))
            wait = self.next_due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.wfile.write(piece)
            self.next_due += len(piece) / RATE
        # The body is done when its last byte was due.
        wait = self.next_due - time.monotonic()
        if wait > 0:
            time.sleep(wait)
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
