"""Whether new credentials work where they are used, outside the API.

**Registry credentials** (:func:`registry_logs_in`): the login ``docker
login`` performs, from the Docker Registry HTTP API V2 (OCI distribution
spec, "API version check" and token authentication):

1. ``GET {registry_url}/v2/`` without credentials answers 401 with a
   ``WWW-Authenticate`` challenge;
2. for a ``Basic`` challenge, the same request with the credentials answers
   200 when they work; for a ``Bearer`` challenge, ``GET {realm}?service=…``
   with the credentials (HTTP Basic) answers 200 and a ``token`` (or
   ``access_token``) when they work.

401 or 403 at step 2 means they do not work. The credentials go only to the
registry's own origin or the API's (the realm a challenge names must be one
of them and, outside loopback, HTTPS): a hostile answer cannot send the new
password anywhere else.

**Functions namespace keys** (:func:`functions_key_works`): Functions runs
on Apache OpenWhisk, whose REST API takes a namespace key as HTTP Basic
(``key_id:secret``) on the namespace's API host (``api_host`` of ``GET
/v2/functions/namespaces/{id}``): ``GET {api_host}/api/v1/namespaces/_/actions
?limit=1`` (``_``: the key's own namespace) answers 200 when the key works,
401 or 403 when it does not. The key goes only to an HTTPS host under
``doserverless.co`` (DigitalOcean's Functions hosts) or to the API's own
origin (a sandbox).

Nothing here quotes a credential.
"""

from __future__ import annotations

import base64
import re

import httpx

from rotator.digitalocean.client import DigitalOceanClient
from rotator.errors import DigitalOceanError
from rotator.logs import one_line
from rotator.secret import Secret

_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"([^"\\]*)"|([^",\s]+))\s*(?:,|$)')
_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s+(.*))?", re.DOTALL)
_NEXT = re.compile(r",\s*(?=[A-Za-z][A-Za-z0-9_-]*\s+[A-Za-z][A-Za-z0-9_-]*\s*=)")
"""Where one challenge ends and the next begins in one header (``…", Basic realm=…``)."""
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
_FUNCTIONS = "doserverless.co"


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """The first challenge of a ``WWW-Authenticate`` value: scheme (lower case), parameters.

    ``Bearer realm="…",service="…"`` → ``("bearer", {"realm": …, "service": …})``;
    quoted and bare parameter values alike (RFC 7235); anything after the
    first challenge is ignored.
    """
    first = _NEXT.split(header, maxsplit=1)[0]
    match = _SCHEME.fullmatch(first)
    if match is None:
        return "", {}
    params: dict[str, str] = {}
    for name, quoted, bare in _PARAM.findall(match.group(2) or ""):
        params.setdefault(name.lower(), quoted or bare)
    return match.group(1).lower(), params


def _url(text: str) -> httpx.URL | None:
    """*text* as a URL to send credentials to: None when it is not one, or carries its own.

    A ``user:password@`` part would replace the credentials being checked.
    """
    try:
        url = httpx.URL(text)
        usable = not url.userinfo and bool(url.host)  # .host decodes IDNA: it may raise
    except (httpx.InvalidURL, ValueError):  # an IDNA error is a ValueError
        return None
    return url if usable else None


def _challenges(ping: httpx.Response) -> tuple[str, dict[str, str]]:
    """The first Bearer or Basic challenge among the answer's ``WWW-Authenticate`` headers."""
    for value in ping.headers.get_list("www-authenticate"):
        scheme, params = parse_challenge(value)
        if scheme in ("bearer", "basic"):
            return scheme, params
    return "", {}


def basic_auth(username: Secret | str, password: Secret) -> dict[str, str]:
    """The ``Authorization`` header of HTTP Basic for *username* and *password*."""
    user = username.reveal() if isinstance(username, Secret) else username
    pair = base64.b64encode(f"{user}:{password.reveal()}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def functions_key_works(
    client: DigitalOceanClient, api_host: str, key_id: str, secret: Secret
) -> bool:
    """Whether the namespace key *key_id* with *secret* authenticates on *api_host* now.

    Raises DigitalOceanError for an untrusted host or an answer that says
    neither yes nor no, TransportError when the host cannot be reached.
    """
    host = _url(api_host)
    functions = host is not None and host.scheme == "https" and _under(host.host, _FUNCTIONS)
    if host is None or not (
        functions or (host.scheme, host.host, host.port) == client.api_origin()
    ):
        raise DigitalOceanError(
            "the namespace's api_host is not a DigitalOcean Functions host over HTTPS; "
            "the key is not sent there"
        )
    url = str(host.copy_with(path="/api/v1/namespaces/_/actions", query=None))
    answer = client.fetch_once(url, basic_auth(key_id, secret), params={"limit": "1"})
    if answer.status_code in (401, 403):
        return False
    if answer.status_code != 200:
        raise DigitalOceanError(f"the namespace's API host answered {answer.status_code}")
    return True


def _under(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def registry_logs_in(client: DigitalOceanClient, username: Secret, password: Secret) -> bool:
    """Whether *username* and *password* log in to ``client.registry_url`` now.

    Raises DigitalOceanError when the registry's answers say neither yes nor
    no (no challenge, a realm elsewhere, a 5xx) and TransportError when it
    cannot be reached: the caller retries later.
    """
    base = client.registry_url
    ping = client.fetch_once(f"{base}/v2/", {})
    if ping.status_code != 401:
        raise DigitalOceanError(
            f"the registry answered GET /v2/ without credentials with {ping.status_code}, "
            "not a 401 challenge; cannot prove the credentials"
        )
    scheme, params = _challenges(ping)
    headers = basic_auth(username, password)
    if scheme == "basic":
        answer = client.fetch_once(f"{base}/v2/", headers)
    elif scheme == "bearer" and params.get("realm"):
        realm = _trusted_realm(client, params["realm"])
        query = {"service": params["service"]} if params.get("service") else None
        answer = client.fetch_once(realm, headers, params=query)
    else:
        raise DigitalOceanError(
            f"the registry's challenge is neither Basic nor Bearer with a realm ({scheme or '-'})"
        )
    if answer.status_code in (401, 403):
        return False
    if answer.status_code != 200:
        raise DigitalOceanError(f"the registry's login answered {answer.status_code}")
    if scheme == "bearer" and not _has_token(answer):
        raise DigitalOceanError("the registry's login answered 200 without a token")
    return True


def _trusted_realm(client: DigitalOceanClient, realm: str) -> str:
    """*realm* if it is on the registry's or the API's origin; DigitalOceanError otherwise."""
    url = _url(realm)
    registry = httpx.URL(client.registry_url)
    trusted = {(registry.scheme, registry.host, registry.port), client.api_origin()}
    if url is None or (url.scheme, url.host, url.port) not in trusted:
        shown = one_line(f"{url.scheme}://{url.host}") if url is not None else "not a URL"
        raise DigitalOceanError(
            f"the registry's challenge names a realm on another host ({shown}); "
            "the credentials are not sent there"
        )
    if url.scheme != "https" and url.host not in _LOOPBACK:
        raise DigitalOceanError("the registry's challenge names a realm without HTTPS")
    return str(url)


def _has_token(answer: httpx.Response) -> bool:
    try:
        body = answer.json()
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    token = body.get("token") or body.get("access_token")
    return isinstance(token, str) and bool(token)
