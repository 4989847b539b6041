"""A Context owns the HTTP clients it makes: closing it, or a daemon reload, ends them."""

from __future__ import annotations

from rotator.engine.daemon import Daemon

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
