"""The bodies the native shim writes: eslogger's keys and JSON types, for every NOTIFY type.

Each message is built in the simulator with every field set (tests/native_messages.py),
run through the shim, and its line checked: against eslogger-keys.json with
osq_esf.schema_check for the 51 types eslogger's schema covers, against the header's
field names (HEADER_KEYS) for the rest.  Stat blocks are the native shim's five keys.
"""

from __future__ import annotations

import json

import pytest

from osq_esf import events
from osq_esf.decode import decode_line
from osq_esf.schema_check import NATIVE_STAT_KEYS, check, load_schema
from tests.native_messages import BODIES, CURATED, HEADER_KEYS, VARIANTS
from tests.native_sim import Builder, RawClient

SCHEMA_TYPES = set(load_schema().events)
NOTIFY = sorted(t.short for t in events.BY_NUMBER.values() if t.short)


@pytest.fixture
def raw(sim):
    with RawClient(sim) as r:
        yield r


def line_of(raw, short: str, version: int = 10, build=None) -> dict:
    b = Builder(raw.mod)
    text = raw.line((build or BODIES[short])(b, short, version))
    assert text.endswith(b"\n") and text.count(b"\n") == 1, text[:200]
    msg = json.loads(text)
    assert decode_line(text).event_type == events.number_of(short)  # the pipeline's decoder takes it
    return msg


def stat_blocks(value):
    if isinstance(value, dict):
        if "st_mode" in value:
            yield value
        for v in value.values():
            yield from stat_blocks(v)
    elif isinstance(value, list):
        for v in value:
            yield from stat_blocks(v)


def test_every_notify_type_has_a_builder_and_an_expectation():
    assert sorted(BODIES) == NOTIFY
    assert set(HEADER_KEYS) | SCHEMA_TYPES == set(NOTIFY)
    assert set(CURATED) <= set(BODIES)


@pytest.mark.parametrize("short", CURATED)
def test_curated_families_match_eslogger_keys_and_types(raw, short):
    for name, build in [("", None), *VARIANTS.get(short, [])]:
        msg = line_of(raw, short, build=build)
        body = msg["event"][short]
        if short in SCHEMA_TYPES:
            assert check(msg, partial_stat=True) == [], (short, name)
        else:
            assert check(msg, allow_unknown_event=True, partial_stat=True) == [], (short, name)
            arm = body if short != "authentication" else body["data"]
            expected = HEADER_KEYS[short] if short != "authentication" else [name or "od"]
            assert sorted(arm) == sorted(expected), (short, name)
        for stat in stat_blocks(msg):
            assert set(stat) == NATIVE_STAT_KEYS


@pytest.mark.parametrize("short", sorted(set(NOTIFY) - set(CURATED)))
def test_every_other_type_has_its_full_body_too(raw, short):
    msg = line_of(raw, short)
    if short in SCHEMA_TYPES:
        assert check(msg, partial_stat=True) == []
    else:
        assert check(msg, allow_unknown_event=True, partial_stat=True) == []
        assert sorted(msg["event"][short]) == sorted(HEADER_KEYS[short])


@pytest.mark.parametrize("version", [2, 4, 5, 6, 7, 8, 9])
def test_older_message_versions_leave_out_newer_fields_like_eslogger(raw, version):
    """schema_check's VERSION_GATES: below a field's version it must be absent, from it on present."""
    for short in sorted(SCHEMA_TYPES):
        msg = line_of(raw, short, version)
        assert check(msg, partial_stat=True) == [], (short, version)


def test_version_gates_of_types_outside_the_schema(raw):
    assert "instigator_token" not in line_of(raw, "od_create_user", 7)["event"]["od_create_user"]
    assert "instigator_token" in line_of(raw, "od_create_user", 8)["event"]["od_create_user"]
    assert "disposition" not in line_of(raw, "remount", 7)["event"]["remount"]
    btm = line_of(raw, "btm_launch_item_add", 7)["event"]["btm_launch_item_add"]
    assert "instigator_token" not in btm and "app_token" not in btm
    assert "detected_executable" not in line_of(raw, "xp_malware_detected", 9)["event"]["xp_malware_detected"]
    assert "parent_path" not in line_of(raw, "iokit_open", 9)["event"]["iokit_open"]


def test_values_and_unions_are_written_faithfully(raw):
    create = line_of(raw, "create")["event"]["create"]
    assert create["destination_type"] == 0 and create["destination"]["existing_file"]["path"] == "/Users/me/new.txt"
    assert create["acl"] == "!#acl 1\nuser:ABC:me:501:allow:read\n"
    new = line_of(raw, "create", build=VARIANTS["create"][0][1])["event"]["create"]
    assert new["destination"] == {"new_path": {"dir": new["destination"]["new_path"]["dir"], "filename": "new.txt",
                                               "mode": 0o644}}
    close = line_of(raw, "close")["event"]["close"]
    assert close["modified"] is True and close["was_mapped_writable"] is True
    assert "was_mapped_writable" not in line_of(raw, "close", 5)["event"]["close"]
    mount = line_of(raw, "mount")["event"]["mount"]["statfs"]
    assert (mount["f_mntonname"], mount["f_fstypename"], mount["f_fsid"]) == ("/Volumes/USB", "apfs", [16777232, 26])
    ex = line_of(raw, "exec")["event"]["exec"]
    assert ex["fds"] == [{"fd": 0, "fdtype": 1}, {"fd": 3, "fdtype": 6, "pipe": {"pipe_id": 77}}]
    stat = ex["target"]["executable"]["stat"]
    assert stat == {"st_uid": 0, "st_gid": 20, "st_mode": 0o100755, "st_size": 42,
                    "st_birthtimespec": "2023-11-14T22:13:20.000000005Z"}
    assert "args_truncated" not in ex and "env_truncated" not in ex
    tcc = line_of(raw, "tcc_modify")["event"]["tcc_modify"]
    assert tcc["responsible"] is None and tcc["responsible_token"] is None and tcc["instigator_token"]["pid"] == 94
    gk = line_of(raw, "gatekeeper_user_override")["event"]["gatekeeper_user_override"]
    assert gk["sha256"] == bytes(range(32)).hex().upper() and gk["signing_info"]["team_id"] is None
    path_only = line_of(raw, "gatekeeper_user_override", build=VARIANTS["gatekeeper_user_override"][0][1])
    assert path_only["event"]["gatekeeper_user_override"]["file"] == "/Users/me/Downloads/gone.app"
    od = line_of(raw, "od_group_add", build=VARIANTS["od_group_add"][0][1])["event"]["od_group_add"]
    assert od["member"] == {"member_type": 1, "member_value": "00112233-4455-6677-8899-AABBCCDDEEFF"}
    ssh = line_of(raw, "openssh_login", build=VARIANTS["openssh_login"][0][1])["event"]["openssh_login"]
    assert ssh["uid"] is None and ssh["success"] is False
    assert line_of(raw, "su")["event"]["su"]["argv"] == ["-c", "id"]
    assert line_of(raw, "cs_invalidated")["event"]["cs_invalidated"] == {}
    assert line_of(raw, "utimes")["event"]["utimes"]["mtime"] == "2000-01-01T00:00:00.000000002Z"
    auth = line_of(raw, "authentication")["event"]["authentication"]
    assert auth["data"]["od"]["record_name"] == "me" and auth["data"]["od"]["instigator"]["audit_token"]["pid"] == 55
