"""Misbehaving loopback servers: prove no third-party exception leaves a plugin untranslated.

Each behaviour answers every connection the same broken way (or nothing
listens at all). Used by the sink and alert-channel contract tests.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator


def _answer_with(reply: bytes) -> Callable[[socket.socket], None]:
    def answer(connection: socket.socket) -> None:
        connection.recv(65536)
        if reply:
            connection.sendall(reply)

    return answer


def _http(status: str, body: bytes, content_type: str = "application/json") -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
    return (head + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body


HOSTILE = {
    "refused": None,  # nothing listens
    "hangs_up": _answer_with(b""),
    "not_http": _answer_with(b"\x00\xffSSH-2.0-nonsense\r\n\r\n"),
    "cut_short": _answer_with(b'HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"da'),
    "not_json": _answer_with(_http("200 OK", b"<html>hello</html>", "text/html")),
    "wrong_json": _answer_with(_http("200 OK", b'[1, {"data": null}, "x"]')),
    "odd_fields": _answer_with(
        _http("200 OK", b'{"data": {"options": 7, "data": [], "metadata": "x"}, "app": []}')
    ),
    "html_error": _answer_with(_http("502 Bad Gateway", b"<h1>bad gateway</h1>", "text/html")),
    "teapot": _answer_with(_http("418 I'm a teapot", b'{"errors": ["short and stout"]}')),
}


@contextlib.contextmanager
def hostile_server(behaviour_name: str) -> Iterator[str]:
    """A loopback URL whose server misbehaves as ``HOSTILE[behaviour_name]`` says."""
    behaviour = HOSTILE[behaviour_name]
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    if behaviour is None:
        listener.close()
        yield f"http://127.0.0.1:{port}"
        return
    listener.listen(16)
    listener.settimeout(0.05)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            with connection:
                connection.settimeout(2)
                with contextlib.suppress(OSError):  # the client hung up first
                    behaviour(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        thread.join()
        listener.close()
