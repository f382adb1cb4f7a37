"""Redaction everywhere it must apply (issue 10): every column a declaration marks ``redact`` masks
secrets through the real pipeline and reply encoder; the redaction corpus's forms are masked in
sudo commands and su's argv and env as in exec's; no table carries an argv/env/command-like
column without ``redact``; and es_mutes' hit counts are exact when several sources redact at
once and across a reload."""

from __future__ import annotations

import json
import sys
import threading

import pytest

from bench.redaction_corpus import FORMS, LOOKALIKES
from osq_esf.kinds import default_kinds
from tests import eslines
from tests.pipelines import install_config, make_pipeline, table_rows
from tests.rules_events import exec_line, hits

S = "Zq7Secret9x"


def su_values(argv: list[str], env: list[str]) -> dict:
    return {"argv": argv, "env": env, "argc": len(argv), "env_count": len(env)}


def test_every_corpus_form_is_masked_in_sudo_commands_and_su_arguments():
    """What es_exec masks, es_sudo.command (sudo's command line: `VAR=value cmd args`) and
    es_su's argv/env mask too, through the pipeline and the reply encoder."""
    p, src = make_pipeline("")
    lines = []
    for k, (_cat, argv, env, _secret) in enumerate(FORMS):
        lines.append(eslines.line("sudo", {"command": " ".join(env + argv)}, seq=2 * k))
        lines.append(eslines.line("su", su_values(argv, env), seq=2 * k + 1))
    p.ingest(src, lines)
    assert src.decode_errors == 0, src.last_error
    sudo, su = table_rows(p, "es_sudo"), table_rows(p, "es_su")
    assert len(sudo) == len(su) == len(FORMS)
    for (cat, argv, env, secret), s_row, u_row in zip(FORMS, sudo, su):
        assert secret not in s_row["command"] and "<redacted:" in s_row["command"], (cat, s_row["command"])
        assert secret not in (u_row["argv"] or "") + (u_row["env"] or ""), (cat, u_row["argv"], u_row["env"])
    h = hits(p)
    assert sum(h.values()) >= 2 * len(FORMS)


def test_lookalikes_stay_readable_in_su_arguments():
    p, src = make_pipeline("")
    p.ingest(src, [eslines.line("su", su_values(argv, env), seq=k) for k, (argv, env) in enumerate(LOOKALIKES)])
    for (argv, env), row in zip(LOOKALIKES, table_rows(p, "es_su")):
        assert "<redacted:" not in (row["argv"] or "") + (row["env"] or ""), (argv, env)


# What each redaction form is given: a value every built-in reading of that form masks.
SECRET_VALUES = {
    "argv": ["/usr/bin/tool", f"--password={S}", f"https://bob:{S}@example.com/r.git"],
    "env": [f"GITHUB_TOKEN={S}", "PATH=/usr/bin"],
    "text": f"//bob:{S}@server/share GITHUB_TOKEN={S}",
    "json": ["plain", f"--token={S}", f"https://bob:{S}@example.com"],
}


def redacted_columns():
    return [(k, c) for k in default_kinds() for c in k.spec.own_columns if c.redact]


@pytest.mark.parametrize("kind, column", redacted_columns(), ids=[f"{k.table}.{c.name}" for k, c in redacted_columns()])
def test_every_redacted_column_masks_a_secret_through_the_pipeline(kind, column):
    p, src = make_pipeline("")
    value = SECRET_VALUES[column.redact]
    values = {column.source[0]: value}
    if kind.short == "su":
        values.update(argc=3, env_count=2)
    p.ingest(src, [eslines.line(kind.short, values)])
    assert src.decode_errors == 0, src.last_error
    (row,) = table_rows(p, kind.table)
    shown = row[column.name]
    assert S not in shown and "<redacted:" in shown, shown
    if column.redact == "json":
        assert len(json.loads(shown)) == len(value)  # still JSON, every value in its place
    assert sum(hits(p).values()) == str(value).count(S)  # one hit per value masked


# Columns whose text a local user chooses (a command line, its environment, a directory value,
# a mount source that may be a URL with a password) must be redacted.  JSON columns listed here
# hold fixed vocabularies instead: authorization right names and rule classes, and a code
# signature's entitlement keys and values.
USER_TEXT_NAMES = ("command", "cmdline", "argv", "args", "env", "attribute_value", "mntfromname")
FIXED_VOCABULARY_JSON = {("es_authorization_petition", "rights"), ("es_authorization_judgement", "results"),
                         ("es_exec", "entitlements"), ("es_od_group_set", "member_array")}


def test_columns_that_can_carry_secrets_are_declared_redact():
    missing = []
    for kind in default_kinds():
        for c in kind.spec.own_columns:
            if c.numeric or c.redact or c.named:
                continue
            words = (c.name, *c.source)
            if (c.transform == "argv" or any(w in x for w in USER_TEXT_NAMES for x in words)
                    or (c.transform == "json" and (kind.table, c.name) not in FIXED_VOCABULARY_JSON)):
                missing.append(f"{kind.table}.{c.name}")
    assert missing == []


# -- hit counts: exact whatever the threads --------------------------------------------------

def test_redaction_hits_are_exact_when_several_sources_redact_at_once():
    p, _ = make_pipeline("", source=None)
    threads, batches, per_batch = 4, 25, 20
    line = exec_line(args=("curl", f"--password={S}", "https://example.com"), env=(f"GITHUB_TOKEN={S}",))
    sources = [p.add_source(f"s{i}", "replay") for i in range(threads)]
    start = threading.Barrier(threads)

    def run(src):
        start.wait()
        for _ in range(batches):
            p.ingest(src, [line] * per_batch)

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter allows
    try:
        workers = [threading.Thread(target=run, args=(s,)) for s in sources]
        for t in workers:
            t.start()
        for t in workers:
            t.join(60)
    finally:
        sys.setswitchinterval(old)
    want = threads * batches * per_batch
    assert sum(s.events for s in sources) == want
    h = hits(p)
    assert (h["arg-password"], h["env-token"]) == (want, want)


def test_hits_of_a_batch_redacted_while_a_reload_swaps_the_rules_are_kept():
    """Redaction runs without the lock, so a reload can swap the rules mid-batch: the batch's hits
    go to the rules in force, as every earlier hit does."""
    p, src = make_pipeline("")
    entered, release = threading.Event(), threading.Event()
    redactor = p.rules.redactor
    real, main = redactor.joined, threading.current_thread()

    def slow(text):
        if threading.current_thread() is not main:  # the second batch's: wait there for the reload
            entered.set()
            release.wait(10)
        return real(text)

    redactor.joined = slow
    p.ingest(src, [exec_line(args=("curl", f"--password={S}"))])
    t = threading.Thread(target=p.ingest, args=(src, [exec_line(args=("curl", f"--password={S}"))]))
    t.start()
    try:
        assert entered.wait(10)
        install_config(p, "")  # the same rules, compiled again: hits carried over
    finally:
        release.set()
        t.join(10)
    assert p.rules.redactor is not redactor
    assert hits(p)["arg-password"] == 2


def test_an_event_of_an_unknown_type_is_redacted_in_es_other_events():
    """es_other_events keeps a whole event this build cannot type (a newer macOS): its strings are
    masked like a json column's, and the event stays valid JSON."""
    p, src = make_pipeline("")
    msg = json.loads(eslines.line("open"))
    msg["event_type"] = 999
    msg["event"] = {"future_exec": {"args": ["curl", f"--password={S}"], "env": [f"GITHUB_TOKEN={S}"],
                                    "path": "/usr/bin/curl"}}
    p.ingest(src, [json.dumps(msg).encode()])
    assert src.decode_errors == 0, src.last_error
    (row,) = table_rows(p, "es_other_events")
    assert S not in row["event"] and "<redacted:" in row["event"], row["event"]
    assert json.loads(row["event"])["future_exec"]["path"] == "/usr/bin/curl"


def test_json_redaction_reads_each_list_as_its_own_argv():
    """A flag at the end of one list never swallows the first item of another as its value."""
    from osq_esf.rules.redact import default_redactor

    text = json.dumps({"env": ["LANG=C", "HOME=/Users/me"], "a": ["tool", "--token"]})
    assert default_redactor().json(text) == text
    secret = json.dumps({"a": ["tool", "--token", S], "env": ["LANG=C"]})
    out = json.loads(default_redactor().json(secret))
    assert S not in out["a"][2] and out["env"] == ["LANG=C"]
