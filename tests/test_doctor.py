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
    older = by_name(run_checks(None, None, System("darwin", (10, 15), 0)))
    assert older["platform"].status == FAIL and "macOS 11" in older["platform"].detail
    assert older["native"].status == FAIL and "older than macOS 11" in older["native"].detail
    old = System("darwin", (12, 6), 0)
    checks = by_name(run_checks(None, None, old))
    assert checks["platform"].status == NOTE and "native" in checks["platform"].detail
    assert checks["eslogger"].status == NOTE and "--source native" in checks["eslogger"].detail
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


# -- the native source: one line per reason es_new_client refuses ---------------------------

@pytest.mark.parametrize("result,words,fix", [
    (3, "not entitled", "osq-esf.app/Contents/MacOS/osq-esf doctor"), (4, "no Full Disk Access", "PPPC"),
    (5, "not root", "sudo"), (6, "too many Endpoint Security clients", "stop another ES tool"),
])
def test_native_refusals_one_line_each(sim, tmp_path, result, words, fix):
    sim.lib.es_sim_set_new_client_result(result)
    bundled = System("darwin", (14, 2), 0, bundled=True)  # run from osq-esf.app: native is the source
    checks = doctor.check_native(bundled, None)
    (native,) = checks
    assert native.status == FAIL and native.detail.startswith(words) and fix in native.fix
    assert "\n" not in native.detail
    assert render(checks, bundled).count(words) == 1
    # From a plain python3 on a Mac with eslogger, the same reason is a note, not a problem.
    sim.lib.es_sim_set_new_client_result(result)
    assert doctor.check_native(MAC, None)[0].status == NOTE


def test_native_ready_and_what_an_older_macos_lacks(sim, tmp_path):
    checks = by_name(run_checks(write_config(tmp_path), None, MAC))
    assert checks["native"].status == OK and "native features" not in checks
    sim.lib.es_sim_set_os_version(12, 6)
    old = System("darwin", (12, 6), 0)
    checks = by_name(run_checks(write_config(tmp_path), None, old))
    assert checks["native"].status == OK
    note = checks["native features"]
    assert note.status == NOTE and "macOS 12.6 has no target-path mutes (macOS 13), mute inversion (macOS 13)" \
        in note.detail


def test_native_without_a_shim_or_with_a_newer_event_says_which(sim, tmp_path, monkeypatch):
    cfg = write_config(tmp_path, '[clients]\nprocess = ["exec", "fork", "exit"]\ntcc = ["tcc_modify"]')
    checks = by_name(run_checks(cfg, None, MAC))
    assert checks["native"].status == OK
    note = checks["native events"]
    assert note.status == NOTE and "tcc_modify" in note.detail and "15.4" in note.detail
    old = System("darwin", (12, 6), 0)  # no eslogger: native is the only live source
    monkeypatch.setenv("OSQ_ESF_NATIVE_SIM", str(tmp_path))
    native = by_name(run_checks(write_config(tmp_path), None, old))["native"]
    assert native.status == FAIL and "holds no _esf_native build" in native.detail
