"""Bounded input and no silent loss at the sources (issue 10, items 3, 6 and 7): the line cap
(a stream without newlines costs a count, not memory), truncated and corrupt .gz
recordings end as failed with every complete line counted, `query` exits non-zero after
printing, and `--replay -` reads standard input."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osq_esf.pipeline import Pipeline
from osq_esf.kinds import default_kinds
from osq_esf.sources.base import LineSplitter, Oversize
from osq_esf.sources.replay import ReplaySource
from tests.rules_events import exec_line


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=12),
       cuts=st.lists(st.integers(0, 400), max_size=8), cap=st.integers(1, 30), tail=st.booleans())
def test_the_splitter_keeps_order_caps_every_line_and_never_holds_more_than_the_cap(lines, cuts, cap, tail):
    stream = b"\n".join(lines) + (b"\n" if lines and not tail else b"")
    sp = LineSplitter(cap)
    out, last = [], 0
    for c in sorted(set(min(c, len(stream)) for c in cuts)) + [len(stream)]:
        out += sp.feed(stream[last:c])
        last = c
        assert sp._size <= cap  # the bound: never more than one capped line in memory
    out += sp.flush()
    want = stream.split(b"\n")
    if stream.endswith(b"\n") or not stream:
        want = want[:-1]
    assert len(out) == len(want)
    for got, line in zip(out, want):
        if len(line) > cap:
            assert type(got) is Oversize and got.length == len(line) and line.startswith(got.head)
        else:
            assert got == line


def replay(path, max_line=1 << 20):
    p = Pipeline(default_kinds())
    src = ReplaySource(p, [str(path)], f"replay:{path}", max_line=max_line)
    src._main()
    return p, src.state


def test_a_line_past_the_cap_is_counted_and_skipped_to_the_next_newline(tmp_path):
    path = tmp_path / "rec.jsonl"
    path.write_bytes(exec_line() + b"\n" + b'{"x":"' + b"a" * (3 << 20) + b"\n" + exec_line() + b"\n")
    p, st_ = replay(path)
    assert (st_.state, st_.lines, st_.decode_errors, len(p.rings["es_exec"])) == ("drained", 3, 1, 2)
    (err,) = p.decode_error_rows()
    assert err["line_number"] == 2 and "line longer than 1048576 bytes (3145734 bytes)" in err["error"]
    assert err["sample"] == '{"x":"<redacted:oversize>'  # its start, the cut string masked whole


def test_a_source_without_any_newline_costs_a_count_not_memory(tmp_path):
    path = tmp_path / "zero"
    path.write_bytes(b"\0" * (8 << 20))  # like replay:/dev/zero, but it ends
    p, st_ = replay(path)
    assert (st_.state, st_.lines, st_.decode_errors) == ("drained", 1, 1)


def gz_lines(n: int) -> bytes:
    return gzip.compress(b"".join(exec_line() + b"\n" for _ in range(n)))


def complete_lines_in(prefix: bytes) -> int:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    return d.decompress(prefix).count(b"\n")


def test_a_truncated_gz_fails_with_its_error_after_counting_every_complete_line(tmp_path):
    data = gz_lines(400)
    cut = data[: len(data) * 2 // 3]
    path = tmp_path / "rec.jsonl.gz"
    path.write_bytes(cut)
    complete = complete_lines_in(cut)
    p, st_ = replay(path)
    assert st_.state == "failed" and "EOFError" in st_.last_error and str(path) in st_.last_error
    assert len(p.rings["es_exec"]) == complete
    assert st_.lines == complete + 1 and st_.decode_errors == 1  # the line cut in half


def test_a_corrupt_gz_fails(tmp_path):
    data = bytearray(gz_lines(400))
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0x5A
    path = tmp_path / "rec.jsonl.gz"
    path.write_bytes(bytes(data))
    _, st_ = replay(path)
    assert st_.state == "failed" and st_.last_error


def run_cli(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "osq_esf", *args], capture_output=True, timeout=120, stdin=stdin)


def test_query_prints_then_exits_non_zero_when_a_source_failed(tmp_path):
    data = gz_lines(300)
    path = tmp_path / "rec.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    r = run_cli("query", "--engine", "embedded", "--replay", str(path), "SELECT count(*) AS n FROM es_exec",
                "--format", "json")
    assert r.returncode == 1, r.stderr
    assert int(json.loads(r.stdout)[0]["n"]) == complete_lines_in(data[: len(data) // 2])
    assert "source replay failed" in r.stderr.decode() and "EOFError" in r.stderr.decode()


def test_replay_dash_reads_standard_input(tmp_path):
    path = tmp_path / "rec.jsonl"
    path.write_bytes(b"".join(exec_line() + b"\n" for _ in range(25)))
    with open(path, "rb") as f:
        r = run_cli("query", "--engine", "embedded", "--replay", "-", "SELECT count(*) AS n FROM es_exec",
                    "--format", "csv", stdin=f)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == ["n", "25"]


@pytest.mark.parametrize("now", ["end", "rebase"])
def test_now_from_the_recording_refuses_replay_dash(tmp_path, now):
    """--now end/rebase read the recording once for its end: standard input would be used up and
    the query would see nothing (it printed 0 rows with exit 0)."""
    path = tmp_path / "rec.jsonl"
    path.write_bytes(b"".join(exec_line() + b"\n" for _ in range(5)))
    with open(path, "rb") as f:
        r = run_cli("query", "--replay", "-", "--now", now, "SELECT count(*) AS n FROM es_exec", stdin=f)
    assert r.returncode == 2 and b"standard input allows only once" in r.stderr, r.stderr


def test_shell_refuses_replay_dash():
    r = run_cli("shell", "--replay", "-", stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and b"cannot also replay it" in r.stderr


def test_a_pipe_that_pauses_has_its_lines_ingested_without_waiting_for_a_full_batch():
    """`replay:-` fed by a live pipe: lines that arrived are ingested when the pipe goes quiet,
    not held until 512 have come or the writer closes it."""
    import os
    import time

    r, w = os.pipe()
    p = Pipeline(default_kinds())
    src = ReplaySource(p, [f"/dev/fd/{r}"], "replay:pipe")
    src.start()
    try:
        os.write(w, b"".join(exec_line() + b"\n" for _ in range(3)))
        deadline = time.monotonic() + 20
        while src.state.events < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert src.state.events == 3 and src.state.state == "running"
    finally:
        os.close(w)
        src.join(20)
        os.close(r)
    assert src.state.state == "drained" and src.state.events == 3
