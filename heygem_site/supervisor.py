"""Runs the platform's processes together: restarts one that crashes, stops them all on request.

Each child gets its own process group, so stopping it also stops whatever it forked (Dramatiq's
worker processes), and asks the kernel to send it SIGTERM if the supervisor dies without cleaning
up (SIGKILL, OOM). A child that exits on its own is started again after a growing pause; only a
crash loop (too many exits in a short time) stops everything. A pid file records each group with
its leader's start time, so the next start ends what a crashed supervisor left behind, and never
signals a process that merely inherited a recorded pid.
"""

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1
# How long a child gets to stop after SIGTERM before its group is killed. The worker uses it to hand
# its video back to the queue, which takes a frame batch.
STOP_GRACE_SECONDS = 20
# Restart pauses: 0.5 s, 1 s, 2 s, ... up to the maximum; a child that ran HEALTHY_AFTER_SECONDS is healthy again.
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 10
HEALTHY_AFTER_SECONDS = 60
# A crash loop: this many exits of one child within CRASH_WINDOW_SECONDS.
CRASH_LOOP_EXITS = 5
CRASH_WINDOW_SECONDS = 60


def die_with_parent(parent_pid=None):
    """Asks the kernel to send this process SIGTERM when its parent dies.

    With `parent_pid`, exits at once if the parent is already gone (it died before the request).
    """
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)


@dataclass
class Child:
    name: str
    argv: list
    env: dict | None
    pass_fds: tuple = ()
    last: bool = False  # stopped after the others (the embedded Redis they talk to)
    proc: subprocess.Popen | None = None
    leader_started: int | None = None  # the leader's start time, which tells its group from a reused id
    started_at: float = 0.0
    exits: list = field(default_factory=list)  # monotonic times of unexpected exits
    restart_at: float | None = None


class Supervisor:
    def __init__(self, pid_file, log=print):
        self.pid_file = Path(pid_file)
        self.children = {}  # name -> Child, in start order
        self.draining = {}  # pgid -> (deadline, leader start time): groups whose leader exited, members may linger
        self.signals = []  # caught by catch_signals()
        self.log = log

    def start(self, name, argv, env=None, *, pass_fds=(), last=False):
        child = Child(name, list(argv), env, tuple(pass_fds), last)
        self.children[name] = child
        self._spawn(child)
        return child.proc

    def _spawn(self, child):
        parent = os.getpid()
        child.proc = subprocess.Popen(child.argv, env=child.env, start_new_session=True, pass_fds=child.pass_fds,
                                      preexec_fn=lambda: die_with_parent(parent))
        child.leader_started = process_start_time(child.proc.pid)
        child.started_at = time.monotonic()
        child.restart_at = None
        self._write_pid_file()

    def _write_pid_file(self):
        groups = {}
        for child in self.children.values():
            if child.proc is not None and child.proc.poll() is None:
                groups[child.name] = {"pgid": child.proc.pid, "started": child.leader_started}
        record = {"boot": boot_id(), "supervisor": {"pid": os.getpid(), "started": process_start_time(os.getpid())},
                  "groups": groups, "draining": [[pgid, started] for pgid, (_, started) in self.draining.items()]}
        tmp = self.pid_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(self.pid_file)

    def clean_stale(self):
        """Ends the process groups a previous, crashed supervisor left behind."""
        try:
            record = json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return
        if not isinstance(record, dict) or record.get("boot") != boot_id():
            self.pid_file.unlink(missing_ok=True)  # Written before a reboot (or by an old version): nothing of it runs.
            return
        boss = record.get("supervisor") or {}
        if boss.get("pid") != os.getpid() and is_same_process(boss.get("pid"), boss.get("started")):
            raise SystemExit(f"HeyGem already runs (supervisor pid {boss['pid']}). Stop it first.")
        leftovers = [(name, entry.get("pgid"), entry.get("started")) for name, entry in record.get("groups", {}).items()]
        leftovers += [("a stopping child", pgid, started) for pgid, started in record.get("draining", [])]
        for name, pgid, started in leftovers:
            if group_is_ours(pgid, started):
                self.log(f"Stopping {name} left over from a previous run (process group {pgid}).")
                _signal_group(pgid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)

    def catch_signals(self):
        """Records SIGINT/SIGTERM/SIGHUP from now on instead of dying at once; `run()` returns on the first."""
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, lambda signum, frame: self.signals.append(signum))

    def run(self, poll=0.2):
        """Keeps the children running until a caught signal arrives (returns 0) or one of them is in a
        crash loop (returns 1). Call stop() afterwards."""
        while not self.signals:
            now = time.monotonic()
            for child in self.children.values():
                if child.restart_at is None and child.proc.poll() is not None:
                    if not self._schedule_restart(child, now):
                        return 1
                elif child.restart_at is not None and now >= child.restart_at:
                    self.log(f"Starting {child.name} again.")
                    self._spawn(child)
            self._reap_draining(now)
            time.sleep(poll)
        return 0

    def _schedule_restart(self, child, now):
        status = child.proc.returncode
        how = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
        if now - child.started_at >= HEALTHY_AFTER_SECONDS:
            child.exits.clear()
        child.exits = [t for t in child.exits if now - t < CRASH_WINDOW_SECONDS] + [now]
        # Members of its group may still be finishing (a worker process handing its video back): they get
        # the usual grace before the group is killed, while a fresh child starts beside them.
        if group_is_ours(child.proc.pid, child.leader_started):
            self.draining[child.proc.pid] = (now + STOP_GRACE_SECONDS, child.leader_started)
        if len(child.exits) >= CRASH_LOOP_EXITS:
            self.log(f"{child.name} {how}; it stopped {len(child.exits)} times within {CRASH_WINDOW_SECONDS} s, "
                     "so HeyGem gives up and stops everything. See var/log/ for why.")
            return False
        delay = min(MAX_BACKOFF_SECONDS, FIRST_BACKOFF_SECONDS * 2 ** (len(child.exits) - 1))
        self.log(f"{child.name} {how}; restarting it in {delay:g} s "
                 f"(exit {len(child.exits)} of {CRASH_LOOP_EXITS} allowed within {CRASH_WINDOW_SECONDS} s).")
        child.restart_at = now + delay
        self._write_pid_file()
        return True

    def _reap_draining(self, now):
        for pgid, (deadline, started) in list(self.draining.items()):
            if not group_is_ours(pgid, started):
                del self.draining[pgid]
            elif now >= deadline:
                _signal_group(pgid, signal.SIGKILL)
                del self.draining[pgid]

    def stop(self):
        """Stops every child: first the platform's processes, then the services they use (Redis), each with
        SIGTERM to the group leader only (Dramatiq relays it to its worker processes; a second SIGTERM would
        make them quit without handing their video back), then SIGKILL to whatever is left of the group."""
        children = list(self.children.values())
        for wave in ([c for c in children if not c.last], [c for c in children if c.last]):
            running = [c for c in wave if c.proc is not None and c.proc.poll() is None]
            for child in running:
                _signal_pid(child.proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_GRACE_SECONDS
            for child in running:
                try:
                    child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.log(f"{child.name} did not stop in {STOP_GRACE_SECONDS} s; killing it.")
            for child in wave:
                # The leader may be gone while its forks linger; end the whole group either way.
                if child.proc is not None and group_is_ours(child.proc.pid, child.leader_started):
                    _signal_group(child.proc.pid, signal.SIGKILL)
                if child.proc is not None:
                    child.proc.wait()
        for pgid, (_, started) in self.draining.items():
            if group_is_ours(pgid, started):
                _signal_group(pgid, signal.SIGKILL)
        self.children.clear()
        self.draining.clear()
        self.pid_file.unlink(missing_ok=True)


def wait_for_socket(connect, timeout, what, proc):
    """Polls `connect()` until it succeeds; fails early when `proc` exits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            connect()
            return
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"{what} exited with status {proc.returncode} while starting.")
            if time.monotonic() > deadline:
                raise SystemExit(f"{what} did not start within {timeout} s.")
            time.sleep(0.1)


def tcp_connect(host, port):
    def connect():
        socket.create_connection((host, port), timeout=1).close()
    return connect


def unix_connect(path):
    def connect():
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(1)
            sock.connect(str(path))
    return connect


def listen(host, port):
    """The web server's listening socket, bound here: a taken port is reported before anything says
    "running", and a restarted web server takes over the same socket (connections wait in its backlog)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, backlog=2048)
    except OSError as exc:
        raise SystemExit(f"Cannot listen on {host}:{port} ({exc.strerror}): another program (or another HeyGem) "
                         "uses that port. Stop it, or set HEYGEM_PORT to a free port.") from None
    sock.set_inheritable(True)
    return sock


# --- Processes, told apart by their start time -----------------------------------------------------

def boot_id():
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def process_start_time(pid):
    """Clock ticks after boot at which `pid` started (field 22 of /proc/PID/stat), or None when it is gone."""
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except (OSError, TypeError, ValueError):
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def is_same_process(pid, started):
    return bool(pid) and started is not None and process_start_time(pid) == started


def group_members(pgid):
    """(pid, start time) of this user's processes in process group `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if entry.stat().st_uid != os.getuid():
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            members.append((int(entry.name), int(fields[19])))
    return members


def group_is_ours(pgid, started):
    """Whether process group `pgid` still has members that belong to the run that recorded it.

    The kernel never hands out a pid that is still some group's id, so members without their leader are
    leftovers of that group. With the leader alive, its start time must match the recorded one (when known):
    otherwise the id was reused by an unrelated process after our group ended.
    """
    if not pgid:
        return False
    members = group_members(pgid)
    if not members:
        return False
    leader = dict(members).get(pgid)
    if leader is not None and started is not None and leader != started:
        return False
    if started is not None:
        return all(start >= started for _, start in members)
    return True


def _signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _signal_pid(pid, sig):
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def python_module(*args):
    return [sys.executable, "-m", *args]
