"""Result formatting the way osqueryi prints (`osquery/devtools/printer.cpp`, `shell.cpp`).

- table: osqueryi's pretty mode (`prettyPrint`): +---+ borders, widths in
  code points, nothing at all for an empty result.
- json: `osqueryi --json` (`jsonPrint`): one compact object per line, keys
  sorted (rows are std::map), every value a string, NULL as "".
- csv: the shell's MODE_Csv quoting (`output_csv`) with a header line.
  (osqueryi --csv itself ends up with "|" as separator because it copies
  --separator over its ','; here the separator is a parameter.)
"""

from __future__ import annotations

from typing import Callable, Sequence

from .context import json_string
from .convert import sqlite_text


def cell_text(value) -> str:
    """A value as the shell prints it: SQLite's text form, NULL as ""."""
    text = sqlite_text(value)
    return "" if text is None else text


def _text_rows(result) -> list[list[str]]:
    return [[cell_text(v) for v in row] for row in result.rows]


def format_table(result) -> str:
    columns: Sequence[str] = result.columns
    rows = _text_rows(result)
    if not rows:
        return ""
    widths = [len(name) for name in columns]
    for row in rows:
        for i, text in enumerate(row):
            widths[i] = max(widths[i], len(text))
    separator = "+" + "+".join("-" * (w + 2) for w in widths) + "+\n"
    header = "|" + "|".join(" %s " % name.ljust(w) for name, w in zip(columns, widths)) + "|\n"
    lines = [separator, header, separator]
    for row in rows:
        lines.append("|" + "|".join(" %s " % text.ljust(w) for text, w in zip(row, widths)) + "|\n")
    lines.append(separator)
    return "".join(lines)


def format_json(result) -> str:
    objects = []
    for row in _text_rows(result):
        mapping = dict(zip(result.columns, row))  # duplicate names: last wins
        objects.append("{" + ",".join("%s:%s" % (json_string(k), json_string(mapping[k]))
                                      for k in sorted(mapping)) + "}")
    return "[\n" + ",\n".join("  " + o for o in objects) + "\n]\n"


def _csv_needs_quote(text: str, separator: str) -> bool:
    # needCsvQuote[]: controls, space, '"', '\'', DEL and every non-ASCII byte.
    for ch in text:
        code = ord(ch)
        if code <= 0x20 or code >= 0x7F or ch in "\"'":
            return True
    return bool(separator) and separator in text


def _csv_field(value, separator: str) -> str:
    if value is None:
        return ""  # --nullvalue
    text = cell_text(value)
    if _csv_needs_quote(text, separator):
        return '"' + text.replace('"', '""') + '"'
    return text


def format_csv(result, separator: str = ",", header: bool = True) -> str:
    if not result.rows:
        return ""  # the shell prints the header with the first row
    lines = []
    if header:
        lines.append(separator.join(_csv_field(name, separator) for name in result.columns))
    for row in result.rows:
        lines.append(separator.join(_csv_field(value, separator) for value in row))
    return "".join(line + "\n" for line in lines)


FORMATS: dict[str, Callable] = {"table": format_table, "json": format_json, "csv": format_csv}


def format_result(result, mode: str = "table") -> str:
    """Render `result` (has .columns and .rows) in `mode`: table, json or csv."""
    try:
        return FORMATS[mode](result)
    except KeyError:
        raise ValueError("unknown output mode %r (use %s)" % (mode, ", ".join(FORMATS))) from None
