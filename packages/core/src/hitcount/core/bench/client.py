"""A minimal HTTP/1.1 keep-alive client on asyncio streams.

The load generator shares two cores with the server it measures, so each request must
cost it as little as possible: the request bytes are prepared once, and the response is
read just far enough to know its status and skip its body.
"""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit


class HttpError(Exception):
    """The connection broke or the answer was not HTTP/1.1."""


def request_bytes(method: str, url: str, body: bytes = b"", content_type: str = "application/json") -> bytes:
    """The full bytes of one keep-alive request to ``url``."""
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    head = f"{method} {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: keep-alive\r\n"
    if body or method == "POST":
        head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
    return head.encode("latin-1") + b"\r\n" + body


class Connection:
    """One persistent connection; reconnects transparently after the server closes it."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Send one request and return the status and body of its answer."""
        try:
            # Inside the try: a server that is down (refused) or restarting is an error to retry like any other.
            if self._writer is None or self._writer.is_closing():
                self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
            assert self._reader is not None
            self._writer.write(request)
            head = await self._reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                lowered = name.strip().lower()
                if lowered == b"content-length":
                    length = int(value)
                elif lowered == b"connection" and value.strip().lower() == b"close":
                    close = True
            body = await self._reader.readexactly(length) if length else b""
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as error:
            self.close()
            raise HttpError(str(error) or type(error).__name__) from error
        if close:
            self.close()
        return status, body

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
