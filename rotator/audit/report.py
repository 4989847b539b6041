"""The scope report: what ``connection audit`` prints and the store keeps.

It holds scope names, counts, times and the token's fingerprint and hash;
never the token or anything a probe's answer contained.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rotator.audit.blast import BlastRadius
from rotator.audit.probing import Defect

REPORT_FORMAT = 1
"""Bumped when the stored JSON changes shape; an older stored report is re-audited."""


@dataclass(frozen=True)
class ScopeReport:
    """One connection's scope audit."""

    name: str
    token_hash: str
    audited_at: datetime
    source: str
    """``token_info`` or ``probes``."""
    verdict: str
    reason: str
    required: tuple[str, ...]
    granted: tuple[str, ...]
    """Held scopes, aliases expanded (``api:read`` lists every read scope too)."""
    missing: tuple[str, ...]
    excess: tuple[str, ...]
    unknown: tuple[str, ...]
    not_probed: tuple[str, ...]
    full_access: bool
    token_scopes: tuple[str, ...] | None
    """The scopes exactly as token info gave them, when it did."""
    blast_radius: BlastRadius | None
    defect: Defect | None
    notes: tuple[str, ...]
    """What the audit itself noticed (kept with the report)."""
    warnings: tuple[str, ...]
    """The notes plus age and expiry warnings, worked out when the report is shown."""
    probe_calls: int
    api_calls: int
    expires_at: datetime | None
    token_created_at: datetime | None
    cached: bool = False

    @property
    def fingerprint(self) -> str:
        return self.token_hash[:12]

    def to_json(self) -> dict[str, Any]:
        """The report as one JSON object (INTERFACE.md's fields first)."""
        return {
            "name": self.name,
            "verdict": self.verdict,
            "reason": self.reason,
            "granted": list(self.granted),
            "required": list(self.required),
            "missing": list(self.missing),
            "excess": list(self.excess),
            "full_access": self.full_access,
            "unknown": list(self.unknown),
            "not_probed": list(self.not_probed),
            "blast_radius": self.blast_radius.to_json() if self.blast_radius else None,
            "warnings": list(self.warnings),
            "defect": _defect_json(self.defect),
            "audited_at": self.audited_at.isoformat(),
            "cached": self.cached,
            "source": self.source,
            "probe_calls": self.probe_calls,
            "api_calls": self.api_calls,
            "token_scopes": list(self.token_scopes) if self.token_scopes is not None else None,
            "token_fingerprint": self.fingerprint,
            "token_hash": self.token_hash,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "token_created_at": (
                self.token_created_at.isoformat() if self.token_created_at else None
            ),
            "notes": list(self.notes),
            "format": REPORT_FORMAT,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ScopeReport:
        """Read a stored report back; raises KeyError/TypeError/ValueError if it is not one."""
        if not isinstance(data, Mapping):
            raise TypeError("a stored scope report is a JSON object")
        if data.get("format") != REPORT_FORMAT:
            raise ValueError(f"scope report format {data.get('format')!r} is not {REPORT_FORMAT}")
        blast = data["blast_radius"]
        defect = data["defect"]
        scopes = data["token_scopes"]
        return cls(
            name=str(data["name"]),
            token_hash=str(data["token_hash"]),
            audited_at=datetime.fromisoformat(data["audited_at"]),
            source=str(data["source"]),
            verdict=str(data["verdict"]),
            reason=str(data["reason"]),
            required=_names(data["required"]),
            granted=_names(data["granted"]),
            missing=_names(data["missing"]),
            excess=_names(data["excess"]),
            unknown=_names(data["unknown"]),
            not_probed=_names(data["not_probed"]),
            full_access=bool(data["full_access"]),
            token_scopes=_names(scopes) if scopes is not None else None,
            blast_radius=BlastRadius.from_json(blast) if blast is not None else None,
            defect=Defect(**defect) if defect is not None else None,
            notes=_names(data["notes"]),
            warnings=_names(data["warnings"]),
            probe_calls=int(data["probe_calls"]),
            api_calls=int(data["api_calls"]),
            expires_at=_moment(data["expires_at"]),
            token_created_at=_moment(data["token_created_at"]),
        )


def _defect_json(defect: Defect | None) -> dict[str, Any] | None:
    if defect is None:
        return None
    return {
        "scope": defect.scope,
        "method": defect.method,
        "path": defect.path,
        "status": defect.status,
        "undone": defect.undone,
    }


def _names(values: Any) -> tuple[str, ...]:
    if not isinstance(values, list):
        raise TypeError("expected a list of names")
    return tuple(str(value) for value in values)


def _moment(text: Any) -> datetime | None:
    return None if text is None else datetime.fromisoformat(str(text))
