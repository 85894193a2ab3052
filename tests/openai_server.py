"""A real OpenAI-compatible chat server for tests: takes a reply function, gives a local endpoint.

Stdlib only (`http.server.ThreadingHTTPServer` in a daemon thread on 127.0.0.1, port 0). It serves
POST /v1/chat/completions, can add latency, can answer some requests with 429 + Retry-After, and
counts requests and the most requests it ever had in flight at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

Reply = Callable[[list[dict[str, Any]]], str]


def echo_last_user(messages: list[dict[str, Any]]) -> str:
    """The default reply: the last user message, unchanged."""
    return next(str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user")


@dataclass
class ServerState:
    """What the server does and what it has seen; fields may be changed while it runs."""

    reply: Reply = echo_last_user
    latency_s: float = 0.0
    rate_limit_first: int = 0  # answer this many requests with 429 before serving normally
    retry_after: str = "0.2"
    error_status: int | None = None  # answer every request with this status (401, 404, 400 …)
    error_message: str = "rejected"  # "{key}" is replaced by the request's bearer token
    cached_tokens: int = 0  # reported as read from the provider's prompt cache (OpenAI's usage field)
    requests: int = 0
    served: int = 0
    rate_limited: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        """Back to a fresh state, so one server can serve many tests."""
        fresh = ServerState()
        for f in fields(self):
            if f.name != "lock":
                setattr(self, f.name, getattr(fresh, f.name))


class OpenAIServer:
    """A running server; `base_url` ends in /v1 as litellm's `api_base` expects."""

    def __init__(self, state: ServerState | None = None) -> None:
        self.state = state or ServerState()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self.state))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> OpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def _handler_for(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # keep pytest output clean

        def do_POST(self) -> None:  # noqa: N802 - stdlib naming
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            with state.lock:
                state.requests += 1
                state.bodies.append(body)
                state.auth_headers.append(self.headers.get("Authorization", ""))
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
                limited = state.rate_limited < state.rate_limit_first
                if limited:
                    state.rate_limited += 1
            try:
                if state.latency_s:
                    time.sleep(state.latency_s)
                if limited:
                    error = {"error": {"message": "rate limited", "type": "rate_limit_error"}}
                    self._send(429, error, {"Retry-After": state.retry_after})
                    return
                if state.error_status is not None:
                    # "{key}" echoes the bearer token, as careless providers do in 401 messages.
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    message = state.error_message.replace("{key}", token)
                    self._send(state.error_status, {"error": {"message": message}})
                    return
                content = state.reply(body["messages"])
                self._send(200, _completion(body, content, state.cached_tokens))
                with state.lock:
                    state.served += 1
            finally:
                with state.lock:
                    state.in_flight -= 1

        def _send(
            self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler


def _completion(body: dict[str, Any], content: str, cached_tokens: int = 0) -> dict[str, Any]:
    prompt_tokens = sum(len(str(m.get("content", ""))) for m in body["messages"]) // 4 + 1
    completion_tokens = len(content) // 4 + 1
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "test"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            **({"prompt_tokens_details": {"cached_tokens": cached_tokens}} if cached_tokens else {}),
        },
    }


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A fresh server echoing the last user message; tweak `server.state` in the test.

    Starting a server is cheap, but litellm builds a new HTTP client (and TLS context) for each
    new api_base, about 0.3 s; a module-scoped server with `state.reset()` avoids that.
    """
    with OpenAIServer() as server:
        yield server
