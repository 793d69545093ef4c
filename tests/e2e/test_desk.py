"""The abuse desk end to end: reports (XEP-0377) reaching Stoa the way
clients send them, the moderator's XEP-0050 commands, escalation and
erasure, on Prosody and on ejabberd with a real Redis."""

from __future__ import annotations

import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional

import pytest

from conftest import DOMAIN, HOST
from servers import Ejabberd, ServerError
from mucutil import create_room, presence_from
from xmpp import (NS_CLIENT, body, dump, error_condition, error_text, is_message, stanza_ids,
                  status_codes, xml_text)

NS_CMD = "http://jabber.org/protocol/commands"
NS_DATA = "jabber:x:data"
NS_REPORT = "urn:xmpp:reporting:1"
NS_BLOCKING = "urn:xmpp:blocking"


def rcli(redis, *args: str) -> str:
    r = subprocess.run(["redis-cli", "-p", str(redis.port), "--no-raw", *args],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def raw(redis, *args: str) -> str:
    r = subprocess.run(["redis-cli", "-p", str(redis.port), "--raw", *args],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def prefix(stack) -> str:
    return f"stoa-{stack.kind}:"


@pytest.fixture
def clean(stack, redis):
    """Each test starts with no reports, sanctions or audit of earlier ones."""
    p = prefix(stack)
    for pattern in (f"{p}desk:*", f"{p}safety:*"):
        keys = raw(redis, "--scan", "--pattern", pattern).split()
        if keys:
            raw(redis, "DEL", *keys)
    return p


def room_name() -> str:
    return f"desk-{uuid.uuid4().hex[:8]}@{DOMAIN}"


def fields_xml(fields: Dict[str, str]) -> str:
    out = [f"<x xmlns='{NS_DATA}' type='submit'>"]
    for k, v in fields.items():
        out.append(f"<field var='{k}'><value>{xml_text(v)}</value></field>")
    out.append("</x>")
    return "".join(out)


def command(client, node: str, sid: Optional[str] = None, action: Optional[str] = None,
            fields: Optional[Dict[str, str]] = None) -> ET.Element:
    attrs = f" node='{node}'"
    if sid:
        attrs += f" sessionid='{sid}'"
    if action:
        attrs += f" action='{action}'"
    x = fields_xml(fields) if fields is not None else ""
    return client.iq(DOMAIN, f"<command xmlns='{NS_CMD}'{attrs}>{x}</command>", "set")


def cmd_el(reply: ET.Element) -> ET.Element:
    c = reply.find(f"{{{NS_CMD}}}command")
    assert reply.get("type") == "result" and c is not None, dump(reply)
    return c


def note(reply: ET.Element) -> str:
    n = cmd_el(reply).find(f"{{{NS_CMD}}}note")
    return n.text if n is not None else ""


def run(client, node: str, fields: Dict[str, str]) -> ET.Element:
    """execute, then complete with the fields: the final reply."""
    first = cmd_el(command(client, node))
    assert first.get("status") == "executing", ET.tostring(first)
    return command(client, node, first.get("sessionid"), "complete", fields)


def form_field(c: ET.Element, var: str) -> Optional[ET.Element]:
    for f in c.iter(f"{{{NS_DATA}}}field"):
        if f.get("var") == var:
            return f
    return None


def values(f: ET.Element) -> List[str]:
    return [v.text or "" for v in f.findall(f"{{{NS_DATA}}}value")]


def chat_from_service(client, contains: str, timeout: float = 10.0) -> ET.Element:
    return client.wait_for(lambda s: is_message(s) and s.get("from") == DOMAIN
                           and contains in (body(s) or ""), timeout,
                           f"a message from {DOMAIN} containing {contains!r}")


def direct_report(client, to: str, target: Optional[str] = None, sids: List[str] = (),
                  reason: str = "urn:xmpp:reporting:abuse", text: Optional[str] = None,
                  room: Optional[str] = None) -> ET.Element:
    inner = ""
    if target:
        inner += f"<jid xmlns='urn:xmpp:jid:0'>{xml_text(target)}</jid>"
    for s in sids:
        inner += f"<stanza-id xmlns='urn:xmpp:sid:0' by='{room}' id='{s}'/>"
    if text is not None:
        inner += f"<text>{xml_text(text)}</text>"
    return client.iq(to, f"<report xmlns='{NS_REPORT}' reason='{reason}'>{inner}</report>", "set")


def report_keys(redis, p: str) -> List[str]:
    return sorted(raw(redis, "--scan", "--pattern", f"{p}desk:report:*").split())


def hget(redis, key: str, field: str) -> str:
    return raw(redis, "HGET", key, field)


def sent_stanza_id(client, room: str, mid: str) -> str:
    echo = client.wait_for(lambda s: is_message(s) and s.get("id") == mid
                           and s.get("from", "").startswith(room + "/"))
    ids = [i["id"] for i in stanza_ids(echo) if i.get("by") == room]
    assert ids, dump(echo)
    return ids[0]


# ----------------------------------------------------------------------


def blocking(client, me: str, verb: str, items: str) -> None:
    """A XEP-0191 <block/> or <unblock/> to the client's own account."""
    r = client.iq(me, f"<{verb} xmlns='{NS_BLOCKING}'>{items}</{verb}>", "set")
    assert r.get("type") == "result", dump(r)


def wait_ublock(redis, key: str, members: List[str], what: str) -> None:
    """Waits until Stoa's copy of a block list (a Redis set) is members."""
    deadline = time.monotonic() + 5
    while sorted(raw(redis, "SMEMBERS", key).split()) != sorted(members):
        assert time.monotonic() < deadline, f"{what}: {key} holds {raw(redis, 'SMEMBERS', key)!r}"
        time.sleep(0.1)


def test_block_report_reaches_desk(stack, connect, redis, clean):
    """A client reports as Conversations does: block + report to its own
    server. The server copies every block and unblock to Stoa (Prosody:
    mod_firewall's FORWARD; ejabberd: contrib/ejabberd's mod_stoa_report)
    and goes on doing the blocking itself."""
    dave = connect("dave")
    alice = connect("alice")
    eve = connect("eve")
    p = clean
    me = stack.jid("alice")
    ublock = f"{p}safety:ublock:{me}"
    spammer = "spammer@spam.example"
    blocking(alice, me, "block",
             f"<item jid='{spammer}'>"
             f"<report xmlns='{NS_REPORT}' reason='urn:xmpp:reporting:spam'>"
             f"<text>buy cheap stuff</text></report></item>")
    m = chat_from_service(dave, "New report")
    assert spammer in body(m) and "spam" in body(m), dump(m)
    keys = report_keys(redis, p)
    assert len(keys) == 1, keys
    assert hget(redis, keys[0], "target") == spammer
    assert hget(redis, keys[0], "via") == "block"
    assert hget(redis, keys[0], "text") == "buy cheap stuff"
    # No reporter JID is stored, only a keyed pseudonym.
    assert me not in raw(redis, "HGETALL", keys[0])
    # The copy also feeds the per-user block list the gate enforces.
    wait_ublock(redis, ublock, [spammer], "block not copied")
    # The server still keeps the list...
    bl = alice.iq(me, f"<blocklist xmlns='{NS_BLOCKING}'/>")
    assert spammer in ET.tostring(bl, encoding="unicode"), dump(bl)

    # ...and still blocks: eve's messages reach alice until alice blocks
    # eve (a block without a report: copied too, no report made).
    eve_jid = stack.jid("eve")
    eve.send_message(me, "before the block")
    eve.sync()  # each client has its own event loop: flush the send
    alice.wait_for(lambda s: is_message(s) and body(s) == "before the block")
    blocking(alice, me, "block", f"<item jid='{eve_jid}'/>")
    wait_ublock(redis, ublock, [spammer, eve_jid], "second block not copied")
    assert len(report_keys(redis, p)) == 1
    eve.send_message(me, "while blocked")
    eve.sync()
    alice.expect_nothing(lambda s: is_message(s) and body(s) == "while blocked", 1.0)

    # Unblocks are copied too, and the server lets eve through again.
    blocking(alice, me, "unblock", f"<item jid='{eve_jid}'/>")
    wait_ublock(redis, ublock, [spammer], "unblock not copied")
    eve.send_message(me, "after the unblock")
    eve.sync()  # each client has its own event loop: flush the send
    alice.wait_for(lambda s: is_message(s) and body(s) == "after the unblock")
    blocking(alice, me, "unblock", f"<item jid='{spammer}'/>")
    wait_ublock(redis, ublock, [], "unblock not copied")


@pytest.mark.parametrize("entry, error", [
    ("  mod_stoa_reports:\n    service: rooms.localhost\n",
     "unknown ejabberd module: mod_stoa_reports"),
    ("  mod_stoa_report: {}\n", "Missing required option: service"),
], ids=["misspelt", "no-service"])
def test_ejabberd_report_module_mistakes_are_loud(state_root, entry, error):
    """A misspelt module name or a missing service stops ejabberd at start,
    so the ejabberd stack can never run without the report copies."""
    class Misconfigured(Ejabberd):
        def report_module(self) -> str:
            super().report_module()  # the real module is installed all the same
            return entry

    e = Misconfigured(state_root / f"ejabberd-{uuid.uuid4().hex[:8]}", host=HOST,
                      report_to=DOMAIN)
    try:
        with pytest.raises(ServerError, match=error):
            e.start()
    finally:
        e.stop()


def test_report_command_from_any_server(stack, connect, redis, clean):
    """The 'Report abuse' command works from any client with ad-hoc
    commands (Gajim, Psi), whatever the host server."""
    dave = connect("dave")
    bob = connect("bob")
    r = run(bob, "report", {"jid": "troll@elsewhere.example", "reason": "abuse",
                            "text": "threats"})
    assert cmd_el(r).get("status") == "completed", dump(r)
    assert "Thank you" in note(r)
    m = chat_from_service(dave, "troll@elsewhere.example")
    assert "threats" in body(m)
    assert len(report_keys(redis, clean)) == 1


def test_direct_report_carries_only_cited_evidence(stack, connect, redis, clean):
    dave = connect("dave")
    alice, eve = connect("alice"), connect("eve")
    room = room_name()
    create_room(alice, room)
    eve.join(room, "Eve")
    m1 = eve.groupchat(room, "first, harmless")
    m2 = eve.groupchat(room, "you are all idiots")
    sid1 = sent_stanza_id(eve, room, m1)
    sid2 = sent_stanza_id(eve, room, m2)
    alice.sync()
    time.sleep(0.3)  # the archive write
    r = direct_report(alice, room, sids=[sid2], room=room, text="insults")
    assert r.get("type") == "result", dump(r)
    m = chat_from_service(dave, "New report")
    assert stack.jid("eve") in body(m) and room in body(m), dump(m)
    keys = report_keys(redis, clean)
    assert len(keys) == 1
    ev = hget(redis, keys[0], "evidence")
    assert "you are all idiots" in ev and "harmless" not in ev, ev
    assert hget(redis, keys[0], "room") == room
    # The retention applies.
    assert 0 < int(raw(redis, "TTL", keys[0])) <= 720 * 3600

    # De-duplication: the same report again is one report, counted twice.
    r = direct_report(alice, room, sids=[sid2], room=room, text="insults")
    assert r.get("type") == "result", dump(r)
    assert report_keys(redis, clean) == keys
    assert hget(redis, keys[0], "count") == "2"

    # The moderator views it, with the evidence, and dismisses it.
    first = cmd_el(command(dave, "view"))
    pick = form_field(first, "report")
    assert pick is not None and first.get("status") == "executing", ET.tostring(first)
    rid = keys[0].rsplit(":", 1)[1]
    assert rid in [o.find(f"{{{NS_DATA}}}value").text
                   for o in pick.findall(f"{{{NS_DATA}}}option")]
    second = cmd_el(command(dave, "view", first.get("sessionid"), "next", {"report": rid}))
    assert values(form_field(second, "target")) == [stack.jid("eve")]
    evidence = values(form_field(second, "evidence"))
    assert len(evidence) == 1 and "you are all idiots" in evidence[0], evidence
    done = command(dave, "view", first.get("sessionid"), "complete",
                   {"report": rid, "action": "dismiss", "reason": "handled"})
    assert "dismissed" in note(done), dump(done)
    assert report_keys(redis, clean) == []


def test_commands_offered_by_role(stack, connect, clean):
    dave, bob = connect("dave"), connect("bob")

    def nodes(c):
        r = c.iq(DOMAIN, f"<query xmlns='http://jabber.org/protocol/disco#items' node='{NS_CMD}'/>")
        assert r.get("type") == "result", dump(r)
        return [i.get("node") for i in r.iter("{http://jabber.org/protocol/disco#items}item")]

    assert {"list", "view", "dismiss", "warn", "mute", "kick", "ban-room", "ban",
            "block-domain", "erase", "audit", "report"} <= set(nodes(dave))
    assert nodes(bob) == ["report"]
    r = command(bob, "list")
    assert error_condition(r) == "forbidden", dump(r)
    r = command(bob, "ban")
    assert error_condition(r) == "forbidden", dump(r)
    # A session belongs to whoever opened it.
    first = cmd_el(command(dave, "warn"))
    r = command(bob, "report", first.get("sessionid"), "complete", {"jid": "x@y.example"})
    assert error_condition(r) == "bad-request", dump(r)
    # cancel
    r = command(dave, "warn", first.get("sessionid"), "cancel")
    assert cmd_el(r).get("status") == "canceled"


def test_moderator_actions(stack, connect, redis, clean):
    p = clean
    dave = connect("dave")
    alice, eve = connect("alice"), connect("eve")
    room = room_name()
    create_room(alice, room)
    eve.join(room, "Eve")
    eve_jid = stack.jid("eve")

    r = run(dave, "warn", {"jid": eve_jid, "message": "be nice"})
    assert "warned" in note(r), dump(r)
    chat_from_service(eve, "be nice")

    r = run(dave, "mute", {"jid": eve_jid, "room": "", "duration": "3600", "reason": "calm down"})
    assert "muted" in note(r), dump(r)
    assert raw(redis, "GET", f"{p}safety:mute:{eve_jid}") == "calm down"
    assert 0 < int(raw(redis, "TTL", f"{p}safety:mute:{eve_jid}")) <= 3600
    pres = eve.wait_for(lambda s: s.get("from") == f"{room}/Eve" and s.get("type") is None
                        and 'role="visitor"' in ET.tostring(s, encoding="unicode"))
    r = run(dave, "unmute", {"jid": eve_jid})
    assert raw(redis, "EXISTS", f"{p}safety:mute:{eve_jid}") == "0"

    r = run(dave, "kick", {"jid": eve_jid, "room": room, "reason": "out"})
    assert "1 room" in note(r), dump(r)
    eve.wait_for(presence_from(f"{room}/Eve", "unavailable", "307"))

    eve.join(room, "Eve")
    r = run(dave, "ban-room", {"jid": eve_jid, "room": room, "reason": "gone"})
    assert "banned" in note(r), dump(r)
    eve.wait_for(presence_from(f"{room}/Eve", "unavailable", "301"))
    err = eve.join_error(room, "Eve")
    assert error_condition(err) == "forbidden", dump(err)

    room2 = room_name()
    create_room(alice, room2)
    eve.join(room2, "Eve")
    r = run(dave, "ban", {"jid": eve_jid, "duration": "86400", "reason": "spam wave"})
    assert "banned from the service" in note(r), dump(r)
    assert raw(redis, "GET", f"{p}safety:ban:jid:{eve_jid}") == "spam wave"
    assert 86000 < int(raw(redis, "TTL", f"{p}safety:ban:jid:{eve_jid}")) <= 86400
    eve.wait_for(presence_from(f"{room2}/Eve", "unavailable", "301"))

    r = run(dave, "block-domain", {"domain": "spam.example", "reason": "spam source"})
    assert "blocked" in note(r), dump(r)
    assert raw(redis, "GET", f"{p}safety:ban:domain:spam.example") == "spam source"

    r = run(dave, "ban", {"jid": "not a jid@@", "duration": "0"})
    assert error_condition(r) == "jid-malformed", dump(r)

    r = cmd_el(command(dave, "audit"))
    assert r.get("status") == "completed"
    actions = [values(f)[0] for f in r.iter(f"{{{NS_DATA}}}field") if f.get("var") == "action"
               and values(f)]
    for a in ("warn", "mute", "unmute", "kick", "ban-room", "ban", "block-domain"):
        assert a in actions, actions
    actors = {values(f)[0] for f in r.iter(f"{{{NS_DATA}}}field") if f.get("var") == "actor"
              and values(f)}
    assert actors == {stack.jid("dave")}, actors


def test_room_owner_acts_on_own_room_only(stack, connect, redis, clean):
    alice, bob, eve = connect("alice"), connect("bob"), connect("eve")
    mine, theirs = room_name(), room_name()
    create_room(alice, mine)
    create_room(bob, theirs, nick="Bob")
    eve.join(mine, "Eve")
    eve.join(theirs, "Eve")
    eve_jid = stack.jid("eve")
    # A report about each room.
    assert direct_report(bob, mine, target=f"{mine}/Eve").get("type") == "result"
    assert direct_report(alice, theirs, target=f"{theirs}/Eve").get("type") == "result"

    first = cmd_el(command(alice, "kick"))
    room_opts = [o.find(f"{{{NS_DATA}}}value").text
                 for o in form_field(first, "room").findall(f"{{{NS_DATA}}}option")]
    assert room_opts == [mine], room_opts
    r = command(alice, "kick", first.get("sessionid"), "complete",
                {"jid": eve_jid, "room": theirs})
    assert error_condition(r) == "forbidden", dump(r)
    r = command(alice, "kick", first.get("sessionid"), "complete", {"jid": eve_jid, "room": mine})
    assert "1 room" in note(r), dump(r)
    eve.wait_for(presence_from(f"{mine}/Eve", "unavailable", "307"))
    eve.expect_nothing(presence_from(f"{theirs}/Eve", "unavailable"), 0.5)

    r = cmd_el(command(alice, "list"))
    rooms = [values(f)[0] for f in r.iter(f"{{{NS_DATA}}}field") if f.get("var") == "room"
             and values(f)]
    assert rooms == [mine], rooms
    assert error_condition(command(alice, "ban")) == "forbidden"
    assert error_condition(command(alice, "erase")) == "forbidden"


def test_escalation_needs_distinct_reporters(stack, connect, redis, clean):
    p = clean
    dave = connect("dave")
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    target = "pest@elsewhere.example"
    # One person five times, from two resources: counts once.
    alice2 = connect("alice", "second")
    for i in range(5):
        c = alice if i % 2 else alice2
        assert direct_report(c, DOMAIN, target=target, text=f"n{i}").get("type") == "result"
    assert raw(redis, "EXISTS", f"{p}safety:mute:{target}") == "0"
    assert direct_report(bob, DOMAIN, target=target).get("type") == "result"
    assert raw(redis, "EXISTS", f"{p}safety:mute:{target}") == "0"
    assert direct_report(carol, DOMAIN, target=target).get("type") == "result"
    chat_from_service(dave, "muted service-wide")
    assert raw(redis, "GET", f"{p}safety:mute:{target}").startswith("escalated")
    assert raw(redis, "TTL", f"{p}safety:mute:{target}") == "-1"
    # Dismissing lifts it.
    first = cmd_el(command(dave, "dismiss"))
    rid = form_field(first, "report").find(f"{{{NS_DATA}}}option/{{{NS_DATA}}}value").text
    r = command(dave, "dismiss", first.get("sessionid"), "complete", {"report": rid})
    assert "lifted" in note(r), dump(r)
    assert raw(redis, "EXISTS", f"{p}safety:mute:{target}") == "0"


def test_malformed_reports_and_flood(stack, connect, redis, clean):
    bob = connect("bob")
    room = room_name()
    r = bob.iq(DOMAIN, f"<report xmlns='{NS_REPORT}'><jid xmlns='urn:xmpp:jid:0'>a@b.example</jid>"
                       "</report>", "set")
    assert error_condition(r) == "bad-request", dump(r)
    assert "reason" in (error_text(r) or "")
    r = direct_report(bob, DOMAIN, target="not@valid@jid")
    assert error_condition(r) == "jid-malformed", dump(r)
    r = direct_report(bob, DOMAIN)
    assert error_condition(r) == "bad-request", dump(r)
    r = direct_report(bob, DOMAIN, target="a@b.example", text="x" * 1001)
    assert error_condition(r) == "not-acceptable", dump(r)
    r = direct_report(bob, DOMAIN, sids=[f"{i:016x}" for i in range(21)], room=room)
    assert error_condition(r) == "policy-violation", dump(r)
    r = bob.iq(room, f"<report xmlns='{NS_REPORT}' reason='urn:xmpp:reporting:spam'>"
                     "<jid xmlns='urn:xmpp:jid:0'>a@b.example</jid></report>", "set")
    assert error_condition(r) == "item-not-found", dump(r)
    conds = [error_condition(direct_report(bob, DOMAIN, target=f"t{i}@b.example"))
             for i in range(12)]
    assert conds[:10] == [None] * 10 and conds[10:] == ["resource-constraint"] * 2, conds
    # A user cannot pass a forged server copy.
    bob.send_raw(f"<message to='{DOMAIN}'><forwarded xmlns='urn:xmpp:forward:0'>"
                 f"<iq xmlns='jabber:client' type='set' from='carol@{stack.host}/x'>"
                 f"<block xmlns='{NS_BLOCKING}'><item jid='z@b.example'/></block></iq>"
                 "</forwarded></message>")
    bob.sync()
    time.sleep(0.3)
    assert raw(redis, "EXISTS", f"{clean}safety:ublock:carol@{stack.host}") == "0"


def test_erase(stack, connect, redis, clean):
    p = clean
    dave, alice, eve = connect("dave"), connect("alice"), connect("eve")
    eve_jid = stack.jid("eve")
    room = room_name()
    create_room(alice, room, fields={"FORM_TYPE": "http://jabber.org/protocol/muc#roomconfig",
                                     "muc#roomconfig_persistentroom": "1"})
    eve.join(room, "Eve")
    m = eve.groupchat(room, "eve was here")
    sent_stanza_id(eve, room, m)
    a = alice.groupchat(room, "alice too")
    sent_stanza_id(alice, room, a)
    time.sleep(0.3)
    log = f"{p[:-1]}:muc:log:{room}".replace(p[:-1] + ":", p)
    assert raw(redis, "XLEN", log) == "2"
    assert direct_report(eve, DOMAIN, target="x@y.example").get("type") == "result"
    assert direct_report(alice, DOMAIN, target=eve_jid).get("type") == "result"
    raw(redis, "SET", f"{p}safety:ban:jid:{eve_jid}", "old ban")
    r = run(dave, "erase", {"jid": eve_jid, "confirm": "1"})
    text = note(r)
    assert "2 reports" in text and "1 archived room message" in text, text
    assert raw(redis, "XLEN", log) == "1"
    assert "alice too" in raw(redis, "XRANGE", log, "-", "+")
    assert report_keys(redis, p) == []
    assert raw(redis, "EXISTS", f"{p}safety:ban:jid:{eve_jid}") == "0"
    # The audit names the erased JID by pseudonym only.
    audit = raw(redis, "XRANGE", f"{p}desk:audit", "-", "+")
    assert "erase" in audit and eve_jid not in audit, audit


def siphash13(k0: int, k1: int, data: bytes) -> int:
    """SipHash-1-3, only to forge what Stoa 0.1.0 stored as occupant ids."""
    mask = (1 << 64) - 1

    def rotl(x, b):
        return ((x << b) | (x >> (64 - b))) & mask

    v = [k0 ^ 0x736f6d6570736575, k1 ^ 0x646f72616e646f6d,
         k0 ^ 0x6c7967656e657261, k1 ^ 0x7465646279746573]

    def rnd():
        v[0] = (v[0] + v[1]) & mask; v[1] = rotl(v[1], 13) ^ v[0]; v[0] = rotl(v[0], 32)
        v[2] = (v[2] + v[3]) & mask; v[3] = rotl(v[3], 16) ^ v[2]
        v[0] = (v[0] + v[3]) & mask; v[3] = rotl(v[3], 21) ^ v[0]
        v[2] = (v[2] + v[1]) & mask; v[1] = rotl(v[1], 17) ^ v[2]; v[2] = rotl(v[2], 32)

    tail = len(data) & ~7
    for i in range(0, tail, 8):
        m = int.from_bytes(data[i:i + 8], "little")
        v[3] ^= m; rnd(); v[0] ^= m
    b = (len(data) << 56 | int.from_bytes(data[tail:], "little")) & mask
    v[3] ^= b; rnd(); v[0] ^= b
    v[2] ^= 0xff
    for _ in range(3):
        rnd()
    return v[0] ^ v[1] ^ v[2] ^ v[3]


def test_occupant_ids_are_hmacs_and_erase_finds_old_ones(stack, connect, redis, clean):
    """Occupant ids (XEP-0421) are HMAC-SHA-256 under the service secret in
    Redis ({p}muc:secret). Messages archived by Stoa 0.1.0 carry the id it
    derived with SipHash; erase must still find those."""
    import hashlib
    import hmac

    p = clean
    dave, eve = connect("dave"), connect("eve")
    eve_jid = stack.jid("eve")
    room = room_name()
    create_room(dave, room)
    j = eve.join(room, "Eve")
    secret = raw(redis, "GET", f"{p}muc:secret")
    key = bytes.fromhex(secret)
    want = hmac.new(key, b"occupant-id\0" + room.encode() + b"\0" + eve_jid.encode() + b"\0",
                    hashlib.sha256).hexdigest()[:32]
    assert j.occupant_id == want, (j.occupant_id, want)
    k0, k1 = int(secret[:16], 16), int(secret[16:], 16)
    text = f"{room}\n{eve_jid}".encode()
    old = f"{siphash13(k0, k1, text):016x}{siphash13(k1, k0, text):016x}"
    assert old != want
    log = f"{p}muc:log:{room}"
    raw(redis, "XADD", log, "*", "nick", "Eve", "oid", old, "stamp", "1700000000.000",
        "payload", "<body>from before the upgrade</body>")
    sent_stanza_id(eve, room, eve.groupchat(room, "after the upgrade"))
    time.sleep(0.3)
    assert raw(redis, "XLEN", log) == "2"
    r = run(dave, "erase", {"jid": eve_jid, "confirm": "1"})
    assert "2 archived room messages" in note(r), dump(r)
    assert raw(redis, "XLEN", log) == "0"


def test_report_to_occupant_stays_private(stack, connect, redis, clean):
    """A report addressed to room@service/nick goes to the desk, about that
    occupant, and never reaches the reported person."""
    dave, alice, eve = connect("dave"), connect("alice"), connect("eve")
    room = room_name()
    create_room(alice, room)
    eve.join(room, "Eve")
    eve.clear()
    r = alice.iq(f"{room}/Eve", f"<report xmlns='{NS_REPORT}' reason='urn:xmpp:reporting:abuse'>"
                                "<text>stalking</text></report>", "set")
    assert r.get("type") == "result", dump(r)
    m = chat_from_service(dave, "New report")
    assert stack.jid("eve") in body(m), dump(m)
    eve.expect_nothing(lambda s: "stalking" in ET.tostring(s, encoding="unicode"), 0.5)
    keys = report_keys(redis, clean)
    assert [hget(redis, k, "target") for k in keys] == [stack.jid("eve")]


def test_erase_reaches_every_room(stack, connect, redis, clean):
    """Erase goes through the archives in several calls of 50 rooms each:
    with more rooms than that, a message in the last one is still found."""
    p = clean
    dave, alice, eve = connect("dave"), connect("alice"), connect("eve")
    rooms = [room_name() for _ in range(60)]
    for r in rooms:
        create_room(alice, r)
    eve.join(rooms[-1], "Eve")
    sent_stanza_id(eve, rooms[-1], eve.groupchat(rooms[-1], "last room"))
    sent_stanza_id(eve, rooms[-1], eve.groupchat(rooms[-1], "again"))
    time.sleep(0.3)
    log = f"{p}muc:log:{rooms[-1]}"
    assert raw(redis, "XLEN", log) == "2"
    r = run(dave, "erase", {"jid": stack.jid("eve"), "confirm": "true"})
    assert "2 archived room messages" in note(r), dump(r)
    assert raw(redis, "XLEN", log) == "0"
