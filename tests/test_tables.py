"""A typed table for every ES NOTIFY type, and the curated families' columns filled from eslogger lines.

Each family's line is built from the key schema (tests/eslines.py checks it with the
validator) in both audit-token forms: objects, and macOS 26's 8-element arrays, in the
acting process and inside the event body (target, instigator, app, ... tokens) alike.
"""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import pytest

from tests.conftest import REPO
from tests.eslines import CDHASH, file, line, process, token
from tests.pipelines import make_pipeline, ring_rows

FORMS = ("object", "array")
BIRTH = "2026-10-05T08:59:00.000000000Z"
BIRTH_S = int(datetime(2026, 10, 5, 8, 59, tzinfo=timezone.utc).timestamp())
LA = "/Users/alice/Library/LaunchAgents"


def notify_types() -> list[str]:
    with (REPO / "osq_esf" / "data" / "es_event_types.csv").open(newline="") as f:
        return [r["eslogger_short_name"] for r in csv.DictReader(f) if r["action"] == "NOTIFY"]


def test_osq_esf_tables_lists_a_table_for_every_notify_type():
    from tests.test_commands import osq_esf

    r = osq_esf("tables", "--format", "json")
    assert r.returncode == 0, r.stderr
    listed = set(json.loads(r.stdout))
    wanted = {f"es_{n}" for n in notify_types()}
    assert len(wanted) == len(notify_types())  # one name per type
    assert wanted <= listed, sorted(wanted - listed)


def test_every_notify_type_fills_its_own_table_not_es_other_events():
    """One schema-built line per type, in both token forms: each lands in es_<name>."""
    p, src = make_pipeline()
    lines = []
    arms = {"authentication": {"data.od.record_name": "alice"},  # a union needs its arm
            "create": {"destination.existing_file": file("/tmp/x")},
            "rename": {"destination.existing_file": file("/tmp/y")}}
    for seq, form in enumerate(FORMS):
        for n in notify_types():
            lines.append(line(n, arms.get(n), form=form, seq=seq, gseq=len(lines)))
    assert p.ingest(src, lines) == len(lines) and src.decode_errors == 0
    assert ring_rows(p, "es_other_events") == []
    for n in notify_types():
        rows = ring_rows(p, f"es_{n}")
        assert len(rows) == 2 and {r["event_type"] for r in rows} == {n}, n
        acting = (77, 7) if n == "exec" else (300, 30)  # an exec row describes the new image (the target)
        assert all((r["pid"], r["pidversion"]) == acting for r in rows), n


def P(path, pid, pidversion, **kw):
    """A process inside an event body, rendered later for a token form and a message version."""
    return lambda form, version: process(path, pid, pidversion, form=form, version=version, **kw)


def TOK(pid, pidversion):
    return lambda form, version: token(pid, pidversion, form)


def proc_cols(prefix, path, pid, pidversion, signing_id=None, team_id=None):
    return {f"{prefix}_path": path, f"{prefix}_pid": pid, f"{prefix}_pidversion": pidversion,
            f"{prefix}_signing_id": signing_id or path.rsplit("/", 1)[-1], f"{prefix}_team_id": team_id,
            f"{prefix}_platform_binary": 0}


def only_ids(prefix, pid, pidversion):
    """A process known from its audit token alone: ids, no path."""
    return {f"{prefix}_pid": pid, f"{prefix}_pidversion": pidversion, f"{prefix}_path": None}


LAUNCHCTL = P("/bin/launchctl", 510, 51)
EVIL = P("/Users/alice/.cache/evil", 666, 66, team_id="EVILTEAM01")
INSTIGATOR = {"instigator": LAUNCHCTL, "instigator_token": TOK(510, 51)}
INSTIGATOR_COLS = proc_cols("instigator", "/bin/launchctl", 510, 51)
OD = {**INSTIGATOR, "error_code": 0, "node_name": "/Local/Default", "db_path": "/var/db/dslocal/nodes/Default"}
OD_COLS = {**INSTIGATOR_COLS, "error_code": 0, "node_name": "/Local/Default",
           "db_path": "/var/db/dslocal/nodes/Default"}
STATFS = {"statfs.f_mntfromname": "/dev/disk4s1", "statfs.f_mntonname": "/Volumes/Installer",
          "statfs.f_fstypename": "hfs", "statfs.f_flags": 0x1019}
STATFS_COLS = {"f_mntfromname": "/dev/disk4s1", "f_mntonname": "/Volumes/Installer", "f_fstypename": "hfs",
               "f_flags": 0x1019, "f_flags_names": "MNT_RDONLY|MNT_NOSUID|MNT_NODEV|MNT_LOCAL"}
FILE_STAT_COLS = {"file_uid": 501, "file_gid": 20, "file_mode": 0o100644, "file_size": 321, "file_birth_time": BIRTH_S}


def F(path, **kw):
    return lambda form, version: file(path, size=321, birth=BIRTH, **kw)


# (id, event, values by dotted path (callables get the token form), expected columns, message version)
FAMILIES = [
    ("btm_add", "btm_launch_item_add",
     {**INSTIGATOR, "app": None, "app_token": TOK(600, 60), "item.item_type": 3, "item.legacy": True,
      "item.managed": False, "item.uid": 501, "item.item_url": f"file://{LA}/com.evil.plist", "item.app_url": None,
      "executable_path": "/Users/alice/.cache/evil"},
     {**INSTIGATOR_COLS, **only_ids("app", 600, 60), "item_type": 3, "item_type_name": "agent", "legacy": 1,
      "managed": 0, "item_uid": 501, "item_url": f"file://{LA}/com.evil.plist", "app_url": None,
      "executable_path": "/Users/alice/.cache/evil"}, 10),
    ("btm_remove", "btm_launch_item_remove",
     {"instigator": None, "instigator_token": TOK(511, 52), "app": EVIL, "item.item_type": 4,
      "item.item_url": "file:///Library/LaunchDaemons/com.evil.plist", "item.uid": 0},
     {**only_ids("instigator", 511, 52), **proc_cols("app", "/Users/alice/.cache/evil", 666, 66, team_id="EVILTEAM01"),
      "item_type_name": "daemon", "item_uid": 0, "item_url": "file:///Library/LaunchDaemons/com.evil.plist"}, 10),
    ("create_existing", "create",
     {"destination_type": 0, "destination.existing_file": F(f"{LA}/com.evil.plist", uid=501)},
     {"filename": f"{LA}/com.evil.plist", "destination_type": 0, "destination_type_name": "existing_file",
      **FILE_STAT_COLS}, 10),
    ("create_new_path", "create",
     {"destination_type": 1, "destination.new_path.dir": F("/private/tmp"), "destination.new_path.filename": "x.sh",
      "destination.new_path.mode": 0o755},
     {"filename": "/private/tmp/x.sh", "destination_type_name": "new_path", "file_mode": 0o755, "file_uid": None,
      "file_size": None}, 10),
    ("rename_new_path", "rename",
     {"source": F("/private/tmp/com.evil.plist"), "destination_type": 1, "destination.new_path.dir": F(LA),
      "destination.new_path.filename": "com.evil.plist"},
     {"filename": "/private/tmp/com.evil.plist", "dest_filename": f"{LA}/com.evil.plist",
      "destination_type_name": "new_path", **FILE_STAT_COLS}, 10),
    ("rename_existing", "rename",
     {"source": F("/Users/alice/doc.txt.sb-1"), "destination_type": 0,
      "destination.existing_file": F("/Users/alice/doc.txt")},
     {"filename": "/Users/alice/doc.txt.sb-1", "dest_filename": "/Users/alice/doc.txt",
      "destination_type_name": "existing_file"}, 10),
    ("unlink", "unlink", {"target": F("/private/var/log/system.log", uid=0, gid=80, mode=0o100640)},
     {"filename": "/private/var/log/system.log", "file_uid": 0, "file_gid": 80, "file_mode": 0o100640,
      "file_size": 321, "file_birth_time": BIRTH_S}, 10),
    ("close", "close", {"target": F("/etc/hosts"), "modified": True, "was_mapped_writable": False},
     {"filename": "/etc/hosts", "modified": 1, "was_mapped_writable": 0}, 10),
    ("close_v5", "close", {"target": F("/etc/hosts"), "modified": False},
     {"filename": "/etc/hosts", "modified": 0, "was_mapped_writable": None}, 5),
    ("tcc_modify", "tcc_modify",
     {"service": "kTCCServiceSystemPolicyAllFiles", "identity": "com.evil.app", "identity_type": 0, "update_type": 1,
      "right": 2, "reason": 3, **INSTIGATOR, "responsible": None, "responsible_token": TOK(700, 70)},
     {"service": "kTCCServiceSystemPolicyAllFiles", "identity": "com.evil.app", "identity_type_name": "bundle_id",
      "update_type_name": "create", "right_name": "allowed", "reason_name": "user_set", **INSTIGATOR_COLS,
      **only_ids("tcc_responsible", 700, 70)}, 10),
    ("xp_detected", "xp_malware_detected",
     {"signature_version": "5300", "malware_identifier": "OSX.Evil", "incident_identifier": "I-1",
      "detected_path": "/Applications/Evil.app", "detected_executable": "/Applications/Evil.app/Contents/MacOS/Evil"},
     {"signature_version": "5300", "malware_identifier": "OSX.Evil", "incident_identifier": "I-1",
      "detected_path": "/Applications/Evil.app", "detected_executable": "/Applications/Evil.app/Contents/MacOS/Evil"},
     10),
    ("xp_detected_v9", "xp_malware_detected",  # a v10 field: absent in a v9 message (Apple's header), NULL
     {"detected_path": "/Applications/Evil.app"},
     {"detected_path": "/Applications/Evil.app", "detected_executable": None}, 9),
    ("xp_remediated", "xp_malware_remediated",
     {"malware_identifier": "OSX.Evil", "action_type": "path_delete", "success": True, "result_description": "ok",
      "remediated_path": "/Applications/Evil.app", "remediated_process_audit_token": TOK(812, 81)},
     {"malware_identifier": "OSX.Evil", "action_type": "path_delete", "success": 1, "result_description": "ok",
      "remediated_path": "/Applications/Evil.app", "remediated_pid": 812, "remediated_pidversion": 81}, 10),
    ("gatekeeper_file", "gatekeeper_user_override",
     {"file_type": 1, "file": F("/Users/alice/Downloads/Evil.app"), "sha256": "AB" * 32,
      "signing_info": {"cdhash": CDHASH, "signing_id": "com.evil", "team_id": None}},
     {"filename": "/Users/alice/Downloads/Evil.app", "file_type_name": "file", "sha256": "ab" * 32,
      "signing_info_cdhash": CDHASH.lower(), "signing_info_signing_id": "com.evil", "signing_info_team_id": None}, 10),
    ("gatekeeper_path", "gatekeeper_user_override",
     {"file_type": 0, "file": "/Users/alice/Downloads/Evil.dmg", "sha256": None, "signing_info": None},
     {"filename": "/Users/alice/Downloads/Evil.dmg", "file_type_name": "path", "sha256": None,
      "signing_info_signing_id": None}, 10),
    ("auth_od", "authentication",
     {"success": False, "type": 0, "data.od.instigator": LAUNCHCTL, "data.od.instigator_token": TOK(510, 51),
      "data.od.record_type": "Users", "data.od.record_name": "alice", "data.od.node_name": "/Local/Default",
      "data.od.db_path": "/var/db/dslocal/nodes/Default"},
     {"success": 0, "type_name": "od", **INSTIGATOR_COLS, "record_type": "Users", "record_name": "alice",
      "node_name": "/Local/Default", "db_path": "/var/db/dslocal/nodes/Default", "touchid_mode": None,
      "pubkey_hash": None, "auto_unlock_username": None}, 10),
    ("auth_touchid", "authentication",
     {"success": True, "type": 1, "data.touchid.instigator": None, "data.touchid.instigator_token": TOK(555, 5),
      "data.touchid.touchid_mode": 0, "data.touchid.uid": 501},
     {"success": 1, "type_name": "touchid", **only_ids("instigator", 555, 5), "touchid_mode_name": "verification",
      "touchid_uid": 501, "record_name": None}, 10),
    ("auth_token", "authentication",
     {"success": True, "type": 2, "data.token.instigator": EVIL, "data.token.pubkey_hash": "abc123",
      "data.token.token_id": "com.apple.pivtoken:1", "data.token.kerberos_principal": None},
     {"type_name": "token", **proc_cols("instigator", "/Users/alice/.cache/evil", 666, 66, team_id="EVILTEAM01"),
      "pubkey_hash": "abc123", "token_id": "com.apple.pivtoken:1", "kerberos_principal": None}, 10),
    ("auth_auto_unlock", "authentication",
     {"success": True, "type": 3, "data.auto_unlock.username": "alice", "data.auto_unlock.type": 1},
     {"type_name": "auto_unlock", "auto_unlock_username": "alice", "auto_unlock_type": 1,
      "auto_unlock_type_name": "machine_unlock", "instigator_pid": None, "instigator_path": None}, 10),
    ("sudo_refused", "sudo",
     {"success": False, "reject_info": {"plugin_name": "sudoers", "plugin_type": 2,
                                        "failure_message": "incorrect password attempts"},
      "from_uid": 501, "from_username": "alice", "to_uid": 0, "to_username": "root",
      "command": "/usr/bin/curl --password=hunter2 https://example.invalid"},
     {"success": 0, "plugin_name": "sudoers", "plugin_type_name": "policy",
      "failure_message": "incorrect password attempts", "from_uid": 501, "from_username": "alice", "to_uid": 0,
      "to_username": "root", "command": "/usr/bin/curl --password=<redacted:arg-password> https://example.invalid"},
     10),
    ("su", "su",
     {"success": True, "failure_message": None, "from_uid": 501, "from_username": "alice", "to_uid": 0,
      "to_username": "root", "shell": "/bin/zsh", "argc": 4, "argv": ["-c", "/usr/local/bin/deploy", "--token", "s3cr3t"],
      "env_count": 2, "env": ["GITHUB_TOKEN=ghp_example", "HOME=/var/root"]},
     {"success": 1, "from_uid": 501, "to_uid": 0, "to_username": "root", "shell": "/bin/zsh",
      "argv": "-c /usr/local/bin/deploy --token <redacted:arg-token>",
      "env": "GITHUB_TOKEN=<redacted:env-token> HOME=/var/root"},
     10),
    ("openssh_login", "openssh_login",
     {"success": False, "result_type": 4, "source_address_type": 1, "source_address": "203.0.113.7",
      "username": "root", "uid": None},
     {"success": 0, "result_type_name": "auth_fail_passwd", "source_address_type_name": "ipv4",
      "source_address": "203.0.113.7", "openssh_username": "root", "openssh_uid": None}, 10),
    ("openssh_logout", "openssh_logout",
     {"source_address_type": 2, "source_address": "2001:db8::7", "username": "alice", "uid": 501},
     {"source_address_type_name": "ipv6", "source_address": "2001:db8::7", "openssh_username": "alice",
      "openssh_uid": 501}, 10),
    ("screensharing_attach", "screensharing_attach",
     {"success": True, "source_address_type": 1, "source_address": "198.51.100.4", "viewer_appleid": None,
      "authentication_type": "password", "authentication_username": "alice", "session_username": "alice",
      "existing_session": True, "graphical_session_id": 257},
     {"success": 1, "source_address_type_name": "ipv4", "source_address": "198.51.100.4", "viewer_appleid": None,
      "authentication_type": "password", "authentication_username": "alice", "session_username": "alice",
      "existing_session": 1, "graphical_session_id": 257}, 10),
    ("screensharing_detach", "screensharing_detach",
     {"source_address_type": 1, "source_address": "198.51.100.4", "graphical_session_id": 257},
     {"source_address": "198.51.100.4", "graphical_session_id": 257}, 10),
    ("login_login", "login_login",
     {"success": False, "failure_message": "bad password", "username": "bob", "uid": None},
     {"success": 0, "failure_message": "bad password", "login_username": "bob", "login_uid": None}, 10),
    ("login_logout", "login_logout", {"username": "bob", "uid": 502}, {"login_username": "bob", "login_uid": 502}, 10),
    *((ev, ev, {"username": "alice", "graphical_session_id": 257},
       {"session_username": "alice", "graphical_session_id": 257}, 10)
      for ev in ("lw_session_login", "lw_session_logout", "lw_session_lock", "lw_session_unlock")),
    ("od_group_add", "od_group_add",
     {**OD, "group_name": "admin", "member.member_type": 0, "member.member_value": "backdoor"},
     {**OD_COLS, "group_name": "admin", "member_type_name": "user_name", "member_value": "backdoor"}, 10),
    ("od_group_remove", "od_group_remove",
     {**OD, "group_name": "admin", "member.member_type": 1, "member.member_value": "C0FFEE00-0000-0000-0000-000000000001"},
     {**OD_COLS, "group_name": "admin", "member_type_name": "user_uuid",
      "member_value": "C0FFEE00-0000-0000-0000-000000000001"}, 10),
    ("od_group_set", "od_group_set",
     {**OD, "group_name": "staff", "members.member_type": 0, "members.member_count": 2,
      "members.member_array": ["alice", "bob"]},
     {**OD_COLS, "group_name": "staff", "member_type_name": "user_name", "member_count": 2,
      "member_array": '["alice","bob"]'}, 10),
    ("od_modify_password", "od_modify_password", {**OD, "account_type": 0, "account_name": "alice"},
     {**OD_COLS, "account_type_name": "user", "account_name": "alice"}, 10),
    *((ev, ev, {**OD, "user_name": "backdoor"}, {**OD_COLS, "user_name": "backdoor"}, 10)
      for ev in ("od_disable_user", "od_enable_user", "od_create_user", "od_delete_user")),
    *((ev, ev, {**OD, "group_name": "ops"}, {**OD_COLS, "group_name": "ops"}, 10)
      for ev in ("od_create_group", "od_delete_group")),
    *((ev, ev, {**OD, "record_type": 0, "record_name": "backdoor", "attribute_name": "UserShell",
                "attribute_value": "/bin/zsh"},
       {**OD_COLS, "record_type_name": "user", "record_name": "backdoor", "attribute_name": "UserShell",
        "attribute_value": "/bin/zsh"}, 10)
      for ev in ("od_attribute_value_add", "od_attribute_value_remove")),
    ("od_attribute_set", "od_attribute_set",
     {**OD, "record_type": 1, "record_name": "admin", "attribute_name": "GroupMembership",
      "attribute_value_count": 1, "attribute_values": ["backdoor"]},
     {**OD_COLS, "record_type_name": "group", "attribute_value_count": 1, "attribute_values": '["backdoor"]'}, 10),
    ("profile_add", "profile_add",
     {**INSTIGATOR, "is_update": False, "profile.identifier": "com.evil.profile", "profile.uuid": "U-1",
      "profile.install_source": 1, "profile.organization": "Evil Inc", "profile.display_name": "VPN",
      "profile.scope": "System"},
     {**INSTIGATOR_COLS, "is_update": 0, "identifier": "com.evil.profile", "uuid": "U-1",
      "install_source_name": "install", "organization": "Evil Inc", "display_name": "VPN", "scope": "System"}, 10),
    ("profile_remove", "profile_remove",
     {**INSTIGATOR, "profile.identifier": "com.corp.mdm", "profile.install_source": 0},
     {**INSTIGATOR_COLS, "identifier": "com.corp.mdm", "install_source_name": "managed"}, 10),
    *((ev, ev, {"target": EVIL, "type": 0},
       {**proc_cols("target", "/Users/alice/.cache/evil", 666, 66, team_id="EVILTEAM01"), "type": 0,
        "type_name": "task_for_pid"}, 10)
      for ev in ("get_task", "get_task_read", "get_task_inspect")),
    ("get_task_name", "get_task_name", {"target": EVIL, "type": 2},
     {"target_pid": 666, "target_pidversion": 66, "target_path": "/Users/alice/.cache/evil",
      "type_name": "identity_token"}, 10),
    ("get_task_v4", "get_task", {"target": EVIL}, {"target_pid": 666, "type": None, "type_name": None}, 4),
    ("remote_thread_create", "remote_thread_create", {"target": EVIL, "thread_state": {"flavor": 6, "state": None}},
     {"target_pid": 666, "target_team_id": "EVILTEAM01", "flavor": 6}, 10),
    ("mmap", "mmap",
     {"source": F("/Users/alice/.cache/libevil.dylib"), "protection": 5, "max_protection": 7, "flags": 0x12,
      "file_pos": 4096},
     {"filename": "/Users/alice/.cache/libevil.dylib", "protection": 5, "protection_names": "PROT_READ|PROT_EXEC",
      "max_protection": 7, "flags": 0x12, "flags_names": "MAP_PRIVATE|MAP_FIXED", "file_pos": 4096}, 10),
    *((ev, ev, {"target": F("/Users/alice/Downloads/Evil.dmg"), "extattr": "com.apple.quarantine"},
       {"filename": "/Users/alice/Downloads/Evil.dmg", "extattr": "com.apple.quarantine"}, 10)
      for ev in ("deleteextattr", "setextattr")),
    ("mount", "mount", {**STATFS, "disposition": 3}, {**STATFS_COLS, "disposition": 3, "disposition_name": "virtual"},
     10),
    ("mount_v7", "mount", dict(STATFS), {**STATFS_COLS, "disposition": None, "disposition_name": None}, 7),
    ("unmount", "unmount", dict(STATFS), STATFS_COLS, 10),
    ("remount", "remount", {**STATFS, "remount_flags": 0x10, "disposition": 1},
     {**STATFS_COLS, "remount_flags_names": "MNT_NODEV", "disposition_name": "internal"}, 10),
    ("signal", "signal", {"sig": 9, "target": P("/Applications/EDR.app/Contents/MacOS/edr", 90, 9, team_id="EDRTEAM001"),
                          "instigator": EVIL},
     {"sig": 9, "sig_name": "SIGKILL",
      **proc_cols("target", "/Applications/EDR.app/Contents/MacOS/edr", 90, 9, team_id="EDRTEAM001"),
      **proc_cols("instigator", "/Users/alice/.cache/evil", 666, 66, team_id="EVILTEAM01")}, 10),
    ("signal_v8", "signal", {"sig": 15, "target": EVIL}, {"sig_name": "SIGTERM", "target_pid": 666,
                                                           "instigator_pid": None, "instigator_path": None}, 8),
    ("cs_invalidated", "cs_invalidated", {}, {"path": "/usr/libexec/actor", "pid": 300}, 10),
    ("uipc_connect", "uipc_connect", {"file": F("/var/run/docker.sock"), "domain": 1, "type": 1, "protocol": 0},
     {"filename": "/var/run/docker.sock", "domain_name": "AF_UNIX", "type_name": "SOCK_STREAM", "protocol": 0}, 10),
    ("uipc_bind", "uipc_bind", {"dir": F("/private/tmp/"), "filename": "evil.sock", "mode": 0o777},
     {"filename": "/private/tmp/evil.sock", "mode": 0o777}, 10),
    ("authorization_petition", "authorization_petition",
     {**INSTIGATOR, "petitioner": None, "petitioner_token": TOK(666, 66), "flags": 3, "right_count": 1,
      "rights": ["system.privilege.admin"]},
     {**INSTIGATOR_COLS, **only_ids("petitioner", 666, 66), "flags": 3, "right_count": 1,
      "rights": '["system.privilege.admin"]'}, 10),
    ("authorization_judgement", "authorization_judgement",
     {**INSTIGATOR, "petitioner": EVIL, "return_code": 0, "result_count": 1,
      "results": [{"right_name": "system.privilege.admin", "rule_class": 0, "granted": True}]},
     {**INSTIGATOR_COLS, "petitioner_path": "/Users/alice/.cache/evil", "return_code": 0, "result_count": 1,
      "results": '[{"granted":true,"right_name":"system.privilege.admin","rule_class":0}]'}, 10),  # keys sorted
    ("setmode", "setmode", {"target": F("/private/tmp/.sysupdate", mode=0o100644), "mode": 0o755},
     {"filename": "/private/tmp/.sysupdate", "mode": 0o755, "file_mode": 0o100644, "file_uid": 501}, 10),
    ("setowner", "setowner", {"target": F("/private/tmp/x", uid=501, gid=20), "uid": 0, "gid": 0},
     {"filename": "/private/tmp/x", "new_uid": 0, "new_gid": 0, "file_uid": 501, "file_gid": 20}, 10),
    ("setflags", "setflags", {"target": F("/Users/alice/.evil"), "flags": 0x8000},
     {"filename": "/Users/alice/.evil", "flags": 0x8000, "flags_names": "UF_HIDDEN"}, 10),
    ("utimes", "utimes", {"target": F("/usr/local/bin/evil"), "atime": "2020-01-01T00:00:00.000000000Z",
                          "mtime": "2020-01-01T00:00:00.000000000Z"},
     {"filename": "/usr/local/bin/evil", "atime": 1577836800, "mtime": 1577836800, "file_birth_time": BIRTH_S}, 10),
    ("xpc_connect", "xpc_connect", {"service_name": "com.apple.tccd", "service_domain_type": 1},
     {"service_name": "com.apple.tccd", "service_domain_type_name": "system"}, 10),
    ("trace", "trace", {"target": EVIL}, proc_cols("target", "/Users/alice/.cache/evil", 666, 66,
                                                   team_id="EVILTEAM01"), 10),
    ("proc_suspend_resume", "proc_suspend_resume", {"target": EVIL, "type": 3},
     {"target_pid": 666, "type_name": "shutdown_sockets"}, 10),
    ("link", "link", {"source": F("/etc/sudoers"), "target_dir": F("/private/tmp"), "target_filename": "s"},
     {"filename": "/etc/sudoers", "dest_filename": "/private/tmp/s"}, 10),
    ("clone", "clone", {"source": F("/bin/zsh"), "target_dir": F("/"), "target_name": "zsh"},
     {"filename": "/bin/zsh", "dest_filename": "/zsh"}, 10),
    ("copyfile", "copyfile", {"source": F("/bin/zsh"), "target_dir": F("/private/tmp"), "target_name": "z",
                              "target_file": None, "mode": 0o4755, "flags": 0},
     {"filename": "/bin/zsh", "dest_filename": "/private/tmp/z", "mode": 0o4755}, 10),
    ("exchangedata", "exchangedata", {"file1": F("/a"), "file2": F("/b")}, {"filename": "/a", "dest_filename": "/b"},
     10),
]


def _render(values: dict, form: str, version: int) -> dict:
    return {k: (v(form, version) if callable(v) else v) for k, v in values.items()}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("name, event, values, expected, version", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_a_family_fills_its_declared_columns(name, event, values, expected, version, form):
    p, src = make_pipeline("")  # the default rules: redaction on
    raw = line(event, _render(values, form, version), version=version, form=form)
    assert p.ingest(src, [raw]) == 1 and src.decode_errors == 0
    (row,) = ring_rows(p, f"es_{event}")
    declared = set(p.layouts[f"es_{event}"].spec.column_names)
    assert set(expected) <= declared, sorted(set(expected) - declared)
    got = {k: row[k] for k in expected}
    assert got == expected
    assert row["event_type"] == event and row["version"] == version


def test_curated_families_are_all_exercised():
    """Every table with its own columns that the brief calls curated has a case above."""
    curated = {"btm_launch_item_add", "btm_launch_item_remove", "create", "rename", "unlink", "close", "tcc_modify",
               "xp_malware_detected", "xp_malware_remediated", "gatekeeper_user_override", "authentication", "sudo",
               "su", "openssh_login", "openssh_logout", "screensharing_attach", "screensharing_detach", "login_login",
               "login_logout", "lw_session_login", "lw_session_logout", "lw_session_lock", "lw_session_unlock",
               "profile_add", "profile_remove", "get_task", "get_task_read", "get_task_inspect", "get_task_name",
               "remote_thread_create", "mmap", "deleteextattr", "setextattr", "mount", "unmount", "signal",
               "cs_invalidated", "uipc_connect", "uipc_bind", "authorization_petition", "authorization_judgement",
               "setmode", "setowner", "setflags", "utimes", "xpc_connect", "trace", "proc_suspend_resume",
               *(n for n in notify_types() if n.startswith("od_"))}
    assert curated <= {f[1] for f in FAMILIES}


def test_es_rename_catches_mv_of_a_plist_into_launch_agents(tmp_path):
    """`mv x.plist ~/Library/LaunchAgents/` is a rename (never a write): the spec's own example finds it."""
    from osq_esf.schema import load_specs
    from tests.test_commands import osq_esf

    sql = dict(load_specs()["es_rename"].examples)["Files moved into launch agent folders (mv, Finder, installers)."]
    mv = line("rename", {"source": file("/Users/alice/Downloads/x.plist"), "destination_type": 1,
                         "destination.new_path.dir": file(LA), "destination.new_path.filename": "x.plist"}, seq=1)
    save = line("rename", {"source": file("/Users/alice/notes.txt.sb-1"), "destination_type": 0,
                           "destination.existing_file": file("/Users/alice/notes.txt")}, seq=2, form="array")
    into_daemons = line("rename", {"source": file("/private/tmp/d.plist"), "destination_type": 0,
                                   "destination.existing_file": file("/Library/LaunchDaemons/d.plist")}, seq=3)
    rec = tmp_path / "renames.jsonl"
    rec.write_bytes(b"\n".join((mv, save, into_daemons)) + b"\n")
    r = osq_esf("query", "--engine", "embedded", "--format", "json", "--replay", str(rec), sql)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert [(x["filename"], x["dest_filename"]) for x in rows] == [
        ("/Users/alice/Downloads/x.plist", f"{LA}/x.plist"),
        ("/private/tmp/d.plist", "/Library/LaunchDaemons/d.plist")]


def _resolves(node, parts: list[str], definitions: dict) -> bool:
    """Whether a dotted path exists under a key-schema node (through file/process/stat definitions)."""
    for part in parts:
        child = node.children.get(part)
        if child is None:
            child = next((definitions[t].children[part] for t in node.types
                          if t in definitions and part in definitions[t].children), None)
        if child is None:
            return False
        node = child
    return True


def test_every_declared_source_is_a_key_eslogger_writes():
    """A typo in a source path would read NULL forever: every path must be in the key schema."""
    from osq_esf.bodies import TRANSFORM_FIELDS
    from osq_esf.kinds import default_kinds
    from osq_esf.schema_check import load_schema

    schema = load_schema()
    checked = 0
    for kind in default_kinds():
        if kind.spec.extractor:
            continue  # hand-written: its own Struct
        root = schema.events[kind.short]
        for c in kind.spec.own_columns:
            for path in (*c.source, *c.token):
                subs = TRANSFORM_FIELDS.get(c.transform, ("",)) if path in c.source else ("",)
                for sub in subs:
                    full = f"{path}.{sub}" if sub else path
                    assert _resolves(root, full.split("."), schema.definitions), f"{kind.table}.{c.name}: {full}"
                    checked += 1
    assert checked > 300
    assert not _resolves(schema.events["rename"], ["destination", "new_path", "nope"], schema.definitions)
