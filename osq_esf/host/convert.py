"""Value conversions that mirror osquery's C++ behaviour exactly.

- Reading an extension reply (`DynamicTableRow::get_column`): INTEGER uses
  `std::stol(s, 0, 0)` then `sqlite3_result_int` (32-bit truncation),
  BIGINT uses `std::stoll(s, 0, 0)`; both accept a valid *prefix*
  ("12abc" -> 12), hex ("0x1f") and octal ("017") because base is 0, and
  give NULL only when no digits parse or the value is out of range. DOUBLE
  uses `strtod` and must consume the whole string.
- `query()` results (`castVariant`): doubles with 15 significant digits
  plus ".0" when there is no '.'.
- Constraint expressions and shell output use SQLite's own text form.
"""

from __future__ import annotations

import math
import re
import threading

import apsw

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

_C_SPACE = " \t\n\v\f\r"
_DIGITS = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}


def c_strtoll(text: str, base: int = 0, lo: int = INT64_MIN, hi: int = INT64_MAX) -> int | None:
    """`std::stoll`-style parse: longest valid prefix, None if none or out of range."""
    s = text.lstrip(_C_SPACE)
    negative = False
    if s[:1] in ("+", "-"):
        negative = s[0] == "-"
        s = s[1:]
    if base == 0:
        if s[:2] in ("0x", "0X") and s[2:3] and s[2] in _DIGITS[16]:
            base, s = 16, s[2:]
        elif s[:1] == "0":
            base = 8
        else:
            base = 10
    elif base == 16 and s[:2] in ("0x", "0X") and s[2:3] and s[2] in _DIGITS[16]:
        s = s[2:]
    allowed = _DIGITS[base]
    end = 0
    while end < len(s) and s[end] in allowed:
        end += 1
    if end == 0:
        return None  # std::invalid_argument
    value = int(s[:end], base)
    if negative:
        value = -value
    if not lo <= value <= hi:
        return None  # std::out_of_range
    return value


def parse_bigint(text: str) -> int | None:
    """BIGINT / UNSIGNED BIGINT cell: "" and unparsable -> NULL."""
    # Fast path for the common case: plain decimal without a leading zero.
    if text.isdigit() and text.isascii() and (text[0] != "0" or len(text) == 1):
        value = int(text)
        return value if value <= INT64_MAX else None
    if not text:
        return None
    return c_strtoll(text)


def parse_integer(text: str) -> int | None:
    """INTEGER cell: stol, then sqlite3_result_int keeps the low 32 bits."""
    value = parse_bigint(text)
    if value is None:
        return None
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value > INT32_MAX else value


_STRTOD = re.compile(
    r"[ \t\n\v\f\r]*[+-]?(?:"
    r"(?P<dec>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<hex>0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?)"
    r"|(?P<inf>(?i:inf(?:inity)?))"
    r"|(?P<nan>(?i:nan)(?:\([0-9A-Za-z_]*\))?)"
    r")"
)


def parse_double(text: str) -> float | None:
    """DOUBLE cell: strtod must consume the whole string, else NULL."""
    match = _STRTOD.fullmatch(text)
    if match is None:
        return None
    negative = text.lstrip(_C_SPACE).startswith("-")
    if match.group("dec") is not None:
        value = float(match.group("dec"))  # overflow -> inf, as strtod
    elif match.group("hex") is not None:
        value = _parse_hex_float(match.group("hex"))
    elif match.group("inf") is not None:
        value = math.inf
    else:
        value = math.nan
    return -value if negative else value


def _parse_hex_float(text: str) -> float:
    try:
        return float.fromhex(text)
    except OverflowError:
        return math.inf


def cast_variant(value) -> str:
    """osquery's `castVariant` for `query()` rows; NULL is `--nullvalue` ("")."""
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # std::setprecision(15) on a default-formatted ostream == %.15g.
        if math.isnan(value):
            text = "nan" if math.copysign(1.0, value) > 0 else "-nan"
        elif math.isinf(value):
            text = "inf" if value > 0 else "-inf"
        else:
            text = "%.15g" % value
        return text if "." in text else text + ".0"
    return sqlite_text(value) or ""


_text_lock = threading.Lock()
_text_db: apsw.Connection | None = None


def sqlite_text(value) -> str | None:
    """What `sqlite3_value_text` returns for `value` (None stays None)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "replace")
    global _text_db
    # Floats: let SQLite render them so the text matches what the engine
    # itself prints (its "%!.15g" rules, "Inf", ...).
    with _text_lock:
        if _text_db is None:
            _text_db = apsw.Connection(":memory:")
        return _text_db.execute("SELECT CAST(? AS TEXT)", (value,)).fetchall()[0][0]
