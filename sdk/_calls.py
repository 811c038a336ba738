"""Call bookkeeping of a work: deciding whether ``work.run(...)`` sends a call, and recording its statuses.

A work's ``_calls`` maps each call hash to ``{"statuses": [...], "ret": None}`` (``ret`` present once the call
succeeded) plus ``"latest_call_hash"``. Unlike the reference, a finished hash stays cached for the life of the app:
statuses only ever arrive as explicit events, never as diffs of a stale copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from lightning_ctl.sdk._hashing import call_hash
from lightning_ctl.sdk._runtime import Runtime
from lightning_ctl.sdk._status import WorkStageStatus, make_status
from lightning_ctl.sdk.errors import CacheMissException

if TYPE_CHECKING:
    from lightning_ctl.sdk._work import LightningWork

LATEST = "latest_call_hash"


def record_pending(work: LightningWork, hash_: str) -> None:
    """Record that a call with ``hash_`` was sent: a new or re-queued entry with a pending status."""
    calls = work._calls
    if calls.get(LATEST) is None:
        calls[LATEST] = hash_
    entry = calls.get(hash_)
    if entry is None:
        calls[hash_] = {"statuses": [make_status(WorkStageStatus.PENDING)]}
        return
    entry.pop("ret", None)
    # A re-run keeps only the outcome of the previous run, so the list stays bounded however often it re-runs.
    entry["statuses"] = entry["statuses"][-1:] + [make_status(WorkStageStatus.PENDING)]


def apply_status(work: LightningWork, hash_: str, status: dict[str, Any]) -> None:
    """Apply a status reported for the call ``hash_`` of ``work``."""
    calls = work._calls
    entry = calls.setdefault(hash_, {"statuses": []})
    stage = status["stage"]
    if stage in (WorkStageStatus.RUNNING, WorkStageStatus.STARTED) or calls.get(LATEST) is None:
        calls[LATEST] = hash_
    entry["statuses"].append(status)
    if stage == WorkStageStatus.SUCCEEDED:
        entry["ret"] = None
        entry["num_successes"] = entry.get("num_successes", 0) + 1


def latest_entry(work: LightningWork) -> dict[str, Any] | None:
    """The entry of the call that most recently began, if any."""
    latest = work._calls.get(LATEST)
    return work._calls.get(latest) if latest is not None else None


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
    if work.has_stopped:
        return None
    try:
        hash_ = call_hash(args, kwargs)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{work.name}.run(...): {exc}") from None
    entry = work._calls.get(hash_)
    if entry is None or "ret" in entry and not work.cache_calls:
        record_pending(work, hash_)
        runtime.dispatch_call(work, hash_, args, kwargs)
    elif "ret" in entry:
        return None
    if not work.parallel:
        raise CacheMissException(f"{work.name} is busy with call {hash_}")
    return None


def run_inline(work: LightningWork, user_run: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Run a call in this process (no app around it), caching finished calls like the runtime does."""
    hash_ = call_hash(args, kwargs)
    entry = work._calls.get(hash_)
    if work.cache_calls and entry is not None and "ret" in entry:
        return entry["ret"]
    record_pending(work, hash_)
    apply_status(work, hash_, make_status(WorkStageStatus.RUNNING))
    work.__dict__["_executing"] = True
    try:
        result = user_run(work, *args, **kwargs)
    except BaseException as exc:
        apply_status(work, hash_, make_status(WorkStageStatus.FAILED, message=repr(exc), reason="user_exception"))
        raise
    finally:
        work.__dict__["_executing"] = False
    apply_status(work, hash_, make_status(WorkStageStatus.SUCCEEDED))
    work._calls[hash_]["ret"] = result
    return result
