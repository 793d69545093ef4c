"""The federation testbed: a second real XMPP server, a DNS server and a CA.

Layout (one run; the second and third octets are drawn at random so two runs
on one machine do not meet):

  127.A.B.2   remote Prosody for remote.test (c2s and s2s)
  127.A.B.3   stoa-gateway for rooms.home.test (s2s)
  127.A.B.5   dnsmasq on port 53: SRV and A records for *.test

The host side is an ordinary private Prosody for home.test on 127.0.0.1 with
stoa-component (rooms.home.test) attached and its gateway listener open.

Facts this rests on (issue 12): Prosody 0.12 without lua-unbound resolves
through /etc/resolv.conf only, so the remote Prosody runs in a mount namespace
of its own with the testbed's resolv.conf bound over that path (the host's
resolver is untouched); the gateway is told the DNS server directly (c-ares).
Certificates are EC P-256 with DNS and SRVName names and both serverAuth and
clientAuth, without XmppAddr (ejabberd 23.01 crashes on it).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional

from servers import (ROOT, Process, Prosody, ServerError, chown_tree, free_port,
                     group_listens, log_tail)

DEFAULT_GATEWAY = ROOT / "build" / "asan" / "gateway" / "stoa-gateway"


def gateway_binary() -> Path:
    return Path(os.environ.get("STOA_GATEWAY", str(DEFAULT_GATEWAY)))


def loopback_base() -> str:
    return f"127.{random.randint(100, 199)}.{random.randint(1, 250)}"


def port_free_on(addr: str, port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((addr, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


# --------------------------------------------------------------------------
# the CA and certificates (openssl)

CERT_EXT = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = {cn}
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = @san
[san]
{san}
"""


class CertAuthority:
    """A CA of the run's own, and certificates it signs (or a second CA
    signs, for a certificate nobody trusts)."""

    def __init__(self, dir: Path, name: str = "Stoa test CA"):
        self.dir = Path(dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cert = self.dir / "ca.pem"
        self.key = self.dir / "ca.key"
        self.openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", self.key)
        self.openssl("req", "-x509", "-new", "-key", self.key, "-sha256", "-days", "30",
                     "-subj", f"/CN={name}", "-out", self.cert,
                     "-addext", "basicConstraints=critical,CA:TRUE",
                     "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    @staticmethod
    def openssl(*args) -> None:
        r = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            raise ServerError(f"openssl {' '.join(map(str, args[:3]))} failed:\n{r.stderr}")

    def issue(self, name: str, domains: List[str]) -> Dict[str, Path]:
        """An EC P-256 certificate for the domains: a DNS-ID and an SRV-ID
        (_xmpp-server.<domain>) for each. Returns {'cert', 'key'}."""
        key = self.dir / f"{name}.key"
        csr = self.dir / f"{name}.csr"
        crt = self.dir / f"{name}.pem"
        ext = self.dir / f"{name}.ext"
        san = []
        for i, d in enumerate(domains, 1):
            san.append(f"DNS.{i} = {d}")
            san.append(f"otherName.{i} = 1.3.6.1.5.5.7.8.7;IA5STRING:_xmpp-server.{d}")
        ext.write_text(CERT_EXT.format(cn=domains[0], san="\n".join(san)))
        self.openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
        self.openssl("req", "-new", "-key", key, "-config", ext, "-out", csr)
        self.openssl("x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
                     "-CAcreateserial", "-days", "30", "-sha256", "-extfile", ext,
                     "-extensions", "ext", "-out", crt)
        # Prosody (as its own user) reads these.
        for p in (key, crt, self.cert):
            p.chmod(0o644)
        return {"cert": crt, "key": key}


# --------------------------------------------------------------------------
# DNS


class Dnsmasq(Process):
    """dnsmasq (Debian's dnsmasq-base, no system service) answering for
    *.test from its own records only, on one loopback address, port 53."""

    name = "dnsmasq"

    def __init__(self, state_dir: Path, addr: str):
        super().__init__(state_dir)
        self.addr = addr
        self.records: List[str] = []
        self.conf = self.dir / "dnsmasq.conf"

    def host(self, name: str, addr: str) -> None:
        self.records.append(f"host-record={name},{addr}")

    def srv(self, service: str, domain: str, target: str, port: int, prio: int = 0,
            weight: int = 0) -> None:
        self.records.append(f"srv-host={service}._tcp.{domain},{target},{port},{prio},{weight}")

    def prepare(self) -> None:
        self.conf.write_text("\n".join([
            "# Written by tests/e2e/testbed.py",
            f"listen-address={self.addr}", "bind-interfaces", "port=53",
            "no-resolv", "no-hosts", "no-poll", "local=/test/",
            "user=root", "group=root", "pid-file=",
            "log-queries", f"log-facility={self.dir / 'dnsmasq.log'}",
            *self.records, ""]))

    def command(self) -> List[str]:
        exe = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
        return [exe, "--keep-in-foreground", f"--conf-file={self.conf}"]

    def logs(self) -> List[Path]:
        return [self.log_path, self.dir / "dnsmasq.log"]

    def ready(self) -> bool:
        # UDP: ask for a record we know.
        return not port_free_udp(self.addr, 53)

    def resolv_conf(self) -> Path:
        p = self.dir / "resolv.conf"
        p.write_text(f"nameserver {self.addr}\noptions timeout:1 attempts:2\n")
        p.chmod(0o644)
        return p


def port_free_udp(addr: str, port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind((addr, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


# --------------------------------------------------------------------------
# the remote Prosody

REMOTE_CONFIG = """\
-- Remote partner server for Stoa's federation tests: tests/e2e/testbed.py.
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
plugin_paths = {{ {plugin_paths} }}
log = {{
    {{ levels = {{ min = "debug" }}, to = "file", filename = "{dir}/prosody.log" }};
    {{ levels = {{ min = "error" }}, to = "console" }};
}}
modules_enabled = {{
    "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "posix";
}}
modules_disabled = {{ "offline"; "admin_shell" }}
interfaces = {{ "{addr}" }}
local_interfaces = {{ "{addr}" }}
c2s_ports = {{ {c2s_port} }}
c2s_interfaces = {{ "{addr}" }}
c2s_direct_tls_ports = {{ }}
legacy_ssl_ports = {{ }}
s2s_ports = {{ {s2s_port} }}
s2s_interfaces = {{ "{addr}" }}
s2s_direct_tls_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
component_ports = {{ }}
authentication = "internal_plain"
storage = "internal"
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
s2s_require_encryption = true
s2s_secure_auth = {secure_auth}
allow_registration = false
certificates = "{dir}/certs"
ssl = {{ certificate = "{cert}"; key = "{key}"; cafile = "{ca}" }}
statistics = nil

VirtualHost "{host}"
    ssl = {{ certificate = "{cert}"; key = "{key}"; cafile = "{ca}" }}
{extra}"""


class RemoteProsody(Prosody):
    """Prosody for remote.test on its own loopback address, with s2s, in a
    mount namespace whose /etc/resolv.conf names the testbed's dnsmasq."""

    name = "remote-prosody"

    def __init__(self, state_dir: Path, addr: str, resolv: Path, cert: Dict[str, Path],
                 ca: Path, secure_auth: bool = True, plugin_paths: Optional[List[Path]] = None,
                 extra: str = "", **kwargs):
        super().__init__(state_dir, **kwargs)
        # More configuration after the VirtualHost (components), and where
        # their modules are.
        self.plugin_paths = plugin_paths or []
        self.extra = extra
        self.addr = addr
        self.resolv = resolv
        self.cert = cert
        self.ca = ca
        self.secure_auth = secure_auth
        self.s2s_port = free_port()

    def prepare(self) -> None:
        (self.dir / "data").mkdir(exist_ok=True)
        (self.dir / "certs").mkdir(exist_ok=True)
        self.config_path.write_text(REMOTE_CONFIG.format(
            dir=self.dir, addr=self.addr, host=self.host, c2s_port=self.c2s_port,
            s2s_port=self.s2s_port, cert=self.cert["cert"], key=self.cert["key"], ca=self.ca,
            secure_auth="true" if self.secure_auth else "false",
            plugin_paths="; ".join(f'"{p}"' for p in self.plugin_paths), extra=self.extra))
        chown_tree(self.dir, "prosody")
        if not self.registered:
            for user, password in self.users.items():
                self.ctl("register", user, self.host, password)
            self.registered = True

    def user_kwargs(self) -> dict:
        # unshare and mount need root; setpriv drops to prosody and execs, so
        # the pid we hold ends up being Prosody's own.
        return {}

    def command(self) -> List[str]:
        inner = (f"mount --bind {self.resolv} /etc/resolv.conf && "
                 f"exec setpriv --reuid=prosody --regid=prosody --init-groups -- "
                 f"prosody --config {self.config_path} -F")
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", inner]

    def ready(self) -> bool:
        return (group_listens(self.proc.pid, self.c2s_port)
                and group_listens(self.proc.pid, self.s2s_port))


# --------------------------------------------------------------------------
# stoa-gateway


class Gateway(Process):
    """stoa-gateway with a generated config; ready when it listens."""

    name = "gateway"
    stop_timeout = 10.0

    def __init__(self, state_dir: Path, settings: Dict[str, Dict[str, str]], addr: str,
                 port: int):
        super().__init__(state_dir)
        self.binary = gateway_binary()
        if not self.binary.exists():
            raise ServerError(f"stoa-gateway not found at {self.binary}: scripts/build --asan "
                              "or set STOA_GATEWAY")
        self.settings = settings
        self.addr = addr
        self.port = port
        self.config_path = self.dir / "gateway.conf"

    def prepare(self) -> None:
        lines = ["# Written by tests/e2e/testbed.py"]
        for section, values in self.settings.items():
            lines.append(f"\n[{section}]")
            lines += [f"{k} = {v}" for k, v in values.items()]
        self.config_path.touch(mode=0o600)
        self.config_path.chmod(0o600)
        self.config_path.write_text("\n".join(lines) + "\n")

    def command(self) -> List[str]:
        return [str(self.binary), "-c", str(self.config_path)]

    def env(self) -> Dict[str, str]:
        e = dict(os.environ)
        e.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1:exitcode=23")
        e.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1:exitcode=24")
        return e

    def ready(self) -> bool:
        return group_listens(self.proc.pid, self.port)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def mark(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def wait_log(self, regex: str, timeout: float = 10.0, since: int = 0) -> str:
        import re
        r = re.compile(regex)
        deadline = time.monotonic() + timeout
        while True:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                for line in f.read().decode(errors="replace").splitlines():
                    if r.search(line):
                        return line
            if time.monotonic() > deadline:
                raise AssertionError(self.describe_failure(
                    f"no log line matching /{regex}/ within {timeout}s"))
            time.sleep(0.05)

    def stop(self, timeout: Optional[float] = None) -> Optional[int]:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(self.stop_timeout if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                raise AssertionError(self.describe_failure("did not exit after SIGTERM"))
        return self.proc.returncode


__all__ = ["CertAuthority", "Dnsmasq", "RemoteProsody", "Gateway", "loopback_base", "log_tail",
           "port_free_on"]
