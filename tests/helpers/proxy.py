"""A loopback TCP proxy with fault knobs, to put between an agent and its control plane in tests.

    with TcpProxy(target_port=cp.port, seed=7) as proxy:        # listens on 127.0.0.1:proxy.port
        agent = cluster.agent("a", control_plane=proxy.address)
        proxy.partition()            # "hold": stop forwarding, keep every connection open (a silent network)
        proxy.partition("drop")      # "drop": cut every connection and refuse new ones at once
        proxy.heal()                 # forward again (held bytes go through, in order)
        proxy.set_faults(delay_prob=0.2, delay_s=(0.005, 0.1), cut_prob=0.01, max_cuts=5)
        proxy.retarget(new_port)     # later connections go there (e.g. a restarted control plane)
        proxy.stats                  # connections, chunks, bytes, delays, cuts

Each accepted connection gets two pump threads (one per direction); each pump forwards what it reads, chunk by
chunk, in order. Faults are drawn per chunk: with ``delay_prob`` the chunk waits a random time in ``delay_s``
before it is forwarded (the pump holds it: later chunks of that direction wait behind it, as on a slow link); with
``cut_prob`` the whole connection is cut (both sockets reset; the chunk is lost), at most ``max_cuts`` times over
the proxy's life. Random draws come from a ``random.Random`` per (seed, connection number, direction), so a run's
fault pattern per connection is reproducible. Everything is bounded: delays by ``delay_s``, cuts by ``max_cuts``,
connections by ``max_connections``, and :meth:`close` stops every thread (joined with a timeout).
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

_CHUNK = 64 * 1024
_POLL_S = 0.05
"""How often a waiting thread looks at the stop flag."""


@dataclass
class ProxyStats:
    """What the proxy did so far (read while it runs: counters only grow)."""

    connections: int = 0
    refused: int = 0
    chunks: int = 0
    bytes: int = 0
    delays: int = 0
    delayed_s: float = 0.0
    cuts: int = 0
    cut_times: list[float] = field(default_factory=list)
    """time.monotonic() of each cut."""


class _Connection:
    """One client connection and its upstream twin."""

    def __init__(self, number: int, client: socket.socket) -> None:
        self.number = number
        self.client = client
        self.upstream: socket.socket | None = None
        self.closed = threading.Event()
        self._lock = threading.Lock()

    def sockets(self) -> Iterator[socket.socket]:
        yield self.client
        if self.upstream is not None:
            yield self.upstream

    def close(self, reset: bool = False) -> None:
        """Close both sides (with an RST when ``reset``: what a cut connection looks like to each end)."""
        with self._lock:
            if self.closed.is_set():
                return
            self.closed.set()
        for sock in self.sockets():
            _close(sock, reset)


def _close(sock: socket.socket, reset: bool) -> None:
    """Close ``sock``, waking a thread blocked reading it; with an RST to the peer when ``reset``."""
    try:
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RD)  # wakes a blocked recv() without sending a FIN; close() then sends RST
        else:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target_host:target_port``, with partitions, delays and cuts on demand."""

    def __init__(
        self,
        target_port: int,
        target_host: str = "127.0.0.1",
        *,
        seed: int = 0,
        delay_prob: float = 0.0,
        delay_s: tuple[float, float] = (0.0, 0.0),
        cut_prob: float = 0.0,
        max_cuts: int | None = None,
        listen_port: int = 0,
        max_connections: int = 256,
    ) -> None:
        self.target = (target_host, target_port)
        self.seed = seed
        self.max_connections = max_connections
        self.stats = ProxyStats()
        self._lock = threading.Lock()
        self._connections: list[_Connection] = []
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._flowing = threading.Event()
        self._flowing.set()
        self._drop = False
        self.set_faults(delay_prob=delay_prob, delay_s=delay_s, cut_prob=cut_prob, max_cuts=max_cuts)
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", listen_port))
        self._listener.listen(64)
        self._listener.settimeout(_POLL_S)
        self.port: int = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept_loop, name=f"proxy-{self.port}-accept", daemon=True)
        self._acceptor.start()

    # -- knobs ----------------------------------------------------------------------------------------------------

    @property
    def address(self) -> str:
        """127.0.0.1:PORT, for ``lightning-agent --control-plane``."""
        return f"127.0.0.1:{self.port}"

    def set_faults(self, *, delay_prob: float = 0.0, delay_s: tuple[float, float] = (0.0, 0.0),
                   cut_prob: float = 0.0, max_cuts: int | None = None) -> None:
        """Random faults per chunk from now on (all zero: a clean link)."""
        if not (0.0 <= delay_prob <= 1.0 and 0.0 <= cut_prob <= 1.0):
            raise ValueError("probabilities must be within [0, 1]")
        low, high = delay_s
        if not 0.0 <= low <= high <= 10.0:
            raise ValueError("delay_s must be (low, high) with 0 <= low <= high <= 10")
        self.delay_prob, self.delay_s, self.cut_prob, self.max_cuts = delay_prob, (low, high), cut_prob, max_cuts

    def partition(self, mode: str = "hold") -> None:
        """Stop forwarding. "hold": connections stay open and silent (bytes wait in the proxy and the kernel),
        new connections are accepted but not connected upstream until :meth:`heal`. "drop": every connection is
        cut now and new ones are closed as soon as they are accepted."""
        if mode not in ("hold", "drop"):
            raise ValueError(f"mode must be 'hold' or 'drop', got {mode!r}")
        self._flowing.clear()
        self._drop = mode == "drop"
        if self._drop:
            with self._lock:
                connections = list(self._connections)
            for connection in connections:
                connection.close(reset=True)

    def heal(self) -> None:
        """Forward again."""
        self._drop = False
        self._flowing.set()

    @property
    def partitioned(self) -> bool:
        """Whether a partition is in force."""
        return not self._flowing.is_set()

    def retarget(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        """Send connections accepted from now on to another port."""
        self.target = (target_host, target_port)

    def cut_all(self) -> int:
        """Cut every open connection now (not counted in ``stats.cuts``); how many were cut."""
        with self._lock:
            connections = [c for c in self._connections if not c.closed.is_set()]
        for connection in connections:
            connection.close(reset=True)
        return len(connections)

    @property
    def open_connections(self) -> int:
        """Connections currently open."""
        with self._lock:
            return sum(1 for c in self._connections if not c.closed.is_set())

    # -- life -----------------------------------------------------------------------------------------------------

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop accepting, cut every connection and join every thread (each bounded by ``timeout_s`` overall)."""
        self._stop.set()
        self._flowing.set()  # wake waiting pumps so they see the stop flag
        try:
            self._listener.close()
        except OSError:
            pass
        with self._lock:
            connections = list(self._connections)
            threads = [self._acceptor, *self._threads]
        for connection in connections:
            connection.close()
        deadline = time.monotonic() + timeout_s
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    # -- internals ------------------------------------------------------------------------------------------------

    def _spawn(self, target, *args: object, name: str) -> None:  # noqa: ANN001
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        number = 0
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                live = sum(1 for c in self._connections if not c.closed.is_set())
            if self._drop or live >= self.max_connections:
                self.stats.refused += 1
                _Connection(-1, client).close(reset=True)
                continue
            number += 1
            connection = _Connection(number, client)
            with self._lock:
                self._connections = [c for c in self._connections if not c.closed.is_set()]
                self._connections.append(connection)
            self.stats.connections += 1
            self._spawn(self._serve, connection, name=f"proxy-{self.port}-conn{number}")

    def _wait_flowing(self, connection: _Connection) -> bool:
        """Block while partitioned; whether to go on (False: stopping, or the connection was closed)."""
        while not self._flowing.wait(_POLL_S):
            if self._stop.is_set() or connection.closed.is_set():
                return False
        return not (self._stop.is_set() or connection.closed.is_set())

    def _serve(self, connection: _Connection) -> None:
        if not self._wait_flowing(connection):
            connection.close()
            return
        try:
            upstream = socket.create_connection(self.target, timeout=5.0)
        except OSError:
            connection.close(reset=True)  # nothing listens there (yet): the client sees a refused connection
            return
        upstream.settimeout(None)
        for sock in (connection.client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection.upstream = upstream
        if connection.closed.is_set():  # cut (partition "drop", close) while connecting: close() missed upstream
            _close(upstream, reset=True)
            return
        self._spawn(self._pump, connection, connection.client, upstream, "up", name=f"proxy-{self.port}-up")
        self._pump(connection, upstream, connection.client, "down")

    def _pump(self, connection: _Connection, src: socket.socket, dst: socket.socket, direction: str) -> None:
        rng = random.Random(f"{self.seed}:{connection.number}:{direction}")
        while not self._stop.is_set():
            try:
                data = src.recv(_CHUNK)
            except OSError:
                data = b""
            if not data:
                connection.close()  # one side ended: end the other (a half-closed HTTP/2 link is of no use)
                return
            # Drawn for every chunk, whatever the knobs, so that the sequence per connection stays reproducible.
            delay_draw, delay_len, cut_draw = rng.random(), rng.random(), rng.random()
            if not self._wait_flowing(connection):
                connection.close()
                return
            if cut_draw < self.cut_prob and self._take_cut():
                connection.close(reset=True)
                return
            if delay_draw < self.delay_prob:
                low, high = self.delay_s
                pause = low + (high - low) * delay_len
                self.stats.delays += 1
                self.stats.delayed_s += pause
                if self._stop.wait(pause):
                    return
            if not self._wait_flowing(connection):  # a partition may have begun during the delay
                connection.close()
                return
            try:
                dst.sendall(data)
            except OSError:
                connection.close()
                return
            self.stats.chunks += 1
            self.stats.bytes += len(data)

    def _take_cut(self) -> bool:
        with self._lock:
            if self.max_cuts is not None and self.stats.cuts >= self.max_cuts:
                return False
            self.stats.cuts += 1
            self.stats.cut_times.append(time.monotonic())
            return True
