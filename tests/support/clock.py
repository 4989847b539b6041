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
        self._seconds = start.timestamp() if isinstance(start, datetime) else float(start)
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.moment

    @property
    def moment(self) -> datetime:
        return datetime.fromtimestamp(self._seconds, UTC)

    @moment.setter
    def moment(self, moment: datetime) -> None:
        self._seconds = moment.timestamp()

    now = moment

    def seconds(self) -> float:
        return self._seconds

    def advance(self, span: timedelta | float = 0.0, **parts: float) -> datetime:
        """Move on by *span* (a timedelta, or seconds) plus ``timedelta(**parts)``."""
        seconds = span.total_seconds() if isinstance(span, timedelta) else span
        self._seconds += seconds + timedelta(**parts).total_seconds()
        return self.moment

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self._seconds += seconds
