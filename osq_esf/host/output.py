"""Result formatting the way osqueryi prints (`osquery/devtools/printer.cpp`, `shell.cpp`).

- pretty (osqueryi's default; `table` is accepted as another name):
  `prettyPrint`: +---+ borders, widths in code points, nothing at all for
  an empty result, the header always.
- line (`--line`, `.mode line`): `%*s = %s`, names right-aligned to the
  longest name (at least 5), a blank line between rows.
- list (`--list`, `.mode list`): values joined by the separator ("|"),
  a header line unless `--header=false` / `.headers off`.
- csv (`--csv`, `.mode csv`): the shell's MODE_Csv quoting (`output_csv`),
  separator ",", a header line unless turned off. (osqueryi --csv itself
  ends up with "|" because it copies --separator over its ','; here the
  separator is "," unless one is given.)
- json (`--json`): `jsonPrint`: one compact object per line, keys sorted
  (rows are std::map), every value a string, NULL as "". osqueryi gathers
  the rows of every statement of a query into one array; so does
  `render`.

Every other mode prints each statement's result in turn, as osqueryi does
for line, list and csv. (osqueryi's pretty mode gathers the rows of all
statements into one table under the first statement's columns; here each
statement gets its own table, so no column is lost.)
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

from .context import json_string
from .convert import sqlite_text


def cell_text(value) -> str:
    """A value as the shell prints it: SQLite's text form, NULL as ""."""
    text = sqlite_text(value)
    return "" if text is None else text


def _text_rows(result) -> list[list[str]]:
    return [[cell_text(v) for v in row] for row in result.rows]


def format_table(result, separator: str | None = None, header: bool = True) -> str:
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


def format_json(result, separator: str | None = None, header: bool = True) -> str:
    return _json_array([result])


def _json_array(results) -> str:
    objects = []
    for result in results:
        for row in _text_rows(result):
            mapping = dict(zip(result.columns, row))  # duplicate names: last wins
            objects.append("{" + ",".join("%s:%s" % (json_string(k), json_string(mapping[k]))
                                          for k in sorted(mapping)) + "}")
    return "[\n" + ",\n".join("  " + o for o in objects) + "\n]\n"


def format_line(result, separator: str | None = None, header: bool = True) -> str:
    """MODE_Line: `%*s = %s` with names right-aligned, a blank line between rows."""
    width = max([5] + [len(name.encode()) for name in result.columns])
    records = []
    for row in _text_rows(result):
        # printf pads by bytes, not characters.
        records.append("".join("%s%s = %s\n" % (" " * (width - len(name.encode())), name, text)
                               for name, text in zip(result.columns, row)))
    return "\n".join(records)


def format_list(result, separator: str | None = "|", header: bool = True) -> str:
    """MODE_List: values joined by the separator; the header line with the first row."""
    separator = "|" if separator is None else separator
    if not result.rows:
        return ""
    lines = [separator.join(result.columns)] if header else []
    lines += [separator.join(row) for row in _text_rows(result)]
    return "".join(line + "\n" for line in lines)


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


def format_csv(result, separator: str | None = ",", header: bool = True) -> str:
    separator = "," if separator is None else separator
    if not result.rows:
        return ""  # the shell prints the header with the first row
    lines = []
    if header:
        lines.append(separator.join(_csv_field(name, separator) for name in result.columns))
    for row in result.rows:
        lines.append(separator.join(_csv_field(value, separator) for value in row))
    return "".join(line + "\n" for line in lines)


FORMATS: dict[str, Callable] = {"pretty": format_table, "line": format_line, "list": format_list,
                                 "csv": format_csv, "json": format_json}
ALIASES = {"table": "pretty", "lines": "line"}
MODES = tuple(FORMATS) + tuple(ALIASES)  # every mode render() takes (osq_esf.cli offers them but "lines")


def mode_name(mode: str) -> str:
    """The canonical name of an output mode; ValueError when there is none."""
    mode = ALIASES.get(mode, mode)
    if mode not in FORMATS:
        raise ValueError("unknown output mode %r (use %s)" % (mode, ", ".join(FORMATS)))
    return mode


@dataclasses.dataclass
class OutputOptions:
    """osqueryi's output settings: mode, separator (None: the mode's own), header."""

    mode: str = "pretty"
    separator: str | None = None
    header: bool = True

    def __post_init__(self):
        self.mode = mode_name(self.mode)


def format_result(result, mode: str = "pretty", separator: str | None = None, header: bool = True) -> str:
    """Render one result (has .columns and .rows) in `mode`."""
    return FORMATS[mode_name(mode)](result, separator=separator, header=header)


def render(results, options: OutputOptions) -> str:
    """Every statement's result of one query, as osqueryi prints them."""
    results = [r for r in results if r.columns]
    if options.mode == "json":
        return _json_array(results)
    return "".join(format_result(r, options.mode, options.separator, options.header) for r in results)
