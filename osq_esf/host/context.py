"""The context JSON osquery sends with `generate` and write requests.

Byte-compatible with osquery's rapidjson output
(`TablePlugin::setRequestFromContext`, `ConstraintList::serialize`,
`serializeUpdateParameters`): compact, insertion-ordered keys, `op` as a
number, `expr` as a string, uppercase `\\uXXXX` escapes for control
characters and non-ASCII written raw.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Sequence

# rapidjson's Writer escapes only these: the two mandatory characters and
# C0 controls (short forms for \b \t \n \f \r, `\u00XX` uppercase otherwise).
_ESCAPES = {i: "\\u%04X" % i for i in range(0x20)}
_ESCAPES.update({0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"})
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\"})


def json_string(text: str) -> str:
    """Quote `text` as rapidjson's Writer does."""
    return '"' + text.translate(_ESCAPES) + '"'


def json_double(value: float) -> str:
    """Format a double as rapidjson's Writer (Grisu + Prettify) does."""
    if math.isnan(value) or math.isinf(value):
        # rapidjson refuses NaN/Inf without kWriteNanAndInfFlag; osquery then
        # emits an incomplete document. `null` is the closest sane output.
        return "null"
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    sign = "-" if value < 0 else ""
    digits, _, exponent = repr(abs(value)).partition("e")
    mantissa_int, _, mantissa_frac = digits.partition(".")
    if mantissa_frac == "0":
        mantissa_frac = ""
    buffer = (mantissa_int + mantissa_frac).lstrip("0") or "0"
    # k: decimal exponent of the last digit in `buffer`.
    k = int(exponent or 0) - len(mantissa_frac)
    trailing = len(buffer) - len(buffer.rstrip("0"))
    if trailing and buffer != "0":
        buffer = buffer[: len(buffer) - trailing]
        k += trailing
    length = len(buffer)
    kk = length + k  # 10^(kk-1) <= value < 10^kk
    if 0 <= k and kk <= 21:
        out = buffer + "0" * k + ".0"
    elif 0 < kk <= 21:
        out = buffer[:kk] + "." + buffer[kk:]
    elif -6 < kk <= 0:
        out = "0." + "0" * (-kk) + buffer
    elif length == 1:
        out = buffer + "e" + str(kk - 1)
    else:
        out = buffer[0] + "." + buffer[1:] + "e" + str(kk - 1)
    return sign + out


Constraint = tuple[int, str]  # (op, expr)


def build_context(
    columns: Iterable[tuple[str, str]],
    constraints: Mapping[str, Sequence[Constraint]],
    cols_used: Sequence[str] | None = None,
    cols_used_bitset: int | None = None,
) -> str:
    """Serialize a query context.

    `columns` is (name, affinity) in table order; osquery's ConstraintMap is
    a std::map, so the output has one entry per distinct name, sorted, with
    an empty `list` for unconstrained columns. `colsUsed`/`colsUsedBitset`
    are omitted when None (write requests carry neither).
    """
    affinity: dict[str, str] = {}
    for name, column_type in columns:
        affinity[name] = column_type
    for name in constraints:
        # A constraint on a name the table does not declare still gets an
        # entry (std::map operator[] default-constructs it, affinity UNKNOWN).
        affinity.setdefault(name, "UNKNOWN")
    entries = []
    for name in sorted(affinity):
        items = ",".join(
            '{"op":%d,"expr":%s}' % (op, json_string(expr))
            for op, expr in constraints.get(name, ())
        )
        entries.append(
            '{"name":%s,"list":[%s],"affinity":%s}'
            % (json_string(name), items, json_string(affinity[name]))
        )
    out = '{"constraints":[' + ",".join(entries) + "]"
    if cols_used is not None:
        out += ',"colsUsed":[' + ",".join(json_string(c) for c in cols_used) + "]"
    if cols_used_bitset is not None:
        out += ',"colsUsedBitset":%d' % cols_used_bitset
    return out + "}"


def json_value(value) -> str:
    """One element of `json_value_array` (xUpdate's serializer)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json_double(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return json_string(bytes(value).decode("utf-8", "replace"))
    return json_string(str(value))
