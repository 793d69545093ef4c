"""Federation through stoa-gateway, against a second real Prosody.

The testbed (testbed.py): home.test is the host Prosody with stoa-component
(rooms.home.test) attached; remote.test is a second Prosody on another
loopback address that reaches rooms.home.test through DNS SRV records pointing
at stoa-gateway, with TLS verified against the run's CA. other.test is a
third Prosody whose certificate comes from a CA nobody trusts: it federates by
dialback, which this gateway is configured to accept.
"""

from __future__ import annotations

import socket
import ssl
import time
from dataclasses import dataclass

import pytest

from conftest import finish_component, started, _started
from servers import Component, Prosody, free_port
from testbed import Dnsmasq, Gateway, RemoteProsody, CertAuthority, loopback_base
from xmpp import Client, body, bare

HOME = "home.test"
ROOMS = "rooms.home.test"
REMOTE = "remote.test"
OTHER = "other.test"
SECRET = "e2e-component-secret"
GW_SECRET = "e2e-gateway-link-secret"
USERS = {"alice": "alice-pw", "bob": "bob-pw"}


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


def gateway_settings(fed_dir, base, gw_port, cert, ca, component_port):
    return {
        "gateway": {"domains": ROOMS},
        "component": {"host": "127.0.0.1", "port": component_port, "secret": GW_SECRET,
                      "reconnect_min": "100ms", "reconnect_max": "1s"},
        "s2s": {"listen": f"{base}.3", "port": gw_port, "dns_servers": f"{base}.5:53",
                "dns_timeout": "2s", "dialback_secret": "e2e-dialback-secret",
                "require_valid_certificate": "false", "setup_timeout": "10s",
                "connect_timeout": "3s"},
        "tls": {"certificate": cert["cert"], "key": cert["key"], "ca_file": ca},
        "limits": {"max_stanza_size": "64k"},
        "log": {"level": "debug"},
    }


@pytest.fixture(scope="module")
def fed(state_root):
    base = loopback_base()
    d = state_root / "federation"
    ca = CertAuthority(d / "ca")
    stranger = CertAuthority(d / "stranger-ca", "Nobody trusts this CA")
    gw_cert = ca.issue("gateway", [ROOMS])
    remote_cert = ca.issue("remote", [REMOTE])
    other_cert = stranger.issue("other", [OTHER])
    gw_port = free_port()
    dns = Dnsmasq(d / "dns", f"{base}.5")
    dns.host(f"gw.{HOME}", f"{base}.3")
    dns.srv("_xmpp-server", ROOMS, f"gw.{HOME}", gw_port)
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
        "redis": {"enabled": "false"},
        "ratelimit": {"enabled": "false"},
        "links": {"policy": "deliver"},
        "gateways": {"port": comp_gw_port, "secret": GW_SECRET, "host_domains": HOME},
        "log": {"level": "debug"},
    }
    comp = Component(d / "component", settings, name="component-fed")
    _started.append(comp)
    comp.start()
    comp.wait_log(r"component link ready", 15)
    gw = Gateway(d / "gateway", gateway_settings(d, base, gw_port, gw_cert, ca.cert, comp_gw_port),
                 f"{base}.3", gw_port)
    started(gw)
    comp.wait_log(r"gateway attached", 15)
    started(remote)
    started(other)
    yield Fed(base, ca, dns, home, comp, gw, remote, other, f"{base}.3", gw_port)
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


def tls_stream(fed, cert=None, extra: bytes = b"", read_for: float = 3.0) -> bytes:
    """STARTTLS by hand, then `extra` on the restarted stream."""
    with socket.create_connection((fed.gw_addr, fed.gw_port), timeout=5) as s:
        s.sendall(HEADER + b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        buf = b""
        while b"<proceed" not in buf:
            chunk = s.recv(4096)
            assert chunk, buf
            buf += chunk
        ctx = ssl.create_default_context(cafile=str(fed.ca.cert))
        if cert:
            ctx.load_cert_chain(str(cert["cert"]), str(cert["key"]))
        with ctx.wrap_socket(s, server_hostname=ROOMS) as t:
            t.sendall(HEADER + extra)
            got = b""
            deadline = time.monotonic() + read_for
            t.settimeout(0.5)
            while time.monotonic() < deadline:
                try:
                    chunk = t.recv(65536)
                except (socket.timeout, ssl.SSLWantReadError):
                    continue
                if not chunk:
                    break
                got += chunk
            return got


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
