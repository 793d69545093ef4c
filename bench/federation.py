#!/usr/bin/python3
"""bench/federation.py: stoa-gateway against Prosody's own s2s (bench/run's
federation group; docs/benchmarks.md).

    bench/federation.py --out DIR [--quick] [--reps N] [--seconds T]
                        [--streams K] [--build DIR]

On the federation testbed of tests/e2e/testbed.py (dnsmasq, a test CA, each
remote Prosody in a mount namespace of its own), with TLS and SASL EXTERNAL
on every server-to-server stream:

  gateway  bob@remote.test -> stoa-gateway -> stoa-component: private
           messages through a room (rooms.home.test) to alice@home.test
  prosody  bob@remote.test -> Prosody (peer.test) -> alice@peer.test

The two cases alternate within every repetition (runs drift by +-20 % over
minutes). For each, the receiving server's CPU per 1,000 messages (the
gateway's own; Prosody's own, which also delivers to its client) and
messages/s. Then the memory of an open stream: K SASL EXTERNAL streams held
open to the gateway and to Prosody, RSS before and after, divided by K.
Writes DIR/results.csv (one row per run) and DIR/table.txt. Needs the
release build (scripts/build --release)."""

from __future__ import annotations

import argparse
import base64
import csv
import os
import socket
import ssl
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List

sys.dont_write_bytecode = True
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from servers import Component, Prosody, Redis, free_port  # noqa: E402
from testbed import CertAuthority, Dnsmasq, Gateway, RemoteProsody, loopback_base  # noqa: E402

HOME, ROOMS, REMOTE, PEER = "home.test", "rooms.home.test", "remote.test", "peer.test"
SECRET, GW_SECRET, PW = "bench-secret", "bench-gw-secret", "bench-pw"
USERS = {"alice": PW, "bob": PW}
started = []


def cpu_of(pid: int) -> float:
    """User + system seconds of a process and its threads."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class C2S:
    """A bare c2s client on a plain socket (fast enough to load a server
    from one thread): PLAIN, bind, then raw stanzas."""

    def __init__(self, addr: str, port: int, domain: str, user: str):
        self.s = socket.create_connection((addr, port), timeout=20)
        self.domain, self.buf = domain, b""
        self.header()
        self.until(b"</stream:features>")
        token = base64.b64encode(f"\0{user}\0{PW}".encode()).decode()
        self.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}"
                  "</auth>")
        self.until(b"<success")
        self.header()
        self.until(b"</stream:features>")
        self.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
        self.until(b"</iq>")
        self.send("<presence/>")

    def header(self):
        self.buf = b""
        self.send(f"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                  f"xmlns:stream='http://etherx.jabber.org/streams' to='{self.domain}' "
                  "version='1.0'>")

    def send(self, data: str):
        self.s.sendall(data.encode())

    def until(self, token: bytes, timeout: float = 30) -> bytes:
        deadline = time.monotonic() + timeout
        while token not in self.buf:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no {token!r} from {self.domain}: {self.buf[-300:]!r}")
            self.s.settimeout(max(0.1, deadline - time.monotonic()))
            chunk = self.s.recv(65536)
            if not chunk:
                raise RuntimeError(f"{self.domain} closed: {self.buf[-300:]!r}")
            self.buf += chunk
        i = self.buf.index(token) + len(token)
        got, self.buf = self.buf[:i], self.buf[i:]
        return got


class Counter(threading.Thread):
    """Counts <body>s arriving on a client."""

    def __init__(self, c: C2S):
        super().__init__(daemon=True)
        self.c, self.n, self.stop = c, 0, False

    def run(self):
        tail = b""
        self.c.s.settimeout(0.2)
        while not self.stop:
            try:
                chunk = self.c.s.recv(1 << 16)
            except socket.timeout:
                continue
            if not chunk:
                return
            data = tail + chunk
            self.n += data.count(b"<body>")
            tail = data[-5:]


def blast(sender: C2S, counter: Counter, to: str, seconds: float, window: int = 300) -> tuple:
    """Sends for `seconds` with at most `window` undelivered; returns
    (sent, delivered, wall seconds) once the last has arrived."""
    base, sent = counter.n, 0
    body = "x" * 64
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        room = window - (sent - (counter.n - base))
        if room <= 0:
            time.sleep(0.0005)
            continue
        sender.send("".join(f"<message to='{to}' type='chat'><body>{body}</body></message>"
                            for _ in range(min(room, 50))))
        sent += min(room, 50)
    deadline = time.monotonic() + 30
    while counter.n - base < sent and time.monotonic() < deadline:
        time.sleep(0.002)
    return sent, counter.n - base, time.monotonic() - t0


def external_stream(addr: str, port: int, to: str, cert: Dict[str, Path], ca: Path):
    """One s2s stream authenticated by SASL EXTERNAL, held open."""
    hdr = (f"<?xml version='1.0'?><stream:stream xmlns='jabber:server' xmlns:stream="
           f"'http://etherx.jabber.org/streams' to='{to}' from='{REMOTE}' version='1.0'>").encode()
    s = socket.create_connection((addr, port), timeout=20)
    s.sendall(hdr + b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    buf = b""
    while b"<proceed" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError(f"{to} refused STARTTLS: {buf[-300:]!r}")
        buf += chunk
    ctx = ssl.create_default_context(cafile=str(ca))
    ctx.load_cert_chain(str(cert["cert"]), str(cert["key"]))
    t = ctx.wrap_socket(s, server_hostname=to)
    t.sendall(hdr)
    buf = b""
    while b"</stream:features>" not in buf:
        buf += t.recv(4096)
    t.sendall(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>=</auth>")
    while b"<success" not in buf:
        chunk = t.recv(4096)
        if not chunk:
            raise RuntimeError(f"{to} closed the stream: {buf[-300:]!r}")
        buf += chunk
    t.sendall(hdr)
    return t


class Bed:
    def __init__(self, out: Path, build: Path):
        base = loopback_base()
        d = out / "state"
        self.ca = CertAuthority(d / "ca")
        self.certs = {n: self.ca.issue(n, [dom]) for n, dom in
                      (("gateway", ROOMS), ("remote", REMOTE), ("peer", PEER))}
        self.gw_addr, self.gw_port = f"{base}.3", free_port()
        dns = Dnsmasq(d / "dns", f"{base}.5")
        dns.host(f"gw.{HOME}", self.gw_addr)
        dns.srv("_xmpp-server", ROOMS, f"gw.{HOME}", self.gw_port)
        self.remote = RemoteProsody(d / "remote", f"{base}.2", dns.resolv_conf(),
                                    self.certs["remote"], self.ca.cert, host=REMOTE, users=USERS)
        self.peer = RemoteProsody(d / "peer", f"{base}.4", dns.resolv_conf(), self.certs["peer"],
                                  self.ca.cert, host=PEER, users=USERS)
        self.peer.name = "peer-prosody"
        for p, a in ((self.remote, f"{base}.2"), (self.peer, f"{base}.4")):
            dns.host(p.host, a)
            dns.srv("_xmpp-server", p.host, p.host, p.s2s_port)
        self.start(dns)
        self.redis = self.start(Redis(d / "redis"))
        self.home = self.start(Prosody(d / "home", host=HOME, components={ROOMS: SECRET},
                                       users=USERS))
        comp_gw_port = free_port()
        self.comp = Component(d / "component", {
            "component": {"domain": ROOMS, "secret": SECRET,
                          "server_port": self.home.component_port},
            "redis": {"port": self.redis.port, "prefix": "bench:"},
            "ratelimit": {"enabled": "false"}, "links": {"policy": "deliver"},
            "gateways": {"port": comp_gw_port, "secret": GW_SECRET, "host_domains": HOME},
            "log": {"level": "info"}}, binary=build / "component" / "stoa-component")
        self.start(self.comp)
        self.comp.wait_log(r"component link ready", 20)
        os.environ["STOA_GATEWAY"] = str(build / "gateway" / "stoa-gateway")
        gw = self.certs["gateway"]
        self.gw = self.start(Gateway(d / "gateway", {
            "gateway": {"domains": ROOMS},
            "component": {"port": comp_gw_port, "secret": GW_SECRET},
            "s2s": {"listen": self.gw_addr, "port": self.gw_port, "dns_servers": f"{base}.5:53",
                    "dialback_secret": "bench-dialback"},
            "tls": {"certificate": gw["cert"], "key": gw["key"], "ca_file": self.ca.cert},
            "redis": {"port": self.redis.port, "prefix": "bench:"},
            # The gate runs its script for every stanza; no bucket ever empties.
            "edge": {"jid_burst": "1000000", "domain_burst": "10000000",
                     "max_streams_per_domain": "10000"},
            "log": {"level": "info"}}, self.gw_addr, self.gw_port))
        self.comp.wait_log(r"gateway attached", 20)
        self.start(self.remote)
        self.start(self.peer)

    def start(self, p):
        started.append(p)
        p.start()
        return p


def stop_all():
    """Everything started, also when the testbed failed half-way."""
    for p in reversed(started):
        try:
            p.stop()
        except Exception as e:  # keep stopping the others
            print(f"[federation] stopping {p.name}: {e}", file=sys.stderr)


def run_cases(bed: Bed, args) -> List[dict]:
    bob = C2S(bed.remote.addr, bed.remote.c2s_port, REMOTE, "bob")
    alice = C2S("127.0.0.1", bed.home.c2s_port, HOME, "alice")
    palice = C2S(bed.peer.addr, bed.peer.c2s_port, PEER, "alice")
    room = f"bench@{ROOMS}"
    alice.send(f"<presence to='{room}/r'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    alice.until(b"</presence>")
    alice.send(f"<iq to='{room}' type='set' id='cfg'><query xmlns='http://jabber.org/protocol/"
               "muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>")
    alice.until(b"id='cfg'")
    bob.send(f"<presence to='{room}/s'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    time.sleep(0.5)
    counters = {"gateway": Counter(alice), "prosody": Counter(palice)}
    for c in counters.values():
        c.start()
    targets = {"gateway": (f"{room}/r", bed.gw.proc.pid),
               "prosody": (f"alice@{PEER}", bed.peer.proc.pid)}
    # Warm both paths: DNS, TLS and the streams (Prosody's resolver waits).
    for case, (to, _) in targets.items():
        sent, got, _ = blast(bob, counters[case], to, 1.0, window=20)
        if got < sent:
            raise RuntimeError(f"{case}: warm-up delivered {got} of {sent}")
    rows = []
    for rep in range(args.reps):
        for case, (to, pid) in targets.items():
            c0, r0 = cpu_of(pid), cpu_of(bed.redis.proc.pid)
            sent, got, wall = blast(bob, counters[case], to, args.seconds)
            cpu, rcpu = cpu_of(pid) - c0, cpu_of(bed.redis.proc.pid) - r0
            rows.append({"group": "federation", "case": case, "rep": rep, "delivered": got,
                         "sent": sent, "wall_s": f"{wall:.3f}", "rate_wall": f"{got / wall:.1f}",
                         "cpu_s": f"{cpu:.3f}",
                         "cpu_receiver_per_1k": f"{1000 * cpu / got:.4f}" if got else "",
                         # The gateway's gate: one script call per stanza.
                         "cpu_redis_per_1k": f"{1000 * rcpu / got:.4f}" if got else ""})
            print(f"[federation] {case} rep {rep}: {got}/{sent} in {wall:.2f}s, "
                  f"{got / wall:,.0f}/s, {1000 * cpu / max(got, 1):.4f} CPU s per 1k", flush=True)
    for c in counters.values():
        c.stop = True
    return rows


def memory(bed: Bed, k: int) -> List[dict]:
    rows = []
    for case, addr, port, to, pid in (
            ("gateway", bed.gw_addr, bed.gw_port, ROOMS, bed.gw.proc.pid),
            ("prosody", bed.peer.addr, bed.peer.s2s_port, PEER, bed.peer.proc.pid)):
        before = rss_kib(pid)
        streams = [external_stream(addr, port, to, bed.certs["remote"], bed.ca.cert)
                   for _ in range(k)]
        time.sleep(0.5)
        after = rss_kib(pid)
        for t in streams:
            t.close()
        rows.append({"group": "federation-memory", "case": case, "rep": 0, "delivered": k,
                     "streams": k, "rss_before_kib": before, "rss_after_kib": after,
                     "kib_per_stream": f"{(after - before) / k:.1f}"})
        print(f"[federation] {case}: {k} streams, RSS {before} -> {after} KiB, "
              f"{(after - before) / k:.1f} KiB per stream", flush=True)
    return rows


def table(rows: List[dict], args) -> List[str]:
    out = [f"Federation (TLS + SASL EXTERNAL on every s2s stream; the cases alternate; "
           f"medians of {args.reps} x {args.seconds} s)",
           f"  {'receiver':<10}{'msgs/s':>10}{'CPU s/1k':>11}{'Redis CPU s/1k':>16}"]
    med, red = {}, {}
    for case in ("gateway", "prosody"):
        rs = [r for r in rows if r["group"] == "federation" and r["case"] == case]
        if not rs:
            continue
        rate = statistics.median(float(r["rate_wall"]) for r in rs)
        cpu = statistics.median(float(r["cpu_receiver_per_1k"]) for r in rs
                                if r["cpu_receiver_per_1k"])
        rcpu = statistics.median(float(r["cpu_redis_per_1k"]) for r in rs
                                 if r["cpu_redis_per_1k"])
        med[case], red[case] = cpu, rcpu
        out.append(f"  {case:<10}{rate:>10,.0f}{cpu:>11.4f}{rcpu:>16.4f}")
    out.append("  CPU s/1k: the receiving server's own (the gateway's; Prosody's, which also "
               "delivers to its client); processes not pinned")
    if len(med) == 2 and med["prosody"] > 0:
        out.append(f"  gateway / Prosody CPU per message: {med['gateway'] / med['prosody']:.2f} "
                   "(target: at most 0.5); with the gateway's Redis: "
                   f"{(med['gateway'] + red['gateway']) / med['prosody']:.2f}")
    for r in rows:
        if r["group"] == "federation-memory":
            out.append(f"  memory per open stream, {r['case']}: {r['kib_per_stream']} KiB "
                       f"({r['streams']} streams)")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--streams", type=int, default=200)
    ap.add_argument("--build", type=Path, default=ROOT / "build" / "release")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.seconds, args.streams = 1, 1.0, 10
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    # Prosody runs as its own user: every directory on the way lets it through.
    for d in [args.out, *args.out.parents]:
        if d == Path("/"):
            break
        if d.stat().st_mode & 0o005 != 0o005:
            d.chmod(d.stat().st_mode | 0o005)
    try:
        bed = Bed(args.out, args.build)
        rows = run_cases(bed, args) + memory(bed, args.streams)
    finally:
        stop_all()
    with open(args.out / "results.csv", "w", newline="") as f:
        keys: List[str] = []
        for r in rows:
            keys += [k for k in r if k not in keys]
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    text = table(rows, args)
    (args.out / "table.txt").write_text("\n".join(text) + "\n")
    print("\n".join(text))
    return 0 if all(int(r["delivered"]) > 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
