"""One simulated ES message per NOTIFY event type, with every field set.

``BODIES[short](b, version)`` returns an es_message_t built with
:class:`tests.native_sim.Builder`.  ``HEADER_KEYS`` lists, for the types outside
eslogger-keys.json, the body keys the shim must write at message version 10: the C
field names of Apple's es_event_*_t structs (as eslogger names them), derived from
the header by hand and kept here as the test's own expectation.
"""

from __future__ import annotations

PIPE = 6  # PROX_FDTYPE_PIPE


def _simple_file(*fields):
    """A body of file fields only (write, dup, chdir, ...)."""
    def build(b, short, v):
        m = b.message(short, version=v)
        body = getattr(m.event, short)
        for i, f in enumerate(fields):
            setattr(body, f, b.file(f"/Users/me/{f}{i}"))
        return m
    return build


def _with_extattr(b, short, v):
    m = b.message(short, version=v)
    body = getattr(m.event, short)
    body.target = b.file("/Users/me/doc")
    body.extattr = b.tok("com.apple.quarantine")
    return m


def _process_target(b, short, v, **extra):
    m = b.message(short, version=v)
    body = getattr(m.event, short)
    body.target = b.process("/usr/bin/target", pid=200, pidversion=3)
    for k, val in extra.items():
        setattr(body, k, val)
    return m


def _pointer(b, short, v, ctype: str):
    """Events since macOS 13 hold a pointer to their struct: allocate it, return (message, body)."""
    m = b.message(short, version=v)
    body = b.new(f"{ctype} *")
    setattr(m.event, short, body)
    return m, body


def _statfs(b):
    s = b.new("struct statfs *")
    s.f_bsize, s.f_iosize, s.f_blocks, s.f_bfree, s.f_bavail = 4096, 1 << 20, 1000, 500, 400
    s.f_files, s.f_ffree, s.f_owner, s.f_type, s.f_flags, s.f_fssubtype = 99, 50, 0, 26, 0x1000, 2
    s.f_fsid.val[0], s.f_fsid.val[1] = 16777232, 26
    s.f_fstypename = b"apfs"
    s.f_mntonname = b"/Volumes/USB"
    s.f_mntfromname = b"/dev/disk4s1"
    s.f_flags_ext = 0
    return s


def _attrlist(body):
    a = body.attrlist
    a.bitmapcount, a.reserved, a.commonattr, a.volattr, a.dirattr, a.fileattr, a.forkattr = 5, 0, 0x8000, 0, 0, 1, 0


def exec_(b, short, v):
    return b.exec(args=["curl", "-o", "a file"], env=["HOME=/Users/me"], fds=[(0, 1, 0), (3, PIPE, 77)],
                  script="/Users/me/run.sh", version=v)


def open_(b, short, v):
    return b.open("/Users/me/a", fflag=0x202, version=v)


def fork(b, short, v):
    m = b.message(short, version=v)
    m.event.fork.child = b.process("/bin/zsh", pid=301, pidversion=9)
    return m


def close(b, short, v):
    m = b.message(short, version=v)
    m.event.close.modified = True
    m.event.close.target = b.file("/Users/me/notes.txt")
    m.event.close.was_mapped_writable = True
    return m


def create(b, short, v, new_path=False):
    m = b.message(short, version=v)
    c = m.event.create
    if new_path:
        c.destination_type = 1
        c.destination.new_path.dir = b.file("/Users/me")
        c.destination.new_path.filename = b.tok("new.txt")
        c.destination.new_path.mode = 0o644
    else:
        c.destination_type = 0
        c.destination.existing_file = b.file("/Users/me/new.txt")
    acl = b.new("struct _acl *")
    acl.text = b.chars("!#acl 1\nuser:ABC:me:501:allow:read\n")
    c.acl = acl
    return m


def rename(b, short, v, new_path=False):
    m = b.message(short, version=v)
    r = m.event.rename
    r.source = b.file("/Users/me/a.txt")
    if new_path:
        r.destination_type = 1
        r.destination.new_path.dir = b.file("/Users/me/dir")
        r.destination.new_path.filename = b.tok("b.txt")
    else:
        r.destination_type = 0
        r.destination.existing_file = b.file("/Users/me/b.txt")
    return m


def exchangedata(b, short, v):
    return _simple_file("file1", "file2")(b, short, v)


def exit_(b, short, v):
    m = b.message(short, version=v)
    m.event.exit.stat = 3 << 8
    return m


def get_task(b, short, v):
    return _process_target(b, short, v, type=1)


def kext(b, short, v):
    m = b.message(short, version=v)
    getattr(m.event, short).identifier = b.tok("com.example.kext")
    return m


def link(b, short, v):
    m = b.message(short, version=v)
    m.event.link.source = b.file("/Users/me/a")
    m.event.link.target_dir = b.file("/Users/me/links")
    m.event.link.target_filename = b.tok("a-link")
    return m


def mmap(b, short, v):
    m = b.message(short, version=v)
    e = m.event.mmap
    e.protection, e.max_protection, e.flags, e.file_pos = 3, 7, 0x1002, 4096
    e.source = b.file("/usr/lib/libfoo.dylib")
    return m


def mprotect(b, short, v):
    m = b.message(short, version=v)
    e = m.event.mprotect
    e.protection, e.address, e.size = 5, 0x100004000, 16384
    return m


def mount(b, short, v):
    m = b.message(short, version=v)
    e = getattr(m.event, short)
    e.statfs = _statfs(b)
    if short != "unmount":
        e.disposition = 0
    if short == "remount":
        e.remount_flags = 0x10
    return m


def iokit_open(b, short, v):
    m = b.message(short, version=v)
    e = m.event.iokit_open
    e.user_client_type, e.user_client_class = 7, b.tok("IOHIDParamUserClient")
    e.parent_registry_id, e.parent_path = 4294968000, b.tok("IOService:/AppleARM")
    return m


def attrlist(b, short, v):
    m = b.message(short, version=v)
    body = getattr(m.event, short)
    _attrlist(body)
    body.target = b.file("/Users/me/x")
    return m


def setflags(b, short, v):
    m = b.message(short, version=v)
    m.event.setflags.flags, m.event.setflags.target = 0x8000, b.file("/Users/me/hidden")
    return m


def setmode(b, short, v):
    m = b.message(short, version=v)
    m.event.setmode.mode, m.event.setmode.target = 0o4755, b.file("/Users/me/bin")
    return m


def setowner(b, short, v):
    m = b.message(short, version=v)
    e = m.event.setowner
    e.uid, e.gid, e.target = 0, 0, b.file("/Users/me/bin")
    return m


def signal(b, short, v, instigator=True):
    m = b.message(short, version=v)
    e = m.event.signal
    e.sig, e.target = 9, b.process("/usr/bin/victim", pid=400)
    e.instigator = b.process("/sbin/launchd", pid=1) if instigator else b.ffi.NULL
    return m


def unlink(b, short, v):
    return _simple_file("target", "parent_dir")(b, short, v)


def fp_materialize(b, short, v):
    m = b.message(short, version=v)
    e = m.event.file_provider_materialize
    e.instigator = b.process("/usr/libexec/fileproviderd", pid=77)
    e.source, e.target = b.file("/private/var/staged"), b.file("/Users/me/Cloud/doc")
    e.instigator_token = b.audit(77, 1)[0]
    return m


def fp_update(b, short, v):
    m = b.message(short, version=v)
    m.event.file_provider_update.source = b.file("/private/var/staged")
    m.event.file_provider_update.target_path = b.tok("/Users/me/Cloud/doc")
    return m


def lookup(b, short, v):
    m = b.message(short, version=v)
    m.event.lookup.source_dir = b.file("/Users/me")
    m.event.lookup.relative_target = b.tok("../etc/passwd")
    return m


def access(b, short, v):
    m = b.message(short, version=v)
    m.event.access.mode, m.event.access.target = 4, b.file("/etc/sudoers")
    return m


def utimes(b, short, v):
    m = b.message(short, version=v)
    e = m.event.utimes
    e.target = b.file("/Users/me/backdated")
    e.atime.tv_sec, e.atime.tv_nsec = 946684800, 1
    e.mtime.tv_sec, e.mtime.tv_nsec = 946684800, 2
    return m


def clone(b, short, v):
    m = b.message(short, version=v)
    e = m.event.clone
    e.source, e.target_dir, e.target_name = b.file("/Users/me/a"), b.file("/Users/me/b"), b.tok("a copy")
    return m


def copyfile(b, short, v):
    m = b.message(short, version=v)
    e = m.event.copyfile
    e.source, e.target_file, e.target_dir = b.file("/Users/me/a"), b.ffi.NULL, b.file("/Users/me/b")
    e.target_name, e.mode, e.flags = b.tok("a"), 0o644, 0
    return m


def fcntl(b, short, v):
    m = b.message(short, version=v)
    m.event.fcntl.target, m.event.fcntl.cmd = b.file("/Users/me/a"), 48
    return m


def no_fields(b, short, v):
    return b.message(short, version=v)


def uipc_bind(b, short, v):
    m = b.message(short, version=v)
    e = m.event.uipc_bind
    e.dir, e.filename, e.mode = b.file("/private/tmp"), b.tok("sock"), 0o777
    return m


def uipc_connect(b, short, v):
    m = b.message(short, version=v)
    e = m.event.uipc_connect
    e.file, e.domain, e.type, e.protocol = b.file("/private/var/run/mDNSResponder"), 1, 1, 0
    return m


def setacl(b, short, v):
    m = b.message(short, version=v)
    e = m.event.setacl
    e.target, e.set_or_clear = b.file("/Users/me/a"), 0
    acl = b.new("struct _acl *")
    acl.text = b.chars("!#acl 1\n")
    e.acl.set = acl
    return m


def pty(b, short, v):
    m = b.message(short, version=v)
    getattr(m.event, short).dev = 0x10000003
    return m


def proc_check(b, short, v):
    return _process_target(b, short, v, type=2, flavor=5)


def proc_suspend_resume(b, short, v):
    return _process_target(b, short, v, type=1)


def trace(b, short, v):
    return _process_target(b, short, v)


def remote_thread_create(b, short, v, state=True):
    m = b.message(short, version=v)
    e = m.event.remote_thread_create
    e.target = b.process("/usr/bin/victim", pid=400)
    if state:
        ts = b.new("es_thread_state_t *")
        ts.flavor = 6
        e.thread_state = ts
    return m


def set_id(field_names):
    def build(b, short, v):
        m = b.message(short, version=v)
        body = getattr(m.event, short)
        for i, f in enumerate(field_names):
            setattr(body, f, 501 + i)
        return m
    return build


def authentication(b, short, v, kind: str = "od"):
    m, e = _pointer(b, short, v, "es_event_authentication_t")
    e.success = True
    kinds = {"od": 0, "touchid": 1, "token": 2, "auto_unlock": 3}
    e.type = kinds[kind]
    if kind == "od":
        d = b.new("es_event_authentication_od_t *")
        d.instigator = b.process("/usr/sbin/sshd", pid=55)
        d.record_type, d.record_name, d.node_name = b.tok("Users"), b.tok("me"), b.tok("/Local/Default")
        d.db_path = b.tok("/private/var/db/dslocal/nodes/Default")
        d.instigator_token = b.audit(55, 1)[0]
        e.data.od = d
    elif kind == "touchid":
        d = b.new("es_event_authentication_touchid_t *")
        d.instigator = b.ffi.NULL
        d.touchid_mode, d.has_uid = 0, True
        d.uid.uid = 501
        d.instigator_token = b.audit(56, 1)[0]
        e.data.touchid = d
    elif kind == "token":
        d = b.new("es_event_authentication_token_t *")
        d.instigator = b.process("/usr/bin/login", pid=57)
        d.pubkey_hash, d.token_id, d.kerberos_principal = b.tok("ABCD"), b.tok("tok-1"), b.tok(None)
        d.instigator_token = b.audit(57, 1)[0]
        e.data.token = d
    else:
        d = b.new("es_event_authentication_auto_unlock_t *")
        d.username, d.type = b.tok("me"), 1
        e.data.auto_unlock = d
    return m


def xp_malware_detected(b, short, v):
    m, e = _pointer(b, short, v, "es_event_xp_malware_detected_t")
    e.signature_version, e.malware_identifier = b.tok("5287"), b.tok("OSX.Dolittle")
    e.incident_identifier, e.detected_path = b.tok("INC-1"), b.tok("/Users/me/Downloads/Evil.app")
    e.detected_executable = b.tok("/Users/me/Downloads/Evil.app/Contents/MacOS/Evil")
    return m


def xp_malware_remediated(b, short, v):
    m, e = _pointer(b, short, v, "es_event_xp_malware_remediated_t")
    e.signature_version, e.malware_identifier, e.incident_identifier = b.tok("5287"), b.tok("OSX.X"), b.tok("INC-1")
    e.action_type, e.success, e.result_description = b.tok("path_delete"), True, b.tok("deleted")
    e.remediated_path = b.tok("/Users/me/Downloads/Evil.app")
    e.remediated_process_audit_token = b.audit(666, 2)
    return m


def lw_session(b, short, v):
    ctype = f"es_event_{short}_t"
    m, e = _pointer(b, short, v, ctype)
    e.username, e.graphical_session_id = b.tok("me"), 257
    return m


def screensharing_attach(b, short, v):
    m, e = _pointer(b, short, v, "es_event_screensharing_attach_t")
    e.success, e.source_address_type, e.source_address = True, 1, b.tok("192.0.2.7")
    e.viewer_appleid, e.authentication_type = b.tok(None), b.tok("vnc")
    e.authentication_username, e.session_username = b.tok("me"), b.tok("me")
    e.existing_session, e.graphical_session_id = True, 257
    return m


def screensharing_detach(b, short, v):
    m, e = _pointer(b, short, v, "es_event_screensharing_detach_t")
    e.source_address_type, e.source_address, e.viewer_appleid, e.graphical_session_id = 1, b.tok("192.0.2.7"), \
        b.tok(None), 257
    return m


def openssh_login(b, short, v, has_uid=True):
    m, e = _pointer(b, short, v, "es_event_openssh_login_t")
    e.success, e.result_type, e.source_address_type = has_uid, 2 if has_uid else 9, 1
    e.source_address, e.username, e.has_uid = b.tok("198.51.100.9"), b.tok("me"), has_uid
    e.uid.uid = 501
    return m


def openssh_logout(b, short, v):
    m, e = _pointer(b, short, v, "es_event_openssh_logout_t")
    e.source_address_type, e.source_address, e.username, e.uid = 1, b.tok("198.51.100.9"), b.tok("me"), 501
    return m


def login_login(b, short, v, success=False):
    m, e = _pointer(b, short, v, "es_event_login_login_t")
    e.success, e.failure_message, e.username = success, b.tok(None if success else "bad password"), b.tok("me")
    e.has_uid = success
    e.uid.uid = 501
    return m


def login_logout(b, short, v):
    m, e = _pointer(b, short, v, "es_event_login_logout_t")
    e.username, e.uid = b.tok("me"), 501
    return m


def btm(b, short, v, app=None):
    m, e = _pointer(b, short, v, f"es_event_{short}_t")
    e.instigator = b.process("/usr/libexec/smd", pid=88)
    e.app = app if app is not None else b.ffi.NULL
    item = b.new("es_btm_launch_item_t *")
    item.item_type, item.legacy, item.managed, item.uid = 4, True, False, 0
    item.item_url, item.app_url = b.tok("file:///Library/LaunchDaemons/com.evil.plist"), b.tok(None)
    e.item = item
    e.instigator_token, e.app_token = b.audit(88, 1), b.ffi.NULL
    if short == "btm_launch_item_add":
        e.executable_path = b.tok("/Library/Application Support/evil/evild")
    return m


def _profile(b):
    p = b.new("es_profile_t *")
    p.identifier, p.uuid, p.install_source = b.tok("com.example.vpn"), b.tok("1B2C-..."), 0
    p.organization, p.display_name, p.scope = b.tok("Example"), b.tok("VPN"), b.tok("System")
    return p


def profile(b, short, v):
    m, e = _pointer(b, short, v, f"es_event_{short}_t")
    e.instigator = b.process("/usr/libexec/mdmclient", pid=90)
    e.instigator_token = b.audit(90, 1)[0]
    if short == "profile_add":
        e.is_update = False
    e.profile = _profile(b)
    return m


def su(b, short, v):
    m, e = _pointer(b, short, v, "es_event_su_t")
    e.success, e.failure_message, e.from_uid, e.from_username = True, b.tok(None), 501, b.tok("me")
    e.has_to_uid, e.to_username, e.shell = True, b.tok("root"), b.tok("/bin/zsh")
    e.to_uid.uid = 0
    e.argc, e.argv = 2, b.toks(["-c", "id"])
    e.env_count, e.env = 1, b.toks(["TERM=xterm"])
    return m


def sudo(b, short, v, rejected=False):
    m, e = _pointer(b, short, v, "es_event_sudo_t")
    e.success = not rejected
    if rejected:
        r = b.new("es_sudo_reject_info_t *")
        r.plugin_name, r.plugin_type, r.failure_message = b.tok("sudoers_policy"), 2, b.tok("not in sudoers")
        e.reject_info = r
    e.has_from_uid, e.from_username = True, b.tok("me")
    e.from_uid.uid = 501
    e.has_to_uid, e.to_username, e.command = True, b.tok("root"), b.tok("/usr/bin/id")
    e.to_uid.uid = 0
    return m


def authorization_petition(b, short, v):
    m, e = _pointer(b, short, v, "es_event_authorization_petition_t")
    e.instigator, e.petitioner = b.process("/usr/bin/security", pid=91), b.ffi.NULL
    e.flags, e.right_count, e.rights = 3, 1, b.toks(["system.privilege.admin"])
    e.instigator_token, e.petitioner_token = b.audit(91, 1)[0], b.audit(92, 1)[0]
    return m


def authorization_judgement(b, short, v):
    m, e = _pointer(b, short, v, "es_event_authorization_judgement_t")
    e.instigator, e.petitioner = b.process("/usr/bin/security", pid=91), b.process("/usr/bin/app", pid=92)
    results = b.new("es_authorization_result_t[]", 1)
    results[0].right_name, results[0].rule_class, results[0].granted = b.tok("system.privilege.admin"), 1, True
    e.return_code, e.result_count, e.results = 0, 1, results
    e.instigator_token, e.petitioner_token = b.audit(91, 1)[0], b.audit(92, 1)[0]
    return m


def _od(b, short, v, ctype):
    m, e = _pointer(b, short, v, ctype)
    e.instigator = b.process("/usr/bin/dscl", pid=93)
    e.instigator_token = b.audit(93, 1)[0]
    e.error_code, e.node_name, e.db_path = 0, b.tok("/Local/Default"), b.tok("/private/var/db/dslocal/nodes/Default")
    return m, e


def od_member(b, short, v, uuid=False):
    m, e = _od(b, short, v, f"es_event_{short}_t")
    e.group_name = b.tok("admin")
    member = b.new("es_od_member_id_t *")
    if uuid:
        member.member_type = 1
        for i in range(16):
            member.member_value.uuid[i] = i * 17 % 256
    else:
        member.member_type = 0
        member.member_value.name = b.tok("me")
    e.member = member
    return m


def od_group_set(b, short, v):
    m, e = _od(b, short, v, "es_event_od_group_set_t")
    e.group_name = b.tok("admin")
    ms = b.new("es_od_member_id_array_t *")
    ms.member_type, ms.member_count = 0, 2
    ms.member_array.names = b.toks(["me", "you"])
    e.members = ms
    return m


def od_modify_password(b, short, v):
    m, e = _od(b, short, v, "es_event_od_modify_password_t")
    e.account_type, e.account_name = 0, b.tok("me")
    return m


def od_user(b, short, v):
    m, e = _od(b, short, v, f"es_event_{short}_t")
    e.user_name = b.tok("hidden_admin")
    return m


def od_group(b, short, v):
    m, e = _od(b, short, v, f"es_event_{short}_t")
    e.group_name = b.tok("staff2")
    return m


def od_attribute_value(b, short, v):
    m, e = _od(b, short, v, f"es_event_{short}_t")
    e.record_type, e.record_name = 0, b.tok("me")
    e.attribute_name, e.attribute_value = b.tok("dsAttrTypeNative:IsHidden"), b.tok("1")
    return m


def od_attribute_set(b, short, v):
    m, e = _od(b, short, v, "es_event_od_attribute_set_t")
    e.record_type, e.record_name, e.attribute_name = 0, b.tok("me"), b.tok("UserShell")
    e.attribute_value_count, e.attribute_values = 1, b.toks(["/bin/zsh"])
    return m


def xpc_connect(b, short, v):
    m, e = _pointer(b, short, v, "es_event_xpc_connect_t")
    e.service_name, e.service_domain_type = b.tok("com.apple.tccd"), 1
    return m


def gatekeeper_user_override(b, short, v, as_path=False):
    m, e = _pointer(b, short, v, "es_event_gatekeeper_user_override_t")
    if as_path:
        e.file_type, e.file.file_path = 0, b.tok("/Users/me/Downloads/gone.app")
    else:
        e.file_type, e.file.file = 1, b.file("/Users/me/Downloads/Tool.app/Contents/MacOS/Tool")
    sha = b.new("es_sha256_t *")
    for i in range(32):
        sha[0][i] = i
    e.sha256 = sha
    info = b.new("es_signed_file_info_t *")
    for i in range(20):
        info.cdhash[i] = 255 - i
    info.signing_id, info.team_id = b.tok("com.example.tool"), b.tok(None)
    e.signing_info = info
    return m


def tcc_modify(b, short, v):
    m, e = _pointer(b, short, v, "es_event_tcc_modify_t")
    e.service, e.identity, e.identity_type, e.update_type = b.tok("kTCCServiceSystemPolicyAllFiles"), \
        b.tok("com.evil.app"), 0, 1
    e.instigator_token, e.instigator = b.audit(94, 1)[0], b.process("/System/Library/PrivateFrameworks/tccd", pid=94)
    e.responsible_token, e.responsible = b.ffi.NULL, b.ffi.NULL
    e.right, e.reason = 2, 3
    return m


BODIES = {
    "exec": exec_, "open": open_, "fork": fork, "close": close, "create": create, "exchangedata": exchangedata,
    "exit": exit_, "get_task": get_task, "get_task_read": get_task, "get_task_inspect": get_task,
    "get_task_name": get_task, "kextload": kext, "kextunload": kext, "link": link, "mmap": mmap,
    "mprotect": mprotect, "mount": mount, "unmount": mount, "remount": mount, "iokit_open": iokit_open,
    "rename": rename, "setattrlist": attrlist, "getattrlist": attrlist, "searchfs": attrlist,
    "setextattr": _with_extattr, "getextattr": _with_extattr, "deleteextattr": _with_extattr,
    "listextattr": _simple_file("target"), "setflags": setflags, "setmode": setmode, "setowner": setowner,
    "signal": signal, "unlink": unlink, "write": _simple_file("target"),
    "file_provider_materialize": fp_materialize, "file_provider_update": fp_update,
    "readlink": _simple_file("source"), "truncate": _simple_file("target"), "lookup": lookup,
    "chdir": _simple_file("target"), "stat": _simple_file("target"), "access": access,
    "chroot": _simple_file("target"), "utimes": utimes, "clone": clone, "copyfile": copyfile, "fcntl": fcntl,
    "readdir": _simple_file("target"), "fsgetpath": _simple_file("target"), "dup": _simple_file("target"),
    "settime": no_fields, "cs_invalidated": no_fields, "uipc_bind": uipc_bind, "uipc_connect": uipc_connect,
    "setacl": setacl, "pty_grant": pty, "pty_close": pty, "proc_check": proc_check,
    "proc_suspend_resume": proc_suspend_resume, "trace": trace, "remote_thread_create": remote_thread_create,
    "setuid": set_id(["uid"]), "setgid": set_id(["gid"]), "seteuid": set_id(["euid"]),
    "setegid": set_id(["egid"]), "setreuid": set_id(["ruid", "euid"]), "setregid": set_id(["rgid", "egid"]),
    "authentication": authentication, "xp_malware_detected": xp_malware_detected,
    "xp_malware_remediated": xp_malware_remediated, "lw_session_login": lw_session,
    "lw_session_logout": lw_session, "lw_session_lock": lw_session, "lw_session_unlock": lw_session,
    "screensharing_attach": screensharing_attach, "screensharing_detach": screensharing_detach,
    "openssh_login": openssh_login, "openssh_logout": openssh_logout, "login_login": login_login,
    "login_logout": login_logout, "btm_launch_item_add": btm, "btm_launch_item_remove": btm,
    "profile_add": profile, "profile_remove": profile, "su": su, "authorization_petition": authorization_petition,
    "authorization_judgement": authorization_judgement, "sudo": sudo, "od_group_add": od_member,
    "od_group_remove": od_member, "od_group_set": od_group_set, "od_modify_password": od_modify_password,
    "od_disable_user": od_user, "od_enable_user": od_user, "od_attribute_value_add": od_attribute_value,
    "od_attribute_value_remove": od_attribute_value, "od_attribute_set": od_attribute_set,
    "od_create_user": od_user, "od_create_group": od_group, "od_delete_user": od_user, "od_delete_group": od_group,
    "xpc_connect": xpc_connect, "gatekeeper_user_override": gatekeeper_user_override, "tcc_modify": tcc_modify,
}

# Variants of a type's union arms and optional parts, checked too.
VARIANTS = {
    "create": [("new_path", lambda b, s, v: create(b, s, v, new_path=True))],
    "rename": [("new_path", lambda b, s, v: rename(b, s, v, new_path=True))],
    "signal": [("no instigator", lambda b, s, v: signal(b, s, v, instigator=False))],
    "remote_thread_create": [("no thread state", lambda b, s, v: remote_thread_create(b, s, v, state=False))],
    "openssh_login": [("no uid", lambda b, s, v: openssh_login(b, s, v, has_uid=False))],
    "login_login": [("success", lambda b, s, v: login_login(b, s, v, success=True))],
    "od_group_add": [("uuid member", lambda b, s, v: od_member(b, s, v, uuid=True))],
    "gatekeeper_user_override": [("path only", lambda b, s, v: gatekeeper_user_override(b, s, v, as_path=True))],
    "btm_launch_item_add": [("with app", lambda b, s, v: btm(b, s, v, app=b.process("/Applications/A.app/A")))],
    "sudo": [("rejected", lambda b, s, v: sudo(b, s, v, rejected=True))],
    "authentication": [(k, (lambda k: lambda b, s, v: authentication(b, s, v, kind=k))(k))
                       for k in ("touchid", "token", "auto_unlock")],
}

_OD_HEAD = ["instigator", "instigator_token", "error_code", "node_name", "db_path"]
_INSTIGATED = ["instigator", "instigator_token"]

# Types outside eslogger-keys.json: the body keys at message version 10 (C field names).
HEADER_KEYS: dict[str, list[str]] = {
    "exchangedata": ["file1", "file2"],
    "get_task_read": ["target", "type"], "get_task_inspect": ["target", "type"], "get_task_name": ["target", "type"],
    "kextload": ["identifier"], "kextunload": ["identifier"],
    "unmount": ["statfs"], "remount": ["statfs", "remount_flags", "disposition"],
    "setattrlist": ["attrlist", "target"], "getattrlist": ["attrlist", "target"], "searchfs": ["attrlist", "target"],
    "setflags": ["flags", "target"], "setowner": ["uid", "gid", "target"],
    "file_provider_materialize": ["instigator", "source", "target", "instigator_token"],
    "file_provider_update": ["source", "target_path"], "readlink": ["source"], "truncate": ["target"],
    "lookup": ["source_dir", "relative_target"], "chdir": ["target"], "stat": ["target"], "access": ["mode", "target"],
    "chroot": ["target"], "utimes": ["target", "atime", "mtime"], "clone": ["source", "target_dir", "target_name"],
    "copyfile": ["source", "target_file", "target_dir", "target_name", "mode", "flags"], "fcntl": ["target", "cmd"],
    "readdir": ["target"], "fsgetpath": ["target"], "settime": [], "setacl": ["target", "set_or_clear", "acl"],
    "pty_close": ["dev"],
    "setuid": ["uid"], "setgid": ["gid"], "seteuid": ["euid"], "setegid": ["egid"], "setreuid": ["ruid", "euid"],
    "setregid": ["rgid", "egid"], "authentication": ["success", "type", "data"],
    "lw_session_logout": ["username", "graphical_session_id"], "lw_session_lock": ["username", "graphical_session_id"],
    "screensharing_attach": ["success", "source_address_type", "source_address", "viewer_appleid",
                             "authentication_type", "authentication_username", "session_username",
                             "existing_session", "graphical_session_id"],
    "screensharing_detach": ["source_address_type", "source_address", "viewer_appleid", "graphical_session_id"],
    "login_logout": ["username", "uid"],
    "profile_remove": _INSTIGATED + ["profile"],
    "su": ["success", "failure_message", "from_uid", "from_username", "to_uid", "to_username", "shell", "argc",
           "argv", "env_count", "env"],
    "sudo": ["success", "reject_info", "from_uid", "from_username", "to_uid", "to_username", "command"],
    "od_group_set": _OD_HEAD + ["group_name", "members"],
    "od_disable_user": _OD_HEAD + ["user_name"], "od_enable_user": _OD_HEAD + ["user_name"],
    "od_delete_user": _OD_HEAD + ["user_name"], "od_delete_group": _OD_HEAD + ["group_name"],
    "od_attribute_value_remove": _OD_HEAD + ["record_type", "record_name", "attribute_name", "attribute_value"],
    "od_attribute_set": _OD_HEAD + ["record_type", "record_name", "attribute_name", "attribute_value_count",
                                    "attribute_values"],
}

# The curated families (native/README.md), plus the types with a table today.
CURATED = [
    "btm_launch_item_add", "btm_launch_item_remove", "create", "rename", "unlink", "close", "tcc_modify",
    "xp_malware_detected", "xp_malware_remediated", "gatekeeper_user_override", "authentication", "sudo", "su",
    "openssh_login", "openssh_logout", "screensharing_attach", "screensharing_detach", "login_login",
    "login_logout", "lw_session_login", "lw_session_logout", "lw_session_lock", "lw_session_unlock",
    "od_group_add", "od_group_remove", "od_group_set", "od_modify_password", "od_disable_user", "od_enable_user",
    "od_attribute_value_add", "od_attribute_value_remove", "od_attribute_set", "od_create_user", "od_create_group",
    "od_delete_user", "od_delete_group", "profile_add", "profile_remove", "get_task", "get_task_read",
    "get_task_inspect", "get_task_name", "remote_thread_create", "mmap", "deleteextattr", "setextattr", "mount",
    "unmount", "signal", "cs_invalidated", "uipc_connect", "uipc_bind", "authorization_petition",
    "authorization_judgement", "setmode", "setowner", "setflags", "utimes", "xpc_connect", "trace",
    "proc_suspend_resume", "exec", "open", "write", "fork", "exit", "iokit_open",
]
