"""A small osqueryi-like interactive loop over a session.

Reads lines from `stdin`, runs a statement once it ends with ';' (statements
may span lines) and understands `.tables`, `.schema [table]`,
`.mode table|json|csv`, `.help` and `.quit`/`.exit`.
"""

from __future__ import annotations

import sys
from typing import Protocol, TextIO

import apsw

from .output import FORMATS, format_result

PROMPT = "osquery> "
CONTINUATION = "    ...> "
HELP = """\
.help            show this message
.mode MODE       output mode: table, json or csv
.quit / .exit    leave the shell
.schema [TABLE]  show the CREATE statement of one or all tables
.tables          list the tables
"""


class ShellBackend(Protocol):
    def query_all(self, sql: str) -> list: ...

    def table_names(self) -> list[str]: ...

    def table_schema(self, name: str) -> str | None: ...


class Shell:
    def __init__(self, backend: ShellBackend, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout,
                 stderr: TextIO = sys.stderr, mode: str = "table", prompt: bool | None = None):
        if mode not in FORMATS:
            raise ValueError("unknown output mode %r" % mode)
        self.backend = backend
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.mode = mode
        self.prompt = stdin.isatty() if prompt is None else prompt

    def _readline(self, prompt: str) -> str:
        """One input line with its newline; "" at end of input."""
        if self.prompt and self.stdin is sys.stdin and self.stdin.isatty():
            try:
                import readline  # noqa: F401 - line editing and history for input()
            except ImportError:
                pass
            try:
                return input(prompt) + "\n"
            except EOFError:
                self.stdout.write("\n")
                return ""
        if self.prompt:
            self.stdout.write(prompt)
            self.stdout.flush()
        return self.stdin.readline()

    def run(self) -> int:
        """Loop until `.quit` or end of input; 0, or 1 if the last statement failed."""
        pending: list[str] = []
        status = 0
        while True:
            try:
                line = self._readline(CONTINUATION if pending else PROMPT)
            except KeyboardInterrupt:  # Ctrl-C drops the statement being typed
                self.stdout.write("\n")
                pending.clear()
                continue
            if not line:
                break
            if not pending and line.strip().startswith("."):
                if not self._command(line.strip()):
                    break
                continue
            pending.append(line)
            sql = "".join(pending)
            if not sql.strip():
                pending.clear()
            elif apsw.complete(sql):
                pending.clear()
                status = self._execute(sql)
        if pending and "".join(pending).strip():
            status = self._execute("".join(pending))
        return status

    def _execute(self, sql: str) -> int:
        try:
            results = self.backend.query_all(sql)
        except Exception as exc:  # SQL errors, extension failures
            self.stderr.write("Error: %s\n" % exc)
            return 1
        for result in results:
            if result.columns:
                self.stdout.write(format_result(result, self.mode))
        self.stdout.flush()
        return 0

    def _command(self, line: str) -> bool:
        """Run a dot command; False means leave the shell."""
        name, _, arg = line.partition(" ")
        arg = arg.strip()
        if name in (".quit", ".exit"):
            return False
        if name == ".tables":
            for table in self.backend.table_names():
                if not arg or arg in table:
                    self.stdout.write("  => %s\n" % table)
        elif name == ".schema":
            names = [arg] if arg else self.backend.table_names()
            for table in names:
                schema = self.backend.table_schema(table)
                if schema is not None:
                    self.stdout.write(schema + ";\n")
        elif name == ".mode":
            if arg in FORMATS:
                self.mode = arg
            else:
                self.stderr.write("Error: mode should be one of: %s\n" % " ".join(FORMATS))
        elif name == ".help":
            self.stdout.write(HELP)
        else:
            self.stderr.write('Error: unknown command: "%s". Enter ".help" for help\n' % name)
        self.stdout.flush()
        return True
