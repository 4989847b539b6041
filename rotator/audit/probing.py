"""Which scopes does a token hold? Ask token info first, probe only when it will not say.

The call cost per token (retries not counted):

* **token info answers** (the usual case): 1 call, no probe.
* **probes**: 1 (token info) + 29 ``GET`` probes, one per readable resource,
  then the write probes of each resource whose read probe was held, plus the
  write probes of required scopes whatever their read said. The control
  panel never grants a write scope without its resource's read scope, so a
  resource the token cannot read has its write scopes marked absent without
  asking (``thorough=True`` asks anyway). A rotator-only token costs 34
  calls (37 with an App Platform sink, 3 more per extra writable resource);
  a read-only or full-access token 92, the most an audit ever sends. A
  revoked token costs 2.
* **blast radius**, only for a too-broad token: free after probes (the read
  probes' ``meta.total``), else one ``per_page=1`` list call for each of up
  to six families the token can both read and delete or modify.

Probing stops early, leaving the rest "unknown" (never "missing"), when the
token is refused (401: invalid), when a write probe succeeds (a defect:
something may have changed and nothing more is risked), when DigitalOcean
still answers 429 after the client's own waits, when 3 calls in a row fail
with 5xx or no answer, or when ``ratelimit-remaining`` drops under 10% of the
limit, which the operator's other tools need more than rotator does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import httpx

from rotator.audit.blast import BY_RESOURCE, count_from_answer
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.identifiers import api_path
from rotator.digitalocean.models import TokenInfo
from rotator.digitalocean.scopes import (
    ALIASES,
    CATALOGUE,
    Probe,
    Scope,
    expand_scopes,
    is_scope_name,
)
from rotator.errors import (
    APIError,
    DigitalOceanError,
    Forbidden,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
)

log = logging.getLogger(__name__)

Outcome = Literal["held", "absent", "unknown"]
Source = Literal["token_info", "probes"]

MAX_TRANSIENT_IN_A_ROW = 3
BUDGET_RESERVE = 0.10
"""Stop probing when less than this share of the hourly rate limit is left."""


@dataclass(frozen=True)
class Defect:
    """A write probe that DigitalOcean answered with success: it should be impossible."""

    scope: str
    method: str
    path: str
    status: int
    undone: str = ""
    """What rotator did about it: "deleted <id>", or why it could not."""

    def describe(self) -> str:
        text = (
            f"DigitalOcean answered {self.status} to the {self.scope} probe {self.method} "
            f"{self.path}, which must never succeed: probing stopped; check the account for "
            "anything it may have created or changed"
        )
        return f"{text} ({self.undone})" if self.undone else text


@dataclass
class Discovery:
    """What is known about one token's scopes, and how it was learned."""

    source: Source
    granted: set[str] = field(default_factory=set)
    absent: set[str] = field(default_factory=set)
    """Known not to be held: a 403, or a write scope of a resource the token cannot read."""
    unknown: set[str] = field(default_factory=set)
    ambiguous: set[str] = field(default_factory=set)
    """Unknown only because another held scope opens the same probe endpoint."""
    not_probed: set[str] = field(default_factory=set)
    """No safe probe exists; only token info could tell."""
    token_info: TokenInfo | None = None
    invalid: bool = False
    defect: Defect | None = None
    stopped: str | None = None
    """Why probing ended early, if it did."""
    counts: dict[str, int] = field(default_factory=dict)
    """Blast-radius counts the read probes' answers gave for free."""
    notes: list[str] = field(default_factory=list)
    probe_calls: int = 0


def discover(
    client: DigitalOceanClient, required: frozenset[str], *, thorough: bool = False
) -> Discovery:
    """The token's scopes from token info, else from probes.

    Token info is ``GET {oauth_url}/v1/oauth/token/info`` (any valid token);
    each probe's endpoint and scope are in :data:`rotator.digitalocean.scopes.CATALOGUE`.
    """
    info = client.token_info()
    if info is not None and all(is_scope_name(scope) for scope in info.scopes):
        held = expand_scopes(info.scopes)
        discovery = Discovery("token_info", granted=set(held), token_info=info)
        unfamiliar = sorted(s for s in info.scopes if s not in CATALOGUE and s not in ALIASES)
        if unfamiliar:
            discovery.notes.append(
                "token info lists scopes rotator does not know: " + ", ".join(unfamiliar)
            )
        return discovery
    discovery = Discovery("probes")
    if info is not None:
        discovery.notes.append("token info answered with malformed scope names; probed instead")
    _Prober(client, discovery, required, thorough).run()
    return discovery


class _Prober:
    """One probing run over the catalogue, reads first."""

    def __init__(
        self,
        client: DigitalOceanClient,
        discovery: Discovery,
        required: frozenset[str],
        thorough: bool,
    ) -> None:
        self.client = client
        self.discovery = discovery
        self.required = required
        self.thorough = thorough
        self.raw: dict[str, Outcome] = {}
        self.transient_in_a_row = 0
        self.budget: tuple[int, int, int] | None = None
        """The last ``ratelimit-limit``, ``ratelimit-remaining`` and the call count then."""

    def run(self) -> None:
        scopes = list(CATALOGUE.values())
        self.discovery.not_probed = {s.name for s in scopes if s.probe is None}
        reads = [s for s in scopes if s.probe is not None and not s.probe.writes]
        writes = [s for s in scopes if s.probe is not None and s.probe.writes]
        for scope in reads:
            self._visit(scope)
        for scope in writes:
            self._visit(scope)
        self._settle_ambiguity()

    def _visit(self, scope: Scope) -> None:
        assert scope.probe is not None
        if self.discovery.stopped is not None or self._budget_low():
            self.raw[scope.name] = "unknown"
            return
        if scope.probe.writes and not self.thorough and scope.name not in self.required:
            gate = self.raw.get(f"{scope.resource}:read")
            if gate == "absent":
                self.raw[scope.name] = "absent"  # the control panel's read-before-write rule
                return
            if gate == "unknown":
                self.raw[scope.name] = "unknown"
                return
        self.raw[scope.name] = self._probe(scope, scope.probe)

    def _probe(self, scope: Scope, probe: Probe) -> Outcome:
        """Send ``{probe.method} {probe.path}`` (it needs *scope*) and read the answer.

        403 is absent, a status in ``probe.held`` is held, 401 marks the
        token invalid, a 2xx to a write is a defect; the rest is unknown.
        """
        self.discovery.probe_calls += 1
        try:
            response = self.client.request(probe.method, probe.path, params=probe.params or None)
        except Unauthorized:
            self.discovery.invalid = True
            self._stop("DigitalOcean refused the token (401)")
            return "unknown"
        except Forbidden:
            self.transient_in_a_row = 0
            return "absent"
        except RateLimited:
            self._stop("rate limited by DigitalOcean (429) after waiting as told")
            return "unknown"
        except (ServerError, TransportError) as exc:
            self.transient_in_a_row += 1
            log.info("probe for %s inconclusive: %s", scope.name, exc)
            if self.transient_in_a_row >= MAX_TRANSIENT_IN_A_ROW:
                self._stop(f"{MAX_TRANSIENT_IN_A_ROW} probes in a row got no usable answer")
            return "unknown"
        except APIError as exc:
            self.transient_in_a_row = 0
            return "held" if exc.status in probe.held else "unknown"
        except DigitalOceanError as exc:
            log.info("probe for %s inconclusive: %s", scope.name, exc)
            return "unknown"
        self.transient_in_a_row = 0
        if probe.writes:
            # Never read or keep the body: a misfired create may hold a secret.
            self.discovery.defect = Defect(
                scope.name,
                probe.method,
                probe.path,
                response.status_code,
                self._undo(probe, response),
            )
            self._stop("a write probe succeeded")
            return "held"
        self._observe(scope, response)
        return "held" if response.status_code in probe.held else "unknown"

    def _undo(self, probe: Probe, response: httpx.Response) -> str:
        """Delete what a misfired create made; only its id is read, never kept otherwise."""
        if probe.undo is None:
            return "nothing rotator knows how to undo" if probe.method == "POST" else ""
        try:
            item = response.json().get(probe.undo.item_key)
            ident = item.get(probe.undo.id_field) if isinstance(item, dict) else None
        except (ValueError, AttributeError):
            ident = None
        if not isinstance(ident, str) or not ident:
            return "its answer named nothing rotator could delete"
        path = api_path(probe.undo.delete_path, ident)
        try:
            self.client.request("DELETE", path)
        except DigitalOceanError as exc:
            log.warning("could not undo the misfired %s probe: %s", probe.path, exc)
            return f"deleting {ident} failed: {exc}"
        log.warning("deleted %s, made by a misfired %s probe", ident, probe.path)
        return f"deleted {ident}"

    def _observe(self, scope: Scope, response: httpx.Response) -> None:
        """Keep a free blast-radius count and the token's rate-limit report."""
        family = BY_RESOURCE.get(scope.resource)
        if family is not None and scope.is_read:
            try:
                body = response.json()
            except ValueError:
                body = None
            if isinstance(body, dict):
                counted = count_from_answer(family, body)
                if counted is not None:
                    self.discovery.counts[family.key] = counted
        try:
            limit = int(response.headers["ratelimit-limit"])
            remaining = int(response.headers["ratelimit-remaining"])
        except (KeyError, ValueError):
            return
        self.budget = (limit, remaining, self.client.stats.snapshot().calls)

    def _budget_low(self) -> bool:
        """Whether the token's hourly budget is down to the share kept for other tools.

        Only 2xx answers reach rotator with their headers, so the last report
        is counted down by every call sent since (retries included).
        """
        if self.budget is None:
            return False
        limit, remaining, calls_then = self.budget
        left = remaining - (self.client.stats.snapshot().calls - calls_then)
        if limit <= 0 or left >= limit * BUDGET_RESERVE:
            return False
        self._stop(
            f"about {max(left, 0)} of {limit} calls left in the token's hourly rate limit; "
            "kept for the operator's other tools"
        )
        return True

    def _stop(self, why: str) -> None:
        if self.discovery.stopped is None:
            self.discovery.stopped = why
            log.warning("probing token %s stopped: %s", self.client.fingerprint, why)

    def _settle_ambiguity(self) -> None:
        """Sort raw outcomes; "held" through an endpoint another held scope opens is unknown."""
        discovery = self.discovery
        for name, outcome in self.raw.items():
            probe = CATALOGUE[name].probe
            assert probe is not None
            others = [self.raw.get(other, "unknown") for other in probe.also_unlocked_by]
            if outcome == "held" and any(other != "absent" for other in others):
                discovery.unknown.add(name)
                discovery.ambiguous.add(name)
            elif outcome == "held":
                discovery.granted.add(name)
            elif outcome == "absent":
                discovery.absent.add(name)
            else:
                discovery.unknown.add(name)
        if discovery.stopped is not None:
            discovery.notes.append(f"probing stopped early: {discovery.stopped}")
        if discovery.ambiguous:
            discovery.notes.append(
                "cannot tell by probing whether the token holds "
                + ", ".join(sorted(discovery.ambiguous))
                + " (another held scope opens the same endpoint)"
            )
