"""The host XMPP servers for Stoa's end-to-end tests: Prosody and ejabberd,
each with one host, its users, Stoa's components on the component port and
mod_stoa_report / mod_firewall wired as docs/safety.md says (servers.py
describes what every server class does).
"""

from __future__ import annotations

import glob
import importlib.machinery
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

from procs import (ROOT, Process, ServerError, beam_pids, chown_tree, free_port, group_listens,
                   log_tail)

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
        pubsub: Optional[str] = None,
        pubsub_admin: str = "",
        contact_abuse: Optional[list] = None,
        privileged: Optional[str] = None,
        priv_roster: str = "both",
        priv_presence: str = "roster",
        roster_module: bool = True,
    ):
        super().__init__(state_dir)
        # A Stoa domain given XEP-0356 privileges (mod_privilege) for group
        # rosters and who is online, with these roster and presence
        # permissions; on ejabberd with contrib/ejabberd/mod_stoa_roster
        # unless roster_module is False (docs/rosters.md).
        self.privileged = privileged
        self.priv_roster = priv_roster
        self.priv_presence = priv_presence
        self.roster_module = roster_module
        # A pubsub service of the server's own (Prosody's mod_pubsub as a
        # component, ejabberd's mod_pubsub), playing a real-time block list
        # publisher; Prosody lets only pubsub_admin create nodes.
        self.pubsub = pubsub
        self.pubsub_admin = pubsub_admin
        # XEP-0157 abuse addresses (URIs) the host's disco#info publishes.
        self.contact_abuse = ", ".join(f'"{u}"' for u in contact_abuse or [])
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

    def privilege_values(self) -> Dict[str, str]:
        if not self.privileged:
            return {}
        return {"PRIVILEGED": self.privileged, "PRIV_ROSTER": self.priv_roster,
                "PRIV_PRESENCE": self.priv_presence}


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
            "PUBSUB": self.pubsub or "", "PUBSUB_ADMIN": self.pubsub_admin,
            "CONTACT_ABUSE": self.contact_abuse,
            **self.privilege_values(),
        }
        if self.http_port is not None:
            # HTTP with WebSocket (RFC 7395) on loopback; cross_domain_websocket
            # is left out: 0.12 only logs that it is deprecated, and its
            # mod_websocket checks no Origin.
            values.update(WEBSOCKET="yes", HTTP_PORT=self.http_port)
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
    return install_contrib_module(contrib, STOA_REPORT_MODULE)


def install_contrib_module(contrib: Path, module: str) -> Path:
    """Installs contrib/ejabberd/<module> into a contrib modules directory
    (what ejabberd reads from CONTRIB_MODULES_PATH, the layout `ejabberdctl
    module_install` makes: <module>/<module>.spec and <module>/ebin/), with
    erlc against the installed ejabberd; once per state directory. The .beam."""
    src_dir = ROOT / "contrib" / "ejabberd" / module
    source = src_dir / "src" / f"{module}.erl"
    lib = contrib / module
    ebin = lib / "ebin"
    ebin.mkdir(parents=True, exist_ok=True)
    shutil.copy(src_dir / f"{module}.spec", lib)
    beam = ebin / f"{module}.beam"
    if beam.exists() and beam.stat().st_mtime >= source.stat().st_mtime:
        return beam
    erlc = shutil.which("erlc")
    if not erlc:
        raise ServerError("erlc not found: it comes with erlang-base, which ejabberd needs")
    inc = erlang_dir(EJABBERD_INCLUDE_GLOBS, "ejabberd include directory")
    xmpp_inc = erlang_dir(("/usr/lib/erlang/lib/p1_xmpp-*/include",
                           "/usr/lib/erlang/lib/xmpp-*/include"), "p1_xmpp include directory")
    cmd = [erlc, "-Werror", "-o", str(ebin), "-pa", str(inc.parent / "ebin"),
           "-I", str(inc), "-I", str(xmpp_inc), str(source)]
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
            "REPORT_MODULE": self.report_module(), "PUBSUB": self.pubsub or "",
            "CONTACT_ABUSE": self.contact_abuse,
            "ROSTER_MODULE": self.roster_module_entry(),
            **self.privilege_values(),
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

    def roster_module_entry(self) -> str:
        """With privileged and roster_module: installs mod_stoa_roster and
        returns its modules: entry."""
        if not (self.privileged and self.roster_module):
            return ""
        install_contrib_module(self.dir / "contrib", "mod_stoa_roster")
        return _render_config.ejabberd_roster_module(self.privileged)

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
