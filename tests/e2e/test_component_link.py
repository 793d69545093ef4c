"""The component link against a fake server that controls every byte.

The fake server (fakeserver.py) is a plain socket server: it checks the
component's stream header and SHA-1 handshake, then sends what each test
needs, including input no real server would send.
"""

from __future__ import annotations

import os
import re
import signal
import time
import xml.etree.ElementTree as ET

import pytest

from fakeserver import NS_COMPONENT, NS_STANZAS, NS_STREAM_ERRORS, FakeServer
from servers import package_version

DOMAIN = "rooms.localhost"
SECRET = "fake-link-secret"
USER = "alice@localhost/desk"

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"


def settings(fake: FakeServer, **component):
    s = {
        "component": {"domain": DOMAIN, "secret": SECRET, "server_port": fake.port,
                      "keepalive": "60s", "reconnect_min": "100ms", "reconnect_max": "500ms"},
        "limits": {"max_stanza_size": "64k", "max_depth": "32"},
        "redis": {"enabled": "false"},
        "log": {"level": "debug"},
    }
    s["component"].update({k: str(v) for k, v in component.items()})
    return s


@pytest.fixture
def fake():
    f = FakeServer(domain=DOMAIN, secret=SECRET)
    yield f
    f.close()


@pytest.fixture
def linked(fake, component_factory):
    """A component that has completed the handshake with the fake server."""
    comp = component_factory(settings(fake))
    link = fake.accept(timeout=15)
    link.handshake()
    comp.wait_log(rf"component link ready: {DOMAIN} via 127\.0\.0\.1:{fake.port}", 10)
    return comp, link


def reconnects(fake, comp, timeout=10.0):
    """Waits for the component's next connection and completes its handshake."""
    link = fake.accept(timeout=timeout)
    link.handshake()
    return link


def iq(frm, to, itype, payload, iid="q1"):
    return f"<iq from='{frm}' to='{to}' type='{itype}' id='{iid}'>{payload}</iq>"


# ----------------------------------------------------------------------------


def test_handshake_digest_and_header(fake, component_factory):
    comp = component_factory(settings(fake))
    link = fake.accept(timeout=15)
    digest = link.handshake(stream_id="abc-123_id")
    # Independent of servers.handshake_digest: the XEP-0114 example form.
    import hashlib

    assert digest == hashlib.sha1(("abc-123_id" + SECRET).encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{40}", digest)
    comp.wait_log(rf"component link ready: {DOMAIN} via 127\.0\.0\.1:{fake.port}", 10)
    assert SECRET not in comp.text()


def test_disco_info_reply(linked):
    comp, link = linked
    link.send(iq(USER, DOMAIN, "get", f"<query xmlns='{NS_DISCO_INFO}'/>", "d1"))
    reply = link.recv_stanza()
    assert reply.tag == f"{{{NS_COMPONENT}}}iq", ET.tostring(reply)
    assert reply.get("type") == "result"
    assert reply.get("id") == "d1"
    assert reply.get("to") == USER
    assert reply.get("from") == DOMAIN
    q = reply.find(f"{{{NS_DISCO_INFO}}}query")
    assert q is not None, ET.tostring(reply)
    ids = [(i.get("category"), i.get("type"), i.get("name"))
           for i in q.findall(f"{{{NS_DISCO_INFO}}}identity")]
    assert ids == [("conference", "text", "Stoa chat rooms")]
    feats = {f.get("var") for f in q.findall(f"{{{NS_DISCO_INFO}}}feature")}
    assert {NS_DISCO_INFO, "http://jabber.org/protocol/disco#items", "urn:xmpp:ping",
            "jabber:iq:version"} <= feats


def test_version_and_ping(linked):
    comp, link = linked
    link.send(iq(USER, DOMAIN, "get", "<query xmlns='jabber:iq:version'/>", "v1"))
    r = link.recv_stanza()
    assert r.get("type") == "result" and r.get("id") == "v1"
    assert r.findtext("{jabber:iq:version}query/{jabber:iq:version}name") == "Stoa"
    assert r.findtext("{jabber:iq:version}query/{jabber:iq:version}version") == package_version()
    link.send(iq(USER, DOMAIN, "get", "<ping xmlns='urn:xmpp:ping'/>", "p1"))
    r = link.recv_stanza()
    assert (r.get("type"), r.get("id"), r.get("to"), len(r)) == ("result", "p1", USER, 0)


def stanza_error(reply):
    err = reply.find(f"{{{NS_COMPONENT}}}error")
    assert err is not None, ET.tostring(reply)
    conds = [c.tag.split("}")[1] for c in err if c.tag.startswith(f"{{{NS_STANZAS}}}")
             and not c.tag.endswith("}text")]
    return err.get("type"), conds


def test_stanza_errors(linked):
    comp, link = linked
    cases = [
        # unknown namespace
        (iq(USER, DOMAIN, "get", "<query xmlns='urn:example:unknown'/>", "e1"),
         "e1", "service-unavailable"),
        # no payload
        (iq(USER, DOMAIN, "get", "", "e2"), "e2", "bad-request"),
        # two payloads
        (iq(USER, DOMAIN, "get", "<ping xmlns='urn:xmpp:ping'/><ping xmlns='urn:xmpp:ping'/>",
            "e3"), "e3", "bad-request"),
        # malformed 'from' (empty localpart)
        (iq("@localhost/x", DOMAIN, "get", "<ping xmlns='urn:xmpp:ping'/>", "e4"),
         "e4", "jid-malformed"),
        # malformed 'to': empty localpart, space in the localpart
        (iq(USER, "@" + DOMAIN, "get", "<ping xmlns='urn:xmpp:ping'/>", "e5"),
         "e5", "jid-malformed"),
        (iq(USER, "a b@" + DOMAIN, "get", "<ping xmlns='urn:xmpp:ping'/>", "e6"),
         "e6", "jid-malformed"),
    ]
    for data, iid, cond in cases:
        link.send(data)
        r = link.recv_stanza()
        assert r.get("id") == iid, ET.tostring(r)
        assert r.get("type") == "error", ET.tostring(r)
        assert r.get("from") == DOMAIN, ET.tostring(r)
        etype, conds = stanza_error(r)
        assert conds == [cond], f"{data}: got {conds}"
    # A message to the component itself bounces too.
    link.send(f"<message from='{USER}' to='{DOMAIN}' id='m1' type='chat'><body>hi</body></message>")
    r = link.recv_stanza()
    assert r.tag == f"{{{NS_COMPONENT}}}message" and r.get("type") == "error"
    assert stanza_error(r)[1] == ["service-unavailable"]
    # Error replies are never answered (no loops): nothing comes back.
    link.send(f"<message from='{USER}' to='{DOMAIN}' id='m2' type='error'>"
              f"<error type='cancel'><item-not-found xmlns='{NS_STANZAS}'/></error></message>")
    link.send(iq(USER, DOMAIN, "get", "<ping xmlns='urn:xmpp:ping'/>", "after"))
    r = link.recv_stanza()
    assert r.get("id") == "after", f"an error stanza was answered: {ET.tostring(r)}"


def test_malformed_xml_is_stream_error_then_reconnect(fake, linked):
    comp, link = linked
    mark = comp.mark()
    link.send("<message from='alice@localhost/x' to='rooms.localhost'><body>x</message>")
    err = link.expect_stream_error("not-well-formed")
    assert err.find(f"{{{NS_STREAM_ERRORS}}}text") is not None, "stream error without <text>"
    link.close_stream()
    link.wait_eof(10)
    comp.wait_log(r"component link lost", 10, since=mark)
    link2 = reconnects(fake, comp)
    link2.send(iq(USER, DOMAIN, "get", "<ping xmlns='urn:xmpp:ping'/>", "back"))
    assert link2.recv_stanza().get("id") == "back"


def bounced(link, mid, cond="policy-violation"):
    """The stanza error the component answers a skipped stanza with."""
    r = link.recv_stanza()
    assert r.get("id") == mid and r.get("type") == "error", ET.tostring(r)
    assert r.get("to") == "alice@localhost/x", ET.tostring(r)
    assert stanza_error(r)[1] == [cond], ET.tostring(r)
    return r


def still_linked(comp, link, mark, iid):
    link.send(iq(USER, DOMAIN, "get", "<ping xmlns='urn:xmpp:ping'/>", iid))
    assert link.recv_stanza().get("id") == iid
    lost = [line for line in comp.lines_since(mark) if "component link" in line]
    assert not lost, lost


def test_oversized_stanza_is_bounced_not_the_link(fake, linked):
    """16 times the 64k limit: skipped unbuilt, answered policy-violation,
    and the stream carries on."""
    comp, link = linked
    mark = comp.mark()
    big = ("<message from='alice@localhost/x' to='rooms.localhost' id='big'><body>"
           + "A" * (1024 * 1024) + "</body></message>").encode()
    link.send_background(big)
    bounced(link, "big")
    still_linked(comp, link, mark, "after-big")


def test_larger_than_any_server_relays_is_policy_violation(fake, linked):
    """Past 64 MiB no server relays a stanza: the stream ends, and comes back."""
    comp, link = linked
    big = b"<message from='alice@localhost/x' to='rooms.localhost'><body>" \
        + b"A" * (65 * 1024 * 1024) + b"</body></message>"
    link.send_background(big)
    err = link.expect_stream_error("policy-violation", timeout=60)
    assert err.find(f"{{{NS_STREAM_ERRORS}}}text") is not None
    link.close_stream()
    link.wait_eof(10)
    link2 = reconnects(fake, comp)
    link2.send(iq(USER, DOMAIN, "get", "<ping xmlns='urn:xmpp:ping'/>", "back"))
    assert link2.recv_stanza().get("id") == "back"


def test_deep_nesting_is_bounced_not_the_link(fake, linked):
    comp, link = linked
    mark = comp.mark()
    depth = 200
    nested = "<x>" * depth + "</x>" * depth
    link.send(f"<message from='alice@localhost/x' to='rooms.localhost' id='deep'>{nested}"
              "</message>")
    bounced(link, "deep")
    still_linked(comp, link, mark, "after-deep")


def test_stanza_just_under_limit_is_fine(linked):
    """64k limit: a 32k stanza passes and is answered."""
    comp, link = linked
    pad = "p" * (32 * 1024)
    link.send(iq(USER, DOMAIN, "get", f"<query xmlns='urn:example:big'><x>{pad}</x></query>", "big"))
    r = link.recv_stanza()
    assert r.get("id") == "big" and r.get("type") == "error"
    assert stanza_error(r)[1] == ["service-unavailable"]


def test_memory_stays_bounded_under_bad_input(fake, component_factory):
    """200 bad streams across reconnects: RSS must not keep growing."""
    rounds = int(os.environ.get("STOA_E2E_BAD_ROUNDS", "200"))
    comp = component_factory(
        settings(fake, reconnect_min="10ms", reconnect_max="30ms"),
        # ASan's quarantine keeps freed memory on purpose: keep it small so
        # that RSS measures what the daemon holds, not what ASan holds.
        extra_env={"ASAN_OPTIONS": "quarantine_size_mb=4:detect_leaks=1:exitcode=23"},
    )
    # A megabyte skipped (over the 64k limit), then what no server relays.
    big = ("<message from='a@localhost/x' to='rooms.localhost'><body>"
           + "B" * (1024 * 1024) + "<!-- -->").encode()
    bad_inputs = [
        ("restricted-xml", big),
        ("not-well-formed", b"<message><body>x</message>"),
        ("restricted-xml", b"<message>" + b"<x>" * 100 + b"<?pi?>"),
        ("not-well-formed", b"<iq type='get' id='1' from='a@localhost' to='rooms.localhost'"
                            b" a='1' a='2'/>"),
    ]
    baseline = None
    t0 = time.monotonic()
    for i in range(rounds):
        link = fake.accept(timeout=15)
        link.handshake()
        cond, data = bad_inputs[i % len(bad_inputs)]
        if len(data) > 65536:
            link.send_background(data)
        else:
            link.send(data)
        link.expect_stream_error(cond)
        link.close_stream()
        link.wait_eof(10)
        link.close()
        if i == 19:
            baseline = comp.rss_kib()
    final = comp.rss_kib()
    elapsed = time.monotonic() - t0
    growth = final - baseline
    print(f"[e2e] {rounds} bad streams in {elapsed:.1f}s; RSS after 20: {baseline} KiB, "
          f"after {rounds}: {final} KiB, growth {growth} KiB")
    assert growth < 30 * 1024, f"RSS grew by {growth} KiB over {rounds - 20} bad streams"
    # Still healthy.
    link = fake.accept(timeout=15)
    link.handshake()
    link.send(iq(USER, DOMAIN, "get", "<ping xmlns='urn:xmpp:ping'/>", "alive"))
    assert link.recv_stanza().get("id") == "alive"


def test_sigterm_closes_stream_and_exits_0(linked):
    comp, link = linked
    comp.signal(signal.SIGTERM)
    kind, _ = link.next_event(10)
    assert kind == "end", f"expected </stream:stream> on SIGTERM, got {kind}"
    link.close_stream()
    link.wait_eof(10)
    comp.proc.wait(10)
    assert comp.proc.returncode == 0, comp.describe_failure("exit status after SIGTERM")


def test_sigterm_while_server_silent_still_exits(fake, component_factory):
    """The server never answers our </stream:stream>: exit anyway, in time."""
    comp = component_factory(settings(fake))
    link = fake.accept(timeout=15)
    link.auto_close = False
    link.handshake()
    comp.wait_log("component link ready", 10)
    t0 = time.monotonic()
    comp.signal(signal.SIGTERM)
    assert link.next_event(10)[0] == "end"
    comp.proc.wait(15)
    took = time.monotonic() - t0
    print(f"[e2e] exit without the server's close: {took:.2f}s")
    assert comp.proc.returncode == 0
    assert took < 12


def test_keepalive_whitespace_when_idle(fake, component_factory):
    comp = component_factory(settings(fake, keepalive="1s"))
    link = fake.accept(timeout=15)
    link.handshake()
    comp.wait_log("component link ready", 10)
    t_ready = time.monotonic()
    time.sleep(3.5)
    after = [(t, d) for t, d in link.raw_chunks() if t > t_ready]
    ws = [(t - t_ready, d) for t, d in after if d.strip() == b""]
    other = [d for t, d in after if d.strip() != b""]
    print(f"[e2e] keepalives at {[round(t, 2) for t, _ in ws]} s after ready")
    assert not other, f"unexpected data while idle: {other!r}"
    assert len(ws) >= 2, f"expected whitespace keepalives every ~1s, got {ws!r}"
    assert ws[0][0] < 2.0, f"first keepalive only after {ws[0][0]:.2f}s"


def test_server_refusal_does_not_hot_loop(fake, component_factory):
    """The server answers the handshake with not-authorized: the component
    retries at its maximum delay, not in a loop."""
    comp = component_factory(settings(fake, reconnect_min="1s", reconnect_max="30s"))
    link = fake.accept(timeout=15)
    link.handshake(accept=False)
    comp.wait_log(r"component link refused by 127\.0\.0\.1:\d+: not-authorized", 10)
    t0 = time.monotonic()
    time.sleep(5)
    n = fake.accepted
    print(f"[e2e] connections (the refused one included) {time.monotonic() - t0:.1f}s "
          f"after the refusal: {n}")
    assert n <= 3, f"{n} connections within ~5s of a refusal: hot loop"


def test_no_id_in_header_is_refused(fake, component_factory):
    """A server header without an id cannot be authenticated against."""
    comp = component_factory(settings(fake))
    link = fake.accept(timeout=15)
    kind, _ = link.next_event(10)
    assert kind == "header"
    link.send("<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
              "xmlns:stream='http://etherx.jabber.org/streams' from='rooms.localhost'>")
    link.expect_stream_error("invalid-id")
    assert comp.running()


def test_system_shutdown_is_not_a_refusal(fake, component_factory):
    """A server that shuts down (stream error system-shutdown, as ejabberd
    sends on restart) has not refused us: reconnect soon, with the normal
    backoff, not after reconnect_max as for a wrong secret."""
    comp = component_factory(settings(fake, reconnect_min="100ms", reconnect_max="30s"))
    link = fake.accept(timeout=15)
    link.handshake()
    comp.wait_log("component link ready", 10)
    mark = comp.mark()
    link.send(f"<stream:error><system-shutdown xmlns='{NS_STREAM_ERRORS}'/></stream:error>"
              "</stream:stream>")
    line = comp.wait_log(r"component link (lost|failed|refused)", 10, since=mark).string.strip()
    t0 = time.monotonic()
    link2 = fake.accept(timeout=5)
    took = time.monotonic() - t0
    print(f"[e2e] after system-shutdown: {line!r}; reconnected after {took:.2f}s")
    link2.handshake()
    assert "component link lost" in line and " WARN " in line, \
        f"system-shutdown logged as {line!r}, expected a warn 'component link lost'"


def test_sighup_reloads_name(fake, component_factory):
    """SIGHUP re-reads the file: a new [component] name shows in disco at once,
    on the same link."""
    comp = component_factory(settings(fake))
    link = fake.accept(timeout=15)
    link.handshake()
    comp.wait_log("component link ready", 10)
    comp.settings["component"]["name"] = "Renamed rooms"
    comp.prepare()  # rewrites the config file
    mark = comp.mark()
    comp.signal(signal.SIGHUP)
    comp.wait_log(r"configuration reloaded", 10, since=mark)
    link.send(iq(USER, DOMAIN, "get", f"<query xmlns='{NS_DISCO_INFO}'/>", "h1"))
    r = link.recv_stanza()
    names = [i.get("name") for i in r.iter(f"{{{NS_DISCO_INFO}}}identity")]
    assert names == ["Renamed rooms"], ET.tostring(r)
    assert fake.accepted == 1, "the link was re-established for a reload"
