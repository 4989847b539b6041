"""A Context owns the HTTP clients it makes: closing it, or a daemon reload, ends them.

On PostgreSQL its rate budget is also shared with the other replicas through the store."""

from __future__ import annotations

import time

from rotator.engine.daemon import Daemon
from rotator.store.budgets import Limits

ALERTS = """
[[alerts]]
type = "webhook"
url = "http://127.0.0.1:9/hook"
secret = "signing-secret"
"""


def open_clients(ctx):
    """Make the context build its DigitalOcean pool and its alert HTTP client; return both."""
    pool = ctx.clients()
    with ctx.open_store(writer=True) as store:
        assert ctx.alerting(store) is not None
    return pool._http, ctx._alert_http


def test_closing_a_context_closes_every_http_client_it_made(make_context):
    ctx = make_context(ALERTS)
    clients, alerts = open_clients(ctx)
    assert not clients.is_closed and not alerts.is_closed
    ctx.close()
    assert clients.is_closed and alerts.is_closed


def test_a_fresh_context_reads_the_config_again_and_makes_its_own_clients(make_context, tmp_path):
    ctx = make_context(ALERTS)
    clients, _ = open_clients(ctx)
    (tmp_path / "rotator.toml").write_text(ALERTS + '\n[daemon]\nvalidate_every = "2h"\n')
    fresh = ctx.fresh()
    assert fresh.settings.config.daemon.validate_every.total_seconds() == 7200
    assert fresh.now is ctx.now
    assert fresh.clients()._http is not clients
    fresh.close()
    assert not clients.is_closed  # the old context's clients are its own to close


def test_each_daemon_reload_closes_the_context_it_replaces(make_context):
    ctx = make_context(ALERTS)
    daemon = Daemon(ctx, once=True, environ={})
    daemon._use(ctx.fresh(ctx.settings, sleep=daemon.lifecycle.sleep, stats=daemon.stats))
    opened = []
    for _ in range(3):
        current = daemon.runtime.context
        opened.append(open_clients(current))
        daemon.lifecycle.reload.set()
        daemon._reload()
        assert daemon.runtime.context is not current
        assert daemon.runtime.context.stats is daemon.stats
    assert all(client.is_closed for pair in opened for client in pair)
    daemon.runtime.context.close()


def test_on_sqlite_the_process_budget_is_the_whole_truth(make_context):
    ctx = make_context()
    assert ctx.client_pool().budget.shared is None
    ctx.close()


def test_on_postgresql_an_admission_also_reserves_in_the_store(make_context, postgres_url):
    ctx = make_context(ROTATOR_DATABASE_URL=postgres_url)
    budget = ctx.client_pool().budget
    assert budget.shared is not None
    admission = budget.admit("fp:shared", 5, time.time())
    assert admission.granted and admission.reservation is not None
    limits = Limits(budget.requests_per_minute, budget.requests_per_hour)
    with ctx.open_store(writer=False) as store:
        row = store.budgets.get("fp:shared", limits)
        assert row is not None and row.minute_used == 5
        admission.reservation.release()  # none of the 5 was used: all go back
        row = store.budgets.get("fp:shared", limits)
        assert row is not None and row.minute_used == 0
    ctx.close()
    # Closing lets go of the connection; the next admission makes it again.
    assert budget.admit("fp:shared", 1, time.time()).granted
    budget.close()
