"""The status line: on a terminal only, erased before any other output."""

import io
import time

from fake_lab import progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_nothing_is_drawn_when_the_output_is_not_a_terminal(capsys):
    stream = io.StringIO()
    status = progress.Status(stream)
    status.show("[start] 1 s")
    with status.ticking(lambda: "busy", interval=0.01):
        time.sleep(0.05)
    status.say("a line")
    assert stream.getvalue() == ""
    assert capsys.readouterr().out == "a line\n"


def test_on_a_terminal_the_line_is_drawn_and_erased_before_output(capsys):
    stream = Terminal()
    status = progress.Status(stream)
    status.show("[workload] 2 s: idle 1.0 s of 4.5 s")
    assert stream.getvalue() == "\r\x1b[K[workload] 2 s: idle 1.0 s of 4.5 s"
    status.say("  idle: 3.11 s of 4.5 s")
    assert stream.getvalue().endswith("\r\x1b[K")
    assert capsys.readouterr().out == "  idle: 3.11 s of 4.5 s\n"


def test_a_ticker_shows_what_its_function_says_and_clears_at_the_end():
    stream = Terminal()
    status = progress.Status(stream)
    calls = []

    def text():
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("a status line never breaks the command")
        return f"matrix: {len(calls)} of 24 cells done"

    with status.ticking(text, interval=0.01):
        time.sleep(0.1)
    assert "matrix: 1 of 24 cells done" in stream.getvalue()
    assert stream.getvalue().endswith("\r\x1b[K")


def test_elapsed_reads_as_a_person_would_say_it():
    assert progress.elapsed(time.monotonic() - 5) == "5 s"
    assert progress.elapsed(time.monotonic() - 65) == "1 min 05 s"


def test_last_line_is_what_the_command_under_way_said_last(tmp_path):
    out = tmp_path / "run-1.out"
    assert progress.last_line(str(out)) == ""
    out.write_text("")
    assert progress.last_line(str(out)) == "starting"
    out.write_text("heartbeat-loss: ...\n[start] 3.02 s\n  first-request: 200\n")
    assert progress.last_line(str(out)) == "first-request: 200"
