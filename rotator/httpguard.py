"""Guards for every HTTP answer rotator waits for: a total deadline and a body cap.

httpx's timeouts count one operation at a time (connect, one read, one
write), so a peer that sends a byte every few seconds never trips them and
can hold a request for ever. Two mechanisms close that, and they work
together:

* :func:`fetch` sends a request, streams the answer and reads it chunk by
  chunk, checking a monotonic :class:`Deadline` after every chunk and the
  body's size against a cap (``Content-Length`` first, then the bytes
  actually read), so a 50 MB answer is refused after the cap, never held
  whole. Every operation timeout is clamped to what is left of the deadline.
  This works with any ``httpx.Client``.
* A client made by :func:`guarded_client` also clamps every socket read,
  write and connect to the deadline of the :func:`fetch` under way (through
  a network backend that reads the deadline from a context variable), so
  even a peer that drips its *headers* or its TLS handshake is cut off when
  the deadline passes.

A deadline may also carry a *cancelled* callable (the daemon's "stop was
asked" flag): a guarded client then waits on its socket in slices of at
most :data:`CANCEL_POLL` seconds and gives up as soon as it answers true, so
a stop request ends a request under way at once whatever the peer does.

Failures are httpx exceptions, so code that already turns
``httpx.HTTPError`` into its own error keeps working: :class:`DeadlineExceeded`
is an ``httpx.TimeoutException`` (retried like any timeout);
:class:`BodyTooLarge` and :class:`Cancelled` are ``httpx.RequestError``
subclasses that are not transport errors (never retried: the peer would send the same answer
again, or nobody wants the answer any more). Their messages are one line and
never hold the URL's query string or a header.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import math
import ssl
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NoReturn

import httpcore
import httpx

DEFAULT_MAX_BODY = 8 * 1024 * 1024
"""Largest answer body :func:`fetch` reads by default (8 MiB): far above any API answer."""

DEFAULT_DEADLINE = 30.0
"""Seconds one request may take in all, connect to last byte, unless told otherwise."""

CANCEL_POLL = 0.25
"""Longest single wait on a socket while a deadline's *cancelled* may turn true."""

_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar(
    "rotator_http_deadline", default=None
)


class DeadlineExceeded(httpx.TimeoutException):
    """The whole answer did not arrive within the request's total deadline."""

    def __init__(self, seconds: float, request: httpx.Request | None = None) -> None:
        super().__init__(f"no complete answer within {seconds:g}s", request=request)
        self.seconds = seconds


class BodyTooLarge(httpx.RequestError):
    """The answer's body is larger than the cap for this request."""

    def __init__(self, limit: int, request: httpx.Request | None = None) -> None:
        super().__init__(f"the answer is larger than {describe_size(limit)}", request=request)
        self.limit = limit


class Cancelled(httpx.RequestError):
    """The request was given up because its deadline's *cancelled* turned true."""

    def __init__(self, request: httpx.Request | None = None) -> None:
        super().__init__("given up: the process is stopping", request=request)


class Deadline:
    """A moment on the monotonic clock by which something must be done.

    *cancelled*, when given, is asked while waiting; once it answers true the
    wait ends with :class:`Cancelled`.
    """

    def __init__(
        self,
        seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        cancelled: Callable[[], bool] | None = None,
    ) -> None:
        if not seconds > 0 or math.isnan(seconds):
            raise ValueError("a deadline needs a positive number of seconds")
        self.seconds = seconds
        self.cancelled = cancelled
        self._clock = clock
        self._ends = clock() + seconds

    def __repr__(self) -> str:
        return f"Deadline({self.seconds:g}s, {self.remaining():.1f}s left)"

    def remaining(self) -> float:
        """Seconds left; zero or less once it has passed."""
        return self._ends - self._clock()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def is_cancelled(self) -> bool:
        return self.cancelled is not None and self.cancelled()

    def sooner(self, other: Deadline) -> Deadline:
        """Whichever of the two ends first, cancelled when either is."""
        merged = copy.copy(self if self.remaining() <= other.remaining() else other)
        mine, theirs = self.cancelled, other.cancelled
        if mine is not None and theirs is not None and mine is not theirs:
            merged.cancelled = lambda: mine() or theirs()
        else:
            merged.cancelled = mine or theirs
        return merged

    def extend(self, seconds: float) -> None:
        """Move the end *seconds* later (time spent waiting for a turn, not for an answer)."""
        if seconds > 0:
            self._ends += seconds

    def within(self, seconds: float) -> Deadline:
        """A deadline *seconds* from now, or this one if it comes sooner (same *cancelled*)."""
        left = self.remaining()
        if left <= seconds:
            return self
        return Deadline(seconds, clock=self._clock, cancelled=self.cancelled)

    def clamp(self, timeout: float | None) -> float:
        """*timeout* (None: no limit) cut to what is left, never below a millisecond."""
        left = max(self.remaining(), 0.001)
        return left if timeout is None else max(min(timeout, left), 0.001)


@contextlib.contextmanager
def bounded(deadline: Deadline) -> Iterator[Deadline]:
    """Make *deadline* the one socket operations of guarded clients obey in this context.

    An enclosing deadline that ends sooner still wins.
    """
    outer = _current.get()
    effective = deadline if outer is None else deadline.sooner(outer)
    token = _current.set(effective)
    try:
        yield effective
    finally:
        _current.reset(token)


def fetch(
    http: httpx.Client,
    request: httpx.Request,
    *,
    deadline: Deadline,
    max_body: int = DEFAULT_MAX_BODY,
    timeout: float | None = None,
) -> httpx.Response:
    """Send *request* and read its whole answer within *deadline* and *max_body* bytes.

    *timeout* bounds each single operation as httpx's timeout does (None:
    only the deadline). Returns the answer with its body read (so
    ``.json()`` and ``.text`` work). Raises :class:`DeadlineExceeded`,
    :class:`BodyTooLarge`, or the ``httpx.RequestError`` the request failed
    with. Redirects are not followed.
    """
    if max_body < 0:
        raise ValueError("max_body must not be negative")
    with bounded(deadline) as effective:
        request.extensions["timeout"] = httpx.Timeout(effective.clamp(timeout)).as_dict()
        if effective.is_cancelled():
            raise Cancelled(request)
        try:
            response = http.send(request, stream=True, follow_redirects=False)
        except httpx.RequestError as exc:
            _reraise(exc, effective, request)
        try:
            body = _read_capped(response, effective, max_body, request)
        except httpx.RequestError as exc:
            _reraise(exc, effective, request)
        finally:
            response.close()
    return _with_body(response, body, request)


def _reraise(exc: httpx.RequestError, deadline: Deadline, request: httpx.Request) -> NoReturn:
    """Raise what *exc* really means, chained to it; never an exception as its own cause."""
    meaning = _why(exc, deadline, request)
    if meaning is exc:
        raise exc
    raise meaning from exc


def _why(exc: httpx.RequestError, deadline: Deadline, request: httpx.Request) -> httpx.RequestError:
    """*exc*, or what it really means: the deadline passed or the request was cancelled."""
    if isinstance(exc, DeadlineExceeded | Cancelled | BodyTooLarge):
        return exc
    if deadline.is_cancelled():
        return Cancelled(request)
    if isinstance(exc, httpx.TimeoutException) and deadline.expired():
        return DeadlineExceeded(deadline.seconds, request)
    return exc


def _read_capped(
    response: httpx.Response, deadline: Deadline, max_body: int, request: httpx.Request
) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body:
        raise BodyTooLarge(max_body, request)
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_body:
            raise BodyTooLarge(max_body, request)
        chunks.append(chunk)
        if deadline.is_cancelled():
            raise Cancelled(request)
        if deadline.expired():
            raise DeadlineExceeded(deadline.seconds, request)
    return b"".join(chunks)


# Headers that describe the bytes on the wire, which the rebuilt answer no longer has.
_WIRE_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def _with_body(response: httpx.Response, body: bytes, request: httpx.Request) -> httpx.Response:
    """The answer again, holding its decoded body (public httpx API only)."""
    headers = [(name, value) for name, value in response.headers.multi_items()]
    kept = [(name, value) for name, value in headers if name.lower() not in _WIRE_HEADERS]
    return httpx.Response(
        response.status_code,
        headers=kept,
        content=body,
        request=request,
        extensions=response.extensions,
    )


def describe_size(size: int) -> str:
    """A byte count for a message: ``8 MiB``, ``512 KiB``, ``100 bytes``."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:g} {unit}"
    return f"{size} bytes"


# -- a client whose every socket operation obeys the deadline ---------------------


class _DeadlineStream(httpcore.NetworkStream):
    """A network stream whose reads and writes never outlast the current deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        deadline = _current.get()
        if deadline is None:
            return self._inner.read(max_bytes, timeout)
        if deadline.expired():
            raise httpcore.ReadTimeout("deadline passed")
        limit = deadline.clamp(timeout)
        if deadline.cancelled is None:
            return self._inner.read(max_bytes, limit)
        # Wait in slices, asking between them whether the request is still wanted.
        # A socket read that timed out consumed nothing, so the next slice goes on.
        ends = time.monotonic() + limit
        while True:
            if deadline.is_cancelled():
                raise httpcore.ReadError("cancelled")
            left = ends - time.monotonic()
            try:
                return self._inner.read(max_bytes, max(min(left, CANCEL_POLL), 0.001))
            except httpcore.ReadTimeout:
                if left <= CANCEL_POLL:
                    raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        deadline = _current.get()
        if deadline is None:
            return self._inner.write(buffer, timeout)
        if deadline.expired():
            raise httpcore.WriteTimeout("deadline passed")
        if deadline.is_cancelled():
            raise httpcore.WriteError("cancelled")
        return self._inner.write(buffer, deadline.clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        deadline = _current.get()
        if deadline is not None:
            if deadline.expired():
                raise httpcore.ConnectTimeout("deadline passed")
            timeout = deadline.clamp(timeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own socket backend, with every operation clamped to the current deadline."""

    def __init__(self, inner: httpcore.NetworkBackend | None = None) -> None:
        self._inner = inner if inner is not None else httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        deadline = _current.get()
        if deadline is not None:
            if deadline.expired():
                raise httpcore.ConnectTimeout("deadline passed")
            timeout = deadline.clamp(timeout)
        stream = self._inner.connect_tcp(
            host, port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        deadline = _current.get()
        if deadline is not None:
            timeout = deadline.clamp(timeout)
        stream = self._inner.connect_unix_socket(path, timeout, socket_options)
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's own transport on a :class:`DeadlineBackend` (no proxy support: not needed)."""

    def __init__(
        self,
        *,
        limits: httpx.Limits | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        # httpx builds its pool without a way to pass a network backend, so this
        # builds the same pool itself (HTTPTransport keeps no other state). A test
        # checks that a peer dripping its headers is cut off. With verify=True the
        # TLS context is made on the first https connection, not here: a CLI
        # command talking plain http never pays for loading the CA bundle.
        limits = limits or httpx.Limits()
        self._pool = httpcore.ConnectionPool(
            ssl_context=None if verify is True else httpx.create_ssl_context(verify=verify),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=DeadlineBackend(),
        )


def guarded_client(
    *,
    timeout: float = DEFAULT_DEADLINE,
    limits: httpx.Limits | None = None,
    verify: ssl.SSLContext | bool = True,
) -> httpx.Client:
    """An ``httpx.Client`` whose sockets obey the deadline of each :func:`fetch`.

    Use it wherever rotator builds an ``httpx.Client`` for a peer it does not
    control; requests sent through it without :func:`fetch` behave as with a
    plain client (httpx's per-operation *timeout* only).
    """
    transport = GuardedTransport(limits=limits, verify=verify)
    return httpx.Client(transport=transport, timeout=timeout, follow_redirects=False)
