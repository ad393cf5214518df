#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A scripted Gemini API on 127.0.0.1 for driving the real Gemini CLI offline.

Usage: gemini-double.py SCRIPT.json REQUESTS.jsonl

Binds 127.0.0.1 on a free port and prints the port alone on its first stdout line. Exits when
its stdin closes, so a crashed test never leaves it behind. Stdlib only. The CLI finds it
through GOOGLE_GEMINI_BASE_URL.

SCRIPT is a JSON list of turns; each is one of
  {"text": "…"}                                   a final answer (finishReason STOP)
  {"call": {"name": "write_file", "args": {…}}}    one function call, optionally with "text"
  {"error": {"status": 400, "message": "…"}}      an HTTP error with a Google API error body

Which turn answers a streamGenerateContent request is decided by the conversation itself: the
number of "model" entries already in its `contents`. A retried request gets the same turn
again, and a resumed session (whose request carries the earlier exchange) goes on with the
next turn. Past the end of the script the answer is an HTTP 400 naming the problem.
Other requests (the CLI's side queries such as generateContent or countTokens) get small
answers and do not consume the script.

Every request is appended to REQUESTS as one JSON line {"path", "body"} before it is answered.
"""

import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROMPT_TOKENS = 1000
ANSWER_TOKENS = 50
MAX_BODY = 64 * 1024 * 1024

script = []
record_path = None
record_lock = threading.Lock()


def record(path, body):
    with record_lock, open(record_path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"path": path, "body": body}) + "\n")
        f.flush()
        os.fsync(f.fileno())


def model_name(path):
    # /v1beta/models/NAME:streamGenerateContent?alt=sse
    name = path.split("/models/", 1)[-1]
    return name.split(":", 1)[0]


def usage():
    return {"promptTokenCount": PROMPT_TOKENS, "candidatesTokenCount": ANSWER_TOKENS,
            "totalTokenCount": PROMPT_TOKENS + ANSWER_TOKENS}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply_json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        record(self.path, None)
        self.reply_json(404, {"error": {"code": 404, "message": "not here",
                                        "status": "NOT_FOUND"}})

    def do_POST(self):
        length = int(self.headers.get("content-length", "0"))
        if length > MAX_BODY:
            self.reply_json(413, {"error": {"code": 413, "message": "too large"}})
            return
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        record(self.path, body)
        if ":streamGenerateContent" not in self.path:
            if ":countTokens" in self.path:
                self.reply_json(200, {"totalTokens": 10})
            else:
                self.reply_json(200, {
                    "candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]},
                                    "finishReason": "STOP", "index": 0}],
                    "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1,
                                      "totalTokenCount": 2}})
            return
        contents = (body or {}).get("contents") or []
        index = sum(1 for c in contents if isinstance(c, dict) and c.get("role") == "model")
        if index >= len(script):
            self.reply_json(400, {"error": {"code": 400, "status": "INVALID_ARGUMENT",
                                            "message": "gemini-double: no turn %d in the script"
                                            % index}})
            return
        turn = script[index]
        if "error" in turn:
            err = turn["error"]
            self.reply_json(err.get("status", 400), {"error": {
                "code": err.get("status", 400), "status": "INVALID_ARGUMENT",
                "message": err.get("message", "error")}})
            return
        parts = []
        if turn.get("text"):
            parts.append({"text": turn["text"]})
        if "call" in turn:
            parts.append({"functionCall": turn["call"]})
        chunk = {"candidates": [{"content": {"role": "model", "parts": parts},
                                 "finishReason": "STOP", "index": 0}],
                 "usageMetadata": usage(), "modelVersion": model_name(self.path)}
        data = b"data: " + json.dumps(chunk).encode() + b"\r\n\r\n"
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def main():
    global script, record_path
    with open(sys.argv[1], encoding="utf-8") as f:
        script = json.load(f)
    record_path = sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
