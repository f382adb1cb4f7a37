"""eslogger JSON Lines -> compact typed records.

This is the hot path.  msgspec decodes each line straight into frozen Structs that
declare only the fields we use, so the big ``stat`` blocks, ``fds`` and unknown
keys are skipped in C without building dicts.  Everything eslogger may leave out
for an older message version (``seq_num`` before v2, ``global_seq_num``/``thread``/
tokens before v4, ``cs_validation_category`` before v10, ...) defaults to None, so
versions 1-11 all decode.  Audit tokens come as an object or, on some macOS 26
builds, as the array ``[auid, euid, egid, ruid, rgid, pid, asid, pidversion]``;
both are accepted here and normalised once per distinct process in
:mod:`osq_esf.process`.
"""

from __future__ import annotations

import calendar
from typing import Optional, Tuple, Union

import msgspec
from msgspec import Struct


class AuditToken(Struct, frozen=True, gc=False):
    auid: int = -1
    euid: int = -1
    egid: int = -1
    ruid: int = -1
    rgid: int = -1
    pid: int = -1
    asid: int = -1
    pidversion: int = -1


# The array form, in eslogger's order: [auid, euid, egid, ruid, rgid, pid, asid, pidversion].
TokenArray = Tuple[int, int, int, int, int, int, int, int]
Token = Union[AuditToken, TokenArray]


class File(Struct, frozen=True, gc=False):
    path: str
    path_truncated: bool = False


class Process(Struct, frozen=True, gc=False, kw_only=True):
    """es_process_t as eslogger writes it; frozen, so equal processes intern to one context."""

    audit_token: Token
    executable: File
    ppid: int = 0
    original_ppid: int = 0
    group_id: int = 0
    session_id: int = 0
    codesigning_flags: int = 0
    is_platform_binary: bool = False
    is_es_client: bool = False
    cdhash: str = ""
    signing_id: Optional[str] = None
    team_id: Optional[str] = None
    tty: Optional[File] = None
    start_time: Optional[str] = None
    responsible_audit_token: Optional[Token] = None
    parent_audit_token: Optional[Token] = None
    cs_validation_category: Optional[int] = None


class ExecEvent(Struct, gc=False, kw_only=True):
    target: Process
    args: list[str] = []
    env: list[str] = []
    cwd: Optional[File] = None
    script: Optional[File] = None
    dyld_exec_path: Optional[str] = None
    last_fd: Optional[int] = None
    image_cputype: Optional[int] = None
    image_cpusubtype: Optional[int] = None


class OpenEvent(Struct, gc=False):
    fflag: int
    file: File


class WriteEvent(Struct, gc=False):
    target: File


class IOKitOpenEvent(Struct, gc=False, kw_only=True):
    user_client_type: int = 0
    user_client_class: str = ""
    parent_registry_id: Optional[int] = None
    parent_path: Optional[str] = None


class ForkEvent(Struct, gc=False):
    child: Process


class ExitEvent(Struct, gc=False):
    stat: int


class Events(Struct, gc=False, kw_only=True):
    """The ``event`` object: one key named after the type; unmodelled keys are skipped."""

    exec: Optional[ExecEvent] = None
    open: Optional[OpenEvent] = None
    write: Optional[WriteEvent] = None
    iokit_open: Optional[IOKitOpenEvent] = None
    fork: Optional[ForkEvent] = None
    exit: Optional[ExitEvent] = None


class Thread(Struct, frozen=True, gc=False):
    thread_id: int = 0


class _Envelope(Struct, gc=False, kw_only=True):
    """The message fields both decoded forms share; ``process`` is added by each form."""

    event_type: int
    event: Events
    time: str
    version: int = 1
    mach_time: int = 0
    seq_num: Optional[int] = None
    global_seq_num: Optional[int] = None
    thread: Optional[Thread] = None
    action_type: int = 1


class Message(_Envelope, kw_only=True):
    """One eslogger message with its acting process decoded."""

    process: Process


class IngestMessage(_Envelope, kw_only=True):
    """:class:`Message` as the pipeline reads it: the acting ``process`` left as raw JSON.

    Most events come from a few hundred processes, so the pipeline interns the context by
    these bytes (:meth:`osq_esf.process.ProcessPool.get_raw`) and builds a :class:`Process`
    only for bytes it has not seen: skipping the struct saves ~1/3 of the decode.
    """

    process: msgspec.Raw


class RawEvent(Struct, gc=False):
    """Second look at a line whose event type has no table: keep the event JSON as is."""

    event: msgspec.Raw


class DecodeError(ValueError):
    """A line that is not an eslogger message; the text says why."""


_MESSAGE = msgspec.json.Decoder(Message)
_INGEST = msgspec.json.Decoder(IngestMessage)
_PROCESS = msgspec.json.Decoder(Process)
_RAW_EVENT = msgspec.json.Decoder(RawEvent)


def _decode_checked(decode, line: bytes):
    """``decode(line)`` with every failure as a :class:`DecodeError`, and the line's UTF-8 checked."""
    try:
        msg = decode(line)
    except msgspec.DecodeError as e:  # ValidationError is a subclass
        raise DecodeError(str(e)) from None
    except UnicodeDecodeError as e:  # msgspec raises it for bad UTF-8 inside a decoded string
        raise DecodeError(f"invalid UTF-8 at byte {e.start}") from None
    # msgspec validates UTF-8 only in the strings it decodes; skipped keys can still
    # hide bad bytes, and a line like that is not eslogger's.  isascii() is the cheap path.
    if not line.isascii():
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DecodeError(f"invalid UTF-8 at byte {e.start}") from None
    return msg


def decode_line(line: bytes) -> Message:
    """Decode one JSON line (with or without CR/LF) into a :class:`Message`.

    Raises :class:`DecodeError` for bad JSON, a non-object, a missing or mistyped
    ``event``/``event_type``/``process``/``time``, or invalid UTF-8 anywhere in the line.
    """
    return _decode_checked(_MESSAGE.decode, line)


def decode_lines(lines, first_number: int) -> tuple[list, list, int]:
    """A batch for the pipeline: ([(IngestMessage, line, number)], [(line, number, why)], last number).

    Blank lines are skipped (numbered all the same).  The checks are :func:`decode_line`'s,
    except that the acting process is validated when the pipeline first meets its bytes
    (:func:`decode_process`).  Decoding the batch as one JSON array was measured no faster
    (the join costs what the calls save), so this is one C call per line.
    """
    decode = _INGEST.decode
    decoded, errors = [], []
    number = first_number - 1
    for line in lines:
        number += 1
        if line[:1] != b"{" and not line.strip():  # strip() copies: only for lines that may be blank
            continue  # blank lines (e.g. a trailing newline) carry nothing
        try:
            decoded.append((_decode_checked(decode, line), line, number))
        except DecodeError as e:
            errors.append((line, number, str(e)))
        except Exception as e:  # never let one line stop ingestion
            errors.append((line, number, f"{type(e).__name__}: {e}"))
    return decoded, errors, number


def decode_process(raw: bytes) -> Process:
    """The ``process`` object of an :class:`IngestMessage`; errors read as :func:`decode_line`'s."""
    try:
        return _PROCESS.decode(raw)
    except msgspec.DecodeError as e:
        text = str(e)
        if "`$" in text:  # the path as it is in the whole message
            text = text.replace("`$", "`$.process", 1)
        else:
            text = f"{text} - at `$.process`"
        raise DecodeError(text) from None


def raw_event_json(line: bytes) -> str:
    """The ``event`` object of a line, as JSON text (for types without a table)."""
    return bytes(_RAW_EVENT.decode(line).event).decode("utf-8", "replace")


# -- time -------------------------------------------------------------------------------

_MINUTE_EPOCH: dict[str, int] = {}
_SECOND_EPOCH: dict[str, int] = {}


def parse_time(text: str) -> tuple[int, int]:
    """RFC 3339 UTC (``2026-10-04T00:01:54.314153644Z``) -> (unix seconds, nanoseconds).

    eslogger always writes UTC with a ``Z``; the second prefix repeats across
    thousands of events, so its epoch is cached and usually only the nine digits of
    the fraction are parsed (this runs once per event).
    """
    sec = _SECOND_EPOCH.get(text[:19])
    if sec is None:
        sec = _seconds(text)
    if len(text) == 30 and text[29] == "Z" and text[19] == ".":
        frac = text[20:29]
        if frac.isdecimal():  # exactly what int() accepts
            return sec, int(frac)
    nsec = 0
    if len(text) > 20 and text[19] == ".":
        frac = text[20:].rstrip("Z")
        # A timezone offset would follow the fraction; eslogger writes none.
        try:
            nsec = int((frac[:9]).ljust(9, "0")) if frac.isdigit() else 0
        except ValueError:  # digits int() refuses, such as superscripts
            raise DecodeError(f"bad time {text!r}") from None
    return sec, nsec


def _seconds(text: str) -> int:
    """Unix seconds of the ``YYYY-MM-DDTHH:MM:SS`` prefix, via the per-minute cache."""
    minute = text[:16]
    base = _MINUTE_EPOCH.get(minute)
    try:
        if base is None:
            base = calendar.timegm(
                (int(text[0:4]), int(text[5:7]), int(text[8:10]), int(text[11:13]), int(text[14:16]), 0)
            )
            if len(_MINUTE_EPOCH) > 4096:
                _MINUTE_EPOCH.clear()
            _MINUTE_EPOCH[minute] = base
        sec = base + int(text[17:19])
    except (ValueError, IndexError):
        raise DecodeError(f"bad time {text!r}") from None
    if len(_SECOND_EPOCH) > 4096:
        _SECOND_EPOCH.clear()
    _SECOND_EPOCH[text[:19]] = sec
    return sec
