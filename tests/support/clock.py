"""The one fake clock every test moves by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when told to.

    Called, it answers an aware UTC ``datetime`` (rotator's ``now`` callables);
    :meth:`seconds` answers the same moment as epoch seconds (for code that
    takes a ``time.time``-like clock, such as the sandbox and the heartbeat).
    ``now`` and ``moment`` are the same settable attribute.
    """

    def __init__(self, start: datetime | float = START) -> None:
        if isinstance(start, int | float):
            start = datetime.fromtimestamp(start, UTC)
        self.moment = start

    def __call__(self) -> datetime:
        return self.moment

    @property
    def now(self) -> datetime:
        return self.moment

    @now.setter
    def now(self, moment: datetime) -> None:
        self.moment = moment

    def seconds(self) -> float:
        return self.moment.timestamp()

    def advance(self, span: timedelta | float = 0.0, **parts: float) -> datetime:
        """Move on by *span* (a timedelta, or seconds) plus ``timedelta(**parts)``."""
        if not isinstance(span, timedelta):
            span = timedelta(seconds=span)
        self.moment += span + timedelta(**parts)
        return self.moment
