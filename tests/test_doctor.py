"""osq-esf doctor: every check's code path, Mac ones included, driven with tests/fakes/eslogger."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from osq_esf import doctor
from osq_esf.doctor import WARN, FAIL, NOTE, OK, System, render, run_checks
from tests.test_eslogger import FAKE

MAC = System("darwin", (15, 4), 0)  # new enough for every default client's types (tcc_modify: 15.4)


def write_config(tmp_path, extra: str = "") -> str:
    p = tmp_path / "c.toml"
    p.write_text(f'[eslogger]\nbinary = "{FAKE}"\n{extra}\n')
    p.chmod(0o600)
    return str(p)


def by_name(checks):
    return {c.name: c for c in checks}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for k in ("FAKE_ESLOGGER_FAIL", "OSQ_ESF_ESLOGGER", "FAKE_ESLOGGER_INPUT"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("FAKE_ESLOGGER_MACOS", "15.4")


def test_linux_without_eslogger_says_what_works_and_blocks_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no eslogger on PATH either
    linux = System("linux", None, 1000)
    checks = by_name(run_checks(None, None, linux))
    assert checks["platform"].status == NOTE and "replay" in checks["platform"].detail
    assert checks["eslogger"].status == NOTE and checks["root"].status == NOTE
    assert "events" not in checks
    text = render(list(checks.values()), linux)
    assert text.startswith("osq-esf doctor on linux\n") and "FAIL" not in text
    assert text.rstrip().endswith("live events need a Mac")


def test_mac_ready(tmp_path):
    checks = by_name(run_checks(write_config(tmp_path), None, MAC))
    for name in ("platform", "root", "config", "eslogger", "events", "full disk access"):
        assert checks[name].status == OK, checks[name]
    assert "macOS 15.4" in render(list(checks.values()), MAC)


def test_default_clients_on_macos_14_leave_the_newer_security_types_out(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_ESLOGGER_MACOS", "14.0")
    ev = by_name(run_checks(write_config(tmp_path), None, System("darwin", (14, 0), 0)))["events"]
    assert ev.status == WARN and ev.detail.startswith("2 event types will be left out")
    assert "gatekeeper_user_override (came with macOS 15.0" in ev.detail and "tcc_modify" in ev.detail
    assert "profile_add" not in ev.detail  # 14.0.0 is macOS 14.0


def test_mac_without_full_disk_access_says_how_to_grant_it(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_ESLOGGER_FAIL", "not_permitted")
    checks = run_checks(write_config(tmp_path), None, MAC)
    fda = by_name(checks)["full disk access"]
    assert fda.status == FAIL and "NOT_PERMITTED" in fda.detail and "PPPC" in fda.fix
    text = render(checks, MAC)
    assert "fix: grant Full Disk Access" in text and text.rstrip().endswith("1 problem: full disk access")


def test_mac_without_root(tmp_path):
    user = System("darwin", (15, 4), 501)
    checks = by_name(run_checks(write_config(tmp_path), None, user))
    assert checks["root"].status == FAIL and "sudo" in checks["root"].fix
    assert checks["full disk access"].status == NOTE


def test_old_macos_and_missing_binary(tmp_path):
    old = System("darwin", (12, 6), 0)
    checks = by_name(run_checks(None, None, old))
    assert checks["platform"].status == FAIL and "macOS 13" in checks["platform"].detail
    bad = tmp_path / "c.toml"
    bad.write_text(f'[eslogger]\nbinary = "{tmp_path}/nothing"\n')
    bad.chmod(0o600)
    checks = by_name(run_checks(str(bad), None, MAC))
    assert checks["eslogger"].status == FAIL and "missing or not executable" in checks["eslogger"].detail


def test_unknown_event_for_this_macos(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_ESLOGGER_MACOS", "14.0")
    cfg = write_config(tmp_path, '[clients]\nprocess = ["exec", "fork", "exit"]\ntcc = ["tcc_modify"]')
    ev = by_name(run_checks(cfg, None, MAC))["events"]
    # Left out with why (a fleet config may name types only newer Macs have), not refused.
    assert ev.status == WARN and "tcc_modify" in ev.detail and "15.4" in ev.detail


def test_invalid_config_names_key_and_line(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[eslogger]\nbinary = "/x"\nbackof = 3\n')
    p.chmod(0o600)
    c = by_name(run_checks(str(p), None, MAC))["config"]
    assert c.status == FAIL and "eslogger.backof" in c.detail and "line 3" in c.detail


def test_socket_checks(tmp_path):
    path = str(tmp_path / "em")
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(path)
    srv.listen(1)
    try:
        assert doctor.check_socket(path).status == OK
    finally:
        srv.close()
    plain = tmp_path / "plain"
    plain.write_text("")
    assert doctor.check_socket(str(plain)).status == FAIL
    assert doctor.check_socket(str(tmp_path / "absent")).status == FAIL


def test_cli_doctor_runs_here():
    r = subprocess.run([sys.executable, "-m", "osq_esf", "doctor"], capture_output=True, text=True, timeout=60)
    assert r.stdout.startswith("osq-esf doctor on ")
    assert r.returncode in (0, 1) and not r.stderr
