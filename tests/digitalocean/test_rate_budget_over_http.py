"""The rate budget against the sandbox over HTTP: shared threads, spent budgets, 429 storms.

Time is virtual (the sandbox and every client read one clock that moves only
when all workers sleep), so nothing here depends on the machine's speed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from rotator.digitalocean.admission import admit
from rotator.digitalocean.budget import RateBudget, RateWait, not_before
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.retry import RetryPolicy
from rotator.errors import RateLimited
from rotator.sandbox import Sandbox
from rotator.secret import Secret
from tests.digitalocean.virtual_time import VirtualTime, run_workers

START = 1_800_000_000.0  # 08:00 UTC
SCOPES = ["account:read", "spaces_key:read"]


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client() as shared:
        yield shared


def client_for(
    box: Sandbox,
    token: str,
    time: VirtualTime,
    budget: RateBudget,
    http: httpx.Client,
    rate_wait: RateWait | None = None,
    retry: RetryPolicy | None = None,
) -> DigitalOceanClient:
    return DigitalOceanClient(
        Secret(token),
        api_url=box.url,
        oauth_url=box.url,
        http=http,
        budget=budget,
        rate_wait=rate_wait,
        retry=retry or RetryPolicy(),
        sleep=time.sleep,
        clock=time.clock,
        rng=lambda: 1.0,
    )


def statuses(box: Sandbox) -> Counter[int]:
    return Counter(entry["status"] for entry in box.requests() if entry["path"].startswith("/v2"))


def test_many_threads_sharing_one_token_stay_within_the_minute_without_a_429(
    http: httpx.Client,
) -> None:
    time = VirtualTime(START, workers=8)
    with Sandbox(clock=time.clock, rate_per_minute=10, rate_per_hour=1000) as box:
        token = box.add_token(SCOPES)
        budget = RateBudget(requests_per_minute=10, requests_per_hour=1000)

        def worker() -> None:
            client = client_for(box, token, time, budget, http, RateWait(per_request=120.0))
            for _ in range(10):
                client.request("GET", "/v2/account")

        errors = run_workers(time, [worker] * 8)

        assert errors == []
        assert statuses(box) == Counter({200: 80})
        # 80 calls at 10 a minute: bursts at minutes 0..7, nothing left idle.
        assert START + 7 * 60 <= time.now < START + 8 * 60


def test_a_ten_call_job_is_not_admitted_with_four_left_and_the_refusal_names_when(
    http: httpx.Client,
) -> None:
    time = VirtualTime(START, workers=1)
    with Sandbox(clock=time.clock, rate_per_minute=60, rate_per_hour=200) as box:
        token = box.add_token(SCOPES)
        box.spend_rate_budget(token, 195, seconds_ago=600)  # 5 left, reset 50 min away
        client = client_for(box, token, time, RateBudget(60, 200), http, RateWait(30.0))

        admission = admit(client, 10)  # reads the hour first: 4 left after that

        assert not admission.granted
        assert admission.reservation is None
        assert admission.not_before >= START + 3000
        assert "resets at 08:5" in admission.message()
        assert client.stats.calls == 1
        assert time.sleeps == []


def test_a_job_that_fits_is_admitted_and_runs_without_waiting(http: httpx.Client) -> None:
    time = VirtualTime(START, workers=1)
    with Sandbox(clock=time.clock, rate_per_minute=60, rate_per_hour=200) as box:
        token = box.add_token(SCOPES)
        box.spend_rate_budget(token, 185, seconds_ago=600)  # 15 left, reset 50 min away
        budget = RateBudget(60, 200)
        client = client_for(box, token, time, budget, http, RateWait(30.0))

        admission = admit(client, 10)
        assert admission.granted and admission.reservation is not None
        with admission.reservation:
            for _ in range(10):
                client.request("GET", "/v2/account")

        assert statuses(box) == Counter({200: 11})
        assert time.sleeps == []
        assert budget.hour_left(client.fingerprint, time.now) == 4


def test_a_cli_command_against_a_spent_budget_stops_promptly_naming_the_reset(
    http: httpx.Client,
) -> None:
    time = VirtualTime(START, workers=1)
    with Sandbox(clock=time.clock, rate_per_minute=60, rate_per_hour=200) as box:
        token = box.add_token(SCOPES)
        box.spend_rate_budget(token, 196, seconds_ago=600)  # 4 left, reset 50 min away
        client = client_for(box, token, time, RateBudget(60, 200), http, RateWait(30.0))

        with pytest.raises(RateLimited) as caught:
            for _ in range(10):
                client.request("GET", "/v2/account")

        assert statuses(box) == Counter({200: 4})  # never sent a request it had no budget for
        assert sum(time.sleeps) <= 30.0
        assert str(caught.value).startswith(
            f"rate limit: budget for token {client.fingerprint} resets at 08:50 UTC"
        )
        assert not_before(caught.value, time.now) == START + 3000


def test_a_429_storm_is_retried_a_bounded_number_of_times_within_the_wait(
    http: httpx.Client,
) -> None:
    time = VirtualTime(START, workers=1)
    with Sandbox(clock=time.clock) as box:
        token = box.add_token(SCOPES)
        box.add_fault(path="/v2/account", times=None, retry_after=2)
        client = client_for(box, token, time, RateBudget(), http, RateWait(30.0))

        with pytest.raises(RateLimited) as caught:
            client.request("GET", "/v2/account")

        assert statuses(box) == Counter({429: 4})
        assert time.sleeps == [2.0, 2.0, 2.0]
        assert caught.value.retry_after == 2.0


def test_a_429_asking_past_the_wait_is_given_up_at_once_naming_the_reset(
    http: httpx.Client,
) -> None:
    time = VirtualTime(START, workers=1)
    with Sandbox(clock=time.clock) as box:
        token = box.add_token(SCOPES)
        box.add_fault(path="/v2/account", times=None, retry_after=3000)
        client = client_for(box, token, time, RateBudget(), http, RateWait(30.0))

        with pytest.raises(RateLimited) as caught:
            client.request("GET", "/v2/account")

        assert statuses(box) == Counter({429: 1})
        assert time.sleeps == []
        assert str(caught.value).endswith("resets at 08:50 UTC")


def test_a_worker_that_may_never_wait_is_refused_with_the_time_to_come_back(
    http: httpx.Client,
) -> None:
    time = VirtualTime(START, workers=1)
    with Sandbox(clock=time.clock, rate_per_minute=3, rate_per_hour=1000) as box:
        token = box.add_token(SCOPES)
        client = client_for(box, token, time, RateBudget(3, 1000), http, RateWait.never())

        for _ in range(3):
            client.request("GET", "/v2/account")
        with pytest.raises(RateLimited) as caught:
            client.request("GET", "/v2/account")

        assert statuses(box) == Counter({200: 3})
        assert time.sleeps == []
        assert START + 60 <= not_before(caught.value, time.now) <= START + 61


def test_two_tokens_have_independent_budgets(http: httpx.Client) -> None:
    time = VirtualTime(START, workers=1)
    with Sandbox(clock=time.clock, rate_per_minute=60, rate_per_hour=200) as box:
        spent, fresh = box.add_token(SCOPES), box.add_token(SCOPES)
        box.spend_rate_budget(spent, 199, seconds_ago=600)
        budget = RateBudget(60, 200)
        spent_client = client_for(box, spent, time, budget, http, RateWait(30.0))
        fresh_client = client_for(box, fresh, time, budget, http, RateWait(30.0))

        assert not admit(spent_client, 5).granted
        assert admit(fresh_client, 5).granted
        assert budget.hour_left(spent_client.fingerprint, time.now) == 0
        assert budget.hour_left(fresh_client.fingerprint, time.now) == 194


def test_a_request_paced_for_a_whole_minute_still_gets_its_deadline_for_the_answer(
    http: httpx.Client,
) -> None:
    # The daemon's workers: pacing waits of up to a minute, one clock for the budget and
    # the request deadline. The 11th call waits a minute for a slot of the burst limit;
    # that wait used to count against its 60 s deadline, so it was sent and then given up
    # as "no complete answer within 60s", failing a rotation the budget had admitted.
    time = VirtualTime(START, workers=1)
    with Sandbox(clock=time.clock, rate_per_minute=10, rate_per_hour=1000) as box:
        token = box.add_token(SCOPES)
        client = DigitalOceanClient(
            Secret(token),
            api_url=box.url,
            oauth_url=box.url,
            http=http,
            budget=RateBudget(requests_per_minute=10, requests_per_hour=1000),
            rate_wait=RateWait(per_request=60.0),
            retry=RetryPolicy(deadline=60.0),
            sleep=time.sleep,
            clock=time.clock,
            monotonic=time.clock,
            rng=lambda: 1.0,
        )

        def worker() -> None:
            for _ in range(11):
                client.request("GET", "/v2/account")

        errors = run_workers(time, [worker])

        assert errors == []
        assert statuses(box) == Counter({200: 11})
        assert len(time.sleeps) == 1 and time.sleeps[0] > 0  # paced once, then answered
