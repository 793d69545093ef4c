"""Stoa's rooms through the host's fan-out expander (issue 13; docs/prosody.md
and docs/ejabberd.md, "The fan-out expander").

The host runs an XEP-0033 service (Stoa's mod_stoa_multicast on Prosody,
mod_multicast on ejabberd, both trusting this test's component domain only);
stoa-component finds it by disco when its link comes up and sends each
broadcast once per group of recipients who get the same bytes. What every
recipient gets must not change: one copy each, the sender's reflection,
nobody who blocks the sender, a moderator's presence with the real JID, the
self-presence with 110. The same checks run with `[fanout] expander = off`
(one copy per recipient) so both paths are held to one standard. Occupants on
other servers, which always get copies, are covered by the unit tests
(tests/unit/check_fanout.c)."""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET

import pytest

from conftest import HOST, RATE_CLASSES, started
from servers import Ejabberd, Prosody
from xmpp import Client, body, dump, is_presence, status_codes

ROOMS = "fanout.localhost"
SECRET = "e2e-fanout-secret"
MULTICAST = f"multicast.{HOST}"
NS_ADDRESS = "http://jabber.org/protocol/address"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_BLOCKING = "urn:xmpp:blocking"
USERS = {n: f"{n}-fo-pw" for n in ("alice", "bob", "carol", "dave")}


@pytest.fixture(scope="module", params=["prosody", "ejabberd"])
def host(request, state_root):
    d = state_root / f"fanout-{request.param}"
    cls = Prosody if request.param == "prosody" else Ejabberd
    s = cls(d, host=HOST, components={ROOMS: SECRET}, users=USERS, multicast=[ROOMS])
    started(s)
    yield s
    s.stop()


@pytest.fixture(params=["expanded", "copies"])
def rooms(request, host, redis, component_factory):
    """stoa-component on the host, with the expander (found by disco) or
    with `[fanout] expander = off`."""
    settings = {
        "component": {"domain": ROOMS, "secret": SECRET, "server_port": host.component_port,
                      "reconnect_min": "250ms", "reconnect_max": "2s"},
        "redis": {"enabled": "true", "port": redis.port,
                  "prefix": f"stoa-fanout-{secrets.token_hex(4)}:"},
        "ratelimit": {f"{c}_{scope}interval": "0" for c in RATE_CLASSES
                      for scope in ("", "domain_")},
        "log": {"level": "debug"},
    }
    if request.param == "copies":
        settings["fanout"] = {"expander": "off"}
    c = component_factory(settings, name=f"fanout-{request.param}")
    c.wait_log(rf"component link ready: {ROOMS}", 15)
    if request.param == "expanded":
        c.wait_log(rf"fan-out: {HOST} users through the expander {MULTICAST}", 10)
    c.expanded = request.param == "expanded"
    return c


@pytest.fixture
def users(host):
    made = {u: Client(f"{u}@{HOST}/fo", pw, host.c2s_port, available=True)
            for u, pw in USERS.items()}
    yield made
    for c in made.values():
        c.close()


def new_room(owner: Client) -> str:
    room = f"r-{secrets.token_hex(4)}@{ROOMS}"
    j = owner.join(room, "Alice")
    assert j.codes == ["110", "201"], j.dump()
    r = owner.iq(room, "<query xmlns='http://jabber.org/protocol/muc#owner'>"
                 "<x xmlns='jabber:x:data' type='submit'/></query>", "set")
    assert r.get("type") == "result", dump(r)
    return room


def settle(clients) -> None:
    for c in clients:
        c.pump(0.3)
        c.sync()


def with_id(mid: str):
    return lambda s: s.get("id") == mid and s.get("type") == "groupchat"


def expanded_since(rooms, since: int) -> int:
    """Recipients the component sent through the expander since offset."""
    import re
    n = 0
    for line in rooms.lines_since(since):
        m = re.search(r"fan-out: (\d+) recipients in \d+ stanzas through", line)
        n += int(m.group(1)) if m else 0
    return n


def offset(rooms) -> int:
    return rooms.log_path.stat().st_size


def test_message_once_to_each(rooms, users):
    alice, bob, carol, dave = (users[u] for u in ("alice", "bob", "carol", "dave"))
    room = new_room(alice)
    for c, nick in ((bob, "Bob"), (carol, "Carol"), (dave, "Dave")):
        c.join(room, nick)
    settle(users.values())
    for c in users.values():
        c.inbox.clear()
    at = offset(rooms)
    bob.groupchat(room, "to everyone", mid="f1")
    settle(users.values())
    sids = set()
    for c in users.values():  # Bob's own reflection too
        got = c.take(with_id("f1"))
        assert len(got) == 1, f"{c.jid}: {[dump(s) for s in got]}"
        m = got[0]
        assert m.get("from") == f"{room}/Bob" and body(m) == "to everyone", dump(m)
        assert not list(m.iter(f"{{{NS_ADDRESS}}}address")), dump(m)
        sid = m.find("{urn:xmpp:sid:0}stanza-id")
        assert sid is not None and sid.get("by") == room, dump(m)
        sids.add(sid.get("id"))
        assert m.find("{urn:xmpp:occupant-id:0}occupant-id") is not None, dump(m)
    assert len(sids) == 1, sids  # one message, one archive id, for everyone
    assert expanded_since(rooms, at) == (4 if rooms.expanded else 0)


def test_blocker_left_out(rooms, users):
    alice, bob, carol = users["alice"], users["bob"], users["carol"]
    room = new_room(alice)
    bob.join(room, "Bob")
    carol.join(room, "Carol")
    r = carol.iq(ROOMS, f"<block xmlns='{NS_BLOCKING}'><item jid='bob@{HOST}'/></block>", "set")
    assert r.get("type") == "result", dump(r)
    settle([alice, bob, carol])
    for c in (alice, bob, carol):
        c.inbox.clear()
    at = offset(rooms)
    bob.groupchat(room, "carol blocks me", mid="f2")
    settle([alice, bob, carol])
    assert len(alice.take(with_id("f2"))) == 1
    assert len(bob.take(with_id("f2"))) == 1
    carol.expect_nothing(with_id("f2"), 0.3, "a message from someone she blocks")
    assert expanded_since(rooms, at) == (2 if rooms.expanded else 0)
    alice.groupchat(room, "from alice", mid="f3")
    settle([alice, bob, carol])
    for c in (alice, bob, carol):
        assert len(c.take(with_id("f3"))) == 1, c.jid


def test_presence_as_each_should_see_it(rooms, users):
    """Alice (owner, moderator) sees real JIDs, Bob and Carol do not; Dave's
    own copy carries 110. Expanded, Bob and Carol share one stanza; Alice and
    Dave get their own."""
    alice, bob, carol, dave = (users[u] for u in ("alice", "bob", "carol", "dave"))
    room = new_room(alice)
    bob.join(room, "Bob")
    carol.join(room, "Carol")
    settle(users.values())
    for c in users.values():
        c.inbox.clear()
    at = offset(rooms)
    j = dave.join(room, "Dave")
    assert "110" in j.codes, j.dump()
    settle(users.values())

    def dave_presence(c):
        got = c.take(lambda s: is_presence(s) and s.get("from") == f"{room}/Dave")
        assert len(got) == 1, f"{c.jid}: {[dump(s) for s in got]}"
        return got[0]

    item = dave_presence(alice).find(f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}item")
    assert item.get("jid") == dave.full_jid, ET.tostring(item, "unicode")
    for c in (bob, carol):
        p = dave_presence(c)
        item = p.find(f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}item")
        assert item.get("jid") is None and "110" not in status_codes(p), dump(p)
        assert not list(p.iter(f"{{{NS_ADDRESS}}}address")), dump(p)
    assert expanded_since(rooms, at) == (2 if rooms.expanded else 0)
    # A status change: the same groups.
    at = offset(rooms)
    dave.send_raw(f"<presence to='{room}/Dave'><show>away</show></presence>")
    for c in (alice, bob, carol):
        p = c.wait_for(lambda s: is_presence(s) and s.get("from") == f"{room}/Dave", 10)
        assert p.findtext("{jabber:client}show") == "away", dump(p)
    own = dave.wait_for(lambda s: is_presence(s) and s.get("from") == f"{room}/Dave", 10)
    assert "110" in status_codes(own), dump(own)
    settle(users.values())
    assert expanded_since(rooms, at) == (2 if rooms.expanded else 0)
