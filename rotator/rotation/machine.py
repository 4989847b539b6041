"""The rotation state machine, the same for every credential kind.

Each step is written to the store *before* the side effect it leads to, so a
process killed at any instant resumes correctly on the next ``rotate`` or
``run``::

    planned ──create──▶ created ──▶ pushing ──every sink confirmed──▶ succeeded
       ▲                               │                                  │
       └─ a key made but not recorded  └─ a sink failed: stays pushing,   └─ previous key
          is found by its planned name    both keys alive, retried later     revoked after
          and deleted before retrying                                        the grace period

The kind (:mod:`rotator.credentials`) makes, finds and revokes credentials;
this module decides when. "Key" below means any kind's credential.

    pushing ──a sink answered Pending (deferred push)──▶ waiting_for_deployment
    waiting_for_deployment ──every waiting sink confirmed──▶ succeeded

A deferred rotation (the daemon's: ``defer=True``) does not wait for a slow
sink: the sink says "accepted, confirm later" (:class:`~rotator.sinks.base.Pending`,
e.g. a deployment id), the rotation records ``waiting_for_deployment`` with
that detail in the sink's record and returns; a later :meth:`PolicyRotation.rotate`
asks the sink to :meth:`~rotator.sinks.base.Sink.confirm` it. A sink that
had to wait before writing anything (``Pending.before_push``: an App Platform
deployment already running) is pushed again instead, with that wait's detail
as ``PushContext.waited``. Without ``defer`` (the CLI) a waiting sink is
followed to the end.

Guarantees: every sink always holds a key that exists (a key is deleted only
after every sink confirmed its successor); no key rotator creates goes
unrecorded (it is named ``rotator-<policy>-<rotation id>`` and cleaned up by
that name); a secret is sealed into the store the moment it exists; one
rotation per policy at a time (a per-policy lock across processes, and a
unique index in the store); a failure leaves the old key working.

Several replicas: the daemon hands in the policy's lease (a ``fence``).
Every state write is then fenced (refused with :class:`LeaseLost` once
another replica holds a newer token), and the lease is checked before every
side effect (deleting an orphan, creating a key, pushing to a sink, deleting
the previous key). A lost lease ends the rotation at once, writing nothing
and alerting nothing: the replica that took the lease over resumes it from
the store.

Why one module of this size: every state, its write and the side effect it
guards must be read together to check the crash and fencing invariants; split,
the order of write-before-effect would hide across files.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from rotator import logs
from rotator.credentials import Credential, CredentialKind
from rotator.digitalocean.client import DigitalOceanClient
from rotator.digitalocean.spaces import Grant
from rotator.errors import (
    DigitalOceanError,
    LeaseLost,
    NotFound,
    RateLimited,
    RotatorError,
    SinkError,
)
from rotator.events import (
    KeyRevoked,
    Notify,
    RevokeFailed,
    RotationFailed,
    RotationSucceeded,
    SinkFailed,
    ignore,
)
from rotator.rotation.result import RotationResult, SinkOutcome
from rotator.settings import PolicyConfig
from rotator.sinks.base import (
    Pending,
    Progress,
    PushContext,
    Sink,
    no_progress,
    written_nothing,
)
from rotator.store import Fence, PolicyKeys, RotationRecord, Rotations, Store, WriterLock

log = logging.getLogger(__name__)

WAITING = "waiting_for_deployment"
"""The state of a rotation whose pushes are accepted but not all confirmed yet."""


def planned_key_name(policy: str, rotation_id: str) -> str:
    """The name a rotation gives its new key, so the key can be found after a crash."""
    return f"rotator-{policy}-{rotation_id}"


def held_secret(
    kind: CredentialKind, records: Rotations, record: RotationRecord, policy: str
) -> Credential | None:
    """The credential *record* made, with its secret; None when the store cannot open it.

    For a revoke that needs the secret: a credential it cannot open is left to
    its expiry (logged) rather than failing the revoke's caller.
    """
    assert record.new_access_key is not None
    try:
        return kind.unseal(record.new_access_key, records.open_secret(record))
    except RotatorError as exc:  # the master key, a tampered or unreadable record
        log.warning(
            "policy %s: the secret of %s cannot be opened (%s); it is left to expire",
            policy,
            record.new_access_key,
            exc,
            extra={"policy": policy},
        )
        return None


def credential_kind(policy: PolicyConfig, client: DigitalOceanClient) -> CredentialKind:
    """The policy's credential kind, bound to its options and connection."""
    return policy.credential_kind(policy.name, policy.kind_options(), client)


class PolicyRotation:
    """Rotates one policy's credential into its sinks."""

    def __init__(
        self,
        store: Store,
        policy: PolicyConfig,
        client: DigitalOceanClient,
        sinks: Sequence[Sink],
        *,
        lock_dir: Path,
        notify: Notify | None = None,
        progress: Progress = no_progress,
        defer: bool = False,
        fence: Fence | None = None,
    ) -> None:
        self.store = store
        self.defer = defer
        self.fence = fence
        self.records = store.rotations
        self.policy = policy
        self.client = client
        self.kind = credential_kind(policy, client)
        self.sinks = list(sinks)
        self.lock = WriterLock(
            lock_dir / f"policy-{policy.name}.lock", what=f"policy {policy.name!r}"
        )
        self.notify = notify or ignore
        self.progress = progress

    def _guard(self) -> None:
        """Before a side effect: stop (LeaseLost) if the policy's lease is no longer ours."""
        if self.fence is not None:
            self.store.leases.check(self.fence)

    # -- entry points ------------------------------------------------------

    def rotate(self, *, dry_run: bool = False) -> RotationResult:
        """Rotate now (or finish an interrupted rotation); a dry run changes nothing."""
        self.lock.acquire()
        try:
            if dry_run:
                return self._dry_run()
            record = self.records.in_flight(self.policy.name)
            resumed = record is not None
            if record is None:
                record = self._begin()
                self.progress(f"policy {self.policy.name}: rotation {record.id} started")
            elif record.state == WAITING and self.defer:
                pass  # one more look at what it waits for: not news for the log
            else:
                self.progress(
                    f"policy {self.policy.name}: resuming rotation {record.id} from {record.state}"
                )
                log.info(
                    "policy %s: resuming rotation %s from %s",
                    self.policy.name,
                    record.id,
                    record.state,
                    extra={"policy": self.policy.name, "rotation_id": record.id},
                )
            return self._advance(record, resumed=resumed)
        finally:
            self.lock.release()

    def revoke_due(self) -> bool | None:
        """Delete the previous key once its grace period is over.

        True when revoked (or already gone), False when the delete failed
        (kept, retried later), None when nothing is due.
        """
        self.lock.acquire()
        try:
            keys = self.records.policy_keys(self.policy.name)
            if keys is None or keys.previous_access_key is None:
                return None
            if keys.previous_revoke_after and keys.previous_revoke_after > self.store.now():
                return None
            return self._revoke(keys)
        finally:
            self.lock.release()

    # -- steps -------------------------------------------------------------

    def _current_key(self) -> str:
        keys = self.records.policy_keys(self.policy.name)
        if keys is None:
            current = self.kind.current()
            # Its real age, not "now": if this first rotation fails, the key stays overdue.
            self.records.adopt(self.policy.name, current.identifier, since=current.created_at)
            return current.identifier
        previous = keys.previous_access_key
        if previous is not None:
            # A new key while the previous one lives would make three: revoke it
            # first if its grace period is over, else wait.
            due = keys.previous_revoke_after
            if due is not None and due > self.store.now():
                raise RotatorError(
                    f"policy {self.policy.name!r}: the previous key {previous} is in its "
                    f"grace period until {due:%Y-%m-%dT%H:%M:%SZ}; rotate after that"
                )
            if not self._revoke(keys):
                if not self.kind.expires_by_itself:
                    raise RotatorError(
                        f"policy {self.policy.name!r}: the previous key {previous} could not "
                        "be deleted, so no new key is made (see `rotator status`); it is "
                        "retried on the next run"
                    )
                # Blocking would let the current one reach its own expiry with no successor.
                log.warning(
                    "policy %s: the previous %s %s could not be revoked; rotating anyway, it "
                    "is left to expire",
                    self.policy.name,
                    self.kind.noun,
                    previous,
                    extra={"policy": self.policy.name},
                )
        return keys.current_access_key

    def _begin(self) -> RotationRecord:
        old_access_key = self._current_key()
        try:
            template = self.kind.template(old_access_key)
        except NotFound as exc:
            raise RotatorError(
                f"policy {self.policy.name!r}: its current key {old_access_key} no longer "
                "exists in DigitalOcean; nothing was rotated"
            ) from exc
        now = self.store.now()
        rotation_id = f"{now:%Y%m%d%H%M%S}-{secrets.token_hex(2)}"
        return self.records.begin(
            self.policy.name,
            rotation_id,
            old_access_key,
            self.kind.planned_name(rotation_id),
            tuple(Grant(g["bucket"], g["permission"]) for g in template),
            fence=self.fence,
        )

    def _advance(self, record: RotationRecord, *, resumed: bool) -> RotationResult:
        result = RotationResult(
            self.policy.name,
            "resumed" if resumed else "succeeded",
            record.old_access_key,
            record.new_access_key,
            record.id,
        )
        try:
            if record.state == "planned":
                record = self._create(record)
                result.new_access_key = record.new_access_key
                result.steps.append(f"created key {record.new_access_key} ({record.new_key_name})")
                self.progress(f"policy {self.policy.name}: created key {record.new_access_key}")
            if record.state == "created":
                self.records.record_state(record, "pushing", fence=self.fence)
                record = self.records.get(record.id)
            if record.state == WAITING and not self.defer:
                # Followed to the end now (the CLI): back to pushing, whatever happens.
                self.records.record_state(record, "pushing", fence=self.fence)
                record = self.records.get(record.id)
            failures = self._push_all(record, result)
            if failures:
                raise SinkError(failures[0][0], failures[0][1])
            waiting = [o for o in result.sinks if o.status == "waiting"]
            if waiting:
                if record.state != WAITING:
                    self.records.record_state(record, WAITING, fence=self.fence)
                result.status = WAITING
                return result
            self.records.promote(record, self.policy.grace, fence=self.fence)
        except LeaseLost:
            raise  # another replica carries the rotation on: no failure to record or alert
        except RateLimited:
            # Out of budget is not a failure: the rotation stays in flight, as it is,
            # and resumes once the token's budget allows (the daemon defers it).
            log.info(
                "policy %s: rotation %s paused by the rate limit; it resumes later",
                self.policy.name,
                record.id,
                extra={"policy": self.policy.name, "rotation_id": record.id},
            )
            raise
        except (RotatorError, OSError) as exc:
            return self._failed(record, result, exc)
        keys = self.records.policy_keys(self.policy.name)
        result.revoke_after = keys.previous_revoke_after if keys else None
        result.steps.append(
            f"promoted {record.new_access_key}; {record.old_access_key} stays "
            "alive for the grace period"
        )
        if result.revoke_after is not None:
            self.progress(
                f"policy {self.policy.name}: promoted {record.new_access_key}; revoke of "
                f"{record.old_access_key} scheduled for {result.revoke_after:%Y-%m-%dT%H:%M:%SZ}"
            )
        log.info(
            "policy %s: rotated %s -> %s",
            self.policy.name,
            record.old_access_key,
            record.new_access_key,
            extra={"policy": self.policy.name, "rotation_id": record.id},
        )
        self.notify(
            RotationSucceeded(
                self.policy.name,
                record.old_access_key,
                record.new_access_key or "",
                tuple(sink.label for sink in self.sinks),
            )
        )
        if keys is not None and self.policy.grace.total_seconds() == 0:
            self._revoke(keys)
        return result

    def _create(self, record: RotationRecord) -> RotationRecord:
        """Create the new key; first delete any key left by a crash (its secret is lost)."""
        self._guard()
        self._delete_orphans(record)
        template = tuple(grant.to_json() for grant in record.grants)
        self._guard()
        try:
            credential = self.kind.create(record.new_key_name, template)
        except DigitalOceanError:
            # The answer may be lost although the key exists: find it by name and delete
            # it now rather than leave a key whose secret nobody holds.
            self._delete_orphans(record)
            raise
        try:
            self.records.record_created(
                record, credential.identifier, self.kind.seal(credential), fence=self.fence
            )
        except LeaseLost:
            # Its secret cannot be kept: revoke this credential (by its identifier, never
            # by name: the successor may have made and recorded one of the same name).
            self.kind.revoke(credential.identifier, credential)
            raise
        return self.records.get(record.id)

    def _delete_orphans(self, record: RotationRecord) -> None:
        for orphan in self.kind.find(record.new_key_name):
            self._guard()
            if self.fence is not None and self.records.get(record.id).new_access_key == orphan:
                continue  # recorded by the replica that took over: not an orphan
            self.kind.revoke(orphan)
            self.store.history.log(
                "rotation_orphan_deleted",
                self.policy.name,
                "ok",
                rotation_id=record.id,
                access_key=orphan,
            )

    def _push_all(self, record: RotationRecord, result: RotationResult) -> list[tuple[str, str]]:
        assert record.new_access_key is not None
        pair = self.kind.unseal(record.new_access_key, self.records.open_secret(record))
        if not record.sinks:
            # Before any sink gets it, a kind that can prove the new credential works does
            # so (sink records are written only after this passed: a resume skips it).
            self.kind.verify(pair)
        context = self._context(record.id)
        failures: list[tuple[str, str]] = []
        for sink in self.sinks:
            done = record.sinks.get(sink.label)
            if done is not None and done.status == "confirmed":
                result.sinks.append(SinkOutcome(sink.label, sink.type, "confirmed", done.detail))
                continue
            waiting = done is not None and done.status == "waiting"
            if not waiting:
                self.records.record_sink(record, sink.label, "pending", {}, fence=self.fence)
                self.progress(f"{sink.label}: delivering {record.new_access_key}")
            try:
                self._guard()
                with logs.fields(policy=self.policy.name, rotation_id=record.id, sink=sink.label):
                    if done is not None and waiting and not written_nothing(done.detail):
                        confirmation = sink.confirm(dict(done.detail), context)
                    elif done is not None and waiting:  # it waited before writing: push now
                        confirmation = sink.push(pair, replace(context, waited=done.detail))
                    else:
                        confirmation = sink.push(pair, context)
            except LeaseLost:
                raise
            except RotatorError as exc:
                if isinstance(exc.__cause__, RateLimited):
                    # Refused for want of budget: nothing changed at the sink; not a failure.
                    self.records.record_sink(record, sink.label, "pending", {}, fence=self.fence)
                    raise exc.__cause__ from None
                message = str(exc)
                self.records.record_sink(
                    record, sink.label, "failed", {"error": message}, fence=self.fence
                )
                result.sinks.append(
                    SinkOutcome(sink.label, sink.type, "failed", {"error": message})
                )
                self.notify(
                    SinkFailed(self.policy.name, sink.label, record.new_access_key, message)
                )
                failures.append((sink.label, message))
                continue
            if isinstance(confirmation, Pending):
                detail = dict(confirmation.detail)
                if (
                    not waiting
                    or done is None
                    or done.detail.get("deployment_id") != detail.get("deployment_id")
                ):
                    self.records.record_sink(
                        record, sink.label, "waiting", detail, fence=self.fence
                    )
                    self.progress(f"{sink.label}: pending: {confirmation.what}")
                result.sinks.append(SinkOutcome(sink.label, sink.type, "waiting", detail))
                continue
            self.records.record_sink(
                record, sink.label, "confirmed", confirmation.detail, fence=self.fence
            )
            result.sinks.append(
                SinkOutcome(sink.label, sink.type, "confirmed", confirmation.detail)
            )
            result.steps.append(f"{sink.label}: confirmed {record.new_access_key}")
            self.progress(f"{sink.label}: confirmed {record.new_access_key}")
        return failures

    def _failed(
        self, record: RotationRecord, result: RotationResult, exc: BaseException
    ) -> RotationResult:
        message = str(exc)
        current = self.records.get(record.id)
        self.records.record_state(
            current, current.state, error=message, event="rotation_failed", fence=self.fence
        )
        result.status = "failed"
        result.error = message
        result.new_access_key = current.new_access_key
        log.warning(
            "policy %s: rotation %s failed: %s",
            self.policy.name,
            record.id,
            message,
            extra={"policy": self.policy.name, "rotation_id": record.id},
        )
        self.notify(
            RotationFailed(self.policy.name, record.old_access_key, current.new_access_key, message)
        )
        return result

    def _revoke(self, keys: PolicyKeys) -> bool:
        previous = keys.previous_access_key
        assert previous is not None
        if previous == keys.current_access_key:
            # DigitalOcean handed out the same credential twice: revoking it would end the
            # current one. Never done; the record is cleared as if it were gone.
            log.error(
                "policy %s: the previous %s %s is also the current one; not revoked",
                self.policy.name,
                self.kind.noun,
                previous,
                extra={"policy": self.policy.name},
            )
            self.records.record_revoke(
                self.policy.name, previous, already_gone=True, fence=self.fence
            )
            return True
        self._guard()
        credential = self._issued(previous)
        if self.kind.revoke_needs_secret and credential is None:
            # Never held by rotator (adopted, or its secret cannot be opened): nothing
            # revokes it, and nothing uses it any more; it ends at its own expiry.
            self.records.record_revoke(
                self.policy.name, previous, left_to_expire=True, fence=self.fence
            )
            self.notify(KeyRevoked(self.policy.name, previous, left_to_expire=True))
            self._after_revoke(previous)
            log.info(
                "policy %s: previous %s %s left to expire (rotator never held its secret)",
                self.policy.name,
                self.kind.noun,
                previous,
                extra={"policy": self.policy.name},
            )
            return True
        try:
            deleted = self.kind.revoke(previous, credential)
        except DigitalOceanError as exc:
            self.records.record_revoke(self.policy.name, previous, error=str(exc), fence=self.fence)
            self.notify(RevokeFailed(self.policy.name, previous, str(exc)))
            return False
        self.records.record_revoke(
            self.policy.name, previous, already_gone=not deleted, fence=self.fence
        )
        self.notify(KeyRevoked(self.policy.name, previous))
        self._after_revoke(previous)
        log.info(
            "policy %s: revoked previous key %s",
            self.policy.name,
            previous,
            extra={"policy": self.policy.name},
        )
        return True

    def _after_revoke(self, previous: str) -> None:
        """Let every sink drop its leftover copy of the previous credential."""
        for sink in self.sinks:
            try:
                sink.after_revoke(previous)
            except RotatorError as exc:  # a leftover copy of a dead key: worth a warning only
                log.warning("policy %s: %s", self.policy.name, exc)

    def _issued(self, identifier: str) -> Credential | None:
        """*identifier* with its secret, for a kind whose revoke needs it (None otherwise)."""
        if not self.kind.revoke_needs_secret:
            return None
        record = self.records.issued(self.policy.name, identifier)
        if record is None:
            return None  # never made by rotator (adopted), or its record is gone
        return held_secret(self.kind, self.records, record, self.policy.name)

    def _context(self, rotation_id: str) -> PushContext:
        return PushContext(
            self.policy.name,
            rotation_id,
            self.store.now(),
            self.progress,
            defer=self.defer,
            fields=self.kind.fields,
            identifier_field=self.kind.identifier_field,
        )

    # -- dry run -----------------------------------------------------------

    def _dry_run(self) -> RotationResult:
        """Every step a rotation would take; reads only, writes nothing anywhere."""
        result = RotationResult(self.policy.name, "dry_run")
        record = self.records.in_flight(self.policy.name)
        keys = self.records.policy_keys(self.policy.name)
        if record is not None:
            result.rotation_id = record.id
            result.old_access_key = record.old_access_key
            result.new_access_key = record.new_access_key
            result.steps.append(f"resume rotation {record.id} from state {record.state}")
            new_key = record.new_access_key or f"(new key {record.new_key_name})"
        else:
            if keys is not None:
                current = keys.current_access_key
                if keys.previous_access_key:
                    result.steps.append(
                        f"revoke previous key {keys.previous_access_key} "
                        "(only if its grace period is over)"
                    )
            else:
                current = self.kind.current().identifier
            result.old_access_key = current
            name = self.kind.planned_name("<rotation id>")
            result.steps.append(self.kind.describe_create(name, current))
            new_key = f"<new {self.kind.noun}>"
        context = self._context(result.rotation_id or "<rotation id>")
        for sink in self.sinks:
            lines = sink.describe_push(new_key, context)
            result.steps += [f"{sink.label}: {line}" for line in lines]
            result.sinks.append(SinkOutcome(sink.label, sink.type, "planned"))
        result.steps.append(
            f"promote the new key; keep {result.old_access_key} alive for "
            f"{self.policy.grace} then delete it"
        )
        return result
