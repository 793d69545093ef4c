"""stoa-component attached to real host servers: Prosody and ejabberd.

Every test runs once per server (the `stack` fixture is parametrized), with a
slixmpp client logged in as a real user on that server talking to the
component through it.
"""

from __future__ import annotations

import re
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import DOMAIN, SECRET, component_settings
from servers import package_version
from xmpp import NS_CLIENT, Client, error_condition, error_type

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_PING = "urn:xmpp:ping"
NS_VERSION = "jabber:iq:version"

EXPECTED_FEATURES = {NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING, NS_VERSION}


@pytest.fixture
def alice(stack):
    c = Client(stack.jid("alice"), stack.users["alice"], stack.c2s_port)
    yield c
    c.close()


def assert_result_from_component(reply: ET.Element, stack) -> None:
    assert reply.tag == f"{{{NS_CLIENT}}}iq"
    assert reply.get("type") == "result", ET.tostring(reply).decode()
    assert reply.get("from") == stack.domain, ET.tostring(reply).decode()


def disco_info(client: Client, stack) -> ET.Element:
    reply = client.iq(stack.domain, f"<query xmlns='{NS_DISCO_INFO}'/>")
    assert_result_from_component(reply, stack)
    return reply


def check_disco_info(reply: ET.Element, stack) -> None:
    query = reply.find(f"{{{NS_DISCO_INFO}}}query")
    assert query is not None, ET.tostring(reply).decode()
    identities = query.findall(f"{{{NS_DISCO_INFO}}}identity")
    assert [(i.get("category"), i.get("type"), i.get("name")) for i in identities] == [
        ("conference", "text", "Stoa chat rooms")
    ], ET.tostring(reply).decode()
    features = [f.get("var") for f in query.findall(f"{{{NS_DISCO_INFO}}}feature")]
    missing = EXPECTED_FEATURES - set(features)
    assert not missing, f"features {features} lack {missing}"
    assert len(features) == len(set(features)), f"duplicate features: {features}"


def test_disco_info(stack, alice):
    check_disco_info(disco_info(alice, stack), stack)


def test_disco_items(stack, alice):
    reply = alice.iq(stack.domain, f"<query xmlns='{NS_DISCO_ITEMS}'/>")
    assert_result_from_component(reply, stack)
    assert reply.find(f"{{{NS_DISCO_ITEMS}}}query") is not None, ET.tostring(reply).decode()


def test_ping(stack, alice):
    t0 = time.monotonic()
    reply = alice.iq(stack.domain, f"<ping xmlns='{NS_PING}'/>")
    rtt = time.monotonic() - t0
    assert_result_from_component(reply, stack)
    assert len(reply) == 0, f"ping result has a payload: {ET.tostring(reply).decode()}"
    print(f"[e2e] {stack.kind}: ping round trip {rtt * 1000:.1f} ms")


def test_version(stack, alice):
    reply = alice.iq(stack.domain, f"<query xmlns='{NS_VERSION}'/>")
    assert_result_from_component(reply, stack)
    q = reply.find(f"{{{NS_VERSION}}}query")
    assert q is not None, ET.tostring(reply).decode()
    assert q.findtext(f"{{{NS_VERSION}}}name") == "Stoa"
    assert q.findtext(f"{{{NS_VERSION}}}version") == package_version()


def test_unknown_namespace_is_service_unavailable(stack, alice):
    reply = alice.iq(stack.domain, "<query xmlns='urn:example:stoa:no-such-thing'/>")
    assert reply.get("type") == "error", ET.tostring(reply).decode()
    assert reply.get("from") == stack.domain
    assert error_condition(reply) == "service-unavailable", ET.tostring(reply).decode()
    assert error_type(reply) == "cancel", ET.tostring(reply).decode()


def test_iq_set_unknown_namespace(stack, alice):
    reply = alice.iq(stack.domain, "<command xmlns='urn:example:stoa:nope'/>", itype="set")
    assert reply.get("type") == "error", ET.tostring(reply).decode()
    assert error_condition(reply) == "service-unavailable", ET.tostring(reply).decode()


def test_message_to_component_bounces(stack, alice):
    mid = alice.send_message(stack.domain, "hello component")
    deadline = time.monotonic() + 10
    while True:
        msg = alice.next_message(timeout=max(0.1, deadline - time.monotonic()))
        if msg.get("id") == mid:
            break
    assert msg.get("type") == "error", ET.tostring(msg).decode()
    assert msg.get("from") == stack.domain, ET.tostring(msg).decode()
    assert error_condition(msg) == "service-unavailable", ET.tostring(msg).decode()


def test_two_users(stack, alice):
    """A second user's session works beside the first (routing by 'to')."""
    with Client(stack.jid("bob"), stack.users["bob"], stack.c2s_port) as bob:
        r1 = bob.iq(stack.domain, f"<ping xmlns='{NS_PING}'/>")
        r2 = alice.iq(stack.domain, f"<ping xmlns='{NS_PING}'/>")
        assert r1.get("type") == r2.get("type") == "result"
        assert r1.get("to", "").startswith("bob@localhost/")
        assert r2.get("to", "").startswith("alice@localhost/")


def test_wrong_secret_does_not_hot_loop(stack, component_factory):
    """A second instance with a wrong secret is refused with not-authorized
    and waits before retrying instead of hammering the server. The first
    instance stays attached."""
    bad = component_factory(
        component_settings(stack.component_port, 1, secret="not-the-secret",
                           reconnect_min="1s", reconnect_max="30s")
        | {"redis": {"enabled": "false"}},
        name="wrong-secret",
    )
    refused = (rf"component link refused by 127\.0\.0\.1:{stack.component_port}: "
               r"not-authorized \(wrong secret\?\)")
    m = bad.wait_log(refused, timeout=15)
    first = time.monotonic()
    time.sleep(5)
    lines = [line for line in bad.lines_since(0) if re.search(refused, line)]
    elapsed = time.monotonic() - first
    print(f"[e2e] {stack.kind}: {len(lines)} refusal(s) in {elapsed:.1f}s: " + " | ".join(lines))
    assert 1 <= len(lines) <= 3, f"{len(lines)} refusals in {elapsed:.1f}s: hot loop?"
    for line in lines:
        d = re.search(r"retrying in ([0-9.]+)s", line)
        assert d and float(d.group(1)) >= 1.0, f"retry delay below reconnect_min: {line}"
    assert bad.count("component link ready") == 0
    assert m
    # The rightful instance is still there.
    with Client(stack.jid("alice"), stack.users["alice"], stack.c2s_port) as c:
        check_disco_info(disco_info(c, stack), stack)


def test_host_server_restart(stack):
    """Restarting the host server: the component notices, reconnects within
    seconds, and answers again. A server going down is an ordinary loss of
    the link (warn, normal backoff), not a refusal (which waits the maximum
    delay)."""
    comp = stack.component
    mark = comp.mark()
    t_stop = time.monotonic()
    stack.server.stop()
    lost = comp.wait_log(r"component link (lost|failed|refused)", timeout=15, since=mark)
    t_lost = time.monotonic()
    stack.server.start()
    t_up = time.monotonic()
    comp.wait_log(rf"component link ready: {DOMAIN} via 127\.0\.0\.1:{stack.component_port}",
                  timeout=45, since=mark)
    t_ready = time.monotonic()
    relink = t_ready - t_up
    print(f"[e2e] {stack.kind} restart: link loss noticed {t_lost - t_stop:.2f}s after stop "
          f"({lost.string.strip()!r}); server back after {t_up - t_stop:.2f}s; link ready "
          f"{relink:.2f}s after the server was up ({t_ready - t_stop:.2f}s in all)")
    with Client(stack.jid("alice"), stack.users["alice"], stack.c2s_port) as c:
        check_disco_info(disco_info(c, stack), stack)
    assert relink < 10, f"link took {relink:.1f}s to come back after the server restarted"
    assert "component link lost" in lost.string and " WARN " in lost.string, \
        f"a host server restart was logged as {lost.string.strip()!r}; expected a warn " \
        "'component link lost: ...; reconnecting in ...' (a refusal jumps to reconnect_max)"
    assert SECRET not in comp.text(), "the secret appears in the log"
