"""The one fake clock every test moves by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when told to (or when something sleeps on it).

    Called, it answers an aware UTC ``datetime`` (rotator's ``now`` callables);
    :meth:`seconds` answers the same moment as epoch seconds, for code that
    takes a ``time.time``-like clock (the sandbox, the heartbeat, the HTTP
    client's pacing). ``now`` and ``moment`` are the same settable datetime.
    :meth:`sleep` moves the clock and remembers the sleep in ``sleeps``.
    """

    def __init__(self, start: datetime | float = START) -> None:
        # Two views kept in step, each exact for its own callers: a datetime
        # (microseconds, as rotator computes due times) and epoch seconds (a float,
        # as the HTTP client adds up its sleeps).
        if isinstance(start, datetime):
            self._moment, self._seconds = start, start.timestamp()
        else:
            self._moment, self._seconds = datetime.fromtimestamp(start, UTC), float(start)
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self._moment

    @property
    def moment(self) -> datetime:
        return self._moment

    @moment.setter
    def moment(self, moment: datetime) -> None:
        self._moment, self._seconds = moment, moment.timestamp()

    now = moment

    def seconds(self) -> float:
        return self._seconds

    def advance(self, span: timedelta | float = 0.0, **parts: float) -> datetime:
        """Move on by *span* (a timedelta, or seconds) plus ``timedelta(**parts)``."""
        step = (span if isinstance(span, timedelta) else timedelta(seconds=span)) + timedelta(
            **parts
        )
        self._moment += step
        self._seconds += span if isinstance(span, int | float) else span.total_seconds()
        self._seconds += timedelta(**parts).total_seconds()
        return self._moment

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
