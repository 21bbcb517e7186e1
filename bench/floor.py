"""The HTTP floor of this machine: a gevent keep-alive loop answering every request with a fixed 204.

No WSGI, no real HTTP handling (it finds a request's end by its ``Content-Length``): what
serving one request costs a gevent process at the least. ``make bench`` and ``bench/ab.py``
measure it in the same run as the API, so that the API's CPU per hit reads as a multiple of
it (the issue's target: at most 3x). ``../shared/calibration/http-floor`` has the same loop.

    python bench/floor.py PORT
"""

from __future__ import annotations

import sys

from gevent.server import StreamServer
from gevent.socket import socket

ANSWER = b"HTTP/1.1 204 No Content\r\nServer: floor\r\n\r\n"
LENGTH = b"content-length:"


def handle(connection: socket, address: object) -> None:
    buffered = b""
    while data := connection.recv(65536):
        buffered += data
        while (end := buffered.find(b"\r\n\r\n")) >= 0:
            head = buffered[:end].lower()
            start = head.find(LENGTH)
            length = int(head[start + len(LENGTH) :].split(b"\r\n", 1)[0]) if start >= 0 else 0
            if len(buffered) < end + 4 + length:
                break
            buffered = buffered[end + 4 + length :]
            connection.sendall(ANSWER)


if __name__ == "__main__":
    StreamServer(("127.0.0.1", int(sys.argv[1])), handle).serve_forever()
