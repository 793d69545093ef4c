"""Real-time block lists end to end (docs/safety.md, "Real-time block lists").

The host server's own pubsub service (Prosody's mod_pubsub as a component,
ejabberd's mod_pubsub) plays xmppbl.org: listkeeper creates a node of hashes
(as muc_bans_sha256: item ids are the SHA-256 of a bare JID or a domain,
with an XEP-0377 <report/> as payload) and a node of domains (as
spam_source_domains), and publishes and retracts on them. A component of
its own (RTBL_DOMAIN) subscribes through the host server, as an installation
without a gateway does, and mirrors the lists into a Redis prefix of its own.
Node names are drawn per test: the servers' nodes outlive a test.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from typing import Dict, Optional

import pytest

from conftest import HOST, PUBSUB, RTBL_DOMAIN, SAFETY_DOMAINS, component_settings
from xmpp import (
    NS_DATA,
    NS_MUC_ADMIN,
    NS_MUC_OWNER,
    JoinRefused,
    body,
    dump,
    error_condition,
    error_text,
    is_message,
)

NS_PUBSUB = "http://jabber.org/protocol/pubsub"
REPORT = "<report xmlns='urn:xmpp:reporting:1' reason='urn:xmpp:reporting:spam'/>"
BANNED_TEXT = "you are banned from this service"


def sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


class Lists:
    """listkeeper's side: two nodes on the server's pubsub service."""

    def __init__(self, keeper):
        self.keeper = keeper
        tag = secrets.token_hex(3)
        self.hashes = f"muc_bans_sha256-{tag}"
        self.domains = f"spam_source_domains-{tag}"
        for node in (self.hashes, self.domains):
            self._ok(f"<pubsub xmlns='{NS_PUBSUB}'><create node='{node}'/><configure>"
                     f"<x xmlns='{NS_DATA}' type='submit'>"
                     f"<field var='FORM_TYPE' type='hidden'>"
                     f"<value>{NS_PUBSUB}#node_config</value></field>"
                     "<field var='pubsub#max_items'><value>10000</value></field>"
                     "<field var='pubsub#notify_retract'><value>1</value></field>"
                     "</x></configure></pubsub>", f"create {node}")

    def _ok(self, payload: str, what: str) -> None:
        r = self.keeper.iq(PUBSUB, payload, "set")
        assert r.get("type") == "result", f"{what}: {dump(r)}"

    def publish(self, node: str, item_id: str, payload: str = REPORT) -> None:
        self._ok(f"<pubsub xmlns='{NS_PUBSUB}'><publish node='{node}'>"
                 f"<item id='{item_id}'>{payload}</item></publish></pubsub>",
                 f"publish {item_id} on {node}")

    def retract(self, node: str, item_id: str) -> None:
        self._ok(f"<pubsub xmlns='{NS_PUBSUB}'><retract node='{node}' notify='true'>"
                 f"<item id='{item_id}'/></retract></pubsub>", f"retract {item_id} on {node}")


def rtbl_component(stack, factory, redis_port: int, lists: Lists, prefix: str = "",
                   **sections: Dict[str, object]):
    port = getattr(stack.server, "component_ports", {}).get(RTBL_DOMAIN, stack.component_port)
    s = component_settings(port, redis_port)
    s["component"]["domain"] = RTBL_DOMAIN
    s["redis"]["prefix"] = prefix or f"rtbl-{secrets.token_hex(4)}:"
    s["ratelimit"] = {"enabled": "false"}
    s["rtbl"] = {"service": PUBSUB, "hash_nodes": lists.hashes, "domain_nodes": lists.domains}
    for sec, kv in sections.items():
        s.setdefault(sec, {}).update({k: str(v) for k, v in kv.items()})
    c = factory(s, name="rtbl")
    c.prefix = s["redis"]["prefix"]
    return c


def wait_fetched(c, lists: Lists, since: int = 0, timeout: float = 20) -> None:
    for node in (lists.hashes, lists.domains):
        c.wait_log(rf"rtbl: subscribed to {PUBSUB}/{node}$", timeout, since=since)
        c.wait_log(rf"rtbl: {PUBSUB}/{node}: \d+ entries", timeout, since=since)


def make_room(owner, label: str) -> str:
    room = f"{label}-{secrets.token_hex(4)}@{RTBL_DOMAIN}"
    j = owner.join(room, "owner")
    assert "201" in j.codes, j.dump()
    r = owner.iq(room, f"<query xmlns='{NS_MUC_OWNER}'><x xmlns='{NS_DATA}' type='submit'/>"
                 "</query>", "set")
    assert r.get("type") == "result", dump(r)
    return room


def try_join(client, room: str, nick: str) -> Optional[object]:
    """The refusal (error presence), or None after joining and leaving."""
    try:
        client.join(room, nick, timeout=10)
    except JoinRefused as e:
        return e.stanza
    client.leave(room, nick)
    return None


def assert_banned(st) -> None:
    assert error_condition(st) == "forbidden" and error_text(st) == BANNED_TEXT, dump(st)


def refused_within(client, room: str, nick: str, t0: float, limit: float) -> float:
    """Joins until refused; the seconds from t0 to the refusal."""
    while True:
        st = try_join(client, room, nick)
        took = time.monotonic() - t0
        assert took < limit, f"{client.jid} not refused within {limit}s ({took:.2f}s)"
        if st is not None:
            assert_banned(st)
            return took


@pytest.fixture
def lists(connect):
    return Lists(connect("listkeeper"))


def test_rtbl_jid_refused_within_a_second_and_admitted_after_retraction(
        stack, component_factory, redis, connect, lists):
    c = rtbl_component(stack, component_factory, redis.port, lists)
    wait_fetched(c, lists)
    alice, carol = connect("alice"), connect("carol")
    room = make_room(alice, "rtbl-jid")
    carol.join(room, "carol")
    carol2 = connect("carol", "second")
    # carol's hash is published: her next message is refused, and a join of
    # another session of hers, within a second of the publication.
    lists.publish(lists.hashes, sha(f"carol@{HOST}"))
    t0 = time.monotonic()
    took = refused_within(carol2, room, "carol2", t0, 1.0)
    carol.groupchat(room, "still here?", mid="m1")
    err = carol.wait_for(lambda s: s.get("type") == "error" and s.get("id") == "m1", 10,
                         "the refusal of carol's message")
    assert_banned(err)
    alice.expect_nothing(lambda s: is_message(s) and body(s) == "still here?", 0.3)
    print(f"[e2e] {stack.kind}: refused {took * 1000:.0f} ms after the publication")
    # Retracted: admitted again, within a second.
    lists.retract(lists.hashes, sha(f"carol@{HOST}"))
    t0 = time.monotonic()
    while try_join(carol2, room, "carol2") is not None:
        assert time.monotonic() - t0 < 1.0, "carol still refused 1 s after the retraction"
    carol.groupchat(room, "back", mid="m2")
    alice.wait_for(lambda s: is_message(s) and body(s) == "back", 10, "carol's message")
    # The mirror in Redis followed.
    key = f"{c.prefix}safety:rtbl:items:{PUBSUB}/{lists.hashes}"
    assert redis.wait_reply(":0", "SCARD", key) == ":0"


def test_rtbl_domain_refused_members_and_owners_exempt(stack, component_factory, redis,
                                                       connect, lists):
    c = rtbl_component(stack, component_factory, redis.port, lists)
    wait_fetched(c, lists)
    alice, bob, dave = connect("alice"), connect("bob"), connect("dave")
    room = make_room(alice, "rtbl-domain")
    r = alice.iq(room, f"<query xmlns='{NS_MUC_ADMIN}'><item jid='bob@{HOST}' "
                 "affiliation='member'/></query>", "set")
    assert r.get("type") == "result", dump(r)
    # The whole domain, on the node of domains: the owner and the member
    # stay; dave, unaffiliated, is refused within a second.
    lists.publish(lists.domains, HOST)
    t0 = time.monotonic()
    took = refused_within(dave, room, "dave", t0, 1.0)
    print(f"[e2e] {stack.kind}: domain refused {took * 1000:.0f} ms after the publication")
    bob.join(room, "bob")
    alice.groupchat(room, "owners speak")
    bob.wait_for(lambda s: is_message(s) and body(s) == "owners speak", 10, "the owner's message")
    bob.groupchat(room, "members speak")
    alice.wait_for(lambda s: is_message(s) and body(s) == "members speak", 10,
                   "the member's message")
    # The domain's hash on the node of hashes does the same.
    lists.retract(lists.domains, HOST)
    t0 = time.monotonic()
    while try_join(dave, room, "dave") is not None:
        assert time.monotonic() - t0 < 1.0, "dave still refused 1 s after the retraction"
    lists.publish(lists.hashes, sha(HOST))
    refused_within(dave, room, "dave", time.monotonic(), 1.0)
    lists.retract(lists.hashes, sha(HOST))


def test_rtbl_restart_keeps_and_refreshes_the_lists(stack, component_factory, redis, connect,
                                                    lists):
    prefix = f"rtbl-{secrets.token_hex(4)}:"
    lists.publish(lists.hashes, sha(f"carol@{HOST}"))
    c = rtbl_component(stack, component_factory, redis.port, lists, prefix=prefix)
    wait_fetched(c, lists)
    key = f"{prefix}safety:rtbl:items:{PUBSUB}/{lists.hashes}"
    assert redis.wait_reply(":1", "SISMEMBER", key, sha(f"carol@{HOST}")) == ":1"
    c.stop()
    # While it is down, carol is retracted and dave listed: the restarted
    # component reads the mirror first, then the fetch corrects it.
    lists.retract(lists.hashes, sha(f"carol@{HOST}"))
    lists.publish(lists.hashes, sha(f"dave@{HOST}"))
    c = rtbl_component(stack, component_factory, redis.port, lists, prefix=prefix)
    wait_fetched(c, lists)
    # (How many were added and removed depends on whether the service sent
    # the last item on subscription, as ejabberd does, before the fetch.)
    c.wait_log(rf"rtbl: {PUBSUB}/{lists.hashes}: 1 entries \(\d+ added, 1 removed\)", 5)
    alice, carol, dave = connect("alice"), connect("carol"), connect("dave")
    room = make_room(alice, "rtbl-restart")
    assert try_join(carol, room, "carol") is None
    assert_banned(try_join(dave, room, "dave"))
    assert redis.wait_reply(":1", "SISMEMBER", key, sha(f"dave@{HOST}")) == ":1"
    assert redis.wait_reply(":0", "SISMEMBER", key, sha(f"carol@{HOST}")) == ":0"


def test_rtbl_bad_input_is_a_clear_log_line(stack, component_factory, redis, connect, lists):
    # Malformed ids already on the nodes when the component fetches them.
    lists.publish(lists.hashes, "not-a-hash")
    lists.publish(lists.domains, "no@domain")
    for i in range(12):
        lists.publish(lists.hashes, sha(f"user{i}@{HOST}"))
    c = rtbl_component(stack, component_factory, redis.port, lists, rtbl={"max_items": 10})
    wait_fetched(c, lists)
    c.wait_log(rf"rtbl: {PUBSUB}/{lists.hashes}: 1 malformed item id ignored, e\.g\. "
               r"'not-a-hash': not a hex SHA-256", 5)
    c.wait_log(rf"rtbl: {PUBSUB}/{lists.domains}: 1 malformed item id ignored, e\.g\. "
               r"'no@domain': not a domain", 5)
    c.wait_log(rf"rtbl: {PUBSUB}/{lists.hashes}: the node has more than \[rtbl\] max_items = 10",
               5)
    # Live: a malformed publication is named, and what is valid still applies.
    mark = c.mark()
    lists.publish(lists.hashes, "ZZZ")
    c.wait_log(rf"rtbl: {PUBSUB}/{lists.hashes}: malformed item id 'ZZZ' published: "
               r"not a hex SHA-256", 5, since=mark)
    lists.publish(lists.domains, "example.invalid")
    c.wait_log(rf"rtbl: {PUBSUB}/{lists.domains}: published example\.invalid", 5, since=mark)


def test_rtbl_node_over_the_stanza_limit_is_a_clear_log_line(stack, component_factory, redis,
                                                            connect, lists):
    # 40 items of 64 hex digits and a report each: some 6 KB, over a 2 KB
    # stanza limit, whether the service sends them at once (Prosody 0.12)
    # or in pages of up to 500 (ejabberd).
    for i in range(40):
        lists.publish(lists.hashes, sha(f"many{i}@{HOST}"))
    c = rtbl_component(stack, component_factory, redis.port, lists,
                       limits={"max_stanza_size": "2k"})
    c.wait_log(rf"rtbl: {PUBSUB}/{lists.hashes}: the service's answer was dropped .*"
               r"\[limits\] max_stanza_size", 20)
    # The other node still works.
    c.wait_log(rf"rtbl: {PUBSUB}/{lists.domains}: 0 entries", 20)


def test_rtbl_other_instances_follow_the_mirror(stack, component_factory, redis, connect, lists):
    # A second component on the same Redis prefix without a [rtbl] service
    # (as a gateway reads the lists) learns them from the mirror's serial.
    c = rtbl_component(stack, component_factory, redis.port, lists)
    wait_fetched(c, lists)
    other_domain = SAFETY_DOMAINS[1]
    port = getattr(stack.server, "component_ports", {}).get(other_domain, stack.component_port)
    s = component_settings(port, redis.port)
    s["component"]["domain"] = other_domain
    s["redis"]["prefix"] = c.prefix
    s["ratelimit"] = {"enabled": "false"}
    other = component_factory(s, name="reader")
    other.wait_log(rf"component link ready: {other_domain}", 20)
    alice, eve = connect("alice"), connect("eve")
    room = f"reader-{secrets.token_hex(4)}@{other_domain}"
    assert "201" in alice.join(room, "owner").codes
    r = alice.iq(room, f"<query xmlns='{NS_MUC_OWNER}'><x xmlns='{NS_DATA}' type='submit'/>"
                 "</query>", "set")
    assert r.get("type") == "result", dump(r)
    lists.publish(lists.hashes, sha(f"eve@{HOST}"))
    took = refused_within(eve, room, "eve", time.monotonic(), 1.5)
    print(f"[e2e] {stack.kind}: the reader refused {took * 1000:.0f} ms after the publication")
    lists.retract(lists.hashes, sha(f"eve@{HOST}"))
    t0 = time.monotonic()
    while try_join(eve, room, "eve") is not None:
        assert time.monotonic() - t0 < 1.5, "eve still refused 1.5 s after the retraction"
