"""Live events from Apple's ``/usr/bin/eslogger`` (macOS 13+), one child per client.

The kernel gives every ES client its own queue and drops events silently when it is
full (Apple: dropped messages show only as sequence gaps).  eslogger is an ES client that needs no Apple
entitlement, only root and Full Disk Access (§12), so one eslogger process per
*client* -- a named group of event types -- gives each group its own queue, and the
gaps in its sequence numbers are accounted per client by :mod:`osq_esf.health`.

Each client is a :class:`EsloggerSource`: a thread that starts its child (absolute
path, no shell, its own session), reads stdout through the same decoder as replay,
logs stderr (explaining the root / Full Disk Access errors), and restarts the child
with capped exponential backoff when it exits.  Children never outlive us:

* ``stop()`` (SIGTERM/SIGINT of the extension, osquery gone) kills each child's
  process group and reaps it; an ``atexit`` hook does the same for any left over;
* on Linux the child also gets ``PR_SET_PDEATHSIG`` (SIGTERM when we die, even by
  SIGKILL).  macOS has no such call: there the child is the writer of a pipe whose
  only reader is us, so when we are gone its next write fails with SIGPIPE and it
  dies (eslogger is a C program with SIGPIPE's default action; the test double
  restores that default too).  On a Mac events arrive continuously, so that is soon.

The child runs in its own session so a terminal's Ctrl-C or osqueryd's signals reach
us first and we decide.  The price: eslogger suppresses only its own process group's
events, so it reports ours; this extension does no file I/O per event, so that cannot
loop.  On Linux there is no eslogger: the binary must be given (``[eslogger] binary``,
``OSQ_ESF_ESLOGGER``, or an ``eslogger`` on PATH) and is then a test double
(tests/fakes/eslogger).
"""

from __future__ import annotations

import atexit
import logging
import os
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time

from osq_esf.rules.redact import safe_text
from osq_esf.sources.base import MAX_LINE, READ_SIZE, LineSplitter, Source, SourceError, max_line_of
from osq_esf.sources.common import client_sources, configured_clients, listed_in

log = logging.getLogger(__name__)

DEFAULT_BINARY = "/usr/bin/eslogger"
ENV_BINARY = "OSQ_ESF_ESLOGGER"
STDERR_LINE = 4096  # bytes of one stderr line kept (the rest of a longer one is dropped)
STDERR_LINES = 50  # per child: a crash loop must not flood our log
STOP_GRACE = 2.0  # seconds between SIGTERM and SIGKILL of a child

# stderr text -> what to do.  eslogger's wording is not documented; it carries the
# es_new_client result names (`es_new_client_result_t` in `ESClient.h`), so those are matched.
_EXPLANATIONS = (
    (("NOT_PERMITTED", "Full Disk Access", "not permitted"),
     "eslogger lacks Full Disk Access: grant it to the process that starts osq-esf (osqueryd or "
     "orbit under osquery, else osq-esf itself) with an MDM PPPC profile (SystemPolicyAllFiles), or "
     "in System Settings > Privacy & Security > Full Disk Access, then restart it"),
    (("NOT_PRIVILEGED", "must be run as root", "root"),
     "eslogger must run as root: run osqueryd (or osq-esf) as root"),
    (("TOO_MANY_CLIENTS",),
     "the system has too many Endpoint Security clients: use fewer [clients] or stop another ES tool"),
    (("NOT_ENTITLED",),
     "eslogger reported a missing entitlement: /usr/bin/eslogger is Apple's and entitled; "
     "is [eslogger] binary pointing at something else?"),
)


def explain(stderr_text: str) -> str | None:
    """The fix for a known eslogger error, or None."""
    for needles, why in _EXPLANATIONS:
        if any(n in stderr_text for n in needles):
            return why
    return None


# -- children that must not outlive us ------------------------------------------------

_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()


def _kill_group(proc: subprocess.Popen, sig: int) -> None:
    """Signal the child's process group; only while it is unreaped, so the pid is still ours."""
    if proc.returncode is None:
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _reap(proc: subprocess.Popen, grace: float = STOP_GRACE) -> None:
    """SIGTERM, then SIGKILL after ``grace``; always waits, so no zombie stays."""
    _kill_group(proc, signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        _kill_group(proc, signal.SIGKILL)
        proc.wait()
    with _LIVE_LOCK:
        _LIVE.discard(proc)


@atexit.register
def _kill_all() -> None:
    with _LIVE_LOCK:
        procs = list(_LIVE)
    for p in procs:
        _reap(p, 0.5)


def _child_setup():
    """Runs in the child before exec: die with the parent where the OS offers it (Linux)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != _PARENT[0]:  # the parent died before prctl took effect
            os._exit(1)


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()
_PARENT = [os.getpid()]


# -- configuration ---------------------------------------------------------------------

def resolve_binary(config=None) -> str:
    """The eslogger to run: [eslogger] binary, then $OSQ_ESF_ESLOGGER, then the platform default.

    On macOS the default is /usr/bin/eslogger (PATH is never searched: we run as root).
    Elsewhere there is no eslogger, so an ``eslogger`` on PATH is taken as a test double.
    """
    configured = getattr(getattr(config, "eslogger", None), "binary", None)
    override = os.environ.get(ENV_BINARY)
    if override and sys.platform == "darwin":
        # We run as root: an environment variable must not choose what root executes.  The
        # override exists for the test double, which only runs off macOS.
        log.warning("ignoring $%s on macOS: set [eslogger] binary in the (root-owned) config instead",
                    ENV_BINARY)
        override = None
    path = configured or override
    if not path:
        if sys.platform == "darwin":
            path = DEFAULT_BINARY
        else:
            found = shutil.which("eslogger")
            if not found:
                raise SourceError(
                    f"the eslogger source needs macOS 13+; on {sys.platform} use --source replay:PATH "
                    f"(tests point [eslogger] binary or ${ENV_BINARY} at tests/fakes/eslogger)")
            path = os.path.abspath(found)
    if not os.path.isabs(path):
        raise SourceError(f"eslogger binary {path!r} must be an absolute path")
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        hint = " (eslogger comes with macOS 13 and later)" if path == DEFAULT_BINARY else ""
        raise SourceError(f"eslogger binary {path} is missing or not executable{hint}")
    if sys.platform == "darwin":
        check_binary_owner(path)
    return path


def check_binary_owner(path: str) -> None:
    """Refuse a binary (or a directory above it) that anyone but root owns or can write:
    we run it as root, so whoever can change it would run code as root."""
    p = os.path.realpath(path)
    while True:
        st = os.stat(p)
        sticky_dir = p != os.path.realpath(path) and st.st_mode & stat.S_ISVTX  # /tmp: others cannot swap our entry
        if st.st_uid != 0 or (st.st_mode & 0o022 and not sticky_dir):
            what = "binary" if p == os.path.realpath(path) else f"directory {p} of the binary"
            raise SourceError(f"eslogger {what} {path if what == 'binary' else ''}".rstrip()
                              + f" is unsafe: owned by uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):04o}; "
                              "it must be owned by root and writable by no one else")
        parent = os.path.dirname(p)
        if parent == p:
            return
        p = parent


def list_events(binary: str, timeout: float = 15.0) -> set[str]:
    """``eslogger --list-events``; a SourceError says why it could not be asked."""
    try:
        r = subprocess.run([binary, "--list-events"], capture_output=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SourceError(f"cannot run {binary} --list-events: {e}") from None
    if r.returncode != 0:
        err = r.stderr.decode("utf-8", "replace").strip()
        why = explain(err)
        raise SourceError(f"{binary} --list-events failed ({err or 'status ' + str(r.returncode)})"
                          + (f": {why}" if why else ""))
    return {w for w in r.stdout.decode("utf-8", "replace").split() if w}


def os_description() -> str:
    if sys.platform == "darwin":
        from osq_esf.sources import macos_text, macos_version

        return macos_text(macos_version())
    return f"{sys.platform} (a test double)"


def eslogger_sources(sink, arg: str, spec: str, config=None) -> list["EsloggerSource"]:
    """One source per client (one child each, so a noisy group cannot starve the others);
    ``eslogger:process,file`` runs only those clients.  Types this eslogger does not list
    (``--list-events``: an older macOS) are left out and named in es_sources."""
    binary = resolve_binary(config)
    clients = configured_clients(config, [a for a in arg.split(",") if a], spec)
    known = list_events(binary)
    esl = getattr(config, "eslogger", None)
    initial = getattr(esl, "backoff_initial", 0.5)
    cap = getattr(esl, "backoff_max", 30.0)
    max_line = max_line_of(config)
    return client_sources(clients, listed_in(known, os_description()),
                          lambda name, evs: EsloggerSource(sink, name, evs, binary, spec, initial, cap, max_line),
                          "eslogger here knows none of its event types",
                          f"{spec}: eslogger on {os_description()} knows none of the configured event types")


# -- the source -------------------------------------------------------------------------

class EsloggerSource(Source):
    """One client: an eslogger child for ``event_names``, restarted when it exits."""

    kind = "eslogger"
    live = True

    def __init__(self, sink, name: str, event_names: list[str], binary: str, spec: str = "eslogger",
                 backoff_initial: float = 0.5, backoff_max: float = 30.0, max_line: int = MAX_LINE):
        super().__init__(sink, name, spec)
        self.max_line = max_line
        self.event_names = list(event_names)
        self.binary = binary
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.proc: subprocess.Popen | None = None
        self._proc_lock = threading.Lock()  # reaping and stop()'s kill never race on a pid
        self.starts = 0
        self.state.subscribed = tuple(self.event_names)
        sink.declare(name, self.event_names)

    @property
    def argv(self) -> list[str]:
        return [self.binary, *self.event_names]

    def run(self) -> None:
        delay = self.backoff_initial
        while not self.stopping:
            started = time.monotonic()
            self._run_child()
            if self.stopping:
                break
            # A child that ran for a while was healthy: start again from the small delay.
            delay = self.backoff_initial if time.monotonic() - started >= self.backoff_max else delay
            self.state.set_state("restarting")
            log.info("client %s: restarting eslogger in %.2fs", self.state.name, delay)
            if self._stop.wait(delay):
                break
            delay = min(delay * 2, self.backoff_max)
        self.state.set_state("stopped")

    def _spawn(self) -> subprocess.Popen | None:
        try:
            proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                bufsize=0, close_fds=True, start_new_session=True,
                preexec_fn=_child_setup if _PRCTL is not None else None,
            )
        except OSError as e:
            self.state.set_state("restarting", f"cannot start {self.binary}: {e}")
            log.warning("client %s: cannot start %s: %s", self.state.name, self.binary, e)
            return None
        with _LIVE_LOCK:
            _LIVE.add(proc)
        if self.starts:
            # New child, new ES client: its sequence numbers start again at 0.
            self.sink.restarted(self.state.name)
        self.starts += 1
        return proc

    def _run_child(self) -> None:
        proc = self.proc = self._spawn()
        if proc is None:
            return
        self.state.set_state("running")
        st, name = self.state, self.state.name
        out, err = proc.stdout.fileno(), proc.stderr.fileno()
        sel = selectors.DefaultSelector()
        sel.register(out, selectors.EVENT_READ)
        sel.register(err, selectors.EVENT_READ)
        lines = LineSplitter(self.max_line)  # a child that never writes a newline costs a count, not memory
        err_lines_split = LineSplitter(STDERR_LINE)
        err_lines = 0
        explained = None
        last_err = ""  # the child's last stderr line, kept for its exit status message
        try:
            open_fds = 2
            while open_fds and not self.stopping:
                for key, _ in sel.select(0.5):
                    data = os.read(key.fd, READ_SIZE)
                    if not data:
                        sel.unregister(key.fd)
                        open_fds -= 1
                    elif key.fd == out:
                        self.deliver(lines.feed(data))
                    else:
                        for line in err_lines_split.feed(data):
                            line = line if isinstance(line, bytes) else line.head
                            text = safe_text(line.decode("utf-8", "replace").strip())
                            if not text:
                                continue
                            why = explain(text)
                            last_err = st.last_error = f"{text}: {why}" if why else text
                            if why and why != explained:
                                explained = why
                                log.error("client %s: %s", name, why)
                            if err_lines < STDERR_LINES:
                                log.warning("client %s: eslogger: %s", name, text)
                            err_lines += 1
            if not self.stopping:
                # eslogger killed mid-line: the cut line is counted as a decode error.
                self.deliver(lines.flush())
        finally:
            sel.close()
            with self._proc_lock:
                _reap(proc)
            proc.stdout.close()
            proc.stderr.close()
        if not self.stopping:
            status = (f"killed by {signal.Signals(-proc.returncode).name}" if proc.returncode < 0
                      else f"exited with status {proc.returncode}")
            st.last_error = f"eslogger {status}" + (f" ({last_err})" if last_err else "")
            log.warning("client %s: eslogger %s", name, status)

    def stop(self) -> None:
        super().stop()
        with self._proc_lock:
            if self.proc is not None:
                _kill_group(self.proc, signal.SIGTERM)  # the reader sees EOF and reaps it
