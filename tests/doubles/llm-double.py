#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A scripted model API and webhook receiver for flotilla's tests (stdlib only, loopback only).

Binds 127.0.0.1 on a free port, prints the port alone on its first stdout line, then serves.
Exits when its stdin closes, so a crashed test never leaves it behind.

Model API: POST /anthropic/BEHAVIOUR or /openai/BEHAVIOUR (an X-Double-Behaviour header
overrides the path). The query string only makes counters distinct (?id=...), except n=.
The answer text is always ANSWER below; usage is 12 in + 7 out (anthropic), 9 + 5 (openai).

  ok             the stream in a few events
  split          the same bytes trickled in pieces of 1 to 13 bytes (UTF-8 and events cut)
  crlf           CRLF line ends, a CR and its LF in different chunks
  cut            close-delimited stream that stops in the middle of an event
  cut-chunked    chunked stream that stops mid-event without its last chunk
  truncated      complete events, but the stream ends before message_stop / [DONE]
  429?n=N        the first N requests (per full path) get 429 + Retry-After: 1, then ok
  500?n=N        the first N requests get 500, then ok; without n, always 500
  never-ending   text every 20 ms until the client goes away
  held           the stream up to its first piece of text, the rest after POST /release
  hang           headers, then nothing until the client goes away
  400            400 with the API's JSON error body
  401-echo       401 whose error message quotes the key it was sent
  error-event    some text, then an error event (overloaded)
  garbage        an event whose data is not JSON

  GET /requests  every model API request so far: [{method, path, headers, body}]
  GET /held      answers once a held stream has sent its first text (waits up to 60 s)
  POST /release  lets held streams finish

Webhooks: POST /webhook[/STATUS[?n=N]] records {path, headers, body} and answers 200, or
STATUS for the first N requests per full path (always without n). GET /webhook-log lists them.
"""

import json
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ANSWER_PIECES = ["Hello", ", w\u00f6rld", "!\n", "Second line \u2014 done."]
TRICKLE_DELAY = 0.002
TICK = 0.02

lock = threading.Lock()
held = threading.Event()
released = threading.Event()
counters = {}
requests_seen = []
webhooks_seen = []


def anthropic_events(model, pieces, stop=True):
    events = [
        ("message_start", {"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None,
            "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"}),
    ]
    for piece in pieces:
        events.append(("content_block_delta", {
            "type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": piece}}))
    if stop:
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta",
                               "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                               "usage": {"output_tokens": 7}}),
            ("message_stop", {"type": "message_stop"}),
        ]
    # raw UTF-8 as the real API sends it, so that splits can fall inside a character
    return [b"event: %s\ndata: %s\n\n" % (name.encode(),
                                           json.dumps(data, ensure_ascii=False).encode())
            for name, data in events]


def openai_events(model, pieces, stop=True):
    def chunk(delta, finish=None):
        return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": piece}) for piece in pieces]
    if stop:
        events.append(chunk({}, "stop"))
        events.append({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": model,
                       "choices": [],
                       "usage": {"prompt_tokens": 9, "completion_tokens": 5,
                                 "total_tokens": 14}})
    out = [b"data: %s\n\n" % json.dumps(e).encode() for e in events]
    if stop:
        out.append(b"data: [DONE]\n\n")
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # every piece must leave as its own segment, or the splits are not tested
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        if os.environ.get("FL_DOUBLE_VERBOSE"):
            sys.stderr.write("llm-double: " + (format % args) + "\n")

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

    def count(self):
        with lock:
            counters[self.path] = counters.get(self.path, 0) + 1
            return counters[self.path]

    # routes

    def route(self):
        url = urlsplit(self.path)
        body = self.read_body()
        parts = url.path.strip("/").split("/")
        try:
            if self.command == "GET" and url.path == "/requests":
                with lock:
                    reply = json.dumps(requests_seen).encode()
                self.send_whole(200, reply)
            elif self.command == "GET" and url.path == "/held":
                if held.wait(60):
                    self.send_whole(200, b'{"held": true}')
                else:
                    self.send_whole(504, b'{"error": "no stream is held"}')
            elif self.command == "POST" and url.path == "/release":
                released.set()
                self.send_whole(200, b'{"released": true}')
            elif self.command == "GET" and url.path == "/webhook-log":
                with lock:
                    reply = json.dumps(webhooks_seen).encode()
                self.send_whole(200, reply)
            elif self.command == "POST" and parts[0] == "webhook":
                self.webhook(url, parts, body)
            elif self.command == "POST" and parts[0] in ("anthropic", "openai"):
                self.model_api(url, parts, body)
            else:
                self.send_whole(404, b'{"error": "no such path"}')
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def record(self, into, body):
        entry = {
            "method": self.command,
            "path": self.path,
            "headers": {name.lower(): value for name, value in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
        }
        with lock:
            into.append(entry)

    def webhook(self, url, parts, body):
        self.record(webhooks_seen, body)
        limit = parse_qs(url.query).get("n")
        if len(parts) > 1 and (limit is None or self.count() <= int(limit[0])):
            status = int(parts[1])
            self.send_whole(status, b'{"code": %d, "error": "scripted failure"}' % status)
            return
        self.send_whole(200, b'{"id": "delivered"}')

    def model_api(self, url, parts, body):
        self.record(requests_seen, body)
        api = parts[0]
        behaviour = self.headers.get("X-Double-Behaviour") or (
            parts[1] if len(parts) > 1 else "ok")
        try:
            model = json.loads(body).get("model", "unknown")
        except ValueError:
            self.send_whole(400, b'{"error": {"type": "invalid_request_error", '
                            b'"message": "body is not JSON"}}')
            return
        if api == "anthropic":
            # the API reports the dated version of an alias
            events = anthropic_events(model + "-20250101", ANSWER_PIECES)
        else:
            events = openai_events(model, ANSWER_PIECES)
        limit = parse_qs(url.query).get("n")

        if behaviour == "ok":
            self.start_stream()
            for event in events:
                self.chunk(event)
            self.end_chunks()
        elif behaviour == "split":
            self.trickle(b"".join(events))
        elif behaviour == "crlf":
            data = b"".join(events).replace(b"\n", b"\r\n")
            middle = data.index(b"\r\n\r\n", len(data) // 2) + 1
            self.start_stream()
            # the CR ends one chunk, its LF starts the next
            self.chunk(data[:middle])
            time.sleep(TRICKLE_DELAY)
            self.chunk(data[middle:])
            self.end_chunks()
        elif behaviour == "cut":
            self.start_stream(chunked=False)
            self.wfile.write(b"".join(events[:4]) + events[4][:25])
            self.wfile.flush()
            self.close_connection = True
        elif behaviour == "cut-chunked":
            self.start_stream()
            for event in events[:4]:
                self.chunk(event)
            self.chunk(events[4][:25])
            self.close_connection = True
        elif behaviour == "truncated":
            self.start_stream()
            keep = 6 if api == "anthropic" else 5
            for event in events[:keep]:
                self.chunk(event)
            self.end_chunks()
        elif behaviour == "429":
            if self.count() <= int((limit or ["1"])[0]):
                self.send_whole(429, b'{"type": "error", "error": {"type": "rate_limit_error", '
                                b'"message": "Number of requests has exceeded your rate '
                                b'limit"}}', extra={"Retry-After": "1"})
                return
            self.model_api_ok(events)
        elif behaviour == "500":
            if limit is None or self.count() <= int(limit[0]):
                self.send_whole(500, b'{"type": "error", "error": {"type": "api_error", '
                                b'"message": "Internal server error"}}')
                return
            self.model_api_ok(events)
        elif behaviour == "never-ending":
            self.start_stream()
            # the preamble without any text
            for event in events[:3 if api == "anthropic" else 1]:
                self.chunk(event)
            n = 0
            while True:
                n += 1
                piece = "tick %d\n" % n
                if api == "anthropic":
                    self.chunk(anthropic_events(model, [piece], stop=False)[3])
                else:
                    self.chunk(openai_events(model, [piece], stop=False)[1])
                time.sleep(TICK)
        elif behaviour == "held":
            first_text = 4 if api == "anthropic" else 2
            self.start_stream()
            for event in events[:first_text]:
                self.chunk(event)
            held.set()
            released.wait(120)
            for event in events[first_text:]:
                self.chunk(event)
            self.end_chunks()
        elif behaviour == "hang":
            self.start_stream()
            self.wait_for_client_to_leave()
        elif behaviour == "400":
            if api == "anthropic":
                reply = {"type": "error", "error": {
                    "type": "invalid_request_error",
                    "message": "max_tokens: 999999999 > 8192, the maximum for this model"}}
            else:
                reply = {"error": {"message": "The model `nope` does not exist",
                                   "type": "invalid_request_error", "param": None,
                                   "code": "model_not_found"}}
            self.send_whole(400, json.dumps(reply).encode())
        elif behaviour == "401-echo":
            key = self.headers.get("x-api-key") or self.headers.get("Authorization", "")
            reply = {"type": "error", "error": {"type": "authentication_error",
                                                "message": "invalid key: %s" % key}}
            self.send_whole(401, json.dumps(reply).encode())
        elif behaviour == "error-event":
            self.start_stream()
            for event in events[:4]:
                self.chunk(event)
            if api == "anthropic":
                error = {"type": "error", "error": {"type": "overloaded_error",
                                                    "message": "Overloaded"}}
                self.chunk(b"event: error\ndata: %s\n\n" % json.dumps(error).encode())
            else:
                error = {"error": {"message": "Overloaded", "type": "server_error"}}
                self.chunk(b"data: %s\n\n" % json.dumps(error).encode())
            self.end_chunks()
        elif behaviour == "garbage":
            self.start_stream()
            self.chunk(events[0])
            self.chunk(b"data: {this is not json\n\n")
            self.end_chunks()
        else:
            self.send_whole(404, b'{"error": "no such behaviour"}')

    def model_api_ok(self, events):
        self.start_stream()
        for event in events:
            self.chunk(event)
        self.end_chunks()

    def trickle(self, data):
        self.start_stream()
        sizes = [1, 2, 3, 5, 7, 11, 13]
        offset = 0
        n = 0
        while offset < len(data):
            size = sizes[n % len(sizes)]
            self.chunk(data[offset:offset + size])
            offset += size
            n += 1
            if n % 8 == 0:
                time.sleep(TRICKLE_DELAY)
        self.end_chunks()


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
