"""Output formats (osqueryi pretty/json/csv), the shell loop and the osqueryi engine."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

from osq_esf.host import Result, Shell, format_csv, format_json, format_result, format_table
from osq_esf.host import osqueryi
from osq_esf.host.output import OutputOptions, render

RESULT = Result(["name", "pid", "ratio", "note"],
                [("launchd", 1, 0.5, None), ("kernel_task", 0, 2.0, 'say "hi", ok'),
                 ("é", -12, 1e20, "")])


def test_table_matches_osqueryi_pretty_print():
    assert format_table(RESULT) == (
        "+-------------+-----+---------+--------------+\n"
        "| name        | pid | ratio   | note         |\n"
        "+-------------+-----+---------+--------------+\n"
        "| launchd     | 1   | 0.5     |              |\n"
        '| kernel_task | 0   | 2.0     | say "hi", ok |\n'
        "| é           | -12 | 1.0e+20 |              |\n"
        "+-------------+-----+---------+--------------+\n")


def test_table_of_nothing_is_nothing():
    assert format_table(Result(["a"], [])) == ""


def test_json_matches_osqueryi():
    text = format_json(RESULT)
    assert text.splitlines()[1] == '  {"name":"launchd","note":"","pid":"1","ratio":"0.5"},'
    assert json.loads(text) == [
        {"name": "launchd", "pid": "1", "ratio": "0.5", "note": ""},
        {"name": "kernel_task", "pid": "0", "ratio": "2.0", "note": 'say "hi", ok'},
        {"name": "é", "pid": "-12", "ratio": "1.0e+20", "note": ""},
    ]
    assert format_json(Result(["a"], [])) == "[\n\n]\n"


def test_csv_quotes_like_the_sqlite_shell():
    assert format_csv(RESULT) == (
        "name,pid,ratio,note\n"
        "launchd,1,0.5,\n"
        'kernel_task,0,2.0,"say ""hi"", ok"\n'
        '"é",-12,1.0e+20,\n')
    assert format_csv(Result(["a b"], [("x|y",)]), separator="|") == '"a b"\n"x|y"\n'
    assert format_csv(Result(["a"], [])) == ""


def test_format_result_dispatch():
    assert format_result(RESULT, "csv") == format_csv(RESULT)
    with pytest.raises(ValueError, match="unknown output mode"):
        format_result(RESULT, "xml")


class FakeBackend:
    def __init__(self):
        self.statements = []

    def query_all(self, sql):
        self.statements.append(sql)
        if "boom" in sql:
            raise RuntimeError("near \"boom\": syntax error")
        return [Result(["x"], [(1,)]), Result([], [])]

    def table_names(self):
        return ["a_table", "time"]

    def table_schema(self, name):
        return {"time": "CREATE TABLE time(`x` TEXT)"}.get(name)


def test_shell_multiline_commands_and_prompts():
    backend = FakeBackend()
    stdin = io.StringIO(".help\n.schema time\n.schema nope\nSELECT\n1;\n.mode csv\nSELECT 1; SELECT 2;\n"
                        ".mode xml\n.bogus\nboom;\nSELECT 3\n")
    stdout, stderr = io.StringIO(), io.StringIO()
    status = Shell(backend, stdin, stdout, stderr, prompt=True).run()
    assert backend.statements == ["SELECT\n1;\n", "SELECT 1; SELECT 2;\n", "boom;\n", "SELECT 3\n"]
    assert status == 1  # as osqueryi: it goes on after errors and exits 1 if there was any
    out = stdout.getvalue()
    assert out.startswith("osquery> .headers ON|OFF ")
    assert ".tables          list the tables" in out
    assert "CREATE TABLE time(`x` TEXT);\n" in out
    assert "    ...> " in out  # continuation prompt for the two-line statement
    assert "+---+\n| x |\n+---+\n| 1 |\n+---+\n" in out and "x\n1\n" in out
    assert stderr.getvalue() == ("Error: mode should be one of: pretty line list csv json\n"
                                 'Error: unknown command or invalid arguments: "bogus". Enter ".help" for help\n'
                                 'Error: near "boom": syntax error\n')


def test_shell_exits_zero_when_nothing_failed_and_switches_modes_headers_separator():
    stdin = io.StringIO(".mode list\nSELECT 1;\n.headers off\n.separator ;\nSELECT 2;\n.mode line\nSELECT 3;\n"
                        ".mode pretty\nSELECT 4;\n")
    stdout = io.StringIO()
    assert Shell(FakeBackend(), stdin, stdout, io.StringIO(), prompt=False).run() == 0
    assert stdout.getvalue() == ("x\n1\n" "1\n" "    x = 1\n" "+---+\n| x |\n+---+\n| 1 |\n+---+\n")


def test_line_and_list_modes_match_osqueryi():
    assert format_result(RESULT, "line").splitlines()[:5] == [" name = launchd", "  pid = 1", "ratio = 0.5",
                                                              " note = ", ""]
    # MODE_Line pads by bytes: "é" is two bytes wide.
    assert format_result(Result(["é", "abcdef"], [("1", "2")]), "line") == "    é = 1\nabcdef = 2\n"
    assert format_result(RESULT, "list") == ("name|pid|ratio|note\nlaunchd|1|0.5|\n"
                                             'kernel_task|0|2.0|say "hi", ok\né|-12|1.0e+20|\n')
    assert format_result(RESULT, "list", separator=",", header=False).startswith("launchd,1,0.5,\n")
    assert format_result(RESULT, "table") == format_table(RESULT)  # "table" names the pretty mode


def test_render_prints_every_statement_and_json_gathers_them():
    one, two = Result(["a"], [(1,)]), Result(["b"], [(2,)])
    assert render([one, Result([], []), two], OutputOptions("csv")) == "a\n1\nb\n2\n"
    assert render([one, two], OutputOptions("pretty")).count("+---+\n") == 6
    assert json.loads(render([one, two], OutputOptions("json"))) == [{"a": "1"}, {"b": "2"}]


def test_shell_tables_filter_and_quit():
    stdout = io.StringIO()
    Shell(FakeBackend(), io.StringIO(".tables ti\n.quit\n.tables\n"), stdout, io.StringIO(),
          prompt=False).run()
    assert stdout.getvalue() == "  => time\n"


# -- osqueryi engine (the binary itself is absent here) ----------------------------------


def test_wrapper_execs_the_prefix_with_osqueryi_flags(tmp_path):
    record = tmp_path / "argv.json"
    prefix = [sys.executable, "-c",
              "import json,sys; json.dump(sys.argv[1:], open(%r, 'w'))" % str(record), "a b"]
    wrapper = osqueryi.write_wrapper(prefix, str(tmp_path), "osq_esf")
    assert wrapper.endswith("/osq_esf.ext")
    mode = os.stat(wrapper).st_mode
    assert mode & stat.S_IXUSR and not mode & stat.S_IWOTH
    subprocess.run([wrapper, "--socket", "/s", "--timeout", "3", "--interval", "3"], check=True)
    assert json.loads(record.read_text()) == ["a b", "--socket", "/s", "--timeout", "3",
                                              "--interval", "3"]


def test_osqueryi_argv():
    argv = osqueryi.build_argv("/usr/bin/osqueryi", "/t/osq_esf.ext", "osq_esf", "/t/shell.em",
                               "SELECT 1", timeout=5, interval=2)
    # No --allow_unsafe: the wrapper is made safe instead (osqueryi.unsafe_reason).
    assert argv == ["/usr/bin/osqueryi", "--extension", "/t/osq_esf.ext", "--disable_extensions=false",
                    "--extensions_require=osq_esf", "--extensions_socket=/t/shell.em",
                    "--extensions_timeout=5", "--extensions_interval=2", "--json", "SELECT 1"]


def test_osqueryi_json_parsing():
    result = osqueryi.parse_json_output('[\n  {"b":"2","a":"1"},\n  {"a":"3"}\n]\n')
    assert (result.columns, result.rows) == (["a", "b"], [("1", "2"), ("3", "")])
    assert osqueryi.parse_json_output("").rows == []


@pytest.mark.skipif(shutil.which("osqueryi") is None, reason="osqueryi is not installed")
def test_real_osqueryi_runs_the_sdk_extension():
    from tests.host.conftest import REPO

    wrapper_prefix = ["/usr/bin/env", "PYTHONPATH=" + REPO, sys.executable, "-m",
                      "tests.host.sdk_extension"]
    results = osqueryi.run_query(wrapper_prefix, "SELECT name FROM sdk_procs WHERE pid = 1",
                                 extension_name="sdk_test")
    assert results[0].rows == [("launchd",)]


def test_result_unpacks_as_columns_and_rows():
    columns, rows = RESULT
    assert columns == RESULT.columns and rows == RESULT.rows


def test_shell_ctrl_c_drops_the_pending_statement():
    class Keys(io.StringIO):
        def readline(self, *args):
            line = super().readline(*args)
            if line == "^C\n":
                raise KeyboardInterrupt
            return line

    backend = FakeBackend()
    Shell(backend, Keys("SELECT\n^C\nSELECT 2;\n"), io.StringIO(), io.StringIO(), prompt=False).run()
    assert backend.statements == ["SELECT 2;\n"]


def test_the_command_line_offers_every_output_mode_the_host_renders():
    """osq_esf.cli keeps its --format choices by hand (it must not import the host to parse a
    command line): they are the host's modes, whose aliases only osqueryi's own flags need."""
    from osq_esf.cli import OUTPUT_MODES
    from osq_esf.host.output import FORMATS, MODES

    assert set(FORMATS) <= set(OUTPUT_MODES) <= set(MODES)
