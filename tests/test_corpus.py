"""The generator (osq_esf.corpus) and the validator (osq_esf.schema_check).

Every generated line must be what eslogger writes; the ground truth of injected
faults must equal a straightforward recount of the streams; lineage must follow ES
semantics; the same seed must give the same bytes.
"""

from __future__ import annotations

import copy
import gzip
import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osq_esf.corpus import GARBAGE_KINDS, generate, write
from osq_esf.corpus import scenarios as sc
from osq_esf.corpus.__main__ import main as corpus_main
from osq_esf.corpus.bench import BENCH_MIX, OTHER_MIX
from osq_esf.corpus.userspace import USERSPACE_EVENTS
from osq_esf.corpus.world import SHORT
from osq_esf.events import first_message_version
from osq_esf.schema_check import check, check_line, validate, SchemaError

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
BUNDLED_DEMO = REPO / "osq_esf" / "data" / "demo.jsonl.gz"
DEMO_COMMAND_SEED = 7  # osq_esf/data/README.md


def messages(lines):
    return [json.loads(line) for line in lines]


def tok(t) -> tuple[int, int]:
    """(pid, pidversion) of an audit token in either form."""
    return (t[5], t[7]) if isinstance(t, list) else (t["pid"], t["pidversion"])


def tok_uid(t) -> int:
    """The effective uid of an audit token in either form."""
    return t[1] if isinstance(t, list) else t["euid"]


def assert_valid(lines, where: str) -> None:
    for n, line in enumerate(lines):
        msg = json.loads(line)
        errors = check(msg, allow_unknown_event=msg.get("event_type", 0) > 147)
        assert not errors, f"{where} line {n}: {errors[:3]}"


def recount(lines) -> dict:
    """Accounting from scratch, the Mac Monitor way: the first number sets the baseline,
    a jump adds its size to lost, a repeat or step back is a regression (baseline kept)."""
    lost, regressions, msgs = Counter(), Counter(), Counter()
    lost_g = regressions_g = bad = 0
    last: dict[int, int] = {}
    last_g = None
    for line in lines:
        try:
            m = json.loads(line)
        except ValueError:  # bad JSON and invalid UTF-8 alike
            bad += 1
            continue
        if not isinstance(m, dict):
            bad += 1
            continue
        et = m["event_type"]
        short = SHORT.get(et, f"unknown({et})")
        msgs[short] += 1
        s, g = m["seq_num"], m["global_seq_num"]
        prev = last.get(et)
        if prev is not None and s != prev + 1:
            if s > prev:
                lost[short] += s - prev - 1
            else:
                regressions[short] += 1
        last[et] = s if prev is None else max(s, prev)
        if last_g is not None and g != last_g + 1:
            if g > last_g:
                lost_g += g - last_g - 1
            else:
                regressions_g += 1
        last_g = g if last_g is None else max(g, last_g)
    return {"lost": dict(lost), "lost_global": lost_g, "regressions": dict(regressions),
            "regressions_global": regressions_g, "messages": dict(msgs), "bad": bad}


def assert_truth_matches_recount(corpus) -> None:
    truth = corpus.truth
    for client, lines in corpus.by_client().items():
        r = recount(lines)
        assert r["lost"] == truth.lost[client], client
        assert r["lost_global"] == truth.lost_global[client], client
        assert r["regressions"] == truth.regressions[client], client
        assert r["regressions_global"] == truth.regressions_global[client], client
        assert r["messages"] == truth.messages[client], client
        assert r["bad"] == sum(n for k, n in truth.garbage[client].items() if k != "unknown_event"), client
        assert len(lines) == truth.lines[client], client


# -- every line is eslogger's ---------------------------------------------------------------


@pytest.fixture(scope="module")
def demo():
    return generate("demo", seed=DEMO_COMMAND_SEED)


@pytest.fixture(scope="module")
def demo_msgs(demo):
    return messages(demo.lines)


def test_demo_validates_and_matches_the_bundled_recording(demo):
    assert 2000 <= len(demo.lines) <= 5000
    assert_valid(demo.lines, "demo")
    # The bundled file is the documented command's output; regenerate it when this fails.
    assert gzip.decompress(BUNDLED_DEMO.read_bytes()) == b"".join(demo.lines)
    assert BUNDLED_DEMO.stat().st_size < 500_000


@pytest.mark.parametrize("version", [*range(1, 12), "mixed"])
def test_every_version_validates(version):
    for scenario, events, form in (("demo", 360, "object"), ("bench", 150, "array"), ("types", 250, "mixed"),
                                   ("attacks", None, "array"), ("workday", None, "mixed")):
        c = generate(scenario, events=events, seed=3, version=version, token_form=form)
        assert_valid(c.lines, f"{scenario} v{version}")
        msgs = messages(c.lines)
        versions = {m["version"] for m in msgs}
        assert versions == set(range(1, 12)) if version == "mixed" else versions == {version}
        # A type is never in a message version older than the macOS that introduced it.
        assert all(m["version"] >= first_message_version(SHORT[m["event_type"]]) for m in msgs)


def body_tokens(body) -> list:
    """Every audit token inside an event body (processes' and the *_token fields)."""
    out = []
    if isinstance(body, dict):
        for key, value in body.items():
            if (key == "audit_token" or key.endswith("_token")) and value is not None:
                out.append(value)
            else:
                out += body_tokens(value)
    elif isinstance(body, list):
        for item in body:
            out += body_tokens(item)
    return out


@pytest.mark.parametrize("version", [4, 9, 10, 11])
@pytest.mark.parametrize("token_form", ["object", "array", "mixed"])
def test_token_forms_validate(version, token_form):
    for scenario, events in (("bench", 120), ("types", 200)):
        c = generate(scenario, events=events, seed=4, version=version, token_form=token_form)
        assert_valid(c.lines, f"{scenario} v{version} {token_form}")
        forms = {type(m["process"]["audit_token"]) for m in messages(c.lines)}
        assert forms == {"object": {dict}, "array": {list}, "mixed": {dict, list}}[token_form]
        for m in messages(c.lines):  # a message's tokens all have its acting process's form
            inner = body_tokens(m["event"])
            assert {type(t) for t in inner} <= {type(m["process"]["audit_token"])}, m["event"]
            assert all(len(t) == 8 for t in inner)
        if scenario == "types" and version >= 8:
            assert sum(len(body_tokens(m["event"])) for m in messages(c.lines)) > 100


@pytest.mark.parametrize("version", [9, 10, 11])
def test_types_scenario_has_every_notify_type(version):
    from osq_esf.corpus.every_type import EXAMPLES

    assert set(EXAMPLES) == set(SHORT.values()) and len(SHORT) == 104
    c = generate("types", seed=2, version=version, token_form="mixed")
    assert_valid(c.lines, f"types v{version}")
    counts = Counter(SHORT[m["event_type"]] for m in messages(c.lines))
    assert set(counts) == set(SHORT.values())
    more = Counter(SHORT[m["event_type"]] for m in messages(generate("types", events=1500, seed=2).lines))
    assert set(more) == set(SHORT.values()) and min(more.values()) >= 4  # cycles repeat up to the size asked


def test_types_scenario_leaves_out_what_a_version_cannot_carry():
    seen = {v: {SHORT[m["event_type"]] for m in messages(generate("types", seed=1, version=v).lines)} for v in (1, 6, 8)}
    assert "btm_launch_item_add" not in seen[1] and "pty_grant" not in seen[1] and "exec" in seen[1]
    assert "btm_launch_item_add" in seen[6] and "sudo" not in seen[6]
    assert "gatekeeper_user_override" in seen[8] and "tcc_modify" not in seen[8]
    assert seen[1] == {t for t in SHORT.values() if first_message_version(t) == 1}


def test_version_gating_in_output():
    v1, v3, v9, v10 = (messages(generate("bench", events=300, seed=1, version=v).lines) for v in (1, 3, 9, 10))
    assert all("seq_num" not in m and "global_seq_num" not in m and "thread" not in m for m in v1)
    assert all("tty" not in m["process"] and "start_time" not in m["process"] for m in v1)
    assert all("seq_num" in m and "global_seq_num" not in m and "start_time" in m["process"] for m in v3)
    assert all("parent_audit_token" in m["process"] and "cs_validation_category" not in m["process"] for m in v9)
    assert all("cs_validation_category" in m["process"] for m in v10)
    io9 = [m["event"]["iokit_open"] for m in v9 if "iokit_open" in m["event"]]
    io10 = [m["event"]["iokit_open"] for m in v10 if "iokit_open" in m["event"]]
    assert io9 and io10
    assert all("parent_path" not in e for e in io9) and all("parent_registry_id" in e for e in io10)


# -- the validator itself -----------------------------------------------------------------


def _fixture_lines():
    d = SHARED / "data" / "mac-monitor"
    if not d.is_dir():
        pytest.skip(f"{d} is not here")
    return [(p.name, line) for p in sorted(d.glob("eslogger-*.jsonl")) for line in p.read_bytes().splitlines() if line]


def test_mac_monitor_fixtures_validate():
    lines = _fixture_lines()
    assert len(lines) >= 14
    for name, line in lines:
        # The lineage fixture abbreviates exec.cwd's stat to {}; nothing else is waived.
        assert check_line(line, allow_empty_stat=True) == [], name
    strict = [e for _, line in lines for e in check_line(line)]
    assert strict and all("cwd.stat" in e for e in strict)


def test_real_captures_validate():
    d = SHARED / "data" / "real-captures"
    if not d.is_dir():
        pytest.skip(f"{d} is not here")
    files = sorted(d.glob("*.json"))  # GPL-3.0: read in place, never copied
    assert files
    for p in files:
        assert check(json.loads(p.read_bytes())) == [], p.name


def _v9_exec(demo_msgs) -> dict:
    return copy.deepcopy(next(m for m in demo_msgs if "exec" in m["event"] and m["event"]["exec"]["fds"]))


BROKEN = {
    "missing process key": lambda m: m["process"].pop("signing_id"),
    "missing stat key": lambda m: m["process"]["executable"]["stat"].pop("st_ino"),
    "int as string": lambda m: m["process"].__setitem__("ppid", "1"),
    "bool as int": lambda m: m["process"].__setitem__("is_platform_binary", 1),
    "team_id int": lambda m: m["process"].__setitem__("team_id", 7),
    "seq_num below v2": lambda m: m.__setitem__("version", 1),
    "v10 field in v9": lambda m: m["process"].__setitem__("cs_validation_category", 1),
    "v4 field missing": lambda m: m["process"].pop("parent_audit_token"),
    "thread missing": lambda m: m.pop("thread"),
    "time with 6 digits": lambda m: m.__setitem__("time", m["time"][:26] + "Z"),
    "start_time with 9 digits": lambda m: m["process"].__setitem__("start_time", m["process"]["start_time"][:-1] + "000Z"),
    "lower-case cdhash": lambda m: m["process"].__setitem__("cdhash", m["process"]["cdhash"].lower()),
    "short cdhash": lambda m: m["process"].__setitem__("cdhash", "ABCD"),
    "token array of 7": lambda m: m["process"].__setitem__("audit_token", [0] * 7),
    "extra key": lambda m: m["process"].__setitem__("pid", 1),
    "event key mismatch": lambda m: m.__setitem__("event", {"open": m["event"]["exec"]}),
    "two event keys": lambda m: m["event"].__setitem__("write", {}),
    "args not strings": lambda m: m["event"]["exec"].__setitem__("args", [1, 2]),
    "fd without fdtype": lambda m: m["event"]["exec"]["fds"][0].pop("fdtype"),
    "tty as string": lambda m: m["process"].__setitem__("tty", "/dev/ttys000"),
    "auth result with flags": lambda m: m["action"]["result"].__setitem__("result", {"flags": 1}),
    "action_type auth": lambda m: m.__setitem__("action_type", 0),
    "unknown event type": lambda m: m.__setitem__("event_type", 200),
    "negative seq_num": lambda m: m.__setitem__("seq_num", -1),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_validator_rejects_broken_messages(demo_msgs, name):
    m = _v9_exec(demo_msgs)
    assert check(m) == []
    BROKEN[name](m)
    assert check(m), name
    with pytest.raises(SchemaError):
        validate(m)


def test_validator_rejects_non_messages():
    assert check_line(b"[1, 2]")
    assert check_line(b'{"version": 9')
    assert check_line(b'{"version": "\xff"}')
    assert check({})


def test_create_and_rename_union_arms(demo_msgs):
    create = copy.deepcopy(next(m for m in demo_msgs if "create" in m["event"]))
    assert check(create) == []
    create["event"]["create"]["destination_type"] = 1  # says new_path, carries existing_file
    assert any("destination" in e for e in check(create))


def test_the_key_schemas_cover_every_notify_type_once():
    import csv

    from osq_esf.schema_check import load_schema

    data = REPO / "osq_esf" / "data"
    notify = {r["eslogger_short_name"] for r in csv.DictReader((data / "es_event_types.csv").open())
              if r["action"] == "NOTIFY"}
    recovered = json.loads((data / "eslogger-keys.json").read_text())["events"]
    derived = json.loads((data / "eslogger-keys-derived.json").read_text())["events"]
    assert not set(recovered) & set(derived)
    assert set(recovered) | set(derived) == notify == set(load_schema().events)
    assert "not recovered from eslogger" in json.loads((data / "eslogger-keys-derived.json").read_text())["_comment"]


DERIVED = sorted(json.loads((REPO / "osq_esf" / "data" / "eslogger-keys-derived.json").read_text())["events"])


@pytest.mark.parametrize("event", DERIVED)
def test_derived_types_validate_and_their_keys_are_checked(event):
    from tests.eslines import message

    arm = {"data.od.record_name": "alice"} if event == "authentication" else None  # a union needs its arm
    for version, form in ((4, "object"), (10, "array")):
        m = message(event, arm, version=version, form=form)  # asserts the validator accepts it
    body = m["event"][event]
    keys = sorted(body)
    body["not_an_es_field"] = 1
    assert any("unexpected key not_an_es_field" in e for e in check(m))
    body.pop("not_an_es_field")
    for key in keys:  # every key's type is checked
        was, body[key] = body[key], ({"wrong": "type"} if not isinstance(body[key], dict) else 12)
        assert check(m), key
        body[key] = was


def test_derived_union_arms_and_version_gates():
    from tests.eslines import message

    od = message("authentication", {"type": 0, "data.od.record_name": "alice"})
    assert od["event"]["authentication"]["data"]["od"]["record_name"] == "alice"
    od["event"]["authentication"]["type"] = 1  # says touchid, carries od
    assert any("carries exactly touchid" in e for e in check(od))
    message("authentication", {"type": 3, "data.auto_unlock.username": "alice"}, form="array")
    v7 = message("remount", version=7)
    assert "remount_flags" not in v7["event"]["remount"]
    v7["event"]["remount"]["remount_flags"] = 0
    assert any("since v8" in e for e in check(v7))
    v8 = message("remount", version=8)
    v8["event"]["remount"].pop("disposition")
    assert any("missing key disposition" in e for e in check(v8))


def test_instigator_tokens_from_message_version_8_even_inside_unions():
    from tests.eslines import message, token

    for event, arm in (("btm_launch_item_add", None), ("od_create_user", None), ("authorization_petition", None),
                       ("authentication", {"type": 1, "data.touchid.touchid_mode": 0})):
        v7, v8 = message(event, arm, version=7), message(event, arm, version=8)
        body7, body8 = v7["event"][event], v8["event"][event]
        if event == "authentication":
            body7, body8 = body7["data"]["touchid"], body8["data"]["touchid"]
        assert "instigator_token" not in body7 and "instigator_token" in body8, event
        body7["instigator_token"] = token(5, 6, "object")
        assert any("since v8" in e for e in check(v7)), event
        body8.pop("instigator_token")
        assert any("missing key instigator_token" in e for e in check(v8)), event
    v9 = message("xp_malware_detected", version=9)
    assert "detected_executable" not in v9["event"]["xp_malware_detected"]
    assert "detected_executable" in message("xp_malware_detected", version=10)["event"]["xp_malware_detected"]


def test_first_message_version_of_each_type():
    from osq_esf.events import first_message_version, message_version_of

    assert [message_version_of(m) for m in ("10.15.0", "10.15.1", "10.15.4", "11.3.0", "12.0.0", "12.3", "13.0.0",
                                             "14.0.0", "15.0.0", "15.4.0", "26.0", "27.1")] == [1, 1, 2, 4, 4, 5, 6, 7, 8,
                                                                                                  9, 10, 11]
    assert first_message_version("exec") == 1 and first_message_version("pty_grant") == 2
    assert first_message_version("btm_launch_item_add") == 6 and first_message_version("tcc_modify") == 9
    assert first_message_version("nope") is None


# -- numbering, gaps, ground truth ----------------------------------------------------------------


def test_numbering_per_client_from_zero_without_faults():
    c = generate("bench", events=1500, seed=8, clients="default")
    streams = c.by_client()
    assert set(streams) == {"process", "file", "memory", "device", "security"}
    for client, lines in streams.items():
        msgs = messages(lines)
        assert [m["global_seq_num"] for m in msgs] == list(range(len(msgs))), client
        per_type: dict[int, list[int]] = {}
        for m in msgs:
            per_type.setdefault(m["event_type"], []).append(m["seq_num"])
        for et, seqs in per_type.items():
            assert seqs == list(range(len(seqs))), (client, et)
            assert SHORT[et] in c.spec.clients[client]
    assert c.truth.total_lost == 0 and c.truth.decode_errors == 0


def test_single_client_has_every_type_and_merged_lines_are_in_time_order():
    c = generate("bench", events=3000, seed=2, clients={"a": ["exec", "fork"], "b": ["exec", "open"]})
    msgs = messages(c.lines)
    times = [m["time"] for m in msgs]
    assert times == sorted(times)
    assert c.truth.messages["a"]["exec"] == c.truth.messages["b"]["exec"]  # one exec, two subscribers
    single = generate("bench", events=3000, seed=2)
    seen = set(single.truth.messages["eslogger"])
    assert seen <= set(SHORT.values()) and len(seen) >= 12  # the rarest (0.1%) may not occur


def test_gap_truth_matches_recount():
    c = generate("bench", events=6000, seed=11, clients="default", gaps=40, repeats=5, garbage=17)
    truth = c.truth
    assert truth.total_lost > 50 and sum(truth.regressions_global.values()) >= 10
    assert sum(n for g in truth.garbage.values() for n in g.values()) == 17
    assert_truth_matches_recount(c)
    # Per-type losses add up to the global losses of each client.
    for client in truth.clients:
        assert sum(truth.lost[client].values()) == truth.lost_global[client]


def test_truth_matches_recount_over_every_type_and_five_clients():
    c = generate("types", events=2500, seed=12, version=(8, 10, 11), token_form="mixed", clients="default",
                 gaps=12, repeats=3, garbage=9)
    assert set(c.spec.clients) == {"process", "file", "memory", "device", "security"}
    assert sorted(t for types in c.spec.clients.values() for t in types) == sorted(SHORT.values())
    assert c.truth.lost_global["security"] > 0 and c.truth.messages["security"]["btm_launch_item_add"]
    assert_truth_matches_recount(c)


def test_gaps_on_the_demo_and_a_per_client_mapping():
    c = generate("demo", seed=1, version=10, clients="default", gaps={"file": 30, "process": 3})
    assert c.truth.lost_global["memory"] == c.truth.lost_global["device"] == 0
    assert c.truth.lost_global["file"] > 10
    assert_truth_matches_recount(c)


def test_garbage_kinds_and_truncated_last_line():
    c = generate("bench", events=800, seed=5, garbage={"bad_json": 2, "non_object": 2, "invalid_utf8": 2,
                                                       "unknown_event": 3, "truncated": 1})
    lines = c.lines
    assert not lines[-1].endswith(b"\n") and all(line.endswith(b"\n") for line in lines[:-1])
    assert c.truth.decode_errors == 7
    unknown = []
    rejected = 0
    for line in lines:
        try:
            m = json.loads(line)
        except ValueError:
            rejected += 1
            continue
        if not isinstance(m, dict):
            rejected += 1
        elif m["event_type"] > 147:
            unknown.append(m)
    assert rejected == 7
    assert len(unknown) == 3
    for m in unknown:
        assert list(m["event"]) == ["future_thing"]
        assert check(m, allow_unknown_event=True) == [] and check(m)
    assert_truth_matches_recount(c)


def test_options_are_checked():
    with pytest.raises(ValueError):
        generate("nope")
    with pytest.raises(ValueError):
        generate("bench", version=12)
    with pytest.raises(ValueError):
        generate("bench", version=2, gaps=3)  # no global numbers to count with
    with pytest.raises(ValueError):
        generate("bench", clients={"x": ["opne"]})
    with pytest.raises(ValueError):
        generate("bench", garbage={"truncated": 2})
    with pytest.raises(ValueError):
        generate("bench", clients="default", gaps={"nobody": 1})


# -- lineage ---------------------------------------------------------------------------------


def test_lineage_invariants(demo_msgs):
    live: dict[int, int] = {1: 1}  # pid -> pidversion
    for m in demo_msgs:
        p = m["process"]
        pid, pv = tok(p["audit_token"])
        if pid in live:
            assert live[pid] == pv, "a process's messages carry its current pidversion"
        (kind, e), = m["event"].items()
        if kind == "exec":
            tpid, tpv = tok(e["target"]["audit_token"])
            assert tpid == pid and tpv > pv
            assert e["target"]["ppid"] == p["ppid"] and e["target"]["start_time"] == p["start_time"]
            live[pid] = tpv
        elif kind == "fork":
            child = e["child"]
            cpid, cpv = tok(child["audit_token"])
            assert cpid != pid and cpid not in live
            assert tok(child["parent_audit_token"]) == (pid, pv)
            assert child["ppid"] == child["original_ppid"] == pid
            assert child["executable"]["path"] == p["executable"]["path"]
            live[cpid] = cpv
        elif kind == "exit":
            del live[pid]


def test_demo_story(demo_msgs):
    execs = [m for m in demo_msgs if "exec" in m["event"]]
    # launchd -> xpcproxy -> job, the label in the job's environment
    by_label = {}
    for m in execs:
        e = m["event"]["exec"]
        if m["process"]["executable"]["path"] == "/usr/libexec/xpcproxy":
            label = [x for x in e["env"] if x.startswith("XPC_SERVICE_NAME=")]
            assert label and e["target"]["ppid"] == 1
            by_label[label[0].split("=", 1)[1]] = e["target"]
    for label, *_ in sc.DEMO_DAEMONS + sc.DEMO_AGENTS:
        assert label in by_label
    safari = by_label[sc.DEMO_SAFARI_LABEL]
    networking = by_label[sc.DEMO_NETWORKING_LABEL]
    assert tok(networking["responsible_audit_token"]) == tok(safari["audit_token"])
    assert tok(safari["responsible_audit_token"]) == tok(safari["audit_token"])
    # the payload: unsigned-ish, no team, not a platform binary; run twice by sh, once as its root helper
    payload = [m["event"]["exec"] for m in execs if m["event"]["exec"]["target"]["executable"]["path"] == sc.DEMO_PAYLOAD]
    assert len(payload) == 3
    for e in payload:
        t = e["target"]
        assert t["team_id"] is None and not t["is_platform_binary"] and t["codesigning_flags"] & 0x2
    assert [tok_uid(e["target"]["audit_token"]) for e in payload] == [501, 501, 0]
    # the nohup child is adopted: ppid 1, original_ppid the shell that ran the script
    sh = next(m["event"]["exec"]["target"] for m in execs if m["event"]["exec"]["args"] == ["sh"])
    adopted = [m["process"] for m in demo_msgs if "iokit_open" in m["event"]
               and m["event"]["iokit_open"]["user_client_class"] == "IOHIDLibUserClient"]
    assert adopted and all(p["ppid"] == 1 and p["original_ppid"] == tok(sh["audit_token"])[0] for p in adopted)
    assert all(p["executable"]["path"] == sc.DEMO_PAYLOAD for p in adopted)
    files = {m["event"][k].get("file", m["event"][k].get("target", {})).get("path")
             for m in demo_msgs for k in m["event"] if k in ("open", "write")}
    assert {sc.DEMO_KEYCHAIN, sc.DEMO_LAUNCH_AGENT, sc.DEMO_KEYLOG, sc.DEMO_PAYLOAD} <= files
    py = [m["event"]["exec"] for m in execs if sc.DEMO_SECRETS[0] in m["event"]["exec"]["args"]]
    assert py and all(set(sc.DEMO_SECRETS[1:]) <= set(e["env"]) for e in py)
    noisy = Counter(m["process"]["executable"]["path"] for m in demo_msgs
                    if set(m["event"]) & {"open", "write", "close"})
    assert sum(noisy[p] for p in sc.DEMO_NOISY) > len(demo_msgs) // 2


def _bodies(msgs, kind: str) -> list[tuple[dict, dict]]:
    """(acting process, event body) of every message of one type."""
    return [(m["process"], m["event"][kind]) for m in msgs if kind in m["event"]]


def test_demo_holds_every_curated_type_and_the_bundled_file_too(demo_msgs):
    assert len(set(sc.DEMO_TYPES)) == len(sc.DEMO_TYPES) and set(sc.DEMO_TYPES) <= set(SHORT.values())
    kinds = Counter(next(iter(m["event"])) for m in demo_msgs)
    assert [t for t in sc.DEMO_TYPES if not kinds[t]] == []
    bundled = Counter(next(iter(json.loads(line)["event"])) for line in
                      gzip.decompress(BUNDLED_DEMO.read_bytes()).splitlines())
    assert [t for t in sc.DEMO_TYPES if not bundled[t]] == []
    # both arms of create's and rename's destination, and every kind of authentication
    for kind in ("create", "rename"):
        assert {e["destination_type"] for _, e in _bodies(demo_msgs, kind)} == {0, 1}, kind
    assert {e["type"] for _, e in _bodies(demo_msgs, "authentication")} == {0, 1, 2, 3}
    assert any(e["was_mapped_writable"] for _, e in _bodies(demo_msgs, "close"))


def test_demo_persistence_through_btm_and_a_rename(demo_msgs):
    adds = {e["item"]["item_url"]: (p, e) for p, e in _bodies(demo_msgs, "btm_launch_item_add")}
    assert set(adds) == {sc.DEMO_LAUNCH_AGENT_URL, sc.DEMO_RENAMED_AGENT_URL}
    reporter, first = adds[sc.DEMO_LAUNCH_AGENT_URL]
    assert reporter["executable"]["path"].endswith("/backgroundtaskmanagementd") and reporter["is_platform_binary"]
    assert first["instigator"]["executable"]["path"] == sc.DEMO_PAYLOAD and first["instigator"]["team_id"] is None
    assert tok(first["instigator_token"]) == tok(first["instigator"]["audit_token"])  # v9: the token beside it
    assert first["executable_path"] == sc.DEMO_PAYLOAD and first["item"]["item_type"] == 3 and first["app"] is None
    _, second = adds[sc.DEMO_RENAMED_AGENT_URL]
    assert second["instigator"] is None  # mv had exited; its token remains
    mv = [m for m in demo_msgs if "exec" in m["event"] and m["event"]["exec"]["args"][0] == "mv"]
    assert [tok(m["event"]["exec"]["target"]["audit_token"]) for m in mv] == [tok(second["instigator_token"])]
    # mv x.plist ~/Library/LaunchAgents/ is a rename into the folder, never a write there
    (rename,) = [e for _, e in _bodies(demo_msgs, "rename") if e["source"]["path"] == sc.DEMO_STAGED_AGENT]
    new = rename["destination"]["new_path"]
    assert rename["destination_type"] == 1 and new["dir"]["path"] + "/" + new["filename"] == sc.DEMO_RENAMED_AGENT
    writes = {e["target"]["path"] for _, e in _bodies(demo_msgs, "write")}
    assert sc.DEMO_LAUNCH_AGENT in writes and sc.DEMO_RENAMED_AGENT not in writes
    removes = {e["item"]["item_url"] for _, e in _bodies(demo_msgs, "btm_launch_item_remove")}
    assert removes == set(adds)


def test_demo_tcc_grant_escalation_and_injection(demo_msgs):
    (grant, reset) = [(p, e) for p, e in _bodies(demo_msgs, "tcc_modify")]
    p, e = grant
    assert p["executable"]["path"].endswith("/tccd")
    assert (e["service"], e["identity"], e["identity_type"], e["update_type"], e["right"]) == (
        sc.DEMO_TCC_SERVICE, sc.DEMO_PAYLOAD, 1, 1, 2)
    assert e["instigator"]["executable"]["path"] == sc.DEMO_SYSTEM_SETTINGS
    assert reset[1]["update_type"] == 3 and reset[1]["instigator"]["executable"]["path"] == "/usr/bin/tccutil"
    (petition,) = [e for _, e in _bodies(demo_msgs, "authorization_petition")]
    assert petition["rights"] == [sc.DEMO_AUTHORIZATION_RIGHT] and petition["right_count"] == 1
    assert petition["petitioner"]["executable"]["path"] == sc.DEMO_PAYLOAD
    (judgement,) = [e for _, e in _bodies(demo_msgs, "authorization_judgement")]
    assert judgement["results"] == [{"right_name": sc.DEMO_AUTHORIZATION_RIGHT, "rule_class": 0, "granted": True}]
    # the root helper: setuid-root payload, hidden admin via sysadminctl/dscl, thread injection
    modes = [(p, e) for p, e in _bodies(demo_msgs, "setmode") if e["mode"] == 0o4755]
    assert modes and all(p["executable"]["path"] == sc.DEMO_PAYLOAD and tok_uid(p["audit_token"]) == 0 for p, _ in modes)
    (create_user,) = [e for _, e in _bodies(demo_msgs, "od_create_user")]
    assert create_user["user_name"] == sc.DEMO_HIDDEN_ADMIN
    assert create_user["instigator"]["executable"]["path"] == "/usr/sbin/sysadminctl"
    (hidden,) = [e for _, e in _bodies(demo_msgs, "od_attribute_set")]
    assert (hidden["record_name"], hidden["attribute_name"], hidden["attribute_values"]) == (
        sc.DEMO_HIDDEN_ADMIN, "IsHidden", ["1"])
    (inject,) = _bodies(demo_msgs, "remote_thread_create")
    assert inject[0]["executable"]["path"] == sc.DEMO_PAYLOAD
    assert inject[1]["target"]["signing_id"] == sc.DEMO_INJECTOR_TARGET
    (invalidated,) = _bodies(demo_msgs, "cs_invalidated")
    later = [m["process"]["codesigning_flags"] for m in demo_msgs
             if tok(m["process"]["audit_token"]) == tok(invalidated[0]["audit_token"])]
    assert later[0] & 0x1 and not later[-1] & 0x1  # CS_VALID is gone after the invalidation


def test_demo_sessions_remote_access_and_xprotect(demo_msgs):
    ssh = [(e["source_address"], e["success"], e["uid"]) for _, e in _bodies(demo_msgs, "openssh_login")]
    assert ssh == [(sc.DEMO_SSH_GUESSING, False, None)] * 3 + [(sc.DEMO_SSH_FROM, True, sc.DEMO_IT_UID)]
    (attach,) = [e for _, e in _bodies(demo_msgs, "screensharing_attach")]
    assert attach["graphical_session_id"] == sc.DEMO_GRAPHICAL_SESSION and attach["source_address"] == sc.DEMO_SSH_FROM
    (login,) = _bodies(demo_msgs, "login_login")
    assert login[0]["executable"]["path"] == "/usr/bin/login" and login[1]["username"] == "alice"
    sudo = [e for _, e in _bodies(demo_msgs, "sudo")]
    assert {e["from_username"] for e in sudo} == {"alice", sc.DEMO_IT_USER} and all(e["to_uid"] == 0 for e in sudo)
    (su,) = [e for _, e in _bodies(demo_msgs, "su")]
    assert not su["success"] and su["to_uid"] is None and su["argv"] == []
    lw = [next(iter(m["event"])) for m in demo_msgs if next(iter(m["event"])).startswith("lw_session_")]
    assert lw == ["lw_session_login", "lw_session_lock", "lw_session_unlock", "lw_session_logout"]
    (detected,) = [e for _, e in _bodies(demo_msgs, "xp_malware_detected")]
    (remediated,) = [e for _, e in _bodies(demo_msgs, "xp_malware_remediated")]
    assert detected["incident_identifier"] == remediated["incident_identifier"]
    assert detected["detected_path"] == remediated["remediated_path"] == sc.DEMO_PAYLOAD
    killed = [e["target"] for p, e in _bodies(demo_msgs, "signal") if p["executable"]["path"].endswith("/XProtect")]
    assert [tok(t["audit_token"]) for t in killed] == [tok(remediated["remediated_process_audit_token"])]
    (gatekeeper,) = [e for _, e in _bodies(demo_msgs, "gatekeeper_user_override")]
    assert gatekeeper["file"]["path"] == sc.DEMO_GATEKEEPER_OVERRIDE and gatekeeper["signing_info"]["team_id"]
    mounts = [e["statfs"]["f_mntonname"] for _, e in _bodies(demo_msgs, "mount") + _bodies(demo_msgs, "unmount")]
    assert mounts == [sc.DEMO_DMG_VOLUME] * 2
    assert [e["extattr"] for _, e in _bodies(demo_msgs, "deleteextattr")] == ["com.apple.quarantine"]


# -- determinism and options -------------------------------------------------------------------


def test_determinism():
    a = generate("bench", events=400, seed=9, clients="default", gaps=5, garbage=4)
    b = generate("bench", events=400, seed=9, clients="default", gaps=5, garbage=4)
    assert a.lines == b.lines and a.truth == b.truth
    assert list(a.iter_lines()) == a.lines  # iterating again regenerates the same bytes
    assert generate("bench", events=400, seed=10).lines != generate("bench", events=400, seed=9).lines
    for scenario, events in (("demo", None), ("types", 500), ("attacks", None), ("workday", None)):  # every scenario
        first = generate(scenario, events=events, seed=4, version="mixed", token_form="mixed").lines
        assert first == generate(scenario, events=events, seed=4, version="mixed", token_form="mixed").lines
        assert first != generate(scenario, events=events, seed=5, version="mixed", token_form="mixed").lines


def test_rendering_options():
    plain = generate("bench", events=300, seed=1, shuffle_keys=False, escape_slashes=False, crlf=True).lines
    assert all(line.endswith(b"\r\n") for line in plain)
    assert not any(b"\\/" in line for line in plain) and all(b'"path":"/' in line for line in plain)
    orders = {tuple(json.loads(line)) for line in plain}
    assert len(orders) <= 4  # one key order per envelope shape
    shuffled = generate("bench", events=300, seed=1).lines
    assert all(b'"path":"\\/' in line for line in shuffled)
    assert not any(b'":"/' in line for line in shuffled)
    assert len({tuple(json.loads(line)) for line in shuffled}) > 10
    assert messages(plain) == [json.loads(line) for line in generate("bench", events=300, seed=1).lines]
    # Key order and escaping are rendering only: every cached rendering of a process or a file
    # shows its state at the time (a stale one differed in demo seed 1's asid, bench's st_size).
    for scenario, events in (("demo", None), ("types", 400), ("bench", 3000)):
        assert (messages(generate(scenario, events=events, seed=1, shuffle_keys=False, escape_slashes=False).lines)
                == messages(generate(scenario, events=events, seed=1).lines)), scenario


def test_bench_mix_and_sizes():
    c = generate("bench", events=10_000, seed=1)
    msgs = messages(c.lines)
    kinds = Counter(next(iter(m["event"])) for m in msgs)
    share = {k: n / len(msgs) for k, n in kinds.items()}
    assert 0.55 < share["open"] < 0.65 and 0.20 < share["write"] < 0.30
    assert 0.035 < share["exec"] < 0.065 and 0.035 < share["fork"] + share["exit"] < 0.065
    assert 0.005 < share["iokit_open"] < 0.02
    assert 0.05 < share["close"] < 0.09 and 0.01 < share["mmap"] < 0.03
    # every other NOTIFY type is in the mix, and the events daemons report are rare
    assert set(kinds) == set(SHORT.values())
    assert sum(share[t] for t in USERSPACE_EVENTS) < 0.01
    assert {n for n, _ in BENCH_MIX} - {"other"} | set(OTHER_MIX) == set(SHORT.values())
    assert not {n for n, _ in BENCH_MIX} & set(OTHER_MIX)
    shell_execs = [len(line) for line, m in zip(c.lines, msgs) if "exec" in m["event"] and len(m["event"]["exec"]["env"]) >= 30]
    assert shell_execs and sum(shell_execs) / len(shell_execs) > 4000
    paths = {m["event"][k].get("file", m["event"][k].get("target", {})).get("path")
             for m in msgs for k in m["event"] if k in ("open", "write")}
    assert len(paths) > 1500
    assert len({m["process"]["executable"]["path"] for m in msgs}) > 24


def test_write_and_cli(tmp_path):
    truth = write(tmp_path / "x.jsonl.gz", "bench", events=200, seed=2)
    lines = gzip.decompress((tmp_path / "x.jsonl.gz").read_bytes()).splitlines(keepends=True)
    assert lines == generate("bench", events=200, seed=2).lines and sum(truth.lines.values()) == len(lines)
    write(tmp_path / "y.jsonl", "bench", events=200, seed=2)
    assert (tmp_path / "y.jsonl").read_bytes() == b"".join(lines)
    rc = corpus_main(["--scenario", "bench", "--events", "300", "--seed", "4", "--clients", "default",
                      "--gaps", "3", "--garbage", "2", "--version", "10", "--out", str(tmp_path / "c-{client}.jsonl"),
                      "--truth", str(tmp_path / "truth.json")])
    assert rc == 0
    t = json.loads((tmp_path / "truth.json").read_text())
    for client in ("process", "file", "memory", "device"):
        assert len((tmp_path / f"c-{client}.jsonl").read_bytes().splitlines()) == t["lines"][client]
    assert t["decode_errors"] == 2  # the truncated last line and one bad line


# -- option combinations -----------------------------------------------------------------------


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    version=st.sampled_from([4, 6, 9, 10, 11, (4, 10, 11)]),
    token_form=st.sampled_from(["object", "array", "mixed"]),
    shuffle=st.booleans(),
    escape=st.booleans(),
    crlf=st.booleans(),
    clients=st.sampled_from([None, "default", "proc=exec,fork,exit;files=open,write,close"]),
    gaps=st.integers(0, 12),
    repeats=st.integers(0, 3),
    garbage=st.integers(0, 9),
    seed=st.integers(0, 2**16),
)
def test_option_combinations(version, token_form, shuffle, escape, crlf, clients, gaps, repeats, garbage, seed):
    c = generate("bench", events=250, seed=seed, version=version, token_form=token_form, shuffle_keys=shuffle,
                 escape_slashes=escape, crlf=crlf, clients=clients, gaps=gaps, repeats=repeats, garbage=garbage)
    eol = b"\r\n" if crlf else b"\n"
    good = 0
    for line in c.lines:
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if isinstance(m, dict):
            assert check(m, allow_unknown_event=m["event_type"] > 147) == []
            good += 1
    assert good == sum(sum(v.values()) for v in c.truth.messages.values())
    assert all(line.endswith(eol) for line in c.lines[:-1])
    assert sum(sum(g.values()) for g in c.truth.garbage.values()) == garbage
    assert set(GARBAGE_KINDS) >= {k for g in c.truth.garbage.values() for k in g}
    assert_truth_matches_recount(c)


# -- the detection scenarios' ground truth ------------------------------------------------------


def _processes(obj) -> list[dict]:
    """Every process object in a message (the acting one and those its event names)."""
    out = []
    if isinstance(obj, dict):
        if "audit_token" in obj and "executable" in obj:
            out.append(obj)
        for value in obj.values():
            out += _processes(value)
    elif isinstance(obj, list):
        for item in obj:
            out += _processes(item)
    return out


@pytest.mark.parametrize("scenario, version", [("attacks", 10), ("attacks", 7), ("workday", 9)])
def test_detection_scenarios_ground_truth_names_processes_the_lines_show(scenario, version):
    c = generate(scenario, seed=6, version=version, token_form="mixed")
    msgs = messages(c.lines)
    expected = c.expected
    assert expected and all(e.since <= version <= e.until for e in expected)
    assert all(e.benign for e in expected) == (scenario == "workday")
    for e in expected:
        carriers = [m for m in msgs if e.event in m["event"]]
        assert carriers, e
        if e.pid is None:
            continue
        actors = {(tok(p["audit_token"])[0], p["executable"]["path"]) for m in carriers for p in _processes(m)}
        if (e.pid, e.path) not in actors:  # a process that had exited: its token, and its exec earlier
            assert e.pid in {tok(t)[0] for m in carriers for t in body_tokens(m["event"])}, e
            assert (e.pid, e.path) in {(tok(m["event"]["exec"]["target"]["audit_token"])[0],
                                        m["event"]["exec"]["target"]["executable"]["path"])
                                       for m in msgs if "exec" in m["event"]}, e
    # A version that cannot carry an event type expects nothing from it.
    older = generate(scenario, seed=6, version=5).expected
    assert all(first_message_version(e.event) <= 5 and e.since <= 5 for e in older)
    assert len(older) < len(expected) or scenario == "workday"
