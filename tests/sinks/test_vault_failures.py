"""The Vault sink when things go wrong: one clear SinkError each, never a secret in it."""

from __future__ import annotations

import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from rotator.errors import SinkError
from rotator.sandbox.ports import free_port
from rotator.secret import Secret
from rotator.sinks import KeyPair, SinkDeps
from rotator.sinks.vault import VaultSink, VaultSinkConfig
from rotator.sinks.vault_client import SecretVersion, TokenLogin, VaultClient
from tests.sinks.vault_support import new_pair

READ_ONLY_RULES = """
path "secret/data/{path}" {{ capabilities = ["read"] }}
path "secret/metadata/{path}" {{ capabilities = ["read"] }}
"""


def test_a_sealed_vault_is_a_clear_failure(fresh_vault, pair, context):
    config = VaultSinkConfig(
        type="vault", url=fresh_vault.url, path="sealed/spaces", token=fresh_vault.root_token
    )
    sink = config.build(SinkDeps())
    try:
        sink.push(pair, context)  # works while unsealed
        fresh_vault.seal()
        where = f"Vault at 127.0.0.1:{fresh_vault.port} is sealed"

        with pytest.raises(SinkError, match=where) as pushed:
            sink.push(new_pair(), context)
        with pytest.raises(SinkError, match=where):
            sink.check()
        with pytest.raises(SinkError, match=where):
            sink.describe_push("DO00NEW", context)
        assert sink.holds() is None
    finally:
        sink.close()
    assert str(pushed.value).startswith(f"sink {sink.label}: ")
    _assert_one_clean_line(pushed.value, fresh_vault.root_token)


def test_an_unreachable_vault_is_a_clear_failure(make_sink, pair, context):
    port = free_port()
    sink = make_sink(url=f"http://127.0.0.1:{port}")

    with pytest.raises(SinkError, match=f"cannot reach Vault at 127.0.0.1:{port}") as pushed:
        sink.push(pair, context)
    with pytest.raises(SinkError, match=f"cannot reach Vault at 127.0.0.1:{port}"):
        sink.check()
    assert sink.holds() is None
    _assert_one_clean_line(pushed.value, pair.secret_key.reveal())


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_a_vault_that_never_answers_times_out(make_sink, silent_server, pair, context):
    sink = make_sink(url=f"http://127.0.0.1:{silent_server}", timeout=0.3)

    with pytest.raises(SinkError, match=rf"127.0.0.1:{silent_server} did not answer within 0.3s"):
        sink.push(pair, context)


@pytest.fixture
def redirecting_server() -> Iterator[int]:
    """A port whose server answers every request with a redirect to another host."""

    class Redirect(BaseHTTPRequestHandler):
        def _redirect(self) -> None:
            self.send_response(307)
            self.send_header("Location", "http://vault-active.example:8200" + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = _redirect

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def test_a_redirect_is_not_followed_and_names_where_it_pointed(
    make_sink, redirecting_server, pair, context
):
    # Following it would hand the token to a host nobody configured.
    sink = make_sink(url=f"http://127.0.0.1:{redirecting_server}")

    with pytest.raises(SinkError, match=r"redirected .* to vault-active\.example:8200") as pushed:
        sink.push(pair, context)
    with pytest.raises(SinkError, match="does not follow redirects"):
        sink.check()
    _assert_one_clean_line(pushed.value, pair.secret_key.reveal())


def test_a_token_without_write_permission_is_refused_and_nothing_is_written(
    vault, make_sink, kv_path, pair, context
):
    vault.write("secret", kv_path, {"access_key": "OLD", "secret_key": "old"})
    token = vault.token_with_policy(
        "read-only-" + kv_path.split("/")[1], READ_ONLY_RULES.format(path=kv_path)
    )
    sink = make_sink(token=token)

    with pytest.raises(SinkError) as pushed:
        sink.push(pair, context)
    with pytest.raises(SinkError) as checked:
        sink.check()

    assert f"Vault at 127.0.0.1:{vault.port} denied writing secret/data/{kv_path}" in str(
        pushed.value
    )
    assert "403 permission denied" in str(pushed.value)
    assert f"lacks create, update on secret/data/{kv_path}; update on secret/metadata/" in str(
        checked.value
    )
    assert vault.read("secret", kv_path)["data"]["access_key"] == "OLD"
    assert sink.holds() == "OLD"  # reading is allowed
    _assert_one_clean_line(pushed.value, token, pair.secret_key.reveal())


def test_a_wrong_token_is_named_as_such(vault, make_sink, pair, context):
    wrong = "s.notarealtoken0123456789"
    sink = make_sink(token=wrong)

    with pytest.raises(SinkError, match=r"rejected the token \(invalid, expired or revoked\)") as e:
        sink.push(pair, context)
    with pytest.raises(SinkError, match="rejected the token"):
        sink.check()
    assert f"127.0.0.1:{vault.port}" in str(e.value)
    _assert_one_clean_line(e.value, wrong)


class InterleavedClient(VaultClient):
    """The real client, with a real concurrent write right after the sink reads the data."""

    def __init__(self, *args, on_read, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._on_read = on_read

    def read_version(
        self, mount: str, path: str, version: int | None = None
    ) -> SecretVersion | None:
        answer = super().read_version(mount, path, version)
        on_read, self._on_read = self._on_read, None
        if on_read is not None:
            on_read()
        return answer


def test_a_write_between_read_and_write_is_a_cas_conflict(vault, kv_path, pair, context, caplog):
    vault.write("secret", kv_path, {"access_key": "OLD", "secret_key": "old"})
    client = InterleavedClient(
        "racer",
        vault.url,
        TokenLogin(Secret(vault.root_token)),
        on_read=lambda: vault.write("secret", kv_path, {"access_key": "THEIRS", "secret_key": "x"}),
    )
    sink = VaultSink("racer", client, mount="secret", path=kv_path)
    try:
        with pytest.raises(SinkError) as conflict:
            sink.push(pair, context)
    finally:
        sink.close()

    message = str(conflict.value)
    assert "check-and-set conflict on secret/" in message
    assert "rotator read version 1 but someone wrote version 2 meanwhile" in message
    assert vault.read("secret", kv_path)["data"]["access_key"] == "THEIRS"
    assert vault.metadata("secret", kv_path)["current_version"] == 2
    _assert_one_clean_line(conflict.value, pair.secret_key.reveal(), vault.root_token)


def test_a_canary_secret_never_reaches_logs_errors_or_descriptions(
    vault, make_sink, kv_path, context, caplog
):
    canary = KeyPair("DO00CANARY", Secret("canary-" + "7" * 40))
    caplog.set_level(logging.DEBUG)  # httpx, httpcore and rotator at their chattiest
    sink = make_sink()
    texts = [repr(sink), repr(canary), *sink.describe_push(canary.access_key, context)]

    confirmation = sink.push(canary, context)
    texts += [repr(confirmation), *sink.describe_push(canary.access_key, context)]
    # A failure carrying the canary in its request: the path now belongs to someone else.
    vault.mark("secret", kv_path, {"managed-by": "terraform"})
    with pytest.raises(SinkError) as refused:
        sink.push(KeyPair("DO00CANARY2", canary.secret_key), context)
    texts.append(str(refused.value))
    # And one that Vault refuses outright: a wrong token.
    with pytest.raises(SinkError) as forbidden:
        make_sink(token="s.wrong-token").push(canary, context)
    texts.append(str(forbidden.value))

    texts += [record.getMessage() for record in caplog.records]
    assert any("DO00CANARY" in text for text in texts)  # the sweep saw real output
    for text in texts:
        assert canary.secret_key.reveal() not in text
        assert vault.root_token not in text


TOKEN = "s." + "x" * 24
REQUEST = httpx.Request("POST", "http://127.0.0.1/v1/secret/data/x")


def _tls_error() -> httpx.ConnectError:
    try:
        try:
            raise ssl.SSLCertVerificationError("certificate verify failed")
        except ssl.SSLError as cause:
            raise httpx.ConnectError("tls", request=REQUEST) from cause
    except httpx.ConnectError as error:
        return error


@pytest.mark.parametrize(
    "error",
    [
        _tls_error(),
        httpx.ConnectTimeout("slow", request=REQUEST),
        httpx.ReadTimeout("slow", request=REQUEST),
        httpx.WriteTimeout("slow", request=REQUEST),
        httpx.PoolTimeout("slow", request=REQUEST),
        httpx.ConnectError("refused", request=REQUEST),
        httpx.ReadError("cut", request=REQUEST),
        httpx.WriteError("cut", request=REQUEST),
        httpx.RemoteProtocolError("garbled", request=REQUEST),
        httpx.LocalProtocolError("bad", request=REQUEST),
        httpx.ProxyError("proxy", request=REQUEST),
        httpx.UnsupportedProtocol("gopher", request=REQUEST),
        httpx.DecodingError("zip bomb", request=REQUEST),
        httpx.TooManyRedirects("loop", request=REQUEST),
    ],
    ids=lambda error: type(error).__name__,
)
def test_every_httpx_error_becomes_one_clean_line(error):
    # Every exception httpx can raise has a translation that names the server.
    port = free_port()
    client = VaultClient("probe", f"http://127.0.0.1:{port}", TokenLogin(Secret(TOKEN)))
    try:
        message = client.describe_transport(error, "writing secret/data/x")
    finally:
        client.close()

    assert f"127.0.0.1:{port}" in message
    assert TOKEN not in message
    assert "\n" not in message


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 412, 429, 500, 501, 502, 503])
def test_every_vault_error_status_becomes_one_clean_line(status):
    # Vault's own error text is scrubbed of the token before it is quoted.
    port = free_port()  # so the status lookups some translations make fail fast
    client = VaultClient("probe", f"http://127.0.0.1:{port}", TokenLogin(Secret(TOKEN)))
    try:
        message = client.describe_status(
            status, [f"boom with {TOKEN}", f"refused\n{TOKEN}"], "writing secret/data/x"
        )
    finally:
        client.close()

    assert f"127.0.0.1:{port}" in message
    assert TOKEN not in message
    assert "\n" not in message


def _assert_one_clean_line(error: BaseException, *secrets: str) -> None:
    text = str(error)
    assert "\n" not in text
    for secret in secrets:
        assert secret not in text
