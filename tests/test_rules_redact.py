"""Redaction of es_exec cmdline and env: every built-in rule, config rules, turning them
off, quoting round trips, and hypothesis properties of the splitter and the masker."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osq_esf.extract import quote_join
from osq_esf.rules.redact import BUILTIN, BUILTIN_NAMES, Redactor, RedactRule, split_joined
from tests.rules_events import exec_line, hits, pipeline_with, rows


def exec_row(config: str = "", args=("/usr/bin/true",), env=()):
    p, src = pipeline_with(config)
    assert p.ingest(src, [exec_line(args=args, env=env)]) == 1, src.last_error
    return p, rows(p, "es_exec")[0]


ENV_CASES = [
    ("GITHUB_TOKEN=ghp_abc", "GITHUB_TOKEN=<redacted:env-token>"),
    ("AWS_SECRET_ACCESS_KEY=wJalr", "AWS_SECRET_ACCESS_KEY=<redacted:env-secret>"),
    ("DB_PASSWORD=hunter2", "DB_PASSWORD=<redacted:env-password>"),
    ("MYSQL_PASSWD=x", "MYSQL_PASSWD=<redacted:env-password>"),
    ("SSH_PASS=x", "SSH_PASS=<redacted:env-password>"),
    ("OPENAI_API_KEY=sk-1", "OPENAI_API_KEY=<redacted:env-api-key>"),
    ("apikey=1", "apikey=<redacted:env-api-key>"),
    ("SIGNING_PRIVATE_KEY=---", "SIGNING_PRIVATE_KEY=<redacted:env-private-key>"),
    ("GOOGLE_APPLICATION_CREDENTIALS=/x.json", "GOOGLE_APPLICATION_CREDENTIALS=<redacted:env-credential>"),
    ("GIT_ASKPASS=x", "GIT_ASKPASS=x"),  # no word boundary before "pass": not a password name
    ("PWD=/Users/a", "PWD=/Users/a"),
    ("OLDPWD=/", "OLDPWD=/"),
    ("SSH_AUTH_SOCK=/tmp/s", "SSH_AUTH_SOCK=/tmp/s"),
    ("PATH=/usr/bin:/bin", "PATH=/usr/bin:/bin"),
]


@pytest.mark.parametrize("item, want", ENV_CASES, ids=[c[0].split("=")[0] for c in ENV_CASES])
def test_env_rules(item, want):
    _, row = exec_row(env=["HOME=/Users/a", item])
    assert row["env"] == f"HOME=/Users/a {want}"
    assert row["env_count"] == 2


ARG_CASES = [
    (["mysql", "--password=hunter2"], "mysql --password=<redacted:arg-password>", "arg-password"),
    (["sshpass", "--pass", "hunter2", "ssh"], "sshpass --pass <redacted:arg-password> ssh", "arg-password"),
    (["gh", "--token", "ghp_x", "-v"], "gh --token <redacted:arg-token> -v", "arg-token"),
    (["tool", "-api_key=abc"], "tool -api_key=<redacted:arg-api-key>", "arg-api-key"),
    (["tool", "--client-secret", "s3cr3t"], "tool --client-secret <redacted:arg-secret>", "arg-secret"),
    (["tool", "--password", "--verbose"], "tool --password --verbose", None),  # a flag is not a value
    (["env", "GITHUB_TOKEN=x", "make"], "env GITHUB_TOKEN=<redacted:env-token> make", "env-token"),
    (["git", "clone", "https://bob:pa55@github.com/o/r"], "git clone https://bob:<redacted:url-credentials>@github.com/o/r",
     "url-credentials"),
    (["curl", "-H", "Authorization: Bearer eyJ.x"], 'curl -H "Authorization: <redacted:auth-header>"', "auth-header"),
    (["ls", "-la", "/tmp"], "ls -la /tmp", None),
]


@pytest.mark.parametrize("args, want, rule", ARG_CASES, ids=[" ".join(c[0][:2]) for c in ARG_CASES])
def test_arg_rules(args, want, rule):
    p, row = exec_row(args=args)
    assert row["cmdline"] == want
    assert row["cmdline_count"] == len(args)
    masked = {k: v for k, v in hits(p).items() if v}
    assert masked == ({rule: 1} if rule else {})


def test_quoted_items_survive_redaction():
    args = ["sh", "-c", 'echo "a b" \\ done', "--token=two words"]
    _, row = exec_row(args=args)
    assert split_joined(row["cmdline"]) == ["sh", "-c", 'echo "a b" \\ done', "--token=<redacted:arg-token>"]


CONFIG_RULES = '''
[redaction]
disable = ["url-credentials"]
[[redaction.rule]]
name = "vault"
env_name = "^VAULT_"
[[redaction.rule]]
name = "db-flag"
arg_flag = "^db$"
[[redaction.rule]]
name = "jwt"
pattern = "eyJ[A-Za-z0-9_-]+\\\\.[A-Za-z0-9_-]+"
[[redaction.rule]]
name = "pin"
pattern = "pin:(?P<secret>[0-9]+)"
'''


def test_config_rules_and_disabling_a_builtin():
    p, row = exec_row(CONFIG_RULES, args=["x", "--db", "pw", "eyJhb.eyJzd", "pin:1234", "https://u:p@h/"],
                      env=["VAULT_ADDR=https://v", "MY_VAULT_ADDR=keep"])
    assert row["cmdline"] == "x --db <redacted:db-flag> <redacted:jwt> pin:<redacted:pin> https://u:p@h/"
    assert row["env"] == "VAULT_ADDR=<redacted:vault> MY_VAULT_ADDR=keep"
    names = {r["name"]: r for r in p.rules.rows() if r["kind"] == "redact"}
    assert "url-credentials" not in names and names["vault"]["origin"] == "config"
    assert (names["vault"]["hits"], names["jwt"]["hits"], names["pin"]["hits"]) == (1, 1, 1)


def test_defaults_off_masks_nothing():
    _, row = exec_row("[redaction]\ndefaults = false\n", args=["a", "--password=x"], env=["GITHUB_TOKEN=y"])
    assert (row["cmdline"], row["env"]) == ("a --password=x", "GITHUB_TOKEN=y")


def test_every_builtin_is_listed_once():
    p, _ = exec_row()
    listed = [r["name"] for r in p.rules.rows() if r["kind"] == "redact"]
    assert sorted(listed) == sorted(BUILTIN_NAMES) and len(set(listed)) == len(listed)


# -- properties ------------------------------------------------------------------------

ITEM = st.text(st.sampled_from('ab =-"\\\t:/@'), max_size=8)


@settings(max_examples=300, deadline=None)
@given(items=st.lists(ITEM, min_size=1, max_size=6))
def test_split_inverts_quote_join(items):
    assert split_joined(quote_join(items)) == items


NAMES = st.sampled_from(["GITHUB_TOKEN", "DB_PASSWORD", "api_key", "AWS_SECRET_ACCESS_KEY", "PATH", "HOME"])
SECRET = st.text(st.sampled_from("xyzXYZ09 \"\\"), min_size=4, max_size=10).map(lambda s: "Q" + s + "Q")


@settings(max_examples=150, deadline=None)
@given(pairs=st.lists(st.tuples(NAMES, SECRET), min_size=1, max_size=5),
       flags=st.lists(st.tuples(st.sampled_from(["--password", "--token", "--name"]), SECRET), max_size=3))
def test_secrets_never_survive_and_others_are_untouched(pairs, flags):
    red = Redactor([RedactRule(n, k, rx, "default") for n, k, rx in BUILTIN])
    env = [f"{n}={v}" for n, v in pairs]
    args = ["cmd"] + [x for f, v in flags for x in (f, v)]
    env_out = split_joined(red.joined(quote_join(env)))
    args_out = split_joined(red.joined(quote_join(args)))
    assert len(env_out) == len(env)
    for (n, v), item in zip(pairs, env_out):
        if n in ("PATH", "HOME"):
            assert item == f"{n}={v}"
        else:
            assert v not in item and item.startswith(f"{n}=<redacted:env-")
    for k, (f, v) in enumerate(flags):
        assert (args_out[2 + 2 * k] == v) == (f == "--name")


def test_redaction_runs_without_the_pipeline_lock():
    """A slow redaction (a pathological argument) must not hold the lock pings and generates need."""
    import threading

    from tests.rules_events import exec_line, pipeline_with

    p, src = pipeline_with("")
    entered, release = threading.Event(), threading.Event()
    real = p.rules.redactor.joined

    def slow(text):
        entered.set()
        release.wait(10)
        return real(text)

    p.rules.redactor.joined = slow
    t = threading.Thread(target=p.ingest, args=(src, [exec_line(args=("curl", "--password=hunter2"))]))
    t.start()
    assert entered.wait(10)
    got = p.lock.acquire(timeout=5)  # free while the redaction runs
    assert got
    p.lock.release()
    release.set()
    t.join(10)
    assert "hunter2" not in str(p.rings["es_exec"].snapshot().cols)
