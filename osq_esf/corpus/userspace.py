"""Events that system daemons and tools report from user space (Apple's ESMessage.h lists them).

A mixin of :class:`~osq_esf.corpus.world.Mac`.  For these events the message's acting
``process`` is whoever reports: a daemon (backgroundtaskmanagementd, tccd,
opendirectoryd, XProtect, syspolicyd, authd, ...), started by launchd on first use like
any job, or the tool itself (sudo, su, login, sshd).  The process a detection is after
is inside the event: ``instigator`` (and ``app``, ``responsible``, ``petitioner``), null
once it has exited, with its audit token beside it from message version 8 where the
header says so (a pointer that may be null for BTM, a plain token elsewhere).  Which
daemon reports which event is our reading of Apple's documentation, not observed.
"""

from __future__ import annotations

from osq_esf.corpus.render import token_json

# ESMessage.h, "The following events are created by userspace binaries or frameworks" (NOTIFY only).
USERSPACE_EVENTS = (
    "file_provider_materialize", "file_provider_update", "authentication", "xp_malware_detected",
    "xp_malware_remediated", "lw_session_login", "lw_session_logout", "lw_session_lock", "lw_session_unlock",
    "screensharing_attach", "screensharing_detach", "openssh_login", "openssh_logout", "login_login",
    "login_logout", "btm_launch_item_add", "btm_launch_item_remove", "profile_add", "profile_remove", "su",
    "authorization_petition", "authorization_judgement", "sudo", "od_group_add", "od_group_remove",
    "od_group_set", "od_modify_password", "od_disable_user", "od_enable_user", "od_attribute_value_add",
    "od_attribute_value_remove", "od_attribute_set", "od_create_user", "od_create_group", "od_delete_user",
    "od_delete_group", "gatekeeper_user_override", "tcc_modify",
)

_FRAMEWORKS = "/System/Library/Frameworks/"
# The daemons that report: name -> (launchd label, executable, signing id, uid).
REPORTERS = {
    "backgroundtaskmanagementd": (
        "com.apple.backgroundtaskmanagementd",
        "/System/Library/PrivateFrameworks/BackgroundTaskManagement.framework/Versions/A/Resources/"
        "backgroundtaskmanagementd", "com.apple.backgroundtaskmanagementd", 0),
    "tccd": ("com.apple.tccd.system", "/System/Library/PrivateFrameworks/TCC.framework/Support/tccd",
             "com.apple.tccd", 0),
    "opendirectoryd": ("com.apple.opendirectoryd", "/usr/libexec/opendirectoryd", "com.apple.opendirectoryd", 0),
    "coreauthd": ("com.apple.CoreAuthentication.daemon", _FRAMEWORKS + "LocalAuthentication.framework/Support/coreauthd",
                  "com.apple.coreauthd", 0),
    "ctkd": ("com.apple.ctkd", _FRAMEWORKS + "CryptoTokenKit.framework/ctkd", "com.apple.ctkd", 0),
    "sharingd": ("com.apple.sharingd", "/usr/libexec/sharingd", "com.apple.sharingd", 501),
    "XProtect": ("com.apple.XProtect.daemon.scan",
                 "/Library/Apple/System/Library/CoreServices/XProtect.app/Contents/MacOS/XProtect",
                 "com.apple.XProtect", 0),
    "syspolicyd": ("com.apple.security.syspolicy", "/usr/libexec/syspolicyd", "com.apple.syspolicyd", 0),
    "authd": ("com.apple.authd", _FRAMEWORKS + "Security.framework/Versions/A/XPCServices/authd.xpc/Contents/MacOS/authd",
              "com.apple.authd", 0),
    "screensharingd": ("com.apple.screensharing",
                       "/System/Library/CoreServices/RemoteManagement/screensharingd.bundle/Contents/MacOS/screensharingd",
                       "com.apple.screensharingd", 0),
    "loginwindow": ("com.apple.loginwindow", "/System/Library/CoreServices/loginwindow.app/Contents/MacOS/loginwindow",
                    "com.apple.loginwindow", 0),
    "ManagedClient": ("com.apple.ManagedClient",
                      "/System/Library/CoreServices/ManagedClient.app/Contents/MacOS/ManagedClient",
                      "com.apple.ManagedClient", 0),
    "fileproviderd": ("com.apple.FileProvider", _FRAMEWORKS + "FileProvider.framework/Support/fileproviderd",
                      "com.apple.FileProvider", 501),
}
# The arm of authentication's data union (es_authentication_type_t order) and who reports it.
AUTHENTICATION = {"od": "opendirectoryd", "touchid": "coreauthd", "token": "ctkd", "auto_unlock": "sharingd"}
NO_TOKEN = (0,) * 8  # a plain audit_token_t with no process behind it

# ESTypes.h values a caller passes.
BTM_USER_ITEM, BTM_APP, BTM_LOGIN_ITEM, BTM_AGENT, BTM_DAEMON = range(5)  # es_btm_item_type_t
TCC_IDENTITY_BUNDLE_ID, TCC_IDENTITY_PATH = 0, 1  # es_tcc_identity_type_t
TCC_CREATE, TCC_MODIFY, TCC_DELETE = 1, 2, 3  # es_tcc_event_type_t
TCC_DENIED, TCC_ALLOWED = 0, 2  # es_tcc_authorization_right_t
TCC_USER_CONSENT, TCC_USER_SET, TCC_MDM_POLICY = 2, 3, 6  # es_tcc_authorization_reason_t
ADDRESS_NONE, ADDRESS_IPV4, ADDRESS_IPV6 = 0, 1, 2  # es_address_type_t
SSH_AUTH_SUCCESS, SSH_AUTH_FAIL_PASSWD, SSH_INVALID_USER = 2, 4, 9  # es_openssh_login_result_type_t
OD_MEMBER_USER_NAME, OD_RECORD_USER, OD_RECORD_GROUP, OD_ACCOUNT_USER = 0, 0, 1, 0
PROFILE_MANAGED, PROFILE_INSTALL = 0, 1  # es_profile_source_t
GATEKEEPER_PATH, GATEKEEPER_FILE = 0, 1  # es_gatekeeper_user_override_file_type_t
SUDO_PLUGIN_POLICY = 2  # es_sudo_plugin_type_t
RULE_USER, RULE_RULE, RULE_ALLOW = 0, 1, 3  # es_authorization_rule_class_t
AUTO_UNLOCK_MACHINE, AUTO_UNLOCK_AUTH_PROMPT = 1, 2  # es_auto_unlock_type_t
XPC_DOMAIN_SYSTEM, XPC_DOMAIN_USER, XPC_DOMAIN_PID, XPC_DOMAIN_GUI = 1, 2, 5, 8  # es_xpc_domain_type_t
LOCAL_NODE, LOCAL_DB = "/Local/Default", "/var/db/dslocal/nodes/Default"


class UserspaceEvents:
    """The user-space NOTIFY events (mixed into Mac: uses notify, launch_job, render_*)."""

    def reporter(self, name: str):
        """The running daemon ``name`` of :data:`REPORTERS`, started by launchd if it is not."""
        label, path, signing_id, uid = REPORTERS[name]
        p = self.jobs.get(label)
        if p is None or not p.alive:
            p = self.launch_job(label, self.image(path, signing_id), uid=uid, gid=20 if uid else 0)
        return p

    def _actor(self, d: dict, v: int, form: str, who, key: str = "instigator", token: str = "instigator_token",
               pointer: bool = False) -> None:
        """``key``: the process (null once exited); ``token`` (v8+): its audit token, even when the
        process is null; with no process at all, null (``pointer``) or a zero token."""
        d[key] = self.proc_or_null(who, v, form)
        if v >= 8 and token:
            d[token] = token_json(who.token(), form) if who is not None else (
                None if pointer else token_json(NO_TOKEN, form))

    # -- persistence and privacy -------------------------------------------------------------

    def btm_launch_item(self, kind: str, item_url: str, *, item_type: int = BTM_AGENT, uid: int = 501,
                        legacy: bool = True, managed: bool = False, app_url: str | None = None,
                        executable_path: str | None = None, instigator=None, app=None) -> None:
        """btm_launch_item_add (``kind`` "add", with ``executable_path``) or _remove: a launch
        agent/daemon, login item or app made known to (or removed from) Background Task Management."""
        item = {"item_type": item_type, "legacy": legacy, "managed": managed, "uid": uid, "item_url": item_url,
                "app_url": app_url}

        def build(v: int, form: str) -> dict:
            d = {"item": item}
            self._actor(d, v, form, instigator, pointer=True)
            self._actor(d, v, form, app, "app", "app_token", pointer=True)
            if kind == "add":
                d["executable_path"] = executable_path
            return d

        self.notify(f"btm_launch_item_{kind}", self.reporter("backgroundtaskmanagementd"), build)

    def tcc_modify(self, service: str, identity: str, *, identity_type: int = TCC_IDENTITY_BUNDLE_ID,
                   update_type: int = TCC_CREATE, right: int = TCC_ALLOWED, reason: int = TCC_USER_SET,
                   instigator=None, responsible=None) -> None:
        """A TCC (privacy) permission of ``identity`` for ``service`` created, changed or removed."""
        def build(v: int, form: str) -> dict:
            d = {"service": service, "identity": identity, "identity_type": identity_type,
                 "update_type": update_type, "right": right, "reason": reason}
            d["instigator"] = self.proc_or_null(instigator, v, form)
            d["instigator_token"] = token_json(instigator.token() if instigator else NO_TOKEN, form)
            d["responsible"] = self.proc_or_null(responsible, v, form)
            d["responsible_token"] = token_json(responsible.token(), form) if responsible else None
            return d

        self.notify("tcc_modify", self.reporter("tccd"), build)

    def gatekeeper_user_override(self, path: str, *, sha256: str | None, signing=None, as_file: bool = True) -> None:
        """The user let Gatekeeper run ``path`` anyway; ``signing`` the Image whose signature it
        carries (None: unsigned); ``as_file`` False when syspolicyd could only give the path."""
        f = self.file(path) if as_file else None
        info = None if signing is None else {"cdhash": signing.cdhash, "signing_id": signing.signing_id,
                                              "team_id": signing.team_id}
        self.notify("gatekeeper_user_override", self.reporter("syspolicyd"), lambda v, form: {
            "file_type": GATEKEEPER_FILE if f else GATEKEEPER_PATH, "file": self.render_file(f) if f else path,
            "sha256": sha256, "signing_info": info})

    def xp_malware_detected(self, malware: str, incident: str, path: str, executable: str,
                            signature_version: str) -> None:
        def build(v: int, form: str) -> dict:
            d = {"signature_version": signature_version, "malware_identifier": malware,
                 "incident_identifier": incident, "detected_path": path}
            if v >= 10:
                d["detected_executable"] = executable
            return d

        self.notify("xp_malware_detected", self.reporter("XProtect"), build)

    def xp_malware_remediated(self, malware: str, incident: str, *, action: str, success: bool, description: str,
                              path: str | None, process=None, signature_version: str) -> None:
        self.notify("xp_malware_remediated", self.reporter("XProtect"), lambda v, form: {
            "signature_version": signature_version, "malware_identifier": malware, "incident_identifier": incident,
            "action_type": action, "success": success, "result_description": description, "remediated_path": path,
            "remediated_process_audit_token": token_json(process.token(), form) if process else None})

    def profile(self, kind: str, identifier: str, uuid: str, *, display_name: str, organization: str,
                scope: str = "System", source: int = PROFILE_MANAGED, is_update: bool = False, instigator=None) -> None:
        """profile_add (``kind`` "add") or profile_remove of a configuration profile."""
        profile = {"identifier": identifier, "uuid": uuid, "install_source": source, "organization": organization,
                   "display_name": display_name, "scope": scope}

        def build(v: int, form: str) -> dict:
            d = {"profile": profile}
            if kind == "add":
                d["is_update"] = is_update
            self._actor(d, v, form, instigator)
            return d

        self.notify(f"profile_{kind}", self.reporter("ManagedClient"), build)

    # -- authentication and privileges --------------------------------------------------------

    def authentication(self, arm: str, success: bool, fields: dict, instigator=None) -> None:
        """One of the four kinds (``arm``: od, touchid, token, auto_unlock) with its own ``fields``;
        the instigator (every arm but auto_unlock) is added here."""
        def build(v: int, form: str) -> dict:
            data = dict(fields)
            if arm != "auto_unlock":
                self._actor(data, v, form, instigator)
            return {"success": success, "type": list(AUTHENTICATION).index(arm), "data": {arm: data}}

        self.notify("authentication", self.reporter(AUTHENTICATION[arm]), build)

    def sudo(self, proc, success: bool, *, command: str | None, from_uid: int | None, from_username: str | None,
             to_uid: int | None = 0, to_username: str | None = "root", reject: tuple | None = None) -> None:
        """sudo reports its own policy decision (``proc`` is sudo); ``reject`` (plugin, type, message)."""
        info = None if reject is None else {"plugin_name": reject[0], "plugin_type": reject[1],
                                            "failure_message": reject[2]}
        self.notify("sudo", proc, lambda v, form: {
            "success": success, "reject_info": info, "from_uid": from_uid, "from_username": from_username,
            "to_uid": to_uid if success else None, "to_username": to_username if success else None,
            "command": command})

    def su(self, proc, success: bool, *, from_uid: int, from_username: str, to_uid: int | None,
           to_username: str | None, shell: str | None = None, argv: tuple = (), env: tuple = (),
           failure_message: str | None = None) -> None:
        """su reports its own decision (``proc`` is su); argv and env only when it succeeded."""
        argv, env = (list(argv), list(env)) if success else ([], [])
        self.notify("su", proc, lambda v, form: {
            "success": success, "failure_message": failure_message, "from_uid": from_uid,
            "from_username": from_username, "to_uid": to_uid if success else None,
            "to_username": to_username if success else None, "shell": shell if success else None,
            "argc": len(argv), "argv": argv, "env_count": len(env), "env": env})

    def authorization(self, kind: str, petitioner, *, rights: tuple = (), flags: int = 0, results: tuple = (),
                      return_code: int = 0, instigator=None) -> None:
        """authorization_petition (``kind`` "petition": ``rights``, ``flags``) or _judgement
        (``results``: (right, rule_class, granted)); authd reports both."""
        def build(v: int, form: str) -> dict:
            if kind == "petition":
                d = {"flags": flags, "right_count": len(rights), "rights": list(rights)}
            else:
                d = {"return_code": return_code, "result_count": len(results),
                     "results": [{"right_name": r, "rule_class": c, "granted": g} for r, c, g in results]}
            self._actor(d, v, form, instigator or petitioner)
            self._actor(d, v, form, petitioner, "petitioner", "petitioner_token")
            return d

        self.notify(f"authorization_{kind}", self.reporter("authd"), build)

    def od(self, kind: str, instigator, fields: dict, *, error_code: int = 0, node: str = LOCAL_NODE,
           db_path: str | None = LOCAL_DB) -> None:
        """An OpenDirectory change (``kind``: create_user, group_add, modify_password, ...) with
        its own ``fields``; opendirectoryd reports it, the tool that asked is the instigator."""
        def build(v: int, form: str) -> dict:
            d = dict(fields)
            d["error_code"], d["node_name"], d["db_path"] = error_code, node, db_path
            self._actor(d, v, form, instigator)
            return d

        self.notify(f"od_{kind}", self.reporter("opendirectoryd"), build)

    # -- sessions -------------------------------------------------------------------------------

    def login(self, kind: str, proc, username: str, uid: int | None, *, success: bool = True,
              failure_message: str | None = None) -> None:
        """login_login (``kind`` "login") or login_logout, reported by /usr/bin/login (``proc``)."""
        if kind == "login":
            body = {"success": success, "failure_message": failure_message, "username": username,
                    "uid": uid if success else None}
        else:
            body = {"username": username, "uid": uid}
        self.notify(f"login_{kind}", proc, lambda v, form: body)

    def lw_session(self, kind: str, username: str, session_id: int) -> None:
        """lw_session_login, _logout, _lock or _unlock (``kind``), reported by loginwindow."""
        self.notify(f"lw_session_{kind}", self.reporter("loginwindow"),
                    lambda v, form: {"username": username, "graphical_session_id": session_id})

    def openssh(self, kind: str, sshd, address: str, username: str, uid: int | None, *, success: bool = True,
                result: int = SSH_AUTH_SUCCESS) -> None:
        """openssh_login (``kind`` "login") or openssh_logout, reported by sshd."""
        family = ADDRESS_IPV6 if ":" in address else ADDRESS_IPV4
        if kind == "login":
            body = {"success": success, "result_type": result, "source_address_type": family,
                    "source_address": address, "username": username, "uid": uid if success else None}
        else:
            body = {"source_address_type": family, "source_address": address, "username": username, "uid": uid}
        self.notify(f"openssh_{kind}", sshd, lambda v, form: body)

    def screensharing(self, kind: str, session_id: int, *, address: str | None, viewer_appleid: str | None = None,
                      success: bool = True, auth_type: str = "vnc", auth_username: str | None = None,
                      session_username: str | None = None, existing_session: bool = True) -> None:
        """screensharing_attach (``kind`` "attach") or _detach, reported by screensharingd."""
        family = ADDRESS_NONE if address is None else ADDRESS_IPV6 if ":" in address else ADDRESS_IPV4
        body = {"source_address_type": family, "source_address": address, "viewer_appleid": viewer_appleid,
                "graphical_session_id": session_id}
        if kind == "attach":
            body.update(success=success, authentication_type=auth_type, authentication_username=auth_username,
                        session_username=session_username, existing_session=existing_session)
        self.notify(f"screensharing_{kind}", self.reporter("screensharingd"), lambda v, form: body)

    # -- File Provider ------------------------------------------------------------------------------

    def file_provider_update(self, staged: str, target_path: str) -> None:
        f = self.file(staged)
        self.notify("file_provider_update", self.reporter("fileproviderd"),
                    lambda v, form: {"source": self.render_file(f), "target_path": target_path})

    def file_provider_materialize(self, staged: str, target: str, instigator=None) -> None:
        src, dst = self.file(staged), self.file(target)

        def build(v: int, form: str) -> dict:
            d = {"source": self.render_file(src), "target": self.render_file(dst)}
            self._actor(d, v, form, instigator)
            return d

        self.notify("file_provider_materialize", self.reporter("fileproviderd"), build)
