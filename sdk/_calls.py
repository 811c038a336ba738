"""The call ledger of a work: its one owner. Deciding whether ``work.run(...)`` sends a call, recording statuses.

A work's ``_calls`` maps each call hash to ``{"statuses": [...], "ret": None, "num_successes": N}`` (``ret``
present once the call succeeded) plus ``"latest_call_hash"``: the shape the former framework's state has, so apps
and tools that read ``work.state["calls"]`` keep working. Every other module reads and changes the ledger through the
functions here; none spells its keys. Unlike the reference, a finished hash stays cached for the life of the app:
statuses only ever arrive as explicit events, never as diffs of a stale copy.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

from lightning_ctl.sdk._hashing import START_CALL_HASH, call_hash
from lightning_ctl.sdk._runtime import Runtime
from lightning_ctl.sdk._status import (
    CacheCallsKeys,
    WorkFailureReasons,
    WorkStageStatus,
    WorkStopReasons,
    make_status,
)
from lightning_ctl.sdk.errors import CacheMissException

if TYPE_CHECKING:
    from lightning_ctl.sdk._work import LightningWork

LATEST = CacheCallsKeys.LATEST_CALL_HASH.value
"""The ledger key naming the call that most recently began."""
STATUSES = "statuses"
"""Each call's statuses, oldest first (dicts made by ``make_status``)."""
RET = "ret"
"""Present (None, or the value of an inline run) once the call succeeded: the call is cached."""
NUM_SUCCESSES = "num_successes"
"""How many runs of the call succeeded."""
EXECUTING = "_executing"
"""The work attribute set while its own process (or an inline run) executes the user's ``run``."""
_STAGE = "stage"
_MESSAGE = "message"
_REASON = "reason"


def new_ledger() -> dict[str, Any]:
    """The ledger of a work that was never called."""
    return {LATEST: None}


def record_pending(work: LightningWork, hash_: str) -> None:
    """Record that a call with ``hash_`` was sent: a new or re-queued entry with a pending status."""
    calls = work._calls
    if calls.get(LATEST) is None:
        calls[LATEST] = hash_
    entry = calls.get(hash_)
    if entry is None:
        calls[hash_] = {STATUSES: [make_status(WorkStageStatus.PENDING)]}
        return
    entry.pop(RET, None)
    # A re-run keeps only the outcome of the previous run, so the list stays bounded however often it re-runs.
    entry[STATUSES] = entry[STATUSES][-1:] + [make_status(WorkStageStatus.PENDING)]


def record_start(work: LightningWork) -> bool:
    """Record the start action as a pending call; False when the work was already started (nothing recorded)."""
    if START_CALL_HASH in work._calls:
        return False
    record_pending(work, START_CALL_HASH)
    return True


def apply_status(work: LightningWork, hash_: str, status: dict[str, Any]) -> None:
    """Apply a status reported for the call ``hash_`` of ``work``."""
    calls = work._calls
    entry = calls.setdefault(hash_, {STATUSES: []})
    stage = status[_STAGE]
    if stage in (WorkStageStatus.RUNNING, WorkStageStatus.STARTED) or calls.get(LATEST) is None:
        calls[LATEST] = hash_
    entry[STATUSES].append(status)
    if stage == WorkStageStatus.SUCCEEDED:
        entry[RET] = None
        entry[NUM_SUCCESSES] = entry.get(NUM_SUCCESSES, 0) + 1


def latest_hash(work: LightningWork) -> str:
    """The hash of the call that most recently began (the start action's before any call)."""
    return work._calls.get(LATEST) or START_CALL_HASH


def apply_to_latest(work: LightningWork, status: dict[str, Any]) -> None:
    """Apply ``status`` to the call that most recently began (a stop or a lost process ends that one)."""
    apply_status(work, latest_hash(work), status)


def latest_entry(work: LightningWork) -> dict[str, Any] | None:
    """The entry of the call that most recently began, if any."""
    latest = work._calls.get(LATEST)
    return work._calls.get(latest) if latest is not None else None


def latest_statuses(work: LightningWork) -> list[dict[str, Any]]:
    """Every status of the call that most recently began, oldest first (the ledger's own dicts: read only)."""
    entry = latest_entry(work)
    return entry[STATUSES] if entry else []


def latest_stage(work: LightningWork) -> str:
    """The stage of the latest status of the call that most recently began (not_started before any)."""
    statuses = latest_statuses(work)
    return statuses[-1][_STAGE] if statuses else WorkStageStatus.NOT_STARTED.value


def is_stopped_for_good(work: LightningWork) -> bool:
    """Whether the work was stopped and takes no more calls.

    A work stopped after its idle timeout takes them, starting again.
    """
    statuses = latest_statuses(work)
    return (bool(statuses) and statuses[-1][_STAGE] == WorkStageStatus.STOPPED
            and statuses[-1].get(_REASON) != WorkStopReasons.IDLE_TIMEOUT)


def explain_pending(work: LightningWork, reason: str) -> bool:
    """Say in the latest call's pending status why it still waits; False when that call is not pending."""
    statuses = latest_statuses(work)
    if not statuses or statuses[-1][_STAGE] != WorkStageStatus.PENDING:
        return False
    statuses[-1][_MESSAGE] = reason
    return True


NOT_READY = "not ready: "
"""How a status message saying why a serving work is not ready begins."""


def explain_readiness(work: LightningWork, message: str) -> bool:
    """Say in the latest call's status why the work is not serving yet, or clear that once it is.

    The latest call's status is its started or running one; ``message`` "" clears. Never replaces another message. False when nothing changed.
    """
    statuses = latest_statuses(work)
    if not statuses or statuses[-1][_STAGE] not in (WorkStageStatus.STARTED, WorkStageStatus.RUNNING):
        return False
    status = statuses[-1]
    current = status.get(_MESSAGE, "")
    if current == message or (current and not current.startswith(NOT_READY)):
        return False
    if message:
        status[_MESSAGE] = message
    else:
        del status[_MESSAGE]
    return True


def count_successes(work: LightningWork) -> int:
    """How many runs of ``work`` succeeded, over all calls (re-runs of the same arguments included)."""
    return sum(entry.get(NUM_SUCCESSES, 0) for key, entry in work._calls.items() if key != LATEST)


def is_executing(work: LightningWork) -> bool:
    """Whether ``work.run`` must execute the user's code (in the work's own process, or inline)."""
    return bool(work.__dict__.get(EXECUTING))


@contextmanager
def executing(work: LightningWork) -> Iterator[None]:
    """While inside, ``work.run`` executes the user's code (a call made by ``run`` itself is part of this call)."""
    work.__dict__[EXECUTING] = True
    try:
        yield
    finally:
        work.__dict__[EXECUTING] = False


def clean_ledger(calls: dict[str, Any]) -> dict[str, Any]:
    """A copy of a saved ledger: statuses sorted and deduplicated; a succeeded call keeps only its final status."""
    cleaned: dict[str, Any] = {}
    for key, entry in calls.items():
        if key == LATEST or not isinstance(entry, dict):
            cleaned[key] = entry
            continue
        entry = dict(entry)
        statuses: list[dict[str, Any]] = []
        for status in sorted(entry.get(STATUSES, []), key=lambda s: s.get("timestamp", 0)):
            if status not in statuses:
                statuses.append(status)
        if statuses and statuses[-1].get(_STAGE) == WorkStageStatus.SUCCEEDED:
            last = dict(statuses[-1])
            last["timestamp"] = int(last["timestamp"])
            statuses = [last]
        entry[STATUSES] = statuses
        cleaned[key] = entry
    return cleaned


def dispatch_call(work: LightningWork, runtime: Runtime, args: tuple, kwargs: dict) -> None:
    """What ``work.run(*args, **kwargs)`` does in the flow process (spec §3.4, with a permanent cache).

    Raises:
        CacheMissException: the work is not parallel and this call has not finished yet; the flow body stops here
            for this tick and runs again from the top on a later one.
    """
    if not work.name:
        raise AttributeError(
            f"Failed to create process for {type(work).__name__}: the work is not attached to a flow of the app"
        )
    if is_stopped_for_good(work):
        return None
    try:
        hash_ = call_hash(args, kwargs)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{work.name}.run(...): {exc}") from None
    entry = work._calls.get(hash_)
    if entry is None or RET in entry and not work.cache_calls:
        record_pending(work, hash_)
        runtime.dispatch_call(work, hash_, args, kwargs)
    elif RET in entry:
        return None
    if not work.parallel:
        raise CacheMissException(f"{work.name} is busy with call {hash_}")
    return None


def run_inline(work: LightningWork, user_run: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Run a call in this process (no app around it), caching finished calls like the runtime does."""
    hash_ = call_hash(args, kwargs)
    entry = work._calls.get(hash_)
    if work.cache_calls and entry is not None and RET in entry:
        return entry[RET]
    record_pending(work, hash_)
    apply_status(work, hash_, make_status(WorkStageStatus.RUNNING))
    try:
        with executing(work):
            result = user_run(work, *args, **kwargs)
    except BaseException as exc:
        apply_status(work, hash_, make_status(WorkStageStatus.FAILED, message=repr(exc),
                                              reason=WorkFailureReasons.USER_EXCEPTION.value))
        raise
    apply_status(work, hash_, make_status(WorkStageStatus.SUCCEEDED))
    work._calls[hash_][RET] = result
    return result
