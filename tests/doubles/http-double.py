#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Scripted HTTP server for flotilla's HTTP tests (stdlib only, loopback only).

Binds 127.0.0.1 on a free port, prints the port alone on its first stdout line, then serves
canned responses chosen by URL path. Exits when its stdin closes, so a crashed test never
leaves it behind.

  /sse-split     SSE events cut at awkward bytes (BOM, UTF-8, CR|LF), one chunk per piece
  /sse-crlf      SSE with CRLF line ends, a CR|LF pair split across chunks
  /cut           chunked SSE that stops mid-event without the final chunk (broken transfer)
  /cut-close     close-delimited SSE that ends cleanly at the TCP level but mid-event
  /burst         20 events in 20 chunks, all in one write: the client reads them at once
  /hang          headers, then nothing until the client goes away
  /never-ending  an event every 100 ms until the client goes away
  /429?n=N       the first N requests (per full path and query) get 429 with
                 Retry-After: 1, later ones 200 with one SSE event
  /500           always 500 with a JSON error body
  /echo-headers  200 with JSON: method, path, request headers, body
"""

import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PIECE_DELAY = 0.005
TICK = 0.1

SPLIT_PIECES = [
    b"\xef",
    b"\xbb\xbf: hello\n\nev",
    b"ent: delta\nda",
    b'ta: {"text":"caf\xc3',
    b'\xa9"}\n',
    b"\n",
    b"id: 7\ndata: line1\r",
    b"\ndata: line2\r",
    b"\n\r",
    b"\n",
    b"data: last\n\n",
]

CRLF_PIECES = [
    b"event: start\r\ndata: a\r",
    b"\n\r\n: comment\r\ndata: b\r\ndata: c\r\n\r\n",
]

counters = {}
counters_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # every piece must leave as its own segment, or the splits are not tested
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        if os.environ.get("FL_DOUBLE_VERBOSE"):
            sys.stderr.write("http-double: " + (format % args) + "\n")

    def do_GET(self):
        self.route()

    def do_POST(self):
        self.route()

    # helpers

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_whole(self, status, body, content_type="application/json", extra=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def start_stream(self, chunked=True):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def wait_for_client_to_leave(self):
        self.connection.settimeout(120)
        try:
            while self.connection.recv(1024):
                pass
        except OSError:
            pass
        self.close_connection = True

    # routes

    def route(self):
        url = urlsplit(self.path)
        body = self.read_body()
        handler = {
            "/sse-split": self.sse_split,
            "/sse-crlf": self.sse_crlf,
            "/cut": self.cut,
            "/cut-close": self.cut_close,
            "/burst": self.burst,
            "/hang": self.hang,
            "/never-ending": self.never_ending,
            "/429": self.too_many,
            "/500": self.server_error,
            "/echo-headers": self.echo_headers,
        }.get(url.path)
        if handler is None:
            self.send_whole(404, b'{"error": "no such path"}')
            return
        try:
            handler(url, body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def sse_split(self, url, body):
        self.start_stream()
        for piece in SPLIT_PIECES:
            self.chunk(piece)
            time.sleep(PIECE_DELAY)
        self.end_chunks()

    def sse_crlf(self, url, body):
        self.start_stream()
        for piece in CRLF_PIECES:
            self.chunk(piece)
            time.sleep(PIECE_DELAY)
        self.end_chunks()

    def cut(self, url, body):
        self.start_stream()
        self.chunk(b"data: complete\n\n")
        self.chunk(b"data: partial")
        # no final chunk: the client sees the connection end mid-transfer
        self.close_connection = True

    def cut_close(self, url, body):
        self.start_stream(chunked=False)
        self.wfile.write(b"data: complete\n\ndata: partial")
        self.wfile.flush()
        self.close_connection = True

    def burst(self, url, body):
        self.start_stream()
        events = [b"data: burst %d\n\n" % n for n in range(1, 21)]
        self.wfile.write(b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n")
        self.wfile.flush()

    def hang(self, url, body):
        self.start_stream()
        self.wait_for_client_to_leave()

    def never_ending(self, url, body):
        self.start_stream()
        n = 0
        while True:
            n += 1
            self.chunk(b"id: %d\ndata: tick %d\n\n" % (n, n))
            time.sleep(TICK)

    def too_many(self, url, body):
        limit = int(parse_qs(url.query).get("n", ["2"])[0])
        with counters_lock:
            counters[self.path] = counters.get(self.path, 0) + 1
            count = counters[self.path]
        if count <= limit:
            self.send_whole(429, b'{"error": "rate limited"}', extra={"Retry-After": "1"})
            return
        self.start_stream()
        self.chunk(b"data: ok after %d\n\n" % (count - 1))
        self.end_chunks()

    def server_error(self, url, body):
        self.send_whole(500, b'{"error": {"type": "server_error", "message": "boom"}}')

    def echo_headers(self, url, body):
        reply = {
            "method": self.command,
            "path": self.path,
            "headers": {name.lower(): value for name, value in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
        }
        self.send_whole(200, json.dumps(reply).encode())


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def exit_when_stdin_closes():
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


def main():
    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
