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

import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

# The process base and the host servers live in modules of their own; the
# tests import everything from here.
from hostservers import Ejabberd, Prosody, XmppServer
from procs import (ROOT, Process, ServerError, beam_pids, chown_tree, free_port, group_listens,
                   group_pids, listening_inodes, log_tail, port_open)

__all__ = [
    "ROOT", "Component", "Ejabberd", "Process", "Prosody", "Redis", "ServerError", "XmppServer",
    "beam_pids", "chown_tree", "component_binary", "free_port", "group_listens", "group_pids",
    "handshake_digest", "listening_inodes", "log_tail", "package_version", "port_open",
    "write_component_config",
]

DEFAULT_COMPONENT = ROOT / "build" / "asan" / "component" / "stoa-component"


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