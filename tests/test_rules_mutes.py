"""Mutes through the real decode path: each kind, event restriction, exec semantics,
inversion, defaults, and a hypothesis model of the ES semantics."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osq_esf.rules.mutes import DEFAULT_EVENTS, DEFAULT_RULES
from tests.rules_events import (close_line, exec_line, other_line, fork_line, hits, ingest_each, open_line, pipeline_with, rows,
                                write_line)


def run(config: str, lines: list[bytes]):
    p, src = pipeline_with(config)
    kept, verdicts = ingest_each(p, src, lines)
    assert src.decode_errors == 0, src.last_error
    assert kept + len(verdicts) == len(lines)  # conservation: every line is a row or a counted drop
    return p, verdicts


KINDS = [
    ('process_path = "/usr/local/bin/tool"', {}, {"path": "/usr/local/bin/tool2"}),
    ('process_path_prefix = "/usr/local/"', {}, {"path": "/opt/tool"}),
    ('process_path_glob = "/usr/*/bin/t??l"', {}, {"path": "/usr/local/bin/tools"}),
    ('target_path = "/Users/alice/notes.txt"', {}, {"file": "/Users/alice/notes.txt2"}),
    ('target_path_prefix = "/Users/alice/"', {}, {"file": "/Users/bob/notes.txt"}),
    ('signing_id = "com.example.tool"', {}, {"signing_id": "com.example.other"}),
    ('team_id = ["OTHER", "TEAM123456"]', {}, {"team_id": None}),
    ("platform_binary = false", {}, {"platform": True}),
    ("uid = [0, 501]", {}, {"uid": 502}),
]


@pytest.mark.parametrize("rule, muted, kept", KINDS, ids=[k[0].split(" ")[0] for k in KINDS])
def test_each_mute_kind_removes_only_what_it_matches(rule, muted, kept):
    p, verdicts = run(f'[mutes]\ndefaults = false\n[[mutes.rule]]\nname = "r"\n{rule}\n',
                      [open_line(**muted), open_line(**kept)])
    assert verdicts == [("open", "muted")]
    assert len(rows(p, "es_open")) == 1
    assert hits(p)["r"] == 1


def test_events_restrict_a_mute_to_those_types():
    p, verdicts = run('[mutes]\ndefaults = false\n[[mutes.rule]]\nname = "w"\nprocess_path = "/usr/local/bin/tool"\n'
                      'events = ["write"]\n', [open_line(), write_line(), close_line()])
    assert verdicts == [("write", "muted")]
    assert len(rows(p, "es_open")) == 1 and len(rows(p, "es_close")) == 1
    row = next(r for r in p.rules.rows() if r["name"] == "w")
    assert row["tables"] == "es_write" and row["event_types"] == "write"
    assert row["native"] == "es_mute_path_events(ES_MUTE_PATH_TYPE_LITERAL)"


def test_exec_is_muted_by_its_caller_path_and_targeted_by_the_new_image():
    cfg = '[mutes]\ndefaults = false\n[[mutes.rule]]\nname = "caller"\nprocess_path = "/usr/libexec/xpcproxy"\n' \
          '[[mutes.rule]]\nname = "image"\ntarget_path_prefix = "/usr/local/"\n'
    p, verdicts = run(cfg, [
        exec_line(caller="/usr/libexec/xpcproxy", target="/usr/bin/true"),  # caller muted
        exec_line(caller="/bin/zsh", target="/usr/local/bin/x"),  # target muted
        exec_line(caller="/bin/zsh", target="/usr/libexec/xpcproxy"),  # the image path is not the caller
    ])
    assert [v for _, v in verdicts] == ["muted", "muted"]
    assert [r["path"] for r in rows(p, "es_exec")] == ["/usr/libexec/xpcproxy"]
    assert hits(p)["caller"] == 1 and hits(p)["image"] == 1


def test_target_rules_do_not_touch_events_without_a_target():
    p, verdicts = run('[mutes]\ndefaults = false\ninvert = ["target_path"]\n[[mutes.rule]]\nname = "sel"\n'
                      'target_path_prefix = "/Users/"\n',
                      [fork_line(), other_line(file="/etc/x"), close_line(file="/Users/a"), open_line(file="/etc/x"),
                       open_line()])
    assert verdicts == [("open", "muted")]  # fork and es_other_events (no target column) are unaffected
    # es_close has a target (filename): its /Users/ file is selected like the open's.
    assert hits(p)["invert:target_path"] == 1 and hits(p)["sel"] == 2


def test_inverted_dimension_selects_only_its_matches():
    cfg = '[mutes]\ndefaults = false\ninvert = ["team_id"]\n[[mutes.rule]]\nname = "ours"\nteam_id = "TEAM123456"\n'
    p, verdicts = run(cfg, [open_line(), open_line(team_id="EVIL"), exec_line(target_team_id="TEAM123456"),
                            exec_line(target_team_id=None), fork_line(team_id=None)])
    assert [s for s, _ in verdicts] == ["open", "exec", "fork"]
    assert hits(p) ["invert:team_id"] == 3 and hits(p)["ours"] == 2
    row = next(r for r in p.rules.rows() if r["name"] == "ours")
    assert row["action"] == "select" and row["native"] is None  # ES has no team-id mute


def test_inverted_rule_restricted_to_a_type_mutes_other_types_like_es():
    # es_invert_muting selects (path, event) pairs: a type no rule names is not selected.
    cfg = '[mutes]\ndefaults = false\ninvert = ["process_path"]\n[[mutes.rule]]\nname = "sel"\n' \
          'process_path = "/usr/local/bin/tool"\nevents = ["open"]\n'
    p, verdicts = run(cfg, [open_line(), write_line(), open_line(path="/bin/other")])
    assert verdicts == [("write", "muted"), ("open", "muted")]
    assert next(r for r in p.rules.rows() if r["name"] == "sel")["native"].endswith("ES_MUTE_INVERSION_TYPE_PATH)")


def test_mute_wins_over_selection():
    cfg = '[mutes]\ndefaults = false\ninvert = ["uid"]\n[[mutes.rule]]\nname = "users"\nuid = 501\n' \
          '[[mutes.rule]]\nname = "notes"\ntarget_path = "/Users/alice/notes.txt"\n'
    p, verdicts = run(cfg, [open_line(), open_line(file="/Users/alice/other")])
    assert verdicts == [("open", "muted")]
    assert hits(p)["notes"] == 1 and hits(p)["users"] == 1


MDS = "/System/Library/Frameworks/CoreServices.framework/Frameworks/Metadata.framework/Versions/A/Support/mds_stores"


def test_defaults_mute_noisy_daemons_on_file_events_only():
    lines = [open_line(path=MDS, platform=True), close_line(path="/usr/sbin/cfprefsd"), write_line(path="/usr/libexec/logd"),
             fork_line(path=MDS), exec_line(caller="/usr/sbin/cfprefsd"), exec_line(target="/usr/libexec/logd"),
             open_line(file="/System/Volumes/Preboot/Cryptexes/OS/System/Library/dyld/dyld_shared_cache_arm64e"),
             open_line()]
    p, verdicts = run("", lines)
    assert [s for s, _ in verdicts] == ["open", "close", "write", "open"]
    h = hits(p)
    assert (h["default:spotlight"], h["default:cfprefsd"], h["default:logd"], h["default:dyld-cache"]) == (1, 1, 1, 1)
    assert len(rows(p, "es_exec")) == 2 and len(rows(p, "es_fork")) == 1
    p, verdicts = run("[mutes]\ndefaults = false\n", lines)
    assert verdicts == []
    assert not any(r["origin"] == "default" for r in p.rules.rows() if r["kind"] == "mute")


def test_default_set_never_names_process_events():
    assert not DEFAULT_EVENTS & {"exec", "fork", "exit"}
    assert all(key.startswith(("process_path", "target_path")) for _, key, _, _ in DEFAULT_RULES)


def test_inverting_a_dimension_leaves_its_defaults_out():
    p, _ = run('[mutes]\ninvert = ["process_path"]\n[[mutes.rule]]\nname = "sel"\nprocess_path = "/bin/x"\n', [])
    names = {r["name"] for r in p.rules.rows() if r["kind"] == "mute"}
    assert "default:cfprefsd" not in names and "default:dyld-cache" in names


# -- a model of the documented semantics, checked against the compiled engine -----------

PATHS = ["/usr/local/bin/tool", "/usr/sbin/cfprefsd", "/opt/x/y"]
FILES = ["/Users/a/f", "/private/tmp/t", "/etc/hosts"]
TEAMS = ["TEAM123456", None]
UIDS = [0, 501]
RULES = st.sampled_from([
    ("process_path", "literal", "/usr/sbin/cfprefsd"), ("process_path", "prefix", "/usr/"),
    ("process_path", "glob", "*/x/*"), ("target_path", "literal", "/etc/hosts"),
    ("target_path", "prefix", "/private/"), ("team_id", "literal", "TEAM123456"), ("uid", "literal", 0),
    ("platform_binary", "literal", True),
])
KEY = {("process_path", "literal"): "process_path", ("process_path", "prefix"): "process_path_prefix",
       ("process_path", "glob"): "process_path_glob", ("target_path", "literal"): "target_path",
       ("target_path", "prefix"): "target_path_prefix", ("team_id", "literal"): "team_id",
       ("uid", "literal"): "uid", ("platform_binary", "literal"): "platform_binary"}


def model_muted(rules, invert, short, ev) -> bool:
    import fnmatch

    def matches(dim, match, value):
        v = ev[dim]
        if v is None:
            return False
        if match == "prefix":
            return v.startswith(value)
        if match == "glob":
            return fnmatch.fnmatchcase(v, value)
        return v == (int(value) if dim == "platform_binary" else value)

    for dim in ("process_path", "target_path", "team_id", "uid", "platform_binary"):
        if dim == "target_path" and short not in ("open", "write"):
            continue
        mine = [(m, v) for (d, m, v, evs) in rules if d == dim and (evs is None or short in evs)]
        hit = any(matches(dim, m, v) for m, v in mine)
        if dim not in invert and hit:
            return True
    for dim in invert:
        if dim == "target_path" and short not in ("open", "write"):
            continue
        mine = [(m, v) for (d, m, v, evs) in rules if d == dim and (evs is None or short in evs)]
        if not any(matches(dim, m, v) for m, v in mine):
            return True
    return False


@settings(max_examples=60, deadline=None)
@given(rules=st.lists(st.tuples(RULES, st.sampled_from([None, ("open",), ("write", "fork")])), max_size=5),
       invert=st.sets(st.sampled_from(["process_path", "target_path", "team_id"])),
       evs=st.lists(st.tuples(st.sampled_from(["open", "write", "fork"]), st.sampled_from(PATHS),
                              st.sampled_from(FILES), st.sampled_from(TEAMS), st.sampled_from(UIDS),
                              st.booleans()), min_size=1, max_size=12))
def test_engine_agrees_with_the_model(rules, invert, evs):
    flat = [(d, m, v, e) for (d, m, v), e in rules]
    cfg = ["[mutes]", "defaults = false", f"invert = {sorted(invert)!r}".replace("'", '"')]
    for i, (d, m, v, e) in enumerate(flat):
        value = "true" if v is True else (str(v) if isinstance(v, int) else f'"{v}"')
        cfg += ["[[mutes.rule]]", f'name = "r{i}"', f"{KEY[(d, m)]} = {value}"]
        if e:
            cfg.append("events = [" + ", ".join(f'"{x}"' for x in e) + "]")
    lines, expected = [], []
    for short, path, file, team, uid, platform in evs:
        proc = {"path": path, "team_id": team, "uid": uid, "platform": platform}
        lines.append({"open": open_line, "write": write_line}.get(short, fork_line)(
            **({"file": file} if short != "fork" else {}), **proc))
        ev = {"process_path": path, "target_path": file, "team_id": team, "uid": uid, "platform_binary": int(platform)}
        expected.append(model_muted(flat, invert, short, ev))
    # Twice through the same pipeline: the per-process cache must not change any verdict.
    p, src = pipeline_with("\n".join(cfg) + "\n")
    dropped = []
    for _ in range(2):
        for ln, want in zip(lines, expected):
            kept, verdicts = ingest_each(p, src, [ln])
            assert (kept == 0) == want and len(verdicts) == int(want)
            dropped += verdicts
    assert len(dropped) == 2 * sum(expected)
    removed = sum(r["hits"] for r in p.rules.rows() if r["action"] in ("mute", "mute-unselected"))
    assert removed == len(dropped)  # each muted event is counted on exactly one rule


def test_an_event_with_two_target_paths_is_muted_only_when_both_are():
    """ES's rule for events with several target paths (rename, link, clone, ...): muted only if every
    path is muted; under inversion, selected if any is."""
    from tests.rules_events import rename_line

    cfg = '[mutes]\ndefaults = false\n[[mutes.rule]]\nname = "tmp"\ntarget_path_prefix = "/private/tmp/"\n'
    lines = [rename_line("/private/tmp/x.plist", "/Users/alice/Library/LaunchAgents/x.plist"),  # out of tmp: kept
             rename_line("/private/tmp/x", "/private/tmp/y"),  # both muted: muted
             rename_line("/Users/alice/x", "/private/tmp/x")]  # into tmp: kept
    p, verdicts = run(cfg, lines)
    assert verdicts == [("rename", "muted")]
    assert [r["dest_filename"] for r in rows(p, "es_rename")] == [
        "/Users/alice/Library/LaunchAgents/x.plist", "/private/tmp/x"]
    assert hits(p)["tmp"] == 1
    inverted = cfg.replace("defaults = false\n", 'defaults = false\ninvert = ["target_path"]\n')
    p, verdicts = run(inverted, lines)
    assert verdicts == []  # each has a path under /private/tmp/: all selected
    p, verdicts = run(inverted, [rename_line("/Users/a", "/Users/b")])
    assert verdicts == [("rename", "muted")]  # neither path selected
