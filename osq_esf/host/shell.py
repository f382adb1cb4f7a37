"""A small osqueryi-like interactive loop over a session.

Reads lines from `stdin`, runs a statement once it ends with ';' (statements
may span lines) and understands `.tables`, `.schema [table]`,
`.mode pretty|line|list|csv|json`, `.headers on|off`, `.separator STR`,
`.help` and `.quit`/`.exit`. As osqueryi's `process_input`, it goes on
after an error and returns 1 if any statement or command failed.
"""

from __future__ import annotations

import sys
from typing import Protocol, TextIO

import apsw

from .output import FORMATS, OutputOptions, mode_name, render

PROMPT = "osquery> "
CONTINUATION = "    ...> "
HELP = """\
.headers ON|OFF  turn display of headers on or off
.help            show this message
.mode MODE       output mode: pretty, line, list, csv or json
.quit / .exit    leave the shell
.schema [TABLE]  show the CREATE statement of one or all tables
.separator STR   change the separator of list and csv output
.tables          list the tables
"""


class ShellBackend(Protocol):
    def query_all(self, sql: str) -> list: ...

    def table_names(self) -> list[str]: ...

    def table_schema(self, name: str) -> str | None: ...


class Shell:
    def __init__(self, backend: ShellBackend, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout,
                 stderr: TextIO = sys.stderr, mode: str | OutputOptions = "pretty", prompt: bool | None = None):
        self.output = mode if isinstance(mode, OutputOptions) else OutputOptions(mode)
        self.backend = backend
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.prompt = stdin.isatty() if prompt is None else prompt
        self.errors = 0

    @property
    def mode(self) -> str:
        return self.output.mode

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
        """Loop until `.quit` or end of input; 0, or 1 if any statement or command failed."""
        pending: list[str] = []
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
                self._execute(sql)
        if pending and "".join(pending).strip():
            self._execute("".join(pending))
        return 1 if self.errors else 0

    def _execute(self, sql: str) -> None:
        try:
            results = self.backend.query_all(sql)
        except Exception as exc:  # SQL errors, extension failures
            # What ran before the failing statement is printed, as osqueryi does.
            partial = getattr(exc, "partial_results", [])
            if partial:
                self.stdout.write(render(partial, self.output))
                self.stdout.flush()
            self.stderr.write("Error: %s\n" % exc)
            self.errors += 1
            return
        self.stdout.write(render(results, self.output))
        self.stdout.flush()

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
            try:
                self.output.mode = mode_name(arg)
            except ValueError:
                self._fail("Error: mode should be one of: %s\n" % " ".join(FORMATS))
        elif name in (".header", ".headers"):
            if arg.lower() in ("on", "1", "yes", "true", "off", "0", "no", "false"):
                self.output.header = arg.lower() in ("on", "1", "yes", "true")
            else:
                self._fail("Error: usage: .headers ON|OFF\n")
        elif name == ".separator" and arg:
            self.output.separator = arg
        elif name == ".help":
            self.stdout.write(HELP)
        else:
            self._fail('Error: unknown command or invalid arguments: "%s". Enter ".help" for help\n'
                       % name.lstrip("."))
        self.stdout.flush()
        return True

    def _fail(self, message: str) -> None:
        self.stderr.write(message)
        self.errors += 1
