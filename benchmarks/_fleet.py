"""Simulated agents for ``bench_scale.py``: many agents in one process, each speaking the real protocol.

    python benchmarks/_fleet.py --control-plane HOST:PORT --join-token J --first 0 --count 250 [--channels-per-agent]

Each simulated agent opens its own gRPC channel and ``AgentService.Connect`` stream, registers with the join token
(the control plane hands it its own agent credential in the welcome; reconnections present that credential),
heartbeats at the period the welcome gives, and plays the work processes of the works placed on it: on a launch it
reports the process started (numbered events from 1, as a real work process numbers them), on a call it reports
the call running, and while told to (``go`` on stdin) it sends attribute changes at a given rate. Events leave in
one message per agent per flush interval, as an agent relays what its works queued meanwhile. Acknowledgements
(``EventsApplied``, sent by the control plane once a checkpoint covers the events) are counted: an update counts as
applied once acknowledged. Stops are answered with a stopped status and the process's exit.

Control (one line on stdin, answered on stdout as one JSON line each second and on each command):

    go RATE SECONDS [ATTRIBUTE]   every work sends RATE changes/s of ``count`` (or ATTRIBUTE) for SECONDS
    big MB                        each work sets its attribute ``data`` to about MB megabytes (a list of strings),
                                  once
    reconnect                     close every stream and register again (after a restart of the control plane)
    sync N                        report now (the report carries ``"sync": N``)
    quit                          close everything and exit

This file is part of the benchmarks, not of the product: it imports only the wire's codec and plain types.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, field

sys.dont_write_bytecode = True

import grpc  # noqa: E402

from lightning_ctl.protos import codec  # noqa: E402
from lightning_ctl.protos.lightning.v1 import agent_pb2, events_pb2  # noqa: E402
from lightning_ctl.protos.transport import PROTOCOL_VERSION, agent_channel_options  # noqa: E402
from lightning_ctl.sdk._agent_messages import AgentUsage, Registration, Welcome  # noqa: E402
from lightning_ctl.sdk._events import EventsApplied, LaunchWork, RunCall, RunningWork, StopWork  # noqa: E402
from lightning_ctl.sdk._hashing import START_CALL_HASH  # noqa: E402
from lightning_ctl.sdk._status import WorkStageStatus, WorkStopReasons, make_status  # noqa: E402

CONNECT = "/lightning.v1.AgentService/Connect"


@dataclass
class SimWork:
    """One work placed on a simulated agent: the numbering of its process's events and what was acknowledged."""

    name: str
    attempt: int
    seq: int = 0
    count: int = 0
    """Attribute changes sent (the value of ``count`` last sent)."""
    first_update_seq: int = 0
    """The seq of its first attribute change (0: none sent yet)."""
    acked_seq: int = 0
    big_seq: int = 0
    """The seq of its large attribute's change (0: none sent)."""
    running: bool = False
    stopped: bool = False
    unacked: list[bytes] = field(default_factory=list)
    """Numbered events not acknowledged yet, as sent (sent again after a reconnection, as a real process does)."""
    unacked_seqs: list[int] = field(default_factory=list)

    def event(self) -> events_pb2.WorkEvent:
        self.seq += 1
        return events_pb2.WorkEvent(work_name=self.name, attempt=self.attempt, seq=self.seq)

    def acked(self, seq: int) -> None:
        self.acked_seq = max(self.acked_seq, seq)
        keep = [i for i, s in enumerate(self.unacked_seqs) if s > seq]
        self.unacked = [self.unacked[i] for i in keep]
        self.unacked_seqs = [self.unacked_seqs[i] for i in keep]

    @property
    def updates_applied(self) -> int:
        if not self.first_update_seq or self.acked_seq < self.first_update_seq:
            return 0
        return min(self.count, self.acked_seq - self.first_update_seq + 1)


class SimAgent:
    """One simulated agent: its stream, its heartbeat, its works."""

    def __init__(self, fleet: Fleet, index: int) -> None:
        self.fleet = fleet
        self.index = index
        self.name = f"sim-{index:05d}"
        self.agent_id = uuid.uuid4().hex
        self.credential = ""
        self.works: dict[str, SimWork] = {}
        self.outgoing: list[bytes] = []
        self.call: grpc.aio.StreamStreamCall | None = None
        self.channel: grpc.aio.Channel | None = None
        self.connected = asyncio.Event()
        self.heartbeat_s = 2.0
        self.launches = 0
        self.first_launch_at: float | None = None
        self.last_launch_at: float | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def registration(self) -> Registration:
        running = tuple(RunningWork(w.name, w.attempt, 4242, ()) for w in self.works.values() if not w.stopped)
        return Registration(agent_id=self.agent_id, name=self.name, hostname=self.name, cpus=self.fleet.cpus,
                            memory_bytes=64 * 2**30, protocol_version=PROTOCOL_VERSION, running=running)

    async def connect(self) -> None:
        """Open the stream and register (join the first time); retried until it succeeds."""
        while True:
            if self.channel is None:
                self.channel = grpc.aio.insecure_channel(self.fleet.address, options=agent_channel_options())
            connect = self.channel.stream_stream(CONNECT, request_serializer=codec.serialize_agent_message,
                                                 response_deserializer=agent_pb2.ControlMessage.FromString)
            bearer = self.credential or self.fleet.join_token
            call = connect(metadata=(("authorization", f"Bearer {bearer}"),), wait_for_ready=True)
            try:
                await call.write(codec.register_message(self.registration()))
                reply = await call.read()
            except grpc.aio.AioRpcError as exc:
                self.fleet.errors.append(f"{self.name}: register: {exc.code().name} {exc.details()}")
                await asyncio.sleep(0.25 + random.random() * 0.25)
                continue
            welcome = codec.control_message_from_pb(reply) if reply is not grpc.aio.EOF else None
            if not isinstance(welcome, Welcome):
                await asyncio.sleep(0.25)
                continue
            self.credential = welcome.agent_credential or self.credential
            self.heartbeat_s = welcome.heartbeat_interval_s or self.heartbeat_s
            self.call = call
            # What the previous stream did not get acknowledged goes again (the control plane drops duplicates).
            for work in self.works.values():
                self.outgoing.extend(work.unacked)
            self.connected.set()
            self._tasks = [asyncio.create_task(self._receive(call)), asyncio.create_task(self._heartbeat(call))]
            return

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks = []
        if self.call is not None:
            self.call.cancel()
            self.call = None
        self.connected.clear()

    async def _heartbeat(self, call: grpc.aio.StreamStreamCall) -> None:
        await asyncio.sleep(random.random() * self.heartbeat_s)  # spread, as agents started at different times
        message = codec.heartbeat_message(AgentUsage(cpu_percent=3.0, memory_used_bytes=2**30))
        while True:
            await self._write(call, message)
            await asyncio.sleep(self.heartbeat_s)

    async def _write(self, call: grpc.aio.StreamStreamCall, message: object) -> None:
        async with self.fleet.write_lock(self):
            await call.write(message)

    async def _receive(self, call: grpc.aio.StreamStreamCall) -> None:
        try:
            while True:
                message = await call.read()
                if message is grpc.aio.EOF:
                    break
                self._handle(codec.control_message_from_pb(message))
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            pass
        self.connected.clear()

    def _handle(self, item: object) -> None:
        if isinstance(item, EventsApplied):
            work = self.works.get(item.work_name)
            if work is not None and work.attempt == item.attempt:
                work.acked(item.seq)
            return
        if not isinstance(item, list):
            return
        for command in item:
            if isinstance(command, LaunchWork):
                self._launch(command)
            elif isinstance(command, RunCall):
                work = self.works.get(command.work_name)
                if work is not None and not work.running:
                    work.running = True
                    self._status(work, command.call_hash, WorkStageStatus.RUNNING)
            elif isinstance(command, StopWork):
                work = self.works.get(command.work_name)
                if work is not None and not work.stopped:
                    work.stopped = True
                    self._status(work, START_CALL_HASH, WorkStageStatus.STOPPED,
                                 reason=WorkStopReasons.SIGTERM_SIGNAL_HANDLER.value)
                    self.outgoing.append(codec.event_bytes(work.name, work.attempt, _exited()))

    def _launch(self, launch: LaunchWork) -> None:
        existing = self.works.get(launch.work_name)
        if existing is not None and existing.attempt == launch.attempt:
            return
        now = time.monotonic()
        self.first_launch_at = self.first_launch_at or now
        self.last_launch_at = now
        self.launches += 1
        work = SimWork(launch.work_name, launch.attempt)
        self.works[launch.work_name] = work
        event = work.event()
        event.started.pid = 4242
        self._queue(work, event)
        if launch.start_action:
            self._status(work, START_CALL_HASH, WorkStageStatus.STARTED)

    def _status(self, work: SimWork, call_hash: str, stage: str, **fields: str) -> None:
        event = work.event()
        status = make_status(stage, **fields)
        event.status.call_hash = call_hash
        event.status.stage = status["stage"]
        event.status.timestamp = status["timestamp"]
        event.status.reason = status.get("reason") or ""
        self._queue(work, event)

    def _queue(self, work: SimWork, event: events_pb2.WorkEvent) -> None:
        payload = event.SerializeToString()
        work.unacked.append(payload)
        work.unacked_seqs.append(event.seq)
        self.outgoing.append(payload)

    def update(self, work: SimWork, attribute: str, value_json: str) -> None:
        """One attribute change of ``work`` (``count`` carries the number of changes so far)."""
        event = work.event()
        work.count += 1
        if not work.first_update_seq:
            work.first_update_seq = event.seq
        event.delta.values[attribute] = value_json if attribute != "count" else str(work.count)
        self._queue(work, event)

    async def flush(self) -> None:
        """Send what the works queued, in one message (a real agent sends what accumulated during its last write)."""
        if not self.outgoing or self.call is None or not self.connected.is_set():
            return
        batch, self.outgoing = self.outgoing, []
        try:
            await self._write(self.call, codec.agent_events_message(batch))
            self.fleet.messages_sent += 1
        except (grpc.aio.AioRpcError, asyncio.InvalidStateError):
            self.connected.clear()  # unacknowledged events go again after the reconnection


def _exited() -> object:
    from lightning_ctl.sdk._events import ProcessExited

    return ProcessExited(4242, 0, 15)


class Fleet:
    """The simulated agents of this process, their load, and the report on stdout."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.address = args.control_plane
        self.join_token = args.join_token
        self.cpus = args.cpus
        self.flush_s = args.flush_ms / 1000
        self.agents = [SimAgent(self, i) for i in range(args.first, args.first + args.count)]
        self.errors: list[str] = []
        self.messages_sent = 0
        self.updates_sent = 0
        self._locks: dict[int, asyncio.Lock] = {}
        self._load: tuple[float, float, float, str, str] | None = None  # rate, start, end, attribute, value
        self.connect_started_at: float | None = None
        self.connect_done_at: float | None = None

    def write_lock(self, agent: SimAgent) -> asyncio.Lock:
        """One write at a time per stream (grpc.aio breaks a stream written concurrently)."""
        lock = self._locks.get(agent.index)
        if lock is None:
            lock = self._locks[agent.index] = asyncio.Lock()
        return lock

    def report(self, kind: str = "status", **extra: object) -> None:
        launched = [a for a in self.agents if a.launches]
        status = {
            "kind": kind,
            "t": time.monotonic(),
            "connected": sum(a.connected.is_set() for a in self.agents),
            "works": sum(len(a.works) for a in self.agents),
            "running": sum(w.running for a in self.agents for w in a.works.values()),
            "connect_started_at": self.connect_started_at,
            "connect_done_at": self.connect_done_at,
            "first_launch_at": min((a.first_launch_at for a in launched), default=None),
            "last_launch_at": max((a.last_launch_at for a in launched), default=None),
            "updates_sent": sum(w.count for a in self.agents for w in a.works.values()),
            "updates_applied": sum(w.updates_applied for a in self.agents for w in a.works.values()),
            "big_applied": sum(1 for a in self.agents for w in a.works.values() if w.big_seq and w.acked_seq >= w.big_seq),
            "messages_sent": self.messages_sent,
            "errors": self.errors[-3:],
            "error_count": len(self.errors),
            **extra,
        }
        sys.stdout.write(json.dumps(status) + "\n")
        sys.stdout.flush()

    async def connect_all(self, concurrency: int) -> float:
        started = self.connect_started_at = time.monotonic()
        gate = asyncio.Semaphore(concurrency)

        async def one(agent: SimAgent) -> None:
            async with gate:
                await agent.connect()

        await asyncio.gather(*(one(a) for a in self.agents))
        self.connect_done_at = time.monotonic()
        return self.connect_done_at - started

    async def keep_connected(self) -> None:
        """Register again any agent whose stream ended (a restarted control plane)."""
        while True:
            await asyncio.sleep(0.2)
            lost = [a for a in self.agents if not a.connected.is_set() and a.call is not None]
            for agent in lost:
                await agent.close()
            if lost:
                await asyncio.gather(*(a.connect() for a in lost))
                self.report("reconnected", agents=len(lost))

    async def pump(self) -> None:
        """Every flush interval: the works' changes due by now, then one message per agent."""
        next_at = time.monotonic()
        credit: dict[str, float] = {}
        while True:
            next_at += self.flush_s
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
            load = self._load
            if load is not None:
                rate, _, end, attribute, value = load
                now = time.monotonic()
                if now >= end:
                    self._load = None
                else:
                    for agent in self.agents:
                        for work in agent.works.values():
                            if not work.running or work.stopped:
                                continue
                            due = credit.get(work.name, 0.0) + rate * self.flush_s
                            while due >= 1.0:
                                agent.update(work, attribute, value)
                                due -= 1.0
                            credit[work.name] = due
            await asyncio.gather(*(a.flush() for a in self.agents if a.outgoing))

    async def big(self, megabytes: float) -> None:
        """Each running work sets ``data`` to about ``megabytes`` MB, once (sent alone: large messages)."""
        item = json.dumps("x" * 1000)
        count = max(1, int(megabytes * 1e6 / (len(item) + 1)))
        value = "[" + ",".join([item] * count) + "]"
        for agent in self.agents:
            for work in agent.works.values():
                if work.running:
                    event = work.event()
                    work.big_seq = event.seq
                    event.delta.values["data"] = value
                    agent._queue(work, event)
            await agent.flush()
        self.report("big_sent", bytes_per_work=len(value))

    async def commands(self) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := (await reader.readline()).decode().strip():
            words = line.split()
            if words[0] == "go":
                rate, seconds = float(words[1]), float(words[2])
                attribute = words[3] if len(words) > 3 else "count"
                now = time.monotonic()
                self._load = (rate, now, now + seconds, attribute, "0")
                self.report("go")
            elif words[0] == "big":
                await self.big(float(words[1]))
            elif words[0] == "reconnect":
                for agent in self.agents:
                    agent.connected.clear()
            elif words[0] == "sync":
                self.report("sync", sync=int(words[1]))
            elif words[0] == "quit":
                break
        for agent in self.agents:
            await agent.close()


async def main(args: argparse.Namespace) -> None:
    fleet = Fleet(args)
    took = await fleet.connect_all(args.connect_concurrency)
    fleet.report("connected", connect_s=took)
    tasks = [asyncio.create_task(fleet.pump()), asyncio.create_task(fleet.keep_connected())]

    async def reports() -> None:
        while True:
            await asyncio.sleep(1.0)
            fleet.report()

    tasks.append(asyncio.create_task(reports()))
    try:
        await fleet.commands()
    finally:
        for task in tasks:
            task.cancel()
        fleet.report("quit")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--control-plane", required=True)
    parser.add_argument("--join-token", required=True)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--cpus", type=float, default=8.0, help="CPUs each agent offers")
    parser.add_argument("--flush-ms", type=float, default=200.0)
    parser.add_argument("--connect-concurrency", type=int, default=50)
    return parser.parse_args(argv)


if __name__ == "__main__":
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
    asyncio.run(main(parse_args()))
