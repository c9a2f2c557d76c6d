"""A real HTTP receiver of webhooks, on 127.0.0.1, that verifies Standard Webhooks signatures
with its own code (not Autopilot's) and answers as the test tells it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.body)
        return payload

    def verified(self, secret: str) -> bool:
        """The signature check a receiver runs: HMAC-SHA256 of "id.timestamp.body" keyed with the
        base64 part of the secret, compared with each v1 signature of the header."""
        key = base64.b64decode(secret.split("_", 1)[1])
        signed = (
            f"{self.headers['webhook-id']}.{self.headers['webhook-timestamp']}.".encode()
            + self.body
        )
        expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        given = [s.split(",", 1)[1] for s in self.headers["webhook-signature"].split()]
        return any(hmac.compare_digest(expected, g) for g in given)


@dataclass
class Receiver:
    url: str
    status: int = 200
    got: list[Received] = field(default_factory=list)
    hold: threading.Event | None = None  # set: answer only once the event is set


@contextmanager
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            state.got.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
            if state.hold is not None:
                state.hold.wait(60)
            self.send_response(state.status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        if state.hold is not None:
            state.hold.set()
        server.shutdown()
        server.server_close()
