#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A scripted Anthropic Messages API on 127.0.0.1 for driving the real Claude Code CLI offline.

Usage: anthropic-double.py SCRIPT.json REQUESTS.jsonl

Binds 127.0.0.1 on a free port and prints the port alone on its first stdout line. Exits when
its stdin closes, so a crashed test never leaves it behind. Stdlib only.

SCRIPT is a JSON list of turns; each is one of
  {"text": "…"}                                 a final answer (stop_reason end_turn)
  {"tool_use": {"name": "Write", "input": {…}}}  one tool call (stop_reason tool_use), optionally
                                                with "text" said before it
  {"error": {"status": 400, "body": {…}}}       an HTTP error with that JSON body

Which turn answers a conversation request is decided by the conversation itself: the number of
assistant messages already in the request's `messages`. A retried request therefore gets the
same turn again, and a resumed session (whose request carries the earlier exchange) goes on
with the next turn. A conversation past the end of the script gets an HTTP 400 naming the
problem (400, not 5xx: the CLI would retry a 5xx for minutes), so a failing test says why.
Requests without `tools` are the CLI's side queries (titles, summaries): they get a short text
and do not consume the script.

Every request is appended to REQUESTS as one JSON line {"path", "body"} before it is answered.
"""

import json
import os
import socket
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

# small, non-zero usage: the CLI computes total_cost_usd from it
INPUT_TOKENS = 1200
OUTPUT_TOKENS = 40
MAX_BODY = 64 * 1024 * 1024

script = []
record_path = None
record_lock = threading.Lock()


def record(path, body):
    with record_lock, open(record_path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"path": path, "body": body}) + "\n")
        f.flush()
        os.fsync(f.fileno())


def sse(event, data):
    return b"event: %s\ndata: %s\n\n" % (event.encode(), json.dumps(data).encode())


def message_events(model, blocks, stop_reason):
    """The SSE bytes of one streamed message made of @blocks: ("text", s) or ("tool_use", name, input)."""
    msg_id = "msg_" + uuid.uuid4().hex[:24]
    out = [
        sse(
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": msg_id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": INPUT_TOKENS,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                        "output_tokens": 1,
                    },
                },
            },
        )
    ]
    for index, block in enumerate(blocks):
        if block[0] == "text":
            out.append(
                sse(
                    "content_block_start",
                    {"type": "content_block_start", "index": index,
                     "content_block": {"type": "text", "text": ""}},
                )
            )
            text = block[1]
            # two deltas: the client must join them
            half = len(text) // 2
            for piece in (text[:half], text[half:]):
                if piece:
                    out.append(
                        sse(
                            "content_block_delta",
                            {"type": "content_block_delta", "index": index,
                             "delta": {"type": "text_delta", "text": piece}},
                        )
                    )
        else:
            _, name, tool_input = block
            out.append(
                sse(
                    "content_block_start",
                    {
                        "type": "content_block_start",
                        "index": index,
                        "content_block": {
                            "type": "tool_use",
                            "id": "toolu_" + uuid.uuid4().hex[:24],
                            "name": name,
                            "input": {},
                        },
                    },
                )
            )
            partial = json.dumps(tool_input)
            third = max(1, len(partial) // 3)
            for start in range(0, len(partial), third):
                out.append(
                    sse(
                        "content_block_delta",
                        {"type": "content_block_delta", "index": index,
                         "delta": {"type": "input_json_delta",
                                   "partial_json": partial[start:start + third]}},
                    )
                )
        out.append(sse("content_block_stop", {"type": "content_block_stop", "index": index}))
    out.append(
        sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": OUTPUT_TOKENS},
            },
        )
    )
    out.append(sse("message_stop", {"type": "message_stop"}))
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format, *args):  # noqa: A002 (the base class's name)
        if os.environ.get("FL_DOUBLE_VERBOSE"):
            sys.stderr.write("anthropic-double: " + (format % args) + "\n")

    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("request-id", "req_double")
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def send_stream(self, events):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("request-id", "req_double")
        self.end_headers()
        for event in events:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def do_GET(self):
        self.send_json(404, {"type": "error", "error": {"type": "not_found_error",
                                                        "message": "no such path"}})

    def do_POST(self):
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            self.send_json(413, {"type": "error", "error": {"type": "request_too_large",
                                                            "message": "body too large"}})
            self.close_connection = True
            return
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {"unparsable": raw.decode("utf-8", "replace")}
        record(path, body)
        try:
            if path == "/v1/messages/count_tokens":
                self.send_json(200, {"input_tokens": INPUT_TOKENS})
            elif path == "/v1/messages":
                self.messages(body)
            else:
                self.send_json(404, {"type": "error", "error": {"type": "not_found_error",
                                                                "message": "no such path"}})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def messages(self, body):
        model = body.get("model") or "claude-sonnet-4-5"
        if not body.get("tools"):
            events = message_events(model, [("text", "Side query answer")], "end_turn")
            self.respond(body, events)
            return
        messages = body.get("messages")
        if not isinstance(messages, list):
            messages = []
        index = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "assistant")
        if index >= len(script):
            self.send_json(400, {"type": "error", "error": {
                "type": "invalid_request_error",
                "message": "anthropic-double: script has no turn %d" % index}})
            return
        turn = script[index]
        if "error" in turn:
            self.send_json(int(turn["error"]["status"]), turn["error"]["body"])
            return
        if "tool_use" in turn:
            blocks = []
            if turn.get("text"):
                blocks.append(("text", turn["text"]))
            blocks.append(("tool_use", turn["tool_use"]["name"], turn["tool_use"]["input"]))
            events = message_events(model, blocks, "tool_use")
        else:
            events = message_events(model, [("text", turn["text"])], "end_turn")
        self.respond(body, events)

    def respond(self, body, events):
        if body.get("stream"):
            self.send_stream(events)
            return
        # the non-streaming shape, assembled from the same turn
        self.send_json(200, assemble(events))


def assemble(events):
    message = None
    partial = {}
    for raw in events:
        data = json.loads(raw.split(b"\ndata: ", 1)[1])
        kind = data["type"]
        if kind == "message_start":
            message = data["message"]
        elif kind == "content_block_start":
            message["content"].append(dict(data["content_block"]))
        elif kind == "content_block_delta":
            block = message["content"][data["index"]]
            delta = data["delta"]
            if delta["type"] == "text_delta":
                block["text"] += delta["text"]
            else:
                partial[data["index"]] = partial.get(data["index"], "") + delta["partial_json"]
        elif kind == "message_delta":
            message["stop_reason"] = data["delta"]["stop_reason"]
            message["usage"]["output_tokens"] = data["usage"]["output_tokens"]
    for index, text in partial.items():
        message["content"][index]["input"] = json.loads(text)
    return message


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64


def exit_when_stdin_closes():
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


def main():
    global script, record_path
    if len(sys.argv) != 3:
        sys.stderr.write("usage: anthropic-double.py SCRIPT.json REQUESTS.jsonl\n")
        sys.exit(2)
    with open(sys.argv[1], encoding="utf-8") as f:
        script = json.load(f)
    if not isinstance(script, list):
        sys.stderr.write("anthropic-double: the script must be a JSON list of turns\n")
        sys.exit(2)
    record_path = sys.argv[2]
    open(record_path, "w").close()
    server = Server(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
