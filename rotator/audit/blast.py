"""Blast radius: how much a too-broad token could destroy or change.

Six resource families matter most when a token leaks: Droplets, Kubernetes
clusters, managed databases, apps, volumes and domains. Their counts come,
in order of cost, from the read probe's own answer (``meta.total`` of a
``per_page=1`` list, or the whole list where the API does not paginate:
free), from one ``per_page=1`` call, or from walking every page.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rotator.digitalocean.client import DigitalOceanClient
from rotator.errors import DigitalOceanError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Family:
    """A resource family counted for the blast radius."""

    resource: str
    """The scope's resource part (``droplet`` for ``droplet:delete``)."""
    path: str
    key: str
    singular: str
    plural: str
    paginated: bool = True

    def noun(self, count: int) -> str:
        return f"{count} {self.singular if count == 1 else self.plural}"


FAMILIES: tuple[Family, ...] = (
    Family("droplet", "/v2/droplets", "droplets", "Droplet", "Droplets"),
    Family(
        "kubernetes",
        "/v2/kubernetes/clusters",
        "kubernetes_clusters",
        "Kubernetes cluster",
        "Kubernetes clusters",
    ),
    Family("database", "/v2/databases", "databases", "database", "databases", paginated=False),
    Family("app", "/v2/apps", "apps", "app", "apps"),
    Family("block_storage", "/v2/volumes", "volumes", "volume", "volumes"),
    Family("domain", "/v2/domains", "domains", "domain", "domains"),
)
BY_RESOURCE = {family.resource: family for family in FAMILIES}


@dataclass(frozen=True)
class BlastRadius:
    """What a token could touch: counts per family and one sentence for people."""

    counts: dict[str, int]
    """Items per family the token can read, keyed by the family's list key."""
    deletable: tuple[str, ...]
    """Families (list keys) whose ``:delete`` scope the token holds."""
    modifiable: tuple[str, ...]
    """Families whose ``:update`` scope it holds but not ``:delete``."""

    @property
    def sentence(self) -> str:
        """E.g. "can delete 14 Droplets and 3 databases; can modify 2 apps"."""
        parts = []
        for verb, keys in (("delete", self.deletable), ("modify", self.modifiable)):
            nouns = [
                family.noun(self.counts[family.key])
                for family in FAMILIES
                if family.key in keys and family.key in self.counts
            ]
            if nouns:
                parts.append(f"can {verb} {_join(nouns)}")
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": dict(self.counts),
            "deletable": list(self.deletable),
            "modifiable": list(self.modifiable),
            "sentence": self.sentence,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BlastRadius:
        """Read it back; raises KeyError/TypeError/ValueError if it is not one."""
        if not isinstance(data, Mapping) or not isinstance(data["counts"], Mapping):
            raise TypeError("a stored blast radius is a JSON object with counts")
        return cls(
            counts={str(k): int(v) for k, v in data["counts"].items()},
            deletable=tuple(str(k) for k in data["deletable"]),
            modifiable=tuple(str(k) for k in data["modifiable"]),
        )


def count_from_answer(family: Family, body: Mapping[str, Any]) -> int | None:
    """The family's item count from a list answer, when the answer alone tells it."""
    meta = body.get("meta")
    total = meta.get("total") if isinstance(meta, dict) else None
    if isinstance(total, int) and not isinstance(total, bool) and total >= 0:
        return total
    items = body.get(family.key)
    links = body.get("links")
    pages = links.get("pages") if isinstance(links, dict) else None
    more = isinstance(pages, dict) and bool(pages.get("next"))
    if isinstance(items, list) and not more:
        return len(items)
    return None


def count_family(client: DigitalOceanClient, family: Family) -> int | None:
    """Count a family's items: ``GET {path}?per_page=1``, paging on only without ``meta.total``.

    Needs the family's read scope (``droplet:read`` for ``/v2/droplets``,
    ``kubernetes:read``, ``database:read``, ``app:read``,
    ``block_storage:read``, ``domain:read``). None when DigitalOcean does not
    answer: a count is a nicety, never a reason to fail the audit.
    """
    try:
        params: dict[str, str | int] = {"per_page": 1} if family.paginated else {}
        counted = count_from_answer(family, client.get_json(family.path, params))
        if counted is not None:
            return counted
        return sum(1 for _ in client.paginate(family.path, family.key))
    except DigitalOceanError as exc:
        log.info("could not count %s for token %s: %s", family.plural, client.fingerprint, exc)
        return None


def measure(
    client: DigitalOceanClient, granted: frozenset[str], known: Mapping[str, int]
) -> BlastRadius | None:
    """The blast radius of a token holding *granted*; None when it can touch none of the six.

    Families are counted only when the token can read them and delete or
    modify them; *known* counts (from the read probes) are reused, so only a
    token-info audit pays for the list calls (:func:`count_family`: ``GET
    /v2/droplets``, ``/v2/kubernetes/clusters``, ``/v2/databases``,
    ``/v2/apps``, ``/v2/volumes``, ``/v2/domains``, each with its read scope),
    one per family at most.
    """
    counts: dict[str, int] = {}
    deletable: list[str] = []
    modifiable: list[str] = []
    for family in FAMILIES:
        can_delete = f"{family.resource}:delete" in granted
        can_modify = f"{family.resource}:update" in granted
        if f"{family.resource}:read" not in granted or not (can_delete or can_modify):
            continue
        count = known.get(family.key)
        if count is None:
            count = count_family(client, family)
        if count is None:
            continue
        counts[family.key] = count
        (deletable if can_delete else modifiable).append(family.key)
    if not counts:
        return None
    return BlastRadius(counts, tuple(deletable), tuple(modifiable))


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
