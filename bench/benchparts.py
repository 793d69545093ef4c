"""The parts bench/run starts (docs/benchmarks.md): stoa-component, the echo
component, MU-Conference, Prosody and ejabberd configured for load (with
the host's fan-out expander when asked), each on loopback ports of its own,
pinned to the servers' CPU; the component domains, the end-to-end cases,
the --profile profilers, and what every run shares (pinning, RESULT lines,
stopping all).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from servers import (  # reused: private Prosody, ejabberd, Redis
    Component,
    Ejabberd,
    Process,
    Prosody,
    Redis,
    chown_tree,
    group_pids,
)

HOST = "localhost"
SECRET = "bench-component-secret"
PASSWORD = "bench-pw"

# Component domains on the host servers.
STOA = "rooms.localhost"
STOA_ARCH = "rooms-arch.localhost"
# Stoa through the host's fan-out expander (found by disco), archiving off/on.
STOA_X = "rooms-x.localhost"
STOA_ARCH_X = "rooms-arch-x.localhost"
# The per-copy cases say so: the expander, when the host has one, is used by
# whoever it trusts, and these must stay one copy per recipient.
PER_COPY = {"fanout": {"expander": "off"}}
ECHO = "echo.localhost"
ECHO_IDS = "echo-ids.localhost"  # the echo component with Stoa's two id elements
MULTICAST = f"multicast.{HOST}"  # the host's fan-out expander (XEP-0033)
# The echo component's forms: (case, domain, Stoa's ids, through the expander).
ECHOES = [("echo", ECHO, False, False), ("echo+ids", ECHO_IDS, True, False),
          ("echo-x", "echo-x.localhost", False, True),
          ("echo+ids-x", "echo-ids-x.localhost", True, True)]
MUCCONF = "mucconf.localhost"
PMUC = "muc.localhost"  # Prosody's own mod_muc
PMUC_MAM = "muc-mam.localhost"  # ... with mod_muc_mam
EJMUC = "conference.localhost"  # ejabberd's mod_muc (mod_mam per room)

started: List[Process] = []


def log(msg: str) -> None:
    print(f"[bench] {msg}", flush=True)


def cpus() -> int:
    return len(os.sched_getaffinity(0))


def pin(pids: List[int], cpu: int) -> None:
    """Pins every thread of the processes to one CPU (no-op on one CPU)."""
    if cpus() < 2:
        return
    for pid in pids:
        subprocess.run(["taskset", "-a", "-p", "-c", str(cpu), str(pid)],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def server_cpu() -> List[str]:
    return ["taskset", "-c", "0"] if cpus() >= 2 else []


def driver_cpu() -> List[str]:
    return ["taskset", "-c", "1"] if cpus() >= 2 else []


def parse_result(text: str) -> Dict[str, str]:
    for line in text.splitlines():
        if line.startswith("RESULT "):
            return dict(kv.split("=", 1) for kv in line.split()[1:])
    raise RuntimeError("no RESULT line")


# --------------------------------------------------------------------------
# the parts


class Stoa(Component):
    """stoa-component (release build), pinned with the server."""

    def command(self) -> List[str]:
        return server_cpu() + super().command()


class Echo(Process):
    name = "echocomp"

    def __init__(self, state_dir: Path, binary: Path, port: int, domain: str,
                 mimic: bool = False, expand: Optional[str] = None):
        self.name = f"echocomp-{domain.split('.')[0]}"
        super().__init__(state_dir)
        self.binary, self.port, self.domain, self.mimic = binary, port, domain, mimic
        self.expand = expand

    def command(self) -> List[str]:
        return server_cpu() + [str(self.binary), "--port", str(self.port), "--domain",
                               self.domain, "--secret", SECRET] + (
                                   ["--mimic"] if self.mimic else []) + (
                                   ["--expand", self.expand] if self.expand else [])

    def ready(self) -> bool:
        return "component link ready" in self.log_path.read_text(errors="replace")


MUC_XML = """<jcr>
  <name>{domain}</name>
  <host>{domain}</host>
  <ip>127.0.0.1</ip>
  <port>{port}</port>
  <secret>{secret}</secret>
  <spool>{dir}/spool</spool>
  <logdir>{dir}</logdir>
  <pidfile>{dir}/muc.pid</pidfile>
  <loglevel>0</loglevel>
  <conference xmlns="jabber:config:conference">
    <public/>
    <vCard><FN>Benchmark rooms</FN></vCard>
    <history>20</history>
    <notice><join>has joined</join><leave>has left</leave><rename>is now known as</rename></notice>
  </conference>
</jcr>
"""


class MuConference(Process):
    """MU-Conference (jabberd2-style XEP-0114 component), private config."""

    name = "mu-conference"

    def __init__(self, state_dir: Path, port: int, domain: str):
        super().__init__(state_dir)
        self.port, self.domain = port, domain
        self.config = self.dir / "muc.xml"

    def prepare(self) -> None:
        (self.dir / "spool").mkdir(exist_ok=True)
        self.config.write_text(MUC_XML.format(domain=self.domain, port=self.port,
                                              secret=SECRET, dir=self.dir))

    def command(self) -> List[str]:
        return server_cpu() + ["/usr/sbin/mu-conference", "-c", str(self.config)]

    def ready(self) -> bool:
        # It logs nothing useful at loglevel 0: ready once it holds an
        # established connection to the server's component port.
        port = f"{self.port:04X}"
        inodes = set()
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[2].endswith(":" + port) and fields[3] == "01":
                    inodes.add(f"socket:[{fields[9]}]")
        fds = Path(f"/proc/{self.proc.pid}/fd")
        return any(os.readlink(fd) in inodes for fd in fds.iterdir())


@dataclass
class E2eCase:
    name: str
    domain: str  # the room service
    cpu: Dict[str, int]  # processes whose CPU time is counted, by name
    fields: List[str]  # room configuration fields
    port: int  # the host server's c2s port


class BenchProsody(Prosody):
    """Prosody with its own MUC (with and without MAM) and the bench users
    exempt from mod_limits."""

    def __init__(self, *a, users_n: int, profile: bool = False, **kw):
        self.users_n = users_n
        # --profile: bench/mod_bench_profile.lua samples Prosody's Lua code.
        self.profile: Optional[Path] = None
        super().__init__(*a, **kw)
        if profile:
            self.profile = self.dir / "profile.txt"

    def prepare(self) -> None:
        super().prepare()
        cfg = self.config_path.read_text()
        if self.profile:
            plugins = self.dir / "plugins"
            plugins.mkdir(exist_ok=True)
            shutil.copy(ROOT / "bench" / "mod_bench_profile.lua", plugins)
            cfg = re.sub(r"plugin_paths = \{[^}]*\}", f'plugin_paths = {{ "{plugins}" }}', cfg, 1)
            cfg = cfg.replace('    "posix"; -- SIGTERM',
                              '    "bench_profile";\n    "posix"; -- SIGTERM')
            cfg = cfg.replace("VirtualHost", f'bench_profile_file = "{self.profile}"\n\n'
                              "VirtualHost", 1)
        jids = "; ".join(f'"u{i}@{HOST}"' for i in range(1, self.users_n + 1))
        cfg = cfg.replace(
            '    "posix"; -- SIGTERM',
            '    "limits"; -- on as in production; the load users are exempt below\n'
            '    "posix"; -- SIGTERM')
        cfg = cfg.replace("VirtualHost", f"unlimited_jids = {{ {jids} }}\n\nVirtualHost", 1)
        cfg += (f'\nComponent "{PMUC}" "muc"\n'
                '    restrict_room_creation = false\n'
                f'\nComponent "{PMUC_MAM}" "muc"\n'
                '    modules_enabled = { "muc_mam" }\n'
                '    muc_log_by_default = true\n')
        self.config_path.write_text(cfg)
        chown_tree(self.dir, "prosody")

    def register_users(self) -> None:
        for i in range(1, self.users_n + 1):
            self.ctl("register", f"u{i}", self.host, PASSWORD)


class BenchEjabberd(Ejabberd):
    """ejabberd with mod_muc and mod_mam (archiving chosen per room), no
    shapers or MUC message intervals, and one component listener per extra
    component (ejabberd routes every host of a listener's hosts: list to
    whichever of its connections, so two components must not share one)."""

    def __init__(self, *a, profile: bool = False, **kw):
        super().__init__(*a, **kw)
        self.profile = profile

    def prepare(self) -> None:
        # The extra listeners come from Ejabberd itself (extra_components,
        # one port each in component_ports).
        super().prepare()
        if self.profile:
            # OTP's JIT writes /tmp/perf-PID.map, so perf names the Erlang
            # functions it samples.
            ctl = self.ctl_config_path.read_text()
            self.ctl_config_path.write_text(ctl.replace('ERL_OPTIONS="',
                                                        'ERL_OPTIONS="+JPperf true ', 1))
        cfg = self.config_path.read_text()
        cfg = cfg.replace("    access: c2s\n", "    access: c2s\n    shaper: none\n", 1)
        cfg += (
            "  mod_mam:\n"
            "    db_type: mnesia\n"
            "    default: always\n"
            "  mod_muc:\n"
            f'    host: "{EJMUC}"\n'
            "    access_create: all\n"
            "    max_users: 10000\n"
            "    min_message_interval: 0\n"
            "    min_presence_interval: 0\n"
            "    max_user_conferences: 1000\n"
            "    default_room_options:\n"
            "      mam: false\n"
            "shaper_rules:\n"
            "  c2s_shaper: none\n"
            "  s2s_shaper: none\n"
        )
        self.config_path.write_text(cfg)
        chown_tree(self.dir, "ejabberd")

    def server_pids(self) -> List[int]:
        return group_pids(self.proc.pid)


def start(p: Process) -> Process:
    started.append(p)
    p.start()
    return p


def stop_all() -> None:
    for p in reversed(started):
        try:
            if p.running():
                p.stop()
        except Exception as e:  # keep stopping the others
            log(f"stopping {p.name}: {e}")
    started.clear()


# The safety gate stays on everywhere (it is on in production), but with
# buckets deep enough that a load driver's thousands of stanzas a second from
# a few users in one domain never empty them: the figures are the gate's
# cost, never its refusals (the defaults allow a person about one message a
# second). The safety group compares this with the gate off.
GATE_CLASSES = ("room_message", "private_message", "join", "presence", "invite", "report",
                "other")
DEEP_GATE = {"enabled": "true",
             **{f"{c}_burst": "1000000" for c in GATE_CLASSES},
             **{f"{c}_domain_burst": "100000000" for c in GATE_CLASSES}}


def stoa_settings(domain: str, port: int, redis: Optional[Redis], extra=None) -> dict:
    s = {
        "component": {"domain": domain, "secret": SECRET, "server_port": str(port)},
        "log": {"level": "info"},
        "ratelimit": dict(DEEP_GATE),
        "redis": ({"port": str(redis.port), "prefix": f"bench:{domain}:"} if redis
                  else {"enabled": "false", "host": None, "port": None, "db": None,
                        "prefix": None}),
    }
    for sec, vals in (extra or {}).items():
        s.setdefault(sec, {}).update(vals)
    return s


def start_stoa(state: Path, binary: Path, name: str, settings: dict,
               expander: bool = False) -> Stoa:
    """expander: wait until it has found the host's fan-out expander."""
    c = Stoa(state / name, settings, name=name, binary=binary)
    started.append(c)
    c.start()
    c.wait_log("component link ready", timeout=20)
    if expander:
        c.wait_log(f"fan-out: {HOST} users through the expander {MULTICAST}", timeout=20)
    return c


# --------------------------------------------------------------------------
# --profile: where the host server's time goes


class LuaProfile:
    """--profile through Prosody: bench/mod_bench_profile.lua's counts over
    one run (it starts over when asked for them)."""

    def __init__(self, path: Path):
        self.path = path

    def dump(self, to: Optional[Path]) -> None:
        flag = Path(str(self.path) + ".dump")
        flag.touch()
        for _ in range(50):
            if not flag.exists():
                break
            time.sleep(0.1)
        time.sleep(0.1)
        if to is not None and self.path.exists():
            shutil.copy(self.path, to)

    def start(self) -> None:
        self.dump(None)

    def stop(self, to: Path) -> None:
        self.dump(to)


class PerfProfile:
    """--profile through ejabberd: perf on the Erlang VM for the measured
    seconds (after the joins), Erlang functions named by the JIT's map."""

    def __init__(self, pid: int, seconds: float):
        self.pid, self.seconds, self.proc = pid, seconds, None
        self.data = Path(tempfile.mkdtemp(prefix="stoa-perf-")) / "perf.data"

    def start(self) -> None:
        cmd = (f"sleep 1.5; exec perf record -g -o {self.data} -p {self.pid} -- "
               f"sleep {max(1.0, self.seconds - 1):.1f}")
        self.proc = subprocess.Popen(["sh", "-c", cmd], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

    def stop(self, to: Path) -> None:
        if self.proc is None:
            return
        self.proc.wait(timeout=60)
        r = subprocess.run(["perf", "report", "-i", str(self.data), "--stdio", "--no-children",
                            "--sort", "symbol", "-g", "none", "--percent-limit", "0.5"],
                           capture_output=True, text=True)
        to.write_text(r.stdout)
        shutil.rmtree(self.data.parent, ignore_errors=True)
