"""The scope audit: what each token can do, against what it needs.

:mod:`.probing` learns a token's scopes (token info, else safe probes);
:mod:`.verdict` compares them with the required ones; :mod:`.blast` counts
what a too-broad token could touch; :mod:`.report` is the result and its JSON;
:mod:`.service` runs an audit for a stored connection and caches the report.
The scope catalogue itself lives in :mod:`rotator.digitalocean.scopes`.
"""

from rotator.audit.blast import BlastRadius
from rotator.audit.probing import Defect, Discovery, discover
from rotator.audit.report import ScopeReport
from rotator.audit.service import TokenPolicy, audit, audit_token, token_warnings
from rotator.audit.verdict import Judgement, judge

__all__ = [
    "BlastRadius",
    "Defect",
    "Discovery",
    "Judgement",
    "ScopeReport",
    "TokenPolicy",
    "audit",
    "audit_token",
    "discover",
    "judge",
    "token_warnings",
]
