"""Federation through stoa-gateway, against a second real Prosody.

The testbed (testbed.py): home.test is the host Prosody with stoa-component
(rooms.home.test) attached; remote.test is a second Prosody on another
loopback address that reaches rooms.home.test through DNS SRV records pointing
at stoa-gateway, with TLS verified against the run's CA. other.test is a
third Prosody whose certificate comes from a CA nobody trusts: it federates by
dialback, which this gateway is configured to accept.
"""

from __future__ import annotations

import hashlib
import socket
import subprocess
import xml.etree.ElementTree as ET
import ssl
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Dict

import pytest

from conftest import finish_component, started, _started
from servers import Component, Prosody, Redis, free_port
from testbed import Dnsmasq, Gateway, RemoteProsody, CertAuthority, loopback_base
from xmpp import Client, body, bare

HOME = "home.test"
ROOMS = "rooms.home.test"
REMOTE = "remote.test"
OTHER = "other.test"
SECRET = "e2e-component-secret"
GW_SECRET = "e2e-gateway-link-secret"
USERS = {"alice": "alice-pw", "bob": "bob-pw"}


PREFIX = "stoa-fed:"


@dataclass
class Fed:
    base: str
    ca: CertAuthority
    dns: Dnsmasq
    home: Prosody
    component: Component
    gateway: Gateway
    remote: RemoteProsody
    other: RemoteProsody
    gw_addr: str
    gw_port: int
    gw_tls_port: int
    redis: Redis
    certs: Dict[str, Dict[str, Path]]
    gw2_addr: str
    gw2_port: int
    state: Path


def gateway_settings(fed_dir, base, gw_port, cert, ca, component_port, redis_port, addr=None,
                     tls_port=0):
    return {
        "gateway": {"domains": ROOMS},
        "component": {"host": "127.0.0.1", "port": component_port, "secret": GW_SECRET,
                      "reconnect_min": "100ms", "reconnect_max": "1s"},
        "s2s": {"listen": addr or f"{base}.3", "port": gw_port, "tls_port": tls_port,
                "dns_servers": f"{base}.5:53",
                "dns_timeout": "2s", "dialback_secret": "e2e-dialback-secret",
                "require_valid_certificate": "false", "setup_timeout": "10s",
                "connect_timeout": "3s"},
        "tls": {"certificate": cert["cert"], "key": cert["key"], "ca_file": ca},
        "limits": {"max_stanza_size": "64k"},
        "redis": {"port": redis_port, "prefix": PREFIX},
        "edge": {},
        "log": {"level": "debug"},
    }


@pytest.fixture(scope="module")
def fed(state_root, redis):
    base = loopback_base()
    d = state_root / "federation"
    ca = CertAuthority(d / "ca")
    stranger = CertAuthority(d / "stranger-ca", "Nobody trusts this CA")
    gw_cert = ca.issue("gateway", [ROOMS])
    remote_cert = ca.issue("remote", [REMOTE])
    other_cert = stranger.issue("other", [OTHER])
    gw_port, gw_tls_port, gw2_port = free_port(), free_port(), free_port()
    dns = Dnsmasq(d / "dns", f"{base}.5")
    dns.host(f"gw.{HOME}", f"{base}.3")
    dns.srv("_xmpp-server", ROOMS, f"gw.{HOME}", gw_port)
    # A second instance, the fallback target: only tried when the first
    # does not answer (test_two_gateways_share_redis).
    dns.host(f"gw2.{HOME}", f"{base}.6")
    dns.srv("_xmpp-server", ROOMS, f"gw2.{HOME}", gw2_port, prio=10)
    remote = RemoteProsody(d / "remote", f"{base}.2", dns.resolv_conf(), remote_cert, ca.cert,
                           host=REMOTE, users=USERS)
    other = RemoteProsody(d / "other", f"{base}.4", dns.resolv_conf(), other_cert, ca.cert,
                          secure_auth=False, host=OTHER, users=USERS)
    other.name = "other-prosody"
    for p, a in ((remote, f"{base}.2"), (other, f"{base}.4")):
        dns.host(p.host, a)
        dns.srv("_xmpp-server", p.host, p.host, p.s2s_port)
    started(dns)
    home = Prosody(d / "home", host=HOME, components={ROOMS: SECRET}, users=USERS)
    started(home)
    comp_gw_port = free_port()
    settings = {
        "component": {"domain": ROOMS, "secret": SECRET, "server_port": home.component_port,
                      "reconnect_min": "100ms", "reconnect_max": "1s"},
        "redis": {"port": redis.port, "prefix": PREFIX},
        "ratelimit": {"enabled": "false"},
        "links": {"policy": "deliver"},
        "desk": {"moderators": f"alice@{HOME}"},
        "gateways": {"port": comp_gw_port, "secret": GW_SECRET, "host_domains": HOME},
        "log": {"level": "debug"},
    }
    comp = Component(d / "component", settings, name="component-fed")
    _started.append(comp)
    comp.start()
    comp.wait_log(r"component link ready", 15)
    gw = Gateway(d / "gateway", gateway_settings(d, base, gw_port, gw_cert, ca.cert, comp_gw_port,
                                                 redis.port, tls_port=gw_tls_port),
                 f"{base}.3", gw_port)
    started(gw)
    comp.wait_log(r"gateway attached", 15)
    started(remote)
    started(other)
    yield Fed(base, ca, dns, home, comp, gw, remote, other, f"{base}.3", gw_port, gw_tls_port,
              redis, {"gateway": gw_cert, "remote": remote_cert, "other": other_cert},
              f"{base}.6", gw2_port, d)
    for p in (other, remote):
        p.stop()
    status = gw.stop()
    finish_component(comp)
    home.stop()
    dns.stop()
    assert status == 0, gw.describe_failure(f"exit status {status}")
    assert "ERROR: AddressSanitizer" not in gw.text() and "runtime error:" not in gw.text(), \
        gw.describe_failure("sanitizer report")


def local(fed, user="alice") -> Client:
    return Client(f"{user}@{HOME}", USERS[user], fed.home.c2s_port, available=True)


def remote_client(fed, server, user="bob") -> Client:
    return Client(f"{user}@{server.host}", USERS[user], server.c2s_port, host=server.addr,
                  available=True)


def chat_both_ways(fed, server, room, timeout=30.0):
    alice = local(fed)
    far = remote_client(fed, server)
    try:
        alice.join(room, "alice")
        # An instant room (XEP-0045 10.1.2): the owner accepts the defaults.
        r = alice.iq(room, "<query xmlns='http://jabber.org/protocol/muc#owner'>"
                     "<x xmlns='jabber:x:data' type='submit'/></query>", "set")
        assert r.get("type") == "result", r
        # The first stanza waits for DNS and two s2s streams to be set up.
        joined = far.join(room, "far", timeout=timeout)
        assert any(s.get("from") == f"{room}/alice" for s in joined.stanzas)
        alice.wait_for(lambda s: s.get("from") == f"{room}/far", 10, "far's join presence")
        far.groupchat(room, "hello from afar")
        got = alice.wait_for(lambda s: body(s) == "hello from afar", 10, "the remote message")
        assert got.get("from") == f"{room}/far"
        alice.groupchat(room, "hello from home")
        got = far.wait_for(lambda s: body(s) == "hello from home", 10, "the local message")
        assert got.get("from") == f"{room}/alice"
    finally:
        far.close()
        alice.close()


def test_remote_user_chats_through_the_gateway_sasl_external(fed):
    mark = fed.gateway.mark()
    chat_both_ways(fed, fed.remote, f"fedroom@{ROOMS}")
    fed.gateway.wait_log(rf"s2s {ROOMS} <- {REMOTE} ready \(SASL EXTERNAL, TLS\)", 5, mark)
    fed.gateway.wait_log(rf"s2s {ROOMS} -> {REMOTE} ready \(SASL EXTERNAL, TLS\)", 5, mark)


def test_untrusted_certificate_federates_by_dialback(fed):
    mark = fed.gateway.mark()
    chat_both_ways(fed, fed.other, f"dbroom@{ROOMS}")
    fed.gateway.wait_log(rf"s2s {ROOMS} <- {OTHER} ready \(dialback, TLS\)", 5, mark)
    fed.gateway.wait_log(rf"s2s {ROOMS} -> {OTHER} ready \(dialback, TLS\)", 5, mark)


def test_gateway_restart_and_federation_resumes(fed):
    fed.gateway.restart()
    fed.component.wait_log(r"gateway attached", 15, since=0)
    chat_both_ways(fed, fed.remote, f"afterrestart@{ROOMS}")


# ---- hostile peers, straight at the gateway's port ----


def raw_stream(fed, data: bytes, read_for: float = 3.0) -> bytes:
    with socket.create_connection((fed.gw_addr, fed.gw_port), timeout=5) as s:
        s.sendall(data)
        got = b""
        deadline = time.monotonic() + read_for
        s.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            got += chunk
        return got


HEADER = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
          b"xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
          b"to='" + ROOMS.encode() + b"' from='" + REMOTE.encode() + b"' version='1.0'>")


def test_unknown_domain_gets_host_unknown(fed):
    got = raw_stream(fed, HEADER.replace(ROOMS.encode(), b"nobody.test"))
    assert b"<host-unknown" in got, got


def test_malformed_stream_gets_not_well_formed(fed):
    got = raw_stream(fed, HEADER + b"<message><body></message>")
    assert b"<not-well-formed" in got, got


def test_stanza_before_tls_gets_policy_violation(fed):
    got = raw_stream(fed, HEADER + b"<message from='a@remote.test' to='r@rooms.home.test'/>")
    assert b"<policy-violation" in got and b"TLS is required" in got, got


SASL_EXTERNAL = (b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='EXTERNAL'>"
                 b"=</auth>")


def recv_for(t, seconds: float, until: bytes = b"") -> bytes:
    got = b""
    deadline = time.monotonic() + seconds
    t.settimeout(0.5)
    while time.monotonic() < deadline and not (until and until in got):
        try:
            chunk = t.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            continue
        if not chunk:
            break
        got += chunk
    return got


def tls_stream(fed, cert=None, extra: bytes = b"", read_for: float = 3.0,
               after_auth: bytes = b"", header_from: bytes = REMOTE.encode()) -> bytes:
    """STARTTLS by hand, then `extra` on the restarted stream; with
    after_auth, a new stream once `<success/>` came, then those bytes."""
    header = HEADER.replace(b"from='" + REMOTE.encode(), b"from='" + header_from)
    with socket.create_connection((fed.gw_addr, fed.gw_port), timeout=5) as s:
        s.sendall(header + b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        buf = b""
        while b"<proceed" not in buf:
            chunk = s.recv(4096)
            assert chunk, buf
            buf += chunk
        ctx = ssl.create_default_context(cafile=str(fed.ca.cert))
        if cert:
            ctx.load_cert_chain(str(cert["cert"]), str(cert["key"]))
        with ctx.wrap_socket(s, server_hostname=ROOMS) as t:
            t.sendall(header + extra)
            if not after_auth:
                return recv_for(t, read_for)
            got = recv_for(t, read_for, until=b"<success")
            assert b"<success" in got, got
            t.sendall(header + after_auth)
            return recv_for(t, read_for)


def test_tls_without_certificate_offers_no_external(fed):
    got = tls_stream(fed)
    assert b"<stream:features>" in got and b"EXTERNAL" not in got, got
    assert b"urn:xmpp:features:dialback" in got, got


def test_failed_dialback_gets_not_authorized(fed):
    got = tls_stream(fed, extra=b"<db:result from='" + REMOTE.encode() + b"' to='" +
                     ROOMS.encode() + b"'>0123456789abcdef</db:result>", read_for=8)
    assert b"type='invalid'" in got and b"<not-authorized" in got, got


def test_oversized_stanza_gets_policy_violation(fed):
    big = b"<message from='a@remote.test' to='r@rooms.home.test'><body>" + b"x" * 70000 + \
        b"</body></message>"
    got = tls_stream(fed, extra=big)
    assert b"<policy-violation" in got, got


def test_failed_tls_handshake_closes_without_crash(fed):
    with socket.create_connection((fed.gw_addr, fed.gw_port), timeout=5) as s:
        s.sendall(HEADER + b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        time.sleep(0.3)
        s.sendall(b"this is not a TLS ClientHello\r\n" * 4)
        s.settimeout(3)
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
    fed.gateway.wait_log(r"TLS", 5)
    assert fed.gateway.running()


def test_stanza_for_a_domain_we_do_not_serve_gets_host_unknown(fed):
    """Authenticated by SASL EXTERNAL, a remote server may still only send
    to Stoa's own domains: the gateway is no relay (host-unknown)."""
    got = tls_stream(fed, cert=fed.certs["remote"], extra=SASL_EXTERNAL, read_for=3,
                     after_auth=b"<message from='bob@remote.test' to='alice@" + HOME.encode()
                     + b"' type='chat'><body>relay me</body></message>")
    assert b"<host-unknown" in got, got
    assert fed.gateway.running()


def test_bad_certificate_gets_no_sasl_external(fed):
    """A certificate from a CA the gateway does not trust: no EXTERNAL in
    the features, and forcing it fails with not-authorized."""
    got = tls_stream(fed, cert=fed.certs["other"], extra=SASL_EXTERNAL, read_for=3,
                     header_from=OTHER.encode())
    assert b"<stream:features>" in got and b"EXTERNAL" not in got, got
    assert b"<failure" in got and b"<not-authorized" in got, got


def test_direct_tls_xep0368(fed):
    """TLS from the first byte on the direct TLS port (ALPN xmpp-server),
    then SASL EXTERNAL with a valid certificate."""
    ctx = ssl.create_default_context(cafile=str(fed.ca.cert))
    ctx.load_cert_chain(str(fed.certs["remote"]["cert"]), str(fed.certs["remote"]["key"]))
    ctx.set_alpn_protocols(["xmpp-server"])
    with socket.create_connection((fed.gw_addr, fed.gw_tls_port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname=ROOMS) as t:
            assert t.selected_alpn_protocol() == "xmpp-server"
            t.sendall(HEADER + SASL_EXTERNAL)
            got = recv_for(t, 3, until=b"<success")
    assert b"<mechanism>EXTERNAL</mechanism>" in got and b"<success" in got, got


# ---- the policy at the edge ----


@contextmanager
def gateway_with(fed, **sections):
    """The gateway restarted with some settings changed, then as it was."""
    saved = {k: dict(v) for k, v in fed.gateway.settings.items()}
    for sec, values in sections.items():
        fed.gateway.settings.setdefault(sec, {}).update(values)
    restart_gateway(fed)
    try:
        yield fed.gateway
    finally:
        fed.gateway.settings = saved
        restart_gateway(fed)


def restart_gateway(fed, gw=None):
    gw = gw or fed.gateway
    mark = fed.component.mark()
    status = gw.stop()
    assert status == 0, gw.describe_failure(f"exit status {status}")
    check_clean(gw)
    gw.start()
    fed.component.wait_log(r"gateway attached", 15, since=mark)


def check_clean(gw):
    text = gw.text()
    assert "ERROR: AddressSanitizer" not in text and "runtime error:" not in text, \
        gw.describe_failure("sanitizer report")


def rcli(fed, *args):
    r = subprocess.run(["redis-cli", "-p", str(fed.redis.port), "--raw", *args],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def joined(fed, server, room, user="bob"):
    """alice (home) in a new room, and a remote user joined to it."""
    alice = local(fed)
    far = remote_client(fed, server, user)
    alice.join(room, "alice")
    r = alice.iq(room, "<query xmlns='http://jabber.org/protocol/muc#owner'>"
                 "<x xmlns='jabber:x:data' type='submit'/></query>", "set")
    assert r.get("type") == "result", r
    far.join(room, user, timeout=30)
    alice.wait_for(lambda s: s.get("from") == f"{room}/{user}", 10, "the remote join")
    return alice, far


def test_blocked_domain_is_refused_at_stream_open(fed):
    with gateway_with(fed, edge={"block_domains": REMOTE}):
        mark = fed.gateway.mark()
        with remote_client(fed, fed.remote) as far:
            err = far.join_error(f"blocked@{ROOMS}", "far", timeout=30)
            assert err.get("type") == "error"
        fed.gateway.wait_log(rf"s2s {ROOMS} <- {REMOTE} refused: this domain is blocked", 5,
                             mark)
        assert fed.gateway.running()


def test_allow_list_refuses_an_unlisted_domain(fed):
    with gateway_with(fed, edge={"only_domains": REMOTE}):
        mark = fed.gateway.mark()
        with remote_client(fed, fed.other) as far:
            err = far.join_error(f"partners@{ROOMS}", "far", timeout=30)
            assert err.get("type") == "error"
        fed.gateway.wait_log(rf"s2s {ROOMS} <- {OTHER} refused: not a partner domain", 5, mark)
        chat_both_ways(fed, fed.remote, f"partners@{ROOMS}")


def test_flood_from_a_remote_domain_is_limited(fed):
    """Per JID (5 at once) and per remote domain (8 at once), a token every
    20 s: bob's flood gets 5 through, and remote alice, on the same domain,
    only what the domain's bucket has left."""
    limits = {"jid_interval": "20s", "jid_burst": "5", "domain_interval": "20s",
              "domain_burst": "8", "violations": "0"}
    with gateway_with(fed, edge=limits):
        room = f"flood@{ROOMS}"
        alice, bob = joined(fed, fed.remote, room, "bob")
        ralice = remote_client(fed, fed.remote, "alice")
        try:
            ralice.join(room, "ralice", timeout=30)
            for who, c in (("bob", bob), ("ralice", ralice)):
                for i in range(15):
                    c.groupchat(room, f"flood {who} {i}")
                errs = [c.wait_for(lambda s: s.get("type") == "error" and
                                   s.tag.endswith("message"), 20, "a refusal")]
                c.pump(1.0)
                errs += c.take(lambda s: s.get("type") == "error")
                assert all(b"policy-violation" in ET.tostring(e) for e in errs), errs
            alice.pump(3.0)
            got = alice.take(lambda s: (body(s) or "").startswith("flood "))
            n_bob = sum(1 for s in got if body(s).startswith("flood bob"))
            n_ralice = sum(1 for s in got if body(s).startswith("flood ralice"))
            # A token every 20 s: at most one more than the burst while the test runs.
            assert 1 <= n_bob <= 6, [body(s) for s in got]
            assert n_bob + n_ralice <= 9 and n_ralice < 5, [body(s) for s in got]
        finally:
            ralice.close()
            bob.close()
            alice.close()


def block_domain_by_desk(fed, alice, domain):
    """The desk's block-domain command, run by the moderator alice."""
    ns = "http://jabber.org/protocol/commands"
    r = alice.iq(ROOMS, f"<command xmlns='{ns}' node='block-domain'/>", "set")
    sid = r.find(f"{{{ns}}}command").get("sessionid")
    r = alice.iq(ROOMS, f"<command xmlns='{ns}' node='block-domain' sessionid='{sid}' "
                 "action='complete'><x xmlns='jabber:x:data' type='submit'>"
                 f"<field var='domain'><value>{domain}</value></field>"
                 "<field var='reason'><value>e2e block</value></field></x></command>", "set")
    assert r.get("type") == "result", ET.tostring(r)


def test_desk_block_closes_an_open_stream(fed):
    room = f"deskblock@{ROOMS}"
    alice, far = joined(fed, fed.remote, room)
    try:
        far.groupchat(room, "before the block")
        alice.wait_for(lambda s: body(s) == "before the block", 10, "the message")
        mark = fed.gateway.mark()
        t0 = time.monotonic()
        block_domain_by_desk(fed, alice, REMOTE)
        line = fed.gateway.wait_log(rf"the desk blocked {REMOTE}: \d+ stream", 5, mark)
        assert time.monotonic() - t0 < 3, "the block took too long to close the streams"
        assert f"blocked {REMOTE}: 0 streams" not in line, line
        fed.gateway.wait_log(rf"s2s incoming {ROOMS} <- {REMOTE} closed", 5, mark)
        # A new stream is admitted, then closed once Redis says blocked.
        far.groupchat(room, "after the block")
        fed.gateway.wait_log(rf"edge: {REMOTE} is blocked \(e2e block\)", 30, mark)
        alice.expect_nothing(lambda s: body(s) == "after the block", 1.0)
    finally:
        rcli(fed, "DEL", f"{PREFIX}safety:ban:domain:{REMOTE}")
        far.close()
        alice.close()
    chat_both_ways(fed, fed.remote, f"unblocked@{ROOMS}")


RTBL_NODE = "xmppbl.test/muc_bans_sha256"


def rtbl_mirror(fed, domain, add):
    """What the component's rtbl writes when its service publishes (add) or
    retracts the SHA-256 of `domain` on a node of hashes: the set, the
    index of nodes, then the serial every reader polls."""
    digest = hashlib.sha256(domain.encode()).hexdigest()
    rcli(fed, "HSET", f"{PREFIX}safety:rtbl:nodes", RTBL_NODE, "hashes")
    rcli(fed, "SADD" if add else "SREM", f"{PREFIX}safety:rtbl:items:{RTBL_NODE}", digest)
    rcli(fed, "INCR", f"{PREFIX}safety:rtbl:serial")


def test_rtbl_listed_domain_is_closed_refused_and_admitted_after_removal(fed):
    """A domain on a real-time block list (the component's mirror in Redis)
    loses its open stream within the poll interval (0.5 s), is refused at
    the next stream open, and federates again once the list drops it."""
    room = f"rtbl@{ROOMS}"
    alice, far = joined(fed, fed.remote, room)
    try:
        far.groupchat(room, "before the listing")
        alice.wait_for(lambda s: body(s) == "before the listing", 10, "the message")
        mark = fed.gateway.mark()
        t0 = time.monotonic()
        rtbl_mirror(fed, REMOTE, True)
        line = fed.gateway.wait_log(
            rf"edge: {REMOTE} is on the real-time block list {RTBL_NODE}: \d+ stream", 5, mark)
        assert time.monotonic() - t0 < 3, "the listing took too long to close the streams"
        fed.gateway.wait_log(rf"s2s incoming {ROOMS} <- {REMOTE} closed", 5, mark)
        # remote.test opens a new stream for the next stanza: refused at once.
        far.groupchat(room, "after the listing")
        fed.gateway.wait_log(rf"edge: {REMOTE} refused: on the real-time block list "
                             rf"{RTBL_NODE}", 30, mark)
        fed.gateway.wait_log(rf"s2s {ROOMS} <- {REMOTE} refused: on a real-time block list",
                             5, mark)
        alice.expect_nothing(lambda s: body(s) == "after the listing", 1.0)
        assert f"{REMOTE}: 0 streams" not in line, line
    finally:
        rtbl_mirror(fed, REMOTE, False)
        far.close()
        alice.close()
    mark = fed.gateway.mark()
    chat_both_ways(fed, fed.remote, f"rtbl-removed@{ROOMS}")
    fed.gateway.wait_log(rf"s2s {ROOMS} <- {REMOTE} ready", 5, mark)
    with open(fed.gateway.log_path, "rb") as f:
        f.seek(mark)
        assert b"real-time block list" not in f.read()
    rcli(fed, "HDEL", f"{PREFIX}safety:rtbl:nodes", RTBL_NODE)


def test_two_gateways_share_redis(fed):
    """A second instance (the SRV fallback) with the same Redis and
    dialback secret: while the first is down, remote.test federates through
    the second; with both up, a desk block reaches both at once."""
    settings = {k: dict(v) for k, v in fed.gateway.settings.items()}
    settings["s2s"].update({"listen": fed.gw2_addr, "port": fed.gw2_port, "tls_port": 0})
    mark = fed.component.mark()
    gw2 = Gateway(fed.state / "gateway2", settings, fed.gw2_addr, fed.gw2_port)
    gw2.name = "gateway2"
    started(gw2)
    try:
        fed.component.wait_log(r"gateway attached", 15, since=mark)
        fed.gateway.stop()
        check_clean(fed.gateway)
        room = f"twogw@{ROOMS}"
        alice, far = joined(fed, fed.remote, room)
        try:
            gw2.wait_log(rf"s2s {ROOMS} <- {REMOTE} ready", 5)
            mark = fed.component.mark()
            fed.gateway.start()
            fed.component.wait_log(r"gateway attached", 15, since=mark)
            far.groupchat(room, "through the second")
            alice.wait_for(lambda s: body(s) == "through the second", 10, "the message")
            m1, m2 = fed.gateway.mark(), gw2.mark()
            block_domain_by_desk(fed, alice, REMOTE)
            fed.gateway.wait_log(rf"the desk blocked {REMOTE}", 5, m1)
            line = gw2.wait_log(rf"the desk blocked {REMOTE}: \d+ stream", 5, m2)
            assert "0 streams" not in line, line
        finally:
            rcli(fed, "DEL", f"{PREFIX}safety:ban:domain:{REMOTE}")
            far.close()
            alice.close()
    finally:
        if not fed.gateway.running():
            fed.gateway.start()
        status = gw2.stop()
        check_clean(gw2)
        assert status == 0, gw2.describe_failure(f"exit status {status}")
    chat_both_ways(fed, fed.remote, f"aftertwo@{ROOMS}")


def test_links_from_remote_senders_are_refused_when_the_policy_says_so(fed):
    with gateway_with(fed, edge={"links": "reject"}):
        room = f"links@{ROOMS}"
        alice, far = joined(fed, fed.remote, room)
        try:
            far.groupchat(room, "see https://spam.example/buy")
            err = far.wait_for(lambda s: s.get("type") == "error" and s.tag.endswith("message"),
                               10, "the refusal")
            assert b"policy-violation" in ET.tostring(err), ET.tostring(err)
            far.groupchat(room, "no link here")
            alice.wait_for(lambda s: body(s) == "no link here", 10, "the plain message")
            assert not alice.take(lambda s: "spam.example" in (body(s) or ""))
        finally:
            far.close()
            alice.close()


def external_stream(fed):
    """A stream from remote.test authenticated by SASL EXTERNAL, held open."""
    s = socket.create_connection((fed.gw_addr, fed.gw_port), timeout=5)
    s.sendall(HEADER + b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
    got = b""
    while b"<proceed" not in got:
        chunk = s.recv(4096)
        assert chunk, got
        got += chunk
    ctx = ssl.create_default_context(cafile=str(fed.ca.cert))
    ctx.load_cert_chain(str(fed.certs["remote"]["cert"]), str(fed.certs["remote"]["key"]))
    t = ctx.wrap_socket(s, server_hostname=ROOMS)
    t.sendall(HEADER + SASL_EXTERNAL)
    return t, recv_for(t, 5, until=b"<success")


def test_streams_per_domain_are_limited(fed):
    with gateway_with(fed, edge={"max_streams_per_domain": "2"}):
        held = []
        try:
            for _ in range(2):
                t, got = external_stream(fed)
                held.append(t)
                assert b"<success" in got, got
                t.sendall(HEADER)
                assert b"<stream:features" in recv_for(t, 3, until=b"</stream:features>")
            t, got = external_stream(fed)
            held.append(t)
            got += recv_for(t, 2)
            assert b"<policy-violation" in got and b"too many streams" in got, got
            assert b"<success" not in got, got
        finally:
            for t in held:
                t.close()
