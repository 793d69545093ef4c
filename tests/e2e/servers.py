"""Private servers for Stoa's end-to-end tests.

Every server here runs on loopback, on ports of its own (never the defaults,
so the tests run beside a system Prosody, ejabberd or Redis), with its config,
data and log in a private state directory. Each class:

  * writes its config into its state directory,
  * start(): starts the process in its own process group and waits until it
    is ready, or raises ServerError with the tail of its log,
  * stop(): SIGTERM to the whole group, SIGKILL after a grace period, waits,
  * restart(): stop() then start() on the same ports and data.

Nothing is ever skipped: a server that cannot start is a failed test run.
"""

from __future__ import annotations

import glob
import hashlib
import importlib.machinery
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_COMPONENT = ROOT / "build" / "asan" / "component" / "stoa-component"


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


class Redis(Process):
    name = "redis"

    def __init__(self, state_dir: Path, port: Optional[int] = None):
        super().__init__(state_dir)
        self.port = port or free_port()
        self.data_dir = self.dir / "data"
        self.data_dir.mkdir(exist_ok=True)

    def command(self) -> List[str]:
        return [
            shutil.which("redis-server") or "/usr/bin/redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--protected-mode", "yes",
            "--daemonize", "no",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--save", "",
            "--logfile", "",
            "--loglevel", "notice",
        ]

    def ready(self) -> bool:
        return group_listens(self.proc.pid, self.port) and self.command_line("PING") == "+PONG"

    def command_line(self, *words: str) -> str:
        """Sends one inline command; returns the first reply line."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall((" ".join(words) + "\r\n").encode())
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        return data.decode(errors="replace").strip()

    def wait_reply(self, expected: str, *words: str, timeout: float = 5.0) -> str:
        """Repeats one inline command until it answers `expected` (or the time is
        up) and returns the last answer: the component writes to Redis after it
        answers the client, so a test reading Redis right away races it."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.command_line(*words)
            if got == expected or time.monotonic() > deadline:
                return got
            time.sleep(0.02)


# --------------------------------------------------------------------------
# Prosody

# Prosody's and ejabberd's configurations come from the templates the demo
# and the compose stack use too (contrib/config/, scripts/render-config), in
# its "test" profile: one source, so the three cannot drift apart.
_render_config = importlib.machinery.SourceFileLoader(
    "render_config", str(ROOT / "scripts" / "render-config")).load_module()
render_config = _render_config.render


class XmppServer(Process):
    """What Prosody and ejabberd are both given: one host with its users,
    the components on the component port, and the c2s port."""

    def __init__(
        self,
        state_dir: Path,
        host: str = "localhost",
        components: Optional[Dict[str, str]] = None,
        users: Optional[Dict[str, str]] = None,
        c2s_port: Optional[int] = None,
        component_port: Optional[int] = None,
        log_level: str = "info",
        report_to: Optional[str] = None,
        multicast: Optional[List[str]] = None,
    ):
        super().__init__(state_dir)
        # Component domains that may use the host's fan-out expander
        # (XEP-0033 at multicast.HOST: contrib/prosody/mod_stoa_multicast.lua,
        # ejabberd's mod_multicast); None: no expander.
        self.multicast = list(multicast) if multicast is not None else None
        # A Stoa domain that gets a copy of every blocking request (XEP-0191,
        # with XEP-0377 reports inside): through mod_firewall on Prosody,
        # contrib/ejabberd/mod_stoa_report on ejabberd; see docs/safety.md,
        # "Wiring Prosody and ejabberd".
        self.report_to = report_to
        self.host = host
        self.components = dict(components or {})
        self.users = dict(users or {})
        self.c2s_port = c2s_port or free_port()
        self.component_port = component_port or free_port()
        self.log_level = log_level
        self.registered = False

    def ready(self) -> bool:
        return (group_listens(self.proc.pid, self.c2s_port)
                and group_listens(self.proc.pid, self.component_port))


class Prosody(XmppServer):
    name = "prosody"
    start_timeout = 20.0

    def __init__(self, *args, log_level: str = "debug", http_port: Optional[int] = None,
                 **kwargs):
        super().__init__(*args, log_level=log_level, **kwargs)
        # HTTP with WebSocket (RFC 7395) at /xmpp-websocket, for browser
        # clients; None: no HTTP listener at all.
        self.http_port = http_port
        self.config_path = self.dir / "prosody.cfg.lua"
        self.run_as = "prosody"  # Prosody refuses to run as root

    def logs(self) -> List[Path]:
        return [self.log_path, self.dir / "prosody.log"]

    def prepare(self) -> None:
        (self.dir / "data").mkdir(exist_ok=True)
        (self.dir / "certs").mkdir(exist_ok=True)
        values = {
            "HOST": self.host, "RUN": self.dir, "DATA": self.dir / "data",
            "CERTS": self.dir / "certs", "LISTEN": "127.0.0.1", "C2S_PORT": self.c2s_port,
            "COMPONENT_PORT": self.component_port, "LOG_LEVEL": self.log_level,
        }
        if self.http_port is not None:
            # HTTP with WebSocket (RFC 7395) on loopback; cross_domain_websocket
            # is left out: 0.12 only logs that it is deprecated, and its
            # mod_websocket checks no Origin.
            values.update(WEBSOCKET="yes", HTTP_PORT=self.http_port)
        if self.multicast is not None:
            # Prosody runs as its own user: the module goes where it can read it.
            plugins = self.dir / "plugins"
            plugins.mkdir(exist_ok=True)
            (plugins / "mod_stoa_multicast.lua").write_text(render_config("test", "multicast"))
            values.update(MULTICAST="yes", PLUGIN_DIR=plugins,
                          MULTICAST_SENDERS=",".join(self.multicast))
        if self.report_to is not None:
            rules = self.dir / "stoa-reports.pfw"
            rules.write_text(render_config("test", "firewall", {"DOMAIN": self.report_to}))
            values["FIREWALL"] = rules
        config = render_config("test", "prosody", values,
                               components=[(d, s, None) for d, s in self.components.items()])
        self.config_path.write_text(config)
        chown_tree(self.dir, "prosody")
        if not self.registered:
            for user, password in self.users.items():
                self.ctl("register", user, self.host, password)
            self.registered = True

    def websocket_url(self) -> str:
        assert self.http_port is not None, "Prosody started without http_port"
        return f"ws://127.0.0.1:{self.http_port}/xmpp-websocket"

    def ctl(self, *args: str) -> str:
        cmd = ["prosodyctl", "--config", str(self.config_path), *args]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=60, cwd=str(self.dir), env=self.env(),
                           **self.user_kwargs())
        if r.returncode != 0:
            raise ServerError(
                f"prosodyctl {' '.join(args[:2])} failed ({r.returncode}):\n"
                f"{r.stdout}{r.stderr}\n--- tail of prosody.log ---\n"
                f"{log_tail(self.dir / 'prosody.log')}"
            )
        return r.stdout

    def command(self) -> List[str]:
        return ["prosody", "--config", str(self.config_path), "-F"]

    def env(self) -> Dict[str, str]:
        e = dict(os.environ)
        e["HOME"] = str(self.dir / "data")
        return e

    def ready(self) -> bool:
        return (super().ready()
                and (self.http_port is None or group_listens(self.proc.pid, self.http_port)))


# --------------------------------------------------------------------------
# ejabberd

# contrib/ejabberd/mod_stoa_report: ejabberd's counterpart of the
# firewall rule above, built with erlc against the installed ejabberd.
STOA_REPORT_MODULE = "mod_stoa_report"
STOA_REPORT_DIR = ROOT / "contrib" / "ejabberd" / STOA_REPORT_MODULE
STOA_REPORT_SOURCE = STOA_REPORT_DIR / "src" / f"{STOA_REPORT_MODULE}.erl"
EJABBERD_INCLUDE_GLOBS = (
    "/usr/lib/x86_64-linux-gnu/ejabberd-*/include",
    "/usr/lib/*/ejabberd-*/include",
    "/usr/lib/ejabberd*/include",
    "/usr/lib/erlang/lib/ejabberd-*/include",
)


def erlang_dir(patterns, what: str) -> Path:
    """The first directory matching one of the glob patterns (newest version
    first), or ServerError."""
    for pattern in patterns:
        found = sorted(glob.glob(pattern), reverse=True)
        if found:
            return Path(found[0])
    raise ServerError(f"no {what} found (looked for {', '.join(patterns)})")


def install_stoa_report_module(contrib: Path) -> Path:
    """Installs mod_stoa_report into a contrib modules directory (what
    ejabberd reads from CONTRIB_MODULES_PATH, the layout `ejabberdctl
    module_install` makes: <module>/<module>.spec and <module>/ebin/), with
    erlc against the installed ejabberd; once per state directory. The .beam."""
    lib = contrib / STOA_REPORT_MODULE
    ebin = lib / "ebin"
    ebin.mkdir(parents=True, exist_ok=True)
    shutil.copy(STOA_REPORT_DIR / f"{STOA_REPORT_MODULE}.spec", lib)
    beam = ebin / f"{STOA_REPORT_MODULE}.beam"
    if beam.exists() and beam.stat().st_mtime >= STOA_REPORT_SOURCE.stat().st_mtime:
        return beam
    erlc = shutil.which("erlc")
    if not erlc:
        raise ServerError("erlc not found: it comes with erlang-base, which ejabberd needs")
    inc = erlang_dir(EJABBERD_INCLUDE_GLOBS, "ejabberd include directory")
    xmpp_inc = erlang_dir(("/usr/lib/erlang/lib/p1_xmpp-*/include",
                           "/usr/lib/erlang/lib/xmpp-*/include"), "p1_xmpp include directory")
    cmd = [erlc, "-Werror", "-o", str(ebin), "-pa", str(inc.parent / "ebin"),
           "-I", str(inc), "-I", str(xmpp_inc), str(STOA_REPORT_SOURCE)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode != 0 or not beam.exists():
        raise ServerError(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stdout}{r.stderr}")
    return beam


class Ejabberd(XmppServer):
    name = "ejabberd"
    start_timeout = 60.0
    stop_timeout = 20.0

    def __init__(self, *args, extra_components: Optional[Dict[str, str]] = None, **kwargs):
        super().__init__(*args, **kwargs)
        # ejabberd routes every host of a listener to whichever component
        # connected there: components that must be told apart get a
        # listener (and port) each.
        self.extra_components = dict(extra_components or {})
        self.component_ports = {d: free_port() for d in self.extra_components}
        self.dist_port = free_port()
        self.node = f"stoa{os.getpid()}x{self.c2s_port}@localhost"
        self.config_path = self.dir / "ejabberd.yml"
        self.ctl_config_path = self.dir / "ejabberdctl.cfg"
        self.log_start = 0  # where this start's part of ejabberd.log begins
        # ejabberdctl run as root would su to this user itself, through a
        # process that does not pass signals on.
        self.run_as = "ejabberd"

    def logs(self) -> List[Path]:
        return [self.log_path, self.dir / "log" / "ejabberd.log", self.dir / "log" / "error.log"]

    def prepare(self) -> None:
        (self.dir / "db").mkdir(exist_ok=True)
        (self.dir / "log").mkdir(exist_ok=True)
        log = self.dir / "log" / "ejabberd.log"
        self.log_start = log.stat().st_size if log.exists() else 0
        values = {
            "HOST": self.host, "LISTEN_IP": "127.0.0.1", "C2S_PORT": self.c2s_port,
            "COMPONENT_PORT": self.component_port, "LOG_LEVEL": self.log_level,
            "REPORT_MODULE": self.report_module(),
            "MULTICAST": "yes" if self.multicast is not None else "",
            "MULTICAST_SENDERS": ",".join(self.multicast or []),
            "EXTRA_LISTENERS": "\n".join(
                f'  -\n    port: {self.component_ports[d]}\n    ip: "127.0.0.1"\n'
                f'    module: ejabberd_service\n    access: all\n    hosts:\n'
                f'      "{d}":\n        password: "{sec}"'
                for d, sec in self.extra_components.items()),
        }
        self.config_path.write_text(render_config(
            "test", "ejabberd", values,
            components=[(d, f'"{s}"') for d, s in self.components.items()]))
        # Our own ejabberdctl.cfg: the system one points at /etc/ejabberd.
        self.ctl_config_path.write_text(
            "# Private ejabberdctl.cfg for Stoa's tests.\n"
            'ERL_OPTIONS="-env ERL_CRASH_DUMP_BYTES 0"\n'
            'INET_DIST_INTERFACE=127.0.0.1\n'
            f'EJABBERD_PID_PATH={self.dir}/ejabberd.pid\n'
            f'CONTRIB_MODULES_PATH={self.dir}/contrib\n'
            f'CONTRIB_MODULES_CONF_DIR={self.dir}/contrib-conf\n'
        )
        inetrc = Path("/etc/ejabberd/inetrc")
        if inetrc.exists():
            shutil.copy(inetrc, self.dir / "inetrc")
        else:
            (self.dir / "inetrc").write_text(
                '{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n'
            )
        chown_tree(self.dir, "ejabberd")

    def report_module(self) -> str:
        """With report_to: installs mod_stoa_report where ejabberd looks for
        contrib modules (CONTRIB_MODULES_PATH, set below: ejabberd adds each
        installed module's ebin to its code path while loading the config)
        and returns its modules: entry."""
        if not self.report_to:
            return ""
        install_stoa_report_module(self.dir / "contrib")
        return _render_config.ejabberd_report_module(self.report_to)

    def base_cmd(self) -> List[str]:
        return [
            "ejabberdctl",
            "--config-dir", str(self.dir),
            "--config", str(self.config_path),
            "--ctl-config", str(self.ctl_config_path),
            "--spool", str(self.dir / "db"),
            "--logs", str(self.dir / "log"),
            "--node", self.node,
        ]

    def command(self) -> List[str]:
        return self.base_cmd() + ["foreground"]

    def env(self) -> Dict[str, str]:
        e = dict(os.environ)
        # HOME holds the Erlang cookie; ERL_DIST_PORT makes the node listen on
        # a port of its own instead of registering with (and starting) epmd.
        e["HOME"] = str(self.dir)
        e["ERL_DIST_PORT"] = str(self.dist_port)
        e["ERL_EPMD_ADDRESS"] = "127.0.0.1"
        return e

    def stop_targets(self) -> List[int]:
        # ejabberdctl (bash) waits for erl; SIGTERM to the Erlang VM makes it
        # shut down cleanly (init:stop), and then the script exits too.
        pids = beam_pids(self.proc.pid)
        return pids or [self.proc.pid]

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run(self.base_cmd() + list(args), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60, cwd=str(self.dir),
                           env=self.env(), **self.user_kwargs())
        if check and r.returncode != 0:
            raise ServerError(f"ejabberdctl {' '.join(args[:2])} failed ({r.returncode}):\n"
                              f"{r.stdout}{r.stderr}")
        return r

    def check_report_module(self) -> None:
        """mod_stoa_report must really run. ejabberd 23.01 already refuses
        to start with a module it cannot find ("unknown ejabberd module") or
        without `service`; this also wants the module's own start line in
        the part of the log this start wrote, so a stale or foreign .beam
        does not pass."""
        log = self.dir / "log" / "ejabberd.log"
        want = (f"mod_stoa_report: copying blocking requests of {self.host} users "
                f"to {self.report_to}")
        deadline = time.monotonic() + 10
        while True:
            with open(log, "rb") as f:
                f.seek(self.log_start)
                if want in f.read().decode(errors="replace"):
                    return
            if time.monotonic() > deadline:
                raise ServerError(f"{STOA_REPORT_MODULE} did not start: no '{want}' in {log}")
            time.sleep(0.1)

    def after_start(self) -> None:
        if self.report_to:
            self.check_report_module()
        if self.registered:
            return
        for user, password in self.users.items():
            r = self.ctl("register", user, self.host, password, check=False)
            if r.returncode != 0 and "already registered" not in (r.stdout + r.stderr):
                raise ServerError(f"ejabberdctl register {user} failed ({r.returncode}): "
                                  f"{r.stdout}{r.stderr}")
        self.registered = True


# --------------------------------------------------------------------------
# stoa-component


def component_binary() -> Path:
    return Path(os.environ.get("STOA_COMPONENT", str(DEFAULT_COMPONENT)))


def package_version() -> str:
    m = re.search(r"AC_INIT\(\[[^]]*\],\s*\[([^]]+)\]", (ROOT / "configure.ac").read_text())
    assert m, "no version in configure.ac"
    return m.group(1)


# The keys of component/stoa-component.conf.example, with test defaults.
COMPONENT_DEFAULTS = {
    "component": {
        "domain": "rooms.localhost",
        "secret": "change-me",
        "server_host": "127.0.0.1",
        "server_port": "5347",
        "name": "Stoa chat rooms",
        "keepalive": "60s",
        "reconnect_min": "250ms",
        "reconnect_max": "2s",
        "connect_timeout": "5s",
    },
    "limits": {
        "max_stanza_size": "256k",
        "max_depth": "32",
        "max_attributes": "64",
        "max_elements": "4096",
    },
    "redis": {
        "host": "127.0.0.1",
        "port": "6379",
        "db": "0",
        "prefix": "stoa:",
    },
    "log": {
        "level": "debug",
        "syslog": "false",
    },
}

SANITIZER_PATTERNS = re.compile(
    r"ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|runtime error:|"
    r"SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer)"
)


def write_component_config(path: Path, settings: Dict[str, Dict[str, str]]) -> None:
    merged = {s: dict(v) for s, v in COMPONENT_DEFAULTS.items()}
    for section, values in settings.items():
        merged.setdefault(section, {})
        for k, v in values.items():
            if v is None:
                merged[section].pop(k, None)
            else:
                merged[section][k] = str(v)
    lines = ["# Written by tests/e2e/servers.py"]
    for section, values in merged.items():
        lines.append(f"\n[{section}]")
        for k, v in values.items():
            lines.append(f"{k} = {v}")
    # It holds the component secret: stoa-component refuses a file others can read.
    Path(path).touch(mode=0o600)
    Path(path).chmod(0o600)
    Path(path).write_text("\n".join(lines) + "\n")


class Component(Process):
    """stoa-component with a generated config; stderr goes to a log file.

    Ready means the process is running: callers wait for the log line they
    need (wait_log), since a component without a server is a valid state."""

    name = "component"
    stop_timeout = 10.0

    def __init__(self, state_dir: Path, settings: Dict[str, Dict[str, str]],
                 name: str = "component", binary: Optional[Path] = None,
                 extra_env: Optional[Dict[str, str]] = None):
        self.name = name
        super().__init__(state_dir)
        self.binary = Path(binary) if binary else component_binary()
        self.settings = settings
        self.config_path = self.dir / f"{name}.conf"
        self.extra_env = dict(extra_env or {})
        self.exit_status: Optional[int] = None
        if not self.binary.exists():
            raise ServerError(
                f"stoa-component binary not found at {self.binary}: build it with "
                "scripts/build --asan or set STOA_COMPONENT"
            )

    def prepare(self) -> None:
        write_component_config(self.config_path, self.settings)

    def command(self) -> List[str]:
        return [str(self.binary), "-c", str(self.config_path)]

    def env(self) -> Dict[str, str]:
        e = dict(os.environ)
        e.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1:exitcode=23")
        e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=24")
        e.update(self.extra_env)
        return e

    def ready(self) -> bool:
        return True

    def start(self) -> "Component":
        self.spawn()
        self.start_seconds = 0.0
        return self

    # log access ---------------------------------------------------------
    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def mark(self) -> int:
        """A position in the log: wait_log(since=mark) looks only after it."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def lines_since(self, since: int = 0) -> List[str]:
        with open(self.log_path, "rb") as f:
            f.seek(since)
            return f.read().decode(errors="replace").splitlines()

    def count(self, regex: str, since: int = 0) -> int:
        r = re.compile(regex)
        return sum(1 for line in self.lines_since(since) if r.search(line))

    def wait_log(self, regex: str, timeout: float = 10.0, since: int = 0,
                 allow_exit: bool = False) -> re.Match:
        r = re.compile(regex)
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines_since(since):
                m = r.search(line)
                if m:
                    return m
            if not allow_exit and self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(self.describe_failure(
                    f"exited while waiting for /{regex}/"))
            if time.monotonic() > deadline:
                raise AssertionError(self.describe_failure(
                    f"no log line matching /{regex}/ within {timeout}s"))
            time.sleep(0.05)

    def sanitizer_reports(self) -> List[str]:
        try:
            return [l for l in self.text().splitlines() if SANITIZER_PATTERNS.search(l)]
        except OSError:
            return []

    def rss_kib(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS")

    def stop(self, timeout: Optional[float] = None) -> Optional[int]:
        """SIGTERM to the daemon itself (not the group: it is the only
        process); returns its exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(self.describe_failure("did not exit within "
                                                           f"{self.stop_timeout}s of SIGTERM"))
        self.exit_status = self.proc.returncode
        return self.exit_status


def handshake_digest(stream_id: str, secret: str) -> str:
    """XEP-0114: lowercase hex SHA-1 of the stream id and the secret."""
    return hashlib.sha1((stream_id + secret).encode()).hexdigest()
