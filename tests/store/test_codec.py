"""One codec for times: aware UTC in, fixed-width text out, strict on the way back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from rotator.errors import StoreCorrupt
from rotator.store.codec import decode_time, encode_time


def test_times_are_written_as_fixed_width_utc_text():
    assert encode_time(datetime(2026, 1, 1, tzinfo=UTC)) == "2026-01-01T00:00:00.000000+00:00"
    later = datetime(2026, 1, 1, 2, 0, 0, 5, tzinfo=timezone(timedelta(hours=2)))
    assert encode_time(later) == "2026-01-01T00:00:00.000005+00:00"


def test_text_order_is_time_order():
    moments = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=n) for n in (0, 1, 10)]
    texts = [encode_time(m) for m in moments]
    assert sorted(texts) == texts


def test_a_naive_time_never_reaches_the_store():
    with pytest.raises(ValueError, match="naive"):
        encode_time(datetime(2026, 1, 1))


def test_reading_gives_aware_utc_even_from_older_text_forms():
    assert decode_time("2026-01-01T02:00:00+02:00", "t") == datetime(2026, 1, 1, tzinfo=UTC)
    assert decode_time("2026-01-01T00:00:00+00:00", "t").tzinfo == UTC


@pytest.mark.parametrize("bad", ["", "soon", "2026-13-01T00:00:00+00:00", "2026-01-01", 12, None])
def test_anything_else_is_store_corrupt_naming_the_column(bad):
    with pytest.raises(StoreCorrupt, match=r"the store's connections\.x holds .*, not a UTC time"):
        decode_time(bad, "connections.x")
