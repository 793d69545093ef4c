"""The safety gate end to end: rate limits, mutes, bans, blocked domains,
per-user blocking (XEP-0191) and the link policy for strangers, through a
real Prosody or ejabberd, with a real redis-server (stopped and restarted in
one test).

Each test runs a component of its own on SAFETY_DOMAINS (the shared stack
component has no limits) with a Redis prefix of its own, so tests never see
each other's buckets, bans or blocks.
"""

from __future__ import annotations

import secrets
import signal
import time
import xml.etree.ElementTree as ET
from typing import Dict, List

import pytest

from conftest import SAFETY_DOMAINS, component_settings
from servers import Redis
from mucutil import assert_error, create_room, presence_from
from xmpp import (
    NS_CLIENT,
    NS_MUC_USER,
    body,
    dump,
    error_condition,
    error_text,
    error_type,
    is_message,
)

SAFE, SAFE2 = SAFETY_DOMAINS
NS_BLOCKING = "urn:xmpp:blocking"
NS_STOA = "urn:xmpp:stoa:0"


def safety_component(stack, factory, redis_port: int, domain: str = SAFE, prefix: str = "",
                     **sections: Dict[str, object]):
    # Prosody serves every component on one port; ejabberd has a listener
    # per safety domain.
    port = getattr(stack.server, "component_ports", {}).get(domain, stack.component_port)
    s = component_settings(port, redis_port)
    s["component"]["domain"] = domain
    s["redis"]["prefix"] = prefix or f"safety-{secrets.token_hex(4)}:"
    for sec, kv in sections.items():
        s.setdefault(sec, {}).update({k: str(v) for k, v in kv.items()})
    c = factory(s, name=domain.split(".")[0])
    c.wait_log(rf"component link ready: {domain}", 20)
    c.prefix = s["redis"]["prefix"]
    return c


def room_on(domain: str, label: str) -> str:
    return f"{label}-{secrets.token_hex(4)}@{domain}"


def groupchat_from(room: str, nick: str):
    return lambda s: is_message(s) and s.get("from") == f"{room}/{nick}" \
        and s.get("type") == "groupchat" and body(s) is not None


def errors_from(room: str):
    return lambda s: s.get("type") == "error" and s.get("from", "").startswith(room)


def flood(client, room: str, n: int, label: str) -> List[str]:
    return [client.groupchat(room, f"{label} {i}", mid=f"{label}{i}") for i in range(n)]


def settle(*clients) -> None:
    for c in clients:
        c.pump(0.3)
        c.sync()


def flood_seen_by(sender, nick: str, watcher, room: str, n: int, label: str):
    """sender (nick in room) sends n messages at once: their ids, the ids of
    those watcher got, and the errors sender got back."""
    ids = flood(sender, room, n, label)
    settle(sender, watcher)
    watcher.pump(0.5)
    got = [s.get("id") for s in watcher.take(groupchat_from(room, nick))]
    return ids, got, sender.take(errors_from(room))


# --------------------------------------------------------------------------
# rate limits

def test_flood_is_cut_off_at_the_rate(stack, connect, redis, component_factory):
    safety_component(stack, component_factory, redis.port,
                     ratelimit={"room_message_interval": "30s", "room_message_burst": 5,
                                "violations": 0})
    alice, bob = connect("alice"), connect("bob")
    room = room_on(SAFE, "flood")
    create_room(alice, room)
    bob.join(room, "Bob")
    alice.clear()
    bob.clear()
    ids, got, refused = flood_seen_by(alice, "Alice", bob, room, 12, "f")
    print(f"[e2e] {stack.kind}: flood of 12: {len(got)} delivered, {len(refused)} refused")
    # The first five (the burst), in order; the rest refused, none lost.
    assert got == ids[:5], got
    assert sorted(s.get("id") for s in refused) == sorted(ids[5:]), [dump(s) for s in refused]
    for s in refused:
        assert error_condition(s) == "policy-violation" and error_type(s) == "modify", dump(s)
        assert "rate limit" in (error_text(s) or ""), dump(s)
    # Joins are another class with a bucket of their own.
    carol = connect("carol")
    carol.join(room, "Carol")


def test_repeated_violations_mute_for_a_while(stack, connect, redis, component_factory):
    comp = safety_component(stack, component_factory, redis.port,
                            ratelimit={"room_message_interval": "1s", "room_message_burst": 3,
                                       "violations": 3, "mute": "3s"})
    alice, bob = connect("alice"), connect("bob")
    room = room_on(SAFE, "mute")
    create_room(alice, room)
    bob.join(room, "Bob")
    alice.clear()
    bob.clear()
    flood(bob, room, 8, "m")
    settle(bob, alice)
    refused = bob.take(errors_from(room))
    texts = [error_text(s) or "" for s in refused]
    assert any(t.startswith("muted for 3 more seconds") for t in texts), texts
    assert all(error_condition(s) in ("policy-violation", "forbidden") for s in refused)
    assert len(alice.take(groupchat_from(room, "Bob"))) == 3
    ttl = int(redis.command_line("PTTL", f"{comp.prefix}safety:mute:bob@{stack.host}")[1:])
    assert 0 < ttl <= 3000, ttl
    # Muted: no messages, but presence still goes out.
    bob.groupchat(room, "still here?", mid="muted1")
    e = bob.wait_for(lambda s: s.get("id") == "muted1" and s.get("type") == "error", 5)
    assert error_condition(e) == "forbidden" and error_type(e) == "auth", dump(e)
    assert (error_text(e) or "").startswith("muted"), dump(e)
    bob.send_raw(f"<presence to='{room}/Bob'><show>away</show></presence>")
    alice.wait_for(presence_from(f"{room}/Bob"), 5, "Bob's status change")
    # The mute ends by itself.
    time.sleep(3.5)
    bob.groupchat(room, "back", mid="after")
    alice.wait_for(lambda s: groupchat_from(room, "Bob")(s) and s.get("id") == "after", 5)


# --------------------------------------------------------------------------
# bans and domain blocks

def test_room_limit_is_stricter_than_the_service(stack, connect, redis, component_factory):
    """An owner's x-stoa#message_rate cuts a flood at the room's rate though
    the service's burst is larger; a room without one is not limited at
    that rate; refusals under the room's limit earn no mute; a persistent
    room keeps its limit across a restart of the component."""
    comp = safety_component(stack, component_factory, redis.port,
                            ratelimit={"room_message_interval": "1s", "room_message_burst": 30,
                                       "violations": 2, "mute": "60s"})
    alice, bob = connect("alice"), connect("bob")
    strict, free_room = room_on(SAFE, "strict"), room_on(SAFE, "free")
    create_room(alice, strict, fields={"muc#roomconfig_persistentroom": "1",
                                       "x-stoa#message_rate": "3"})
    create_room(alice, free_room)
    bob.join(strict, "Bob")
    bob.join(free_room, "Bob")
    alice.clear()
    bob.clear()

    ids, got, refused = flood_seen_by(bob, "Bob", alice, strict, 8, "s")
    print(f"[e2e] {stack.kind}: room limit 3/min, flood of 8: {len(got)} delivered, "
          f"{len(refused)} refused")
    assert got == ids[:3], got
    assert sorted(s.get("id") for s in refused) == sorted(ids[3:]), [dump(s) for s in refused]
    for s in refused:
        assert error_condition(s) == "policy-violation" and error_type(s) == "modify", dump(s)
        assert error_text(s) == ("rate limit: this room's own limit is 3 messages a minute per "
                                 "person; slow down"), dump(s)
    key = f"{comp.prefix}safety:rl:room_message:room:{strict}:jid:bob@{stack.host}"
    ttl = int(redis.command_line("PTTL", key)[1:])
    assert 0 < ttl <= 61000, (key, ttl)
    # Five refusals, violations = 2, and no mute: the owner's limit does not
    # sanction anyone on the whole service.
    assert redis.command_line("EXISTS", f"{comp.prefix}safety:mute:bob@{stack.host}") == ":0"

    # The same person, the same flood, in a room without a limit of its own.
    ids, got, refused = flood_seen_by(bob, "Bob", alice, free_room, 8, "f")
    assert got == ids, got
    assert not refused

    # The limit is kept with the persistent room.
    mark = comp.mark()
    assert comp.stop() == 0
    comp.start()
    comp.wait_log(r"[1-9]\d* persistent rooms? restored from Redis", 15, since=mark)
    comp.wait_log(rf"component link ready: {SAFE}", 20, since=mark)
    # The restart kept Alice in the room (docs/rooms.md, "Restarts"); her
    # joining again only resynchronizes her.
    carol = connect("carol")
    alice.join(strict, "Alice")
    carol.join(strict, "Carol")
    alice.clear()
    carol.clear()
    ids, got, refused = flood_seen_by(carol, "Carol", alice, strict, 5, "r")
    assert got == ids[:3], got
    assert [error_text(s) for s in refused] == [
        "rate limit: this room's own limit is 3 messages a minute per person; slow down"] * 2


def test_banned_jid_is_refused_and_reaches_nobody(stack, connect, redis, component_factory):
    comp = safety_component(stack, component_factory, redis.port)
    alice, bob, eve = connect("alice"), connect("bob"), connect("eve")
    room = room_on(SAFE, "ban")
    create_room(alice, room)
    eve.join(room, "Eve")
    bob.join(room, "Bob")
    key = f"{comp.prefix}safety:ban:jid:eve@{stack.host}"
    assert redis.command_line("SET", key, "spam-run") == "+OK"
    alice.clear()
    bob.clear()
    # Already inside: her messages reach nobody.
    eve.groupchat(room, "buy now", mid="spam1")
    e = eve.wait_for(lambda s: s.get("id") == "spam1" and s.get("type") == "error", 5)
    assert error_condition(e) == "forbidden" and error_type(e) == "auth", dump(e)
    assert error_text(e) == "you are banned from this service: spam-run", dump(e)
    eve.send_raw(f"<message to='{room}/Bob' type='chat' id='pm1'><body>psst</body></message>")
    e = eve.wait_for(lambda s: s.get("id") == "pm1" and s.get("type") == "error", 5)
    assert error_condition(e) == "forbidden", dump(e)
    # A new join: XEP-0045's 403.
    other = room_on(SAFE, "ban2")
    create_room(alice, other)
    p = eve.join_error(other, "Eve")
    assert error_condition(p) == "forbidden" and error_type(p) == "auth", dump(p)
    settle(alice, bob)
    for c in (alice, bob):
        c.expect_nothing(lambda s: "Eve" in s.get("from", "") and is_message(s), 0.3)
    # Unbanned: Redis's next answer clears the cached ban.
    assert redis.command_line("DEL", key) == ":1"
    eve.join(other, "Eve")


def test_banned_domain(stack, connect, redis, component_factory):
    comp = safety_component(stack, component_factory, redis.port)
    alice = connect("alice")
    room = room_on(SAFE, "dom")
    key = f"{comp.prefix}safety:ban:domain:{stack.host}"
    assert redis.command_line("SET", key, '"open relay"') == "+OK"
    p = alice.join_error(room, "Alice")
    assert error_condition(p) == "forbidden", dump(p)
    assert error_text(p) == "your server is banned from this service: open relay", dump(p)
    redis.command_line("DEL", key)
    create_room(alice, room)


def test_only_domains_refuses_everyone_else(stack, connect, redis, component_factory):
    safety_component(stack, component_factory, redis.port,
                     blocking={"only_domains": "staff.example"})
    alice = connect("alice")
    p = alice.join_error(room_on(SAFE, "only"), "Alice")
    assert error_condition(p) == "forbidden", dump(p)
    assert "does not accept users of your server" in (error_text(p) or ""), dump(p)


def test_spam_domain_file(stack, connect, redis, component_factory, tmp_path):
    f = tmp_path / "spam.txt"
    f.write_text(f"# community list\nspam.example\n{stack.host.upper()}   # us, for the test\n")
    f.chmod(0o644)
    comp = safety_component(stack, component_factory, redis.port,
                            blocking={"spam_domains_file": f})
    comp.wait_log(r"2 spam domains loaded", 10)
    alice = connect("alice")
    p = alice.join_error(room_on(SAFE, "spam"), "Alice")
    assert error_condition(p) == "forbidden", dump(p)
    members = redis.command_line("SCARD", f"{comp.prefix}safety:spamdomains")
    assert members == ":2", members
    # SIGHUP re-reads the file and replaces the set.
    f.write_text("spam.example\n")
    mark = comp.mark()
    comp.signal(signal.SIGHUP)
    comp.wait_log(r"1 spam domain loaded", 10, since=mark)
    create_room(alice, room_on(SAFE, "spam-after"))
    members = redis.command_line("SCARD", f"{comp.prefix}safety:spamdomains")
    assert members == ":1", members


# --------------------------------------------------------------------------
# two processes, one Redis

def test_two_components_share_limits_and_blocks(stack, connect, redis, component_factory):
    prefix = f"shared-{secrets.token_hex(4)}:"
    limits = {"room_message_interval": "30s", "room_message_burst": 4, "violations": 0}
    safety_component(stack, component_factory, redis.port, SAFE, prefix, ratelimit=limits)
    safety_component(stack, component_factory, redis.port, SAFE2, prefix, ratelimit=limits)
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    r1, r2 = room_on(SAFE, "one"), room_on(SAFE2, "two")
    create_room(alice, r1)
    create_room(alice, r2)
    # Bob blocks Alice through the first component ...
    r = bob.iq(SAFE, f"<block xmlns='{NS_BLOCKING}'><item jid='alice@{stack.host}'/></block>",
               "set")
    assert r.get("type") == "result", dump(r)
    # ... and joins a room of the second: his block list comes from Redis.
    bob.join(r2, "Bob")
    carol.join(r2, "Carol")
    carol.join(r1, "Carol")
    alice.clear()
    bob.clear()
    carol.clear()
    one = flood(alice, r1, 3, "a")
    two = flood(alice, r2, 3, "b")
    settle(alice, carol, bob)
    got1 = [s.get("id") for s in carol.take(groupchat_from(r1, "Alice"))]
    got2 = [s.get("id") for s in carol.take(groupchat_from(r2, "Alice"))]
    refused = [s.get("id") for s in alice.take(lambda s: s.get("type") == "error")]
    # One bucket across both processes: 4 of 6 pass. Which ones depends on
    # how the server interleaves its two component links; within one link
    # the order holds, so each room got a prefix of what was sent.
    print(f"[e2e] {stack.kind}: shared bucket: {got1} via {SAFE}, {got2} via {SAFE2}")
    assert len(got1) + len(got2) == 4, (got1, got2)
    assert got1 == one[:len(got1)] and got2 == two[:len(got2)], (got1, got2)
    assert sorted(refused) == sorted(one[len(got1):] + two[len(got2):]), refused
    bob.expect_nothing(groupchat_from(r2, "Alice"), 0.3, "message from a blocked person")


# --------------------------------------------------------------------------
# Redis away and back

@pytest.fixture
def own_redis(state_root):
    r = Redis(state_root / f"redis-safety-{secrets.token_hex(3)}")
    r.start()
    yield r
    r.stop()


def test_redis_down_limits_stay_local_and_recover(stack, connect, own_redis, component_factory):
    comp = safety_component(stack, component_factory, own_redis.port,
                            ratelimit={"room_message_interval": "30s", "room_message_burst": 3,
                                       "violations": 0})
    comp.wait_log(r"redis up", 10)
    alice, bob, eve = connect("alice"), connect("bob"), connect("eve")
    room = room_on(SAFE, "down")
    create_room(alice, room)
    bob.join(room, "Bob")
    eve.join(room, "Eve")
    own_redis.command_line("SET", f"{comp.prefix}safety:ban:jid:eve@{stack.host}", "x")
    eve.groupchat(room, "hi", mid="e1")
    eve.wait_for(lambda s: s.get("id") == "e1" and s.get("type") == "error", 5)
    alice.clear()
    bob.clear()

    mark = comp.mark()
    own_redis.stop()
    comp.wait_log(r"gate: Redis is away", 10, since=mark)
    # Local buckets: the same limit, counted here.
    ids = flood(alice, room, 5, "d")
    settle(alice, bob)
    got = [s.get("id") for s in bob.take(groupchat_from(room, "Alice"))]
    refused = alice.take(errors_from(room))
    assert got == ids[:3], got
    assert [error_condition(s) for s in refused] == ["policy-violation"] * 2
    # The ban Redis gave is remembered.
    eve.groupchat(room, "hi again", mid="e2")
    e = eve.wait_for(lambda s: s.get("id") == "e2" and s.get("type") == "error", 5)
    assert error_condition(e) == "forbidden", dump(e)
    bob.expect_nothing(groupchat_from(room, "Eve"), 0.3)

    mark = comp.mark()
    own_redis.start()
    comp.wait_log(r"gate: Redis is back", 40, since=mark)
    # Shared again: a fresh Redis bucket (the old one was in the stopped
    # Redis's append-only file, so Alice may have tokens or not; Carol has).
    carol = connect("carol")
    carol.join(room, "Carol")
    carol.groupchat(room, "after", mid="c1")
    bob.wait_for(lambda s: s.get("id") == "c1", 5)
    assert comp.running()


def test_redis_lost_mid_flood_loses_nothing(stack, connect, own_redis, component_factory):
    """Stanzas waiting for Redis's verdict when it goes are judged locally:
    every one is delivered, in order (no limit is configured to bite)."""
    no_limits = {f"room_message_{s}interval": "0" for s in ("", "domain_")}
    comp = safety_component(stack, component_factory, own_redis.port, ratelimit=no_limits)
    comp.wait_log(r"redis up", 10)
    alice, bob = connect("alice"), connect("bob")
    room = room_on(SAFE, "lost")
    create_room(alice, room)
    bob.join(room, "Bob")
    bob.clear()
    n = 300
    ids = flood(alice, room, n, "x")
    own_redis.proc.kill()  # no goodbye: replies still due come back NULL
    own_redis.proc.wait()
    got: List[str] = []
    deadline = time.monotonic() + 30
    while len(got) < n and time.monotonic() < deadline:
        bob.pump(0.2)
        got += [s.get("id") for s in bob.take(groupchat_from(room, "Alice"))]
    assert got == ids, f"{len(got)} of {n} arrived"
    alice.expect_nothing(lambda s: s.get("type") == "error", 0.2)
    comp.wait_log(r"gate: Redis is away", 10)
    # Whether any check was in Redis's hands at the kill depends on timing.
    print(f"[e2e] {stack.kind}: checks lost in flight and judged locally: "
          f"{comp.count('judged locally') > 0}")
    own_redis.start()


# --------------------------------------------------------------------------
# per-user blocking

def test_block_filters_groupchat_pm_and_invites(stack, connect, redis, component_factory):
    comp = safety_component(stack, component_factory, redis.port)
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = room_on(SAFE, "block")
    create_room(alice, room)
    bob.join(room, "Bob")
    carol.join(room, "Carol")
    # XEP-0191 2: the service's disco#info says it takes blocking requests.
    info = bob.iq(SAFE, "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    feats = [f.get("var") for f in info.iter("{http://jabber.org/protocol/disco#info}feature")]
    assert NS_BLOCKING in feats, dump(info)
    r = bob.iq(SAFE, f"<block xmlns='{NS_BLOCKING}'><item jid='Alice@{stack.host}/x'/></block>",
               "set")
    assert r.get("type") == "result", dump(r)
    members = redis.command_line("SISMEMBER", f"{comp.prefix}safety:ublock:bob@{stack.host}",
                                 f"alice@{stack.host}")
    assert members == ":1", members
    r = bob.iq(SAFE, f"<blocklist xmlns='{NS_BLOCKING}'/>")
    items = [i.get("jid") for i in r.iter(f"{{{NS_BLOCKING}}}item")]
    assert items == [f"alice@{stack.host}"], dump(r)
    alice.clear()
    bob.clear()
    carol.clear()
    alice.groupchat(room, "hello all", mid="g1")
    carol.wait_for(lambda s: s.get("id") == "g1", 5)
    alice.send_raw(f"<message to='{room}/Bob' type='chat' id='pm1'><body>hi bob</body></message>")
    alice.send_raw(f"<message to='{room}'><x xmlns='{NS_MUC_USER}'><invite "
                   f"to='bob@{stack.host}'/></x></message>")
    settle(alice, bob)
    bob.expect_nothing(lambda s: is_message(s) and (
        s.get("id") in ("g1", "pm1") or s.find(f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}invite")
        is not None), 0.5, "stanza from a blocked person")
    # Alice learns nothing: no error for any of it.
    alice.expect_nothing(lambda s: s.get("type") == "error", 0.2)
    # Carol still gets PMs from Alice, and Bob from Carol.
    carol.groupchat(room, "from carol", mid="g2")
    bob.wait_for(lambda s: s.get("id") == "g2", 5)
    # Unblocked: delivered again.
    r = bob.iq(SAFE, f"<unblock xmlns='{NS_BLOCKING}'/>", "set")
    assert r.get("type") == "result", dump(r)
    alice.groupchat(room, "again", mid="g3")
    bob.wait_for(lambda s: s.get("id") == "g3", 5)


def test_host_server_block_copy_filters_at_once(stack, connect, redis):
    """Bob blocks Alice on his own server; the server copies the request to
    the service (Prosody: mod_firewall; ejabberd: contrib mod_stoa_report),
    the desk stores it, and Bob's block list, loaded since he joined, follows
    at once: no rejoin needed."""
    alice, bob = connect("alice"), connect("bob")
    room = room_on(stack.domain, "copy")
    create_room(alice, room)
    bob.join(room, "Bob")
    key = f"stoa-{stack.kind}:safety:ublock:{stack.jid('bob')}"

    def wait_members(n: str) -> None:
        deadline = time.monotonic() + 5
        while redis.command_line("SCARD", key) != n:
            assert time.monotonic() < deadline, f"the copy never reached Redis ({key})"
            time.sleep(0.05)

    item = f"<item jid='{stack.jid('alice')}'/>"
    r = bob.iq(stack.jid("bob"), f"<block xmlns='{NS_BLOCKING}'>{item}</block>", "set")
    assert r.get("type") == "result", dump(r)
    try:
        wait_members(":1")
        time.sleep(0.2)  # the reload's reply
        bob.clear()
        alice.groupchat(room, "can you hear me", mid="cp1")
        alice.wait_for(lambda s: s.get("id") == "cp1", 5)  # her own echo
        bob.expect_nothing(lambda s: s.get("id") == "cp1", 0.5, "a blocked person's message")
    finally:
        bob.iq(stack.jid("bob"), f"<unblock xmlns='{NS_BLOCKING}'>{item}</unblock>", "set")
    wait_members(":0")
    time.sleep(0.2)
    alice.groupchat(room, "and now", mid="cp2")
    bob.wait_for(lambda s: s.get("id") == "cp2", 5)


def test_block_iq_hostile_input(stack, connect, redis, component_factory):
    safety_component(stack, component_factory, redis.port)
    bob = connect("bob")

    def block(items: str, op: str = "block", itype: str = "set") -> ET.Element:
        return bob.iq(SAFE, f"<{op} xmlns='{NS_BLOCKING}'>{items}</{op}>", itype)

    assert error_condition(block("")) == "bad-request"
    assert error_condition(block("<item/>")) == "bad-request"
    assert error_condition(block("<other jid='a@b'/>")) == "bad-request"
    # A right-to-left override inside a local part: stringprep refuses it.
    assert error_condition(block("<item jid='a\u202eb@localhost'/>")) == "jid-malformed"
    assert error_condition(block("<item jid='@@'/>")) == "jid-malformed"
    assert error_condition(block("<item jid='x@y'/>", itype="get")) == "bad-request"
    # Fullwidth letters are the same person after normalization.
    r = block("<item jid='\uff54roll@localhost'/>")
    assert r.get("type") == "result", dump(r)
    r = bob.iq(SAFE, f"<blocklist xmlns='{NS_BLOCKING}'/>")
    assert [i.get("jid") for i in r.iter(f"{{{NS_BLOCKING}}}item")] == ["troll@localhost"]


# --------------------------------------------------------------------------
# links from strangers

def test_stranger_links_rejected_by_default(stack, connect, redis, component_factory):
    safety_component(stack, component_factory, redis.port)
    alice, bob = connect("alice"), connect("bob")
    room = room_on(SAFE, "links")
    create_room(alice, room)
    bob.join(room, "Bob")
    alice.clear()
    bob.groupchat(room, "cheap pills at https://spam.example/x", mid="l1")
    e = bob.wait_for(lambda s: s.get("id") == "l1" and s.get("type") == "error", 5)
    assert error_condition(e) == "not-acceptable" and error_type(e) == "modify", dump(e)
    bob.send_raw(f"<message to='{room}/Alice' type='chat' id='l2'><body>file</body>"
                 "<x xmlns='jabber:x:oob'><url>https://up.example/f.exe</url></x></message>")
    e = bob.wait_for(lambda s: s.get("id") == "l2" and s.get("type") == "error", 5)
    assert error_condition(e) == "not-acceptable", dump(e)
    bob.groupchat(room, "just words", mid="l3")
    alice.wait_for(lambda s: s.get("id") == "l3", 5)
    alice.expect_nothing(lambda s: s.get("id") in ("l1", "l2"), 0.3)
    # The owner is no stranger.
    alice.groupchat(room, "see https://stoa.example/", mid="l4")
    bob.wait_for(lambda s: s.get("id") == "l4", 5)


def test_stranger_links_marked_or_held(stack, connect, redis, component_factory):
    comp = safety_component(stack, component_factory, redis.port, links={"policy": "mark"})
    alice, bob = connect("alice"), connect("bob")
    room = room_on(SAFE, "mark")
    create_room(alice, room)
    bob.join(room, "Bob")
    alice.clear()
    bob.groupchat(room, "see www.example.com", mid="k1")
    m = alice.wait_for(lambda s: s.get("id") == "k1", 5)
    assert body(m) == "see www.example.com", dump(m)
    assert m.find(f"{{{NS_STOA}}}unverified-links") is not None, dump(m)
    assert comp.stop() == 0

    safety_component(stack, component_factory, redis.port, links={"policy": "hold"})
    room = room_on(SAFE, "hold")
    alice.clear()
    bob.clear()
    create_room(alice, room)
    bob.join(room, "Bob")
    alice.clear()
    bob.groupchat(room, "visit http://x.example", mid="h1")
    held = alice.wait_for(lambda s: s.find(f"{{{NS_STOA}}}held") is not None, 5)
    assert "visit http://x.example" in (body(held) or ""), dump(held)
    notice = bob.wait_for(lambda s: s.find(f"{{{NS_STOA}}}held") is not None, 5)
    assert "held" in (body(notice) or ""), dump(notice)
    alice.expect_nothing(lambda s: s.get("id") == "h1", 0.3)


# --------------------------------------------------------------------------
# what the gate costs

def test_gate_throughput(redis, component_factory):
    """N pings through a fake server, as fast as the link takes them, with
    the gate on (one pipelined EVALSHA each, no limit reached) and off. Prints
    the figures; fails only if a stanza goes unanswered or out of order."""
    from fakeserver import FakeServer
    from test_component_link import DOMAIN, SECRET

    n = 20000
    figures = {}
    for enabled in ("true", "false"):
        fake = FakeServer(domain=DOMAIN, secret=SECRET)
        try:
            limits = {f"{c}_{s}interval": "0" for c in ("other",) for s in ("", "domain_")}
            comp = component_factory({
                "component": {"domain": DOMAIN, "secret": SECRET, "server_port": fake.port},
                "redis": {"enabled": "true", "port": redis.port,
                          "prefix": f"bench-{secrets.token_hex(3)}:"},
                "ratelimit": {"enabled": enabled, **limits},
                "log": {"level": "info"},
            }, name=f"gate-{enabled}")
            link = fake.accept(timeout=15)
            link.handshake()
            comp.wait_log(r"redis up", 10)
            data = "".join(f"<iq type='get' id='p{i}' from='u{i % 1000}@localhost/r' "
                           f"to='{DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>"
                           for i in range(n)).encode()
            t0 = time.monotonic()
            link.send(data)
            last = f'id="p{n - 1}"'.encode()
            while last not in link.received():
                assert time.monotonic() - t0 < 60, "replies did not all come back"
                time.sleep(0.005)
            dt = time.monotonic() - t0
            got = link.received()
            assert got.count(b'type="result"') == n
            # In order: the FIFO never lets one overtake another.
            assert got.index(b'id="p1"') < got.index(b'id="p2"') < got.index(last)
            figures[enabled] = n / dt
            comp.stop()
        finally:
            fake.close()
    print(f"\n[e2e] gate on: {figures['true']:.0f} stanzas/s, gate off: "
          f"{figures['false']:.0f} stanzas/s ({n} pings, "
          f"{'ASan' if 'asan' in str(comp.binary) else 'release'} build)")
