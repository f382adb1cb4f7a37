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
import re
from typing import Annotated, Optional, Tuple, Union

import msgspec
from msgspec import Struct

# Every integer read from a line must fit 64 bits (issue 10): msgspec decodes any size, and a
# larger one would reach a table, es_health or a ring refusal.  Out of range is a decode error.
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
# INT64_MIN itself stands for NULL in the rings' integer columns (rings.NULL_INT): refused too.
Int = Annotated[int, msgspec.Meta(ge=INT64_MIN + 1, le=INT64_MAX)]
UINT64_MAX = (1 << 64) - 1  # what may stay as text: ES's unsigned ids, numbers inside JSON text
# Sequence numbers count up from 0; a negative one would turn into an enormous gap.
Seq = Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]


class AuditToken(Struct, frozen=True, gc=False):
    auid: Int = -1
    euid: Int = -1
    egid: Int = -1
    ruid: Int = -1
    rgid: Int = -1
    pid: Int = -1
    asid: Int = -1
    pidversion: Int = -1


# The array form, in eslogger's order: [auid, euid, egid, ruid, rgid, pid, asid, pidversion].
TokenArray = Tuple[Int, Int, Int, Int, Int, Int, Int, Int]
Token = Union[AuditToken, TokenArray]


class File(Struct, frozen=True, gc=False):
    path: str
    path_truncated: bool = False


class Process(Struct, frozen=True, gc=False, kw_only=True):
    """es_process_t as eslogger writes it; frozen, so equal processes intern to one context."""

    audit_token: Token
    executable: File
    ppid: Int = 0
    original_ppid: Int = 0
    group_id: Int = 0
    session_id: Int = 0
    codesigning_flags: Int = 0
    is_platform_binary: bool = False
    is_es_client: bool = False
    cdhash: str = ""
    signing_id: Optional[str] = None
    team_id: Optional[str] = None
    tty: Optional[File] = None
    start_time: Optional[str] = None
    responsible_audit_token: Optional[Token] = None
    parent_audit_token: Optional[Token] = None
    cs_validation_category: Optional[Int] = None


class Thread(Struct, frozen=True, gc=False):
    thread_id: Int = 0


class Envelope(Struct, gc=False, kw_only=True):
    """The message fields every decoded form shares; ``event`` and ``process`` are added by
    :class:`Codec`, because the event bodies are built from the table declarations."""

    event_type: Int
    time: str
    version: Int = 1
    mach_time: Int = 0
    seq_num: Optional[Seq] = None
    global_seq_num: Optional[Seq] = None
    thread: Optional[Thread] = None
    action_type: Int = 1


class RawEvent(Struct, gc=False):
    """Second look at a line whose event type has no table: keep the event JSON as is."""

    event: msgspec.Raw


class DecodeError(ValueError):
    """A line that is not an eslogger message; the text says why."""


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


class Codec:
    """Decoders for eslogger lines whose ``event`` object is ``events`` (osq_esf.bodies).

    ``Message`` has its acting process decoded; ``IngestMessage``, what the pipeline reads,
    leaves it as raw JSON: most events come from a few hundred processes, so the pipeline
    interns the context by those bytes (:meth:`osq_esf.process.ProcessPool.get_raw`) and
    builds a :class:`Process` only for bytes it has not seen, which saves ~1/3 of the decode.
    """

    def __init__(self, events: type):
        self.events = events
        self.Message = msgspec.defstruct("Message", [("event", events), ("process", Process)],
                                         bases=(Envelope,), kw_only=True, gc=False)
        self.IngestMessage = msgspec.defstruct("IngestMessage", [("event", events), ("process", msgspec.Raw)],
                                               bases=(Envelope,), kw_only=True, gc=False)
        self._message = msgspec.json.Decoder(self.Message).decode
        self._ingest = msgspec.json.Decoder(self.IngestMessage).decode

    def decode_line(self, line: bytes):
        """Decode one JSON line (with or without CR/LF) into a ``Message``.

        Raises :class:`DecodeError` for bad JSON, a non-object, a missing or mistyped
        ``event``/``event_type``/``process``/``time``, or invalid UTF-8 anywhere in the line.
        """
        return _decode_checked(self._message, line)

    def decode_lines(self, lines, first_number: int) -> tuple[list, list, int]:
        """A batch for the pipeline: ([(IngestMessage, line, number)], [(line, number, why)], last number).

        Blank lines are skipped (numbered all the same).  The checks are :meth:`decode_line`'s,
        except that the acting process is validated when the pipeline first meets its bytes
        (:func:`decode_process`).  Decoding the batch as one JSON array was measured no faster
        (the join costs what the calls save), so this is one C call per line.
        """
        decode = self._ingest
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


def decode_line(line: bytes):
    """:meth:`Codec.decode_line` with the installed table declarations (tests, tools)."""
    from osq_esf.kinds import default_kinds

    return default_kinds().codec.decode_line(line)


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


def fits_64_bits(v: int) -> bool:
    """Whether an integer kept as text fits 64 bits, signed or unsigned."""
    return INT64_MIN <= v <= UINT64_MAX


_LONG_NUMBER = re.compile(rb"[0-9]{19}")  # -2**63 has 19 digits: anything shorter fits


def check_json_ints(data: bytes) -> None:
    """Raise :class:`DecodeError` when JSON text kept whole (an event of an unknown type, a
    ``json`` column) holds an integer that does not fit 64 bits.  A quick scan for a run of
    19 digits spares the usual text the decode."""
    if _LONG_NUMBER.search(data) is None:
        return
    stack = [msgspec.json.decode(data)]
    while stack:
        v = stack.pop()
        if type(v) is int:
            if not fits_64_bits(v):
                raise DecodeError(f"{v} does not fit 64 bits")
        elif type(v) is dict:
            stack.extend(v.values())
        elif type(v) is list:
            stack.extend(v)


def raw_event_json(line: bytes) -> str:
    """The ``event`` object of a line, as JSON text (for event types this build does not know).

    Audit tokens in the 8-element array form (macOS 26) become objects, so
    ``json_extract(event, '$...audit_token.pid')`` works whatever the form.
    """
    return raw_json(_RAW_EVENT.decode(line).event, canonical=False) or "null"


def raw_json(raw, canonical: bool = True) -> str | None:
    """A ``msgspec.Raw`` value as canonical JSON text (None when absent or null): compact, keys
    sorted, audit-token arrays as objects.  The text never depends on who wrote the line: eslogger
    escapes "/" and orders keys its own way, the native shim writes them in C order.
    ``canonical=False`` keeps the line's own text (20 times cheaper) unless it holds token arrays."""
    data = bytes(raw)
    if not data or data == b"null":
        return None
    check_json_ints(data)
    if canonical or (b"token" in data and b"[" in data):
        return json_text(msgspec.json.decode(data), order="sorted" if canonical else None)
    return data.decode("utf-8", "replace")


TOKEN_KEYS = ("auid", "euid", "egid", "ruid", "rgid", "pid", "asid", "pidversion")


def tokens_as_objects(value):
    """``value`` (decoded JSON) with every 8-integer array under a ``*token`` key as an object."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if (k.endswith("token") and isinstance(v, list) and len(v) == 8
                    and all(type(x) is int for x in v)):
                out[k] = dict(zip(TOKEN_KEYS, v))
            else:
                out[k] = tokens_as_objects(v)
        return out
    if isinstance(value, list):
        return [tokens_as_objects(v) for v in value]
    return value


def json_text(value, order=None) -> str:
    """Compact JSON of decoded JSON, tokens as objects (``order="sorted"``: keys sorted)."""
    return msgspec.json.encode(tokens_as_objects(value), order=order).decode("utf-8", "replace")


# -- time -------------------------------------------------------------------------------

_MINUTE_EPOCH: dict[str, int] = {}
_SECOND_EPOCH: dict[str, int] = {}


_PREFIX = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}")
_FRACTION = re.compile(r"(?:\.([0-9]{1,9}))?Z")


def parse_time(text: str) -> tuple[int, int]:
    """RFC 3339 UTC (``2026-10-04T00:01:54.314153644Z``) -> (unix seconds, nanoseconds).

    eslogger always writes UTC with a ``Z``; anything else (an offset, no zone, more than
    nine fractional digits) is a :class:`DecodeError`, never a misread.  The second prefix
    repeats across thousands of events, so its epoch is cached (only prefixes that were
    validated get in) and usually only the nine digits of the fraction are parsed.
    """
    sec = _SECOND_EPOCH.get(text[:19])
    if sec is None:
        sec = _seconds(text)
    if len(text) == 30 and text[29] == "Z" and text[19] == ".":
        frac = text[20:29]
        if frac.isdigit() and frac.isascii():
            return sec, int(frac)
    m = _FRACTION.fullmatch(text, 19)
    if m is None:
        raise DecodeError(f"bad time {text[:40]!r}: eslogger writes UTC as YYYY-MM-DDTHH:MM:SS[.fraction]Z")
    frac = m.group(1)
    return sec, int(frac.ljust(9, "0")) if frac else 0


def _seconds(text: str) -> int:
    """Unix seconds of the ``YYYY-MM-DDTHH:MM:SS`` prefix, via the per-minute cache."""
    if _PREFIX.match(text) is None:
        raise DecodeError(f"bad time {text[:40]!r}: eslogger writes UTC as YYYY-MM-DDTHH:MM:SS[.fraction]Z")
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
    except (ValueError, OverflowError):
        raise DecodeError(f"bad time {text[:40]!r}") from None
    if len(_SECOND_EPOCH) > 4096:
        _SECOND_EPOCH.clear()
    _SECOND_EPOCH[text[:19]] = sec
    return sec
