"""Redaction of es_exec cmdline and env: every built-in rule, config rules, turning them
off, quoting round trips, the redaction corpus (every documented form, look-alikes),
linear-time structure and work bounds, samples and error texts, and hypothesis
properties of the splitter and the masker."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osq_esf.extract import quote_join
from bench.redaction_corpus import FORMS, LOOKALIKES
from osq_esf.rules import secrets
from osq_esf.rules.redact import (BUILTIN, BUILTIN_NAMES, Redactor, RedactRule, default_redactor, redact_argv,
                                  redact_env, redact_text, safe_sample, safe_text, split_joined)
from osq_esf.rules.secrets import linear_problems
from tests.conftest import REPO
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
# Pieces of the names the category checks read, in several cases, with separators, humps and letters
# whose lower case is not what it seems (Kelvin sign, dotted I, long s, sigma).
NAME_PIECES = st.sampled_from(["token", "Token", "TOKENS", "secret", "pass", "PASS", "wd", "pwd", "Pwd", "key", "Key",
                               "api", "API", "private", "auth", "session", "cookie", "credential", "no", "file",
                               "ask", "by", "x", "1", "\u0130", "\u212a", "\u017f", "\u03a3", "_", "-", "/", ".",
                               ":", " "])


@settings(max_examples=500, deadline=None)
@given(name=st.one_of(st.lists(NAME_PIECES, max_size=6).map("".join), st.text(max_size=24)))
def test_the_category_pre_check_never_changes_the_answer(name):
    """A name holding none of the words a category needs is answered without splitting it."""
    assert secrets._category(name) == secrets._category_of_words(name)


def test_unique_compiler_flags_are_answered_by_the_pre_check():
    for name in ("I/Users/alice/src/payments-api/include/8dbe", "DA460DF", "O2"):
        assert secrets._CANDIDATE.search(name.lower()) is None and secrets._category(name) is None
    for name, cat in (("MYSQL_PWD", "password"), ("_auth", "credential"), ("api_key", "api-key"),
                      ("privateKey", "private-key"), ("OP_SESSION_x", "session"), ("SSHPASS", "password")):
        assert secrets._category(name) == cat


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


# -- the corpus: every documented form is masked, every look-alike is kept ------------------


@pytest.mark.parametrize("cat, argv, env, secret", FORMS, ids=[f"{c[0]}-{i}" for i, c in enumerate(FORMS)])
def test_every_documented_form_is_masked(cat, argv, env, secret):
    out = redact_argv(argv) + redact_env(env)
    assert not any(secret in item for item in out), out
    assert any("<redacted:" in item for item in out)
    assert len(redact_argv(argv)) == len(argv) and len(redact_env(env)) == len(env)


@pytest.mark.parametrize("argv, env", LOOKALIKES, ids=[" ".join((a + e)[:2]) for a, e in LOOKALIKES])
def test_lookalikes_stay_readable(argv, env):
    assert redact_argv(argv) == argv and redact_env(env) == env


def test_corpus_covers_every_documented_category():
    doc = (REPO / "docs" / "configuration.md").read_text()
    for cat in {c for c, *_ in FORMS}:
        assert f"`{cat}`" in doc, f"category {cat} is not documented"


def test_forms_through_the_pipeline_count_hits():
    p, row = exec_row(args=["sh", "-c", "mysql -pZq7 db"], env=["OP_SESSION_me=abc", "MYSQL_PWD=x"])
    assert "Zq7" not in row["cmdline"] and "abc" not in row["env"] and "=x" not in row["env"]
    h = hits(p)
    assert (h["tool-password"], h["env-session"], h["env-password"]) == (1, 1, 1)


# -- linear time: by structure and by a work counter, never by the clock -------------------

def test_builtin_regexes_are_checked_for_linear_time():
    """Every regular expression of the built-ins goes through linear_regex (which refuses
    unbounded, nested and overlapping quantifiers in searched patterns)."""
    import inspect

    for mod in (secrets, __import__("osq_esf.rules.redact", fromlist=["x"])):
        src = inspect.getsource(mod)
        assert src.count("re.compile(") == (1 if mod is secrets else 0)  # the one inside linear_regex


@pytest.mark.parametrize("pattern", [
    r"[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:(?P<secret>[^\s@/]+)@",  # the url-credentials rule of b27f776
    r"(?i:authorization):\s*(?P<secret>.+)",  # its auth-header rule
    r"(a+)+b", r"(?:a|a)*b", r"(a)\1", r"(?=a)a", r"x{0,100000}",
])
def test_linear_guard_refuses_catastrophic_patterns(pattern):
    assert linear_problems(pattern)


def test_linear_guard_accepts_windows_and_anchored_runs():
    assert linear_problems(r"pass:[^\s]{1,256}") == []
    assert linear_problems(r"[a-z]+", anchored=True) == []


PATHOLOGICAL = [
    "key" + "a" * 60_000,  # the stall of issue 10 (scaled under max_value)
    "://" * 20_000,
    "x/:" * 20_000 + "@h",
    "https://" + "a:" * 20_000 + "@h",
    "a=" * 30_000,
    "-----BEGIN " * 5000,
    "Authorization:" * 4000,
    '"' * 60_000,
    "--password " * 5000,
]


@pytest.mark.parametrize("value", PATHOLOGICAL, ids=range(len(PATHOLOGICAL)))
def test_work_per_value_is_linear(value):
    red = default_redactor()
    red.finder.scanned = 0
    red.argv(["sh", "-c", value])
    red.argv(["tool", value])
    assert red.finder.scanned <= 8 * (len(value) + 10)


def test_oversize_values_are_masked_whole_and_counted():
    red = default_redactor()
    value = "key" + "a" * 300_000
    out = red.argv(["/bin/echo", value, "--password=x"])
    assert out == ["/bin/echo", "<redacted:oversize>", "--password=<redacted:arg-password>"]
    assert red.finder.scanned < 100
    assert {r.name: r.hits for r in red.rules}["oversize"] == 1


def test_max_value_is_configurable_and_bounded():
    p, row = exec_row("[redaction]\nmax_value = 1024\n", args=["echo", "y" * 2000])
    assert row["cmdline"] == "echo <redacted:oversize>"
    from osq_esf.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match="redaction.max_value"):
        parse_config("[redaction]\nmax_value = 10\n")


# -- configured regexes: RE2, linear whatever the pattern --------------------------------------

@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?=x)y", r"(?<!a)b"])
def test_configured_regexes_that_need_backtracking_are_refused(pattern):
    from osq_esf.config import ConfigError, parse_config

    toml = f"[[redaction.rule]]\nname = \"r\"\npattern = '{pattern}'\n"
    with pytest.raises(ConfigError, match=r"redaction.rule\[0\].pattern: invalid regular expression \(RE2"):
        parse_config(toml)


def test_configured_regexes_run_on_re2():
    import re2

    red = Redactor([RedactRule("nested", "pattern", "(a+)+b")])
    assert all(isinstance(rx, re2._Regexp) for _, rx in red.patterns)
    assert red.argv(["x", "a" * 50_000]) == ["x", "a" * 50_000]  # the classic catastrophic case, no match


# -- side doors: samples and error texts -------------------------------------------------------

def test_a_cut_off_exec_line_keeps_no_secret_in_its_sample():
    p, src = pipeline_with()
    cut = b'{"event_type":9,"event":{"exec":{"args":["mysql","--password=hunter2","-u","root"],"env":["A=1'
    assert p.ingest(src, [cut]) == 0
    (err,) = p.decode_error_rows()
    assert "hunter2" not in err["sample"] and "<redacted:arg-password>" in err["sample"]
    assert len(err["sample"]) <= 240


def test_a_sample_cut_inside_a_url_masks_the_cut_literal():
    text = safe_sample(b'{"event":{"exec":{"args":["git","clone","https://bob:s3cr3tpw')
    assert "s3cr3tpw" not in text


def test_error_texts_are_redacted_and_capped():
    why = safe_text("bad value 'https://u:s3cr3tpw@host/x' in " + "x" * 5000)
    assert "s3cr3tpw" not in why and len(why) <= 330
    assert redact_text("MYSQL_PWD=hunter2 mysql") == "MYSQL_PWD=<redacted:env-password> mysql"


# -- properties ---------------------------------------------------------------------------------

FORM_TEMPLATES = [(argv, env, s) for _, argv, env, s in FORMS]
SECRET_TEXT = st.text(st.sampled_from("abcXYZ0189_+/=.~"), min_size=6, max_size=24).map(lambda s: "Qz" + s + "Qz")


@settings(max_examples=300, deadline=None)
@given(form=st.sampled_from(FORM_TEMPLATES), secret=SECRET_TEXT,
       noise=st.lists(st.sampled_from(["-v", "--verbose", "-q", "--color=auto"]), max_size=3),
       extra_env=st.lists(st.sampled_from(["HOME=/Users/a", "PATH=/bin", "TERM=xterm"]), max_size=3))
def test_any_secret_in_any_form_is_masked(form, secret, noise, extra_env):
    """Any secret text, in any documented form, with unrelated flags and variables around it."""
    argv, env, s = form
    argv = [argv[0], *noise, *(a.replace(s, secret) for a in argv[1:])]
    env = [*extra_env, *(e.replace(s, secret) for e in env)]
    out = redact_argv(argv) + redact_env(env)
    assert not any(secret in item for item in out), out


LOOKALIKE_ITEM = st.sampled_from(["-p", "2222", "-xpf", "a.tar", "--user=", "--verbose", "-u", "1000:1000",
                                  "TOKENIZERS_PARALLELISM=false", "PWD=/x", "https://host/path", "ssh://git@host/r",
                                  "-P", "8080", "--password-file", "/run/x", "HOME=/Users/a"])


@settings(max_examples=300, deadline=None)
@given(prog=st.sampled_from(["ssh", "tar", "cp", "docker", "ls", "git", "/usr/bin/true"]),
       items=st.lists(LOOKALIKE_ITEM, max_size=8))
def test_lookalikes_are_never_masked(prog, items):
    assert redact_argv([prog, *items]) == [prog, *items]


@settings(max_examples=300, deadline=None)
@given(items=st.lists(st.text(st.sampled_from("ab-=:/@ pP\"'$;&"), max_size=40), min_size=1, max_size=6))
def test_output_is_bounded(items):
    red = default_redactor()
    out = red.argv(items)
    assert len(out) == len(items)
    for before, after in zip(items, out):
        masks = after.count("<redacted:")
        assert masks <= max(1, len(before))
        assert len(after) <= len(before) + 2 + masks * len("<redacted:private-key>")


# -- the memory of clean joined texts (Redactor._clean) ----------------------------------------

SESSION_ENV = quote_join(["HOME=/Users/a", "SHELL=/bin/zsh", "TERM_SESSION_ID=6F1C", "PATH=/usr/bin:/bin",
                          "LANG=en_US.UTF-8", "DIR=/Users/a/Application Support/x"])


def test_a_clean_text_seen_again_is_not_scanned_again():
    red = default_redactor()
    assert red.joined(SESSION_ENV) is SESSION_ENV
    scanned = red.finder.scanned
    assert scanned > 0
    again = str(SESSION_ENV.encode().decode())  # an equal text in another object, as a new row holds
    assert red.joined(again) is again
    assert red.finder.scanned == scanned


def test_a_text_with_a_secret_is_masked_and_counted_every_time():
    red = default_redactor()
    text = quote_join(["HOME=/Users/a", "GITHUB_TOKEN=ghp_abc"])
    for n in (1, 2, 3):
        assert red.joined(text) == quote_join(["HOME=/Users/a", "GITHUB_TOKEN=<redacted:env-token>"])
        assert {r.name: r.hits for r in red.rules}["env-token"] == n


def test_a_text_holding_a_mask_is_scanned_every_time():
    # The mask replaces itself (no change), yet the rule counts a hit each time: never remembered.
    red = default_redactor()
    text = quote_join(["GITHUB_TOKEN=<redacted:env-token>"])
    for n in (1, 2):
        assert red.joined(text) == text
        assert {r.name: r.hits for r in red.rules}["env-token"] == n


def test_the_memory_of_clean_texts_is_bounded(monkeypatch):
    from osq_esf.rules import redact

    monkeypatch.setattr(redact, "CLEAN_TEXTS", 3)
    red = default_redactor()
    for i in range(10):
        red.joined(quote_join([f"HOME=/Users/u{i}", "TERM_SESSION_ID=1"]))
        assert len(red._clean) <= 3
    assert red.joined(SESSION_ENV) is SESSION_ENV


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["HOME=/x", "TOKEN=abc", "-p", "secret", "mysql", "-pX", "a b", '"q"',
                                 "--password", "x", "<redacted:env-token>", "u:p@h", "PWD=/"]), max_size=8))
def test_remembering_changes_no_answer_and_no_count(items):
    text = quote_join(items) if items else ""
    fresh, warm = default_redactor(), default_redactor()
    warm.joined(text)
    before = {r.name: r.hits for r in warm.rules}
    first = fresh.joined(text)
    assert warm.joined(text) == first
    after = {r.name: r.hits for r in warm.rules}
    assert {k: after[k] - before[k] for k in after} == {r.name: r.hits for r in fresh.rules}
