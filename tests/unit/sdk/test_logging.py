"""Tests for sdk._logging's standard-stream wrapper: lines printed from several threads never interleave."""

from __future__ import annotations

import io
import threading

from lightning_ctl.sdk._logging import _QuietOnClose


def in_thread(fn) -> None:
    thread = threading.Thread(target=fn)
    thread.start()
    thread.join()


def test_a_line_is_written_whole_even_when_another_thread_writes_between_its_parts() -> None:
    """print() writes text and newline in two calls: a flow's print and the console's lines must not mix."""
    out = io.StringIO()
    stream = _QuietOnClose(out)
    stream.write("results [1, 2]")
    in_thread(lambda: stream.write("root.w | hello\n"))
    stream.write("\n")
    assert out.getvalue() == "root.w | hello\nresults [1, 2]\n"


def test_flush_writes_a_line_that_has_not_ended() -> None:
    """print(..., end="", flush=True) still shows its text."""
    out = io.StringIO()
    stream = _QuietOnClose(out)
    stream.write("progress 50%")
    assert out.getvalue() == ""
    stream.flush()
    assert out.getvalue() == "progress 50%"


def test_many_threads_printing_at_once_give_whole_lines() -> None:
    """Eight threads printing 500 lines each: every line comes out whole."""
    out = io.StringIO()
    stream = _QuietOnClose(out)

    def talk(name: str) -> None:
        for index in range(500):
            print(f"{name} line {index}", file=stream)

    threads = [threading.Thread(target=talk, args=(f"t{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = out.getvalue().splitlines()
    assert len(lines) == 4000 and all(line.split(" line ")[1].isdigit() for line in lines)
