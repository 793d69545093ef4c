"""Processes for Stoa's end-to-end tests: each in its own process group, on
loopback ports of its own, logging into a private state directory (the
base class of every server in servers.py and hostservers.py), and the
helpers they share: free ports, who listens where, log tails.
"""

from __future__ import annotations

import os
import pwd
import random
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[2]


class ServerError(RuntimeError):
    """A server did not start, or misbehaved while starting or stopping."""


# --------------------------------------------------------------------------
# helpers


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        data = Path(path).read_text(errors="replace").splitlines()
    except OSError as e:
        return f"(no log at {path}: {e})"
    return "\n".join(data[-lines:]) if data else f"(log {path} is empty)"


_ports_lock = threading.Lock()
_ports_taken: set = set()


def free_port() -> int:
    """A TCP port free on 127.0.0.1, below the kernel's ephemeral range (so no
    outgoing connection takes it before the server binds it), and never handed
    out twice in this process. STOA_TEST_PORT_BASE=N makes the choice
    sequential from N instead of random (to reproduce a run)."""
    base = os.environ.get("STOA_TEST_PORT_BASE")
    with _ports_lock:
        candidates = (
            range(int(base), int(base) + 2000)
            if base
            else random.sample(range(20000, 32000), 2000)
        )
        for port in candidates:
            if port in _ports_taken:
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            finally:
                s.close()
            _ports_taken.add(port)
            return port
    raise ServerError("no free TCP port found on 127.0.0.1")


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def listening_inodes(port: int) -> set:
    """Inodes of the TCP sockets listening on the port (IPv4 and IPv6)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local, state, inode = fields[1], fields[3], fields[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        inodes.add(inode)
        except OSError:
            continue
    return inodes


def group_listens(pgid: int, port: int) -> bool:
    """Whether a process of the group holds the socket listening on port (so
    another program on that port does not pass for our server)."""
    inodes = listening_inodes(port)
    if not inodes:
        return False
    wanted = {f"socket:[{i}]" for i in inodes}
    for pid in group_pids(pgid):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                        return True
                except OSError:
                    continue
        except OSError:
            continue
    return False


def chown_tree(path: Path, user: str) -> None:
    pw = pwd.getpwnam(user)
    for dirpath, dirnames, filenames in os.walk(path):
        os.chown(dirpath, pw.pw_uid, pw.pw_gid)
        for name in filenames:
            os.chown(os.path.join(dirpath, name), pw.pw_uid, pw.pw_gid)


def group_pids(pgid: int) -> List[int]:
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            continue
    return out


def beam_pids(pgid: int) -> List[int]:
    pids = []
    for pid in group_pids(pgid):
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip().startswith("beam"):
                    pids.append(pid)
        except OSError:
            pass
    return pids


class Process:
    """A server process in its own process group, output to a log file."""

    name = "process"
    start_timeout = 20.0
    stop_timeout = 10.0

    def __init__(self, state_dir: Path):
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / f"{self.name}.out.log"
        self.proc: Optional[subprocess.Popen] = None
        self.run_as: Optional[str] = None  # system user to run the server as
        self.start_seconds: Optional[float] = None  # how long the last start took
        self.starts = 0

    # subclasses
    def command(self) -> List[str]:
        raise NotImplementedError

    def env(self) -> Dict[str, str]:
        return dict(os.environ)

    def user_kwargs(self) -> dict:
        """Popen arguments that drop root for servers that refuse it (no
        runuser/su in between, so the pid we hold is the server's)."""
        if self.run_as is None or os.geteuid() != 0:
            return {}
        return {"user": self.run_as, "group": self.run_as, "extra_groups": []}

    def stop_targets(self) -> List[int]:
        """Pids that get SIGTERM first; the rest of the group follows."""
        return [self.proc.pid]

    def prepare(self) -> None:
        """Writes config files (called before every start)."""

    def ready(self) -> bool:
        raise NotImplementedError

    def after_start(self) -> None:
        """Runs once the server is ready (e.g. registers users)."""

    def logs(self) -> List[Path]:
        return [self.log_path]

    # ------------------------------------------------------------------
    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} is not running"
        return self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def describe_failure(self, what: str) -> str:
        out = [f"{self.name}: {what}"]
        if self.proc is not None:
            out.append(f"command: {' '.join(self.proc.args)}")
            rc = self.proc.poll()
            out.append(f"exit status: {rc}" if rc is not None else "still running")
        for p in self.logs():
            out.append(f"--- tail of {p} ---")
            out.append(log_tail(p))
        return "\n".join(out)

    def spawn(self) -> None:
        self.prepare()
        log = open(self.log_path, "ab")
        log.write(f"\n=== {time.strftime('%H:%M:%S')} starting {self.name} ===\n".encode())
        log.flush()
        try:
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env(),
                cwd=str(self.dir),
                start_new_session=True,
                **self.user_kwargs(),
            )
        except OSError as e:
            raise ServerError(self.describe_failure(f"cannot execute: {e}")) from e
        finally:
            log.close()
        self.starts += 1

    def start(self) -> "Process":
        t0 = time.monotonic()
        self.spawn()
        deadline = t0 + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise ServerError(self.describe_failure("exited while starting"))
            try:
                if self.ready():
                    break
            except ServerError:
                raise
            except Exception:  # not ready yet
                pass
            if time.monotonic() > deadline:
                err = self.describe_failure(f"not ready after {self.start_timeout:.0f}s")
                self.stop()
                raise ServerError(err)
            time.sleep(0.05)
        try:
            self.after_start()
        except Exception as e:
            err = self.describe_failure(f"setup after start failed: {e}")
            self.stop()
            raise ServerError(err) from e
        self.start_seconds = time.monotonic() - t0
        print(f"[e2e] {self.name} ready in {self.start_seconds:.2f}s (pid {self.proc.pid})")
        return self

    def signal(self, sig: int) -> None:
        if self.running():
            os.kill(self.proc.pid, sig)

    def stop(self, timeout: Optional[float] = None) -> Optional[int]:
        """SIGTERM to the process group; SIGKILL when it does not end in time.
        Returns the exit status (None if it was not started)."""
        if self.proc is None:
            return None
        timeout = self.stop_timeout if timeout is None else timeout
        pgid = self.proc.pid  # start_new_session: the group leader
        if self.proc.poll() is None:
            for pid in self.stop_targets():
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                print(f"[e2e] {self.name} ignored SIGTERM for {timeout}s: SIGKILL")
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(10)
        # Stragglers of the group (children that outlived the leader).
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        return self.proc.returncode

    def restart(self) -> "Process":
        self.stop()
        return self.start()


# --------------------------------------------------------------------------
# Redis
