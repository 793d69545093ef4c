"""Chat rooms (XEP-0045 and friends) end to end: real slixmpp clients, logged
in as real users of a real Prosody or ejabberd, use the rooms stoa-component
serves on rooms.localhost through that server.

Every test runs once per server (the `stack` fixture is parametrized) on the
stack's one component, each in rooms of its own (new_room), and checks the
exact stanzas the clients receive: status codes, <item/> attributes, error
conditions and types, ids. tests/unit/check_muc.c pins the same behaviour
byte by byte without a server; here the point is that it survives real
servers and clients.
"""

from __future__ import annotations

import re
import asyncio
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Dict, List, Optional
from xml.sax.saxutils import quoteattr

import pytest

from xmpp import (
    NS_CLIENT,
    NS_DATA,
    NS_DELAY,
    NS_MUC_ADMIN,
    NS_MUC_OWNER,
    NS_MUC_USER,
    NS_OCCUPANT_ID,
    Client,
    Joined,
    body,
    dump,
    error_condition,
    error_text,
    error_type,
    is_message,
    is_presence,
    item_attrs,
    muc_item,
    muc_x,
    occupant_id,
    stanza_ids,
    status_codes,
    xml_text,
)

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_PING = "urn:xmpp:ping"
NS_ROOMCONFIG = "http://jabber.org/protocol/muc#roomconfig"
NS_ROOMINFO = "http://jabber.org/protocol/muc#roominfo"
NS_CONFERENCE = "jabber:x:conference"
NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_FORWARD = "urn:xmpp:forward:0"
NS_SEARCH = "urn:xmpp:channel-search:0:search"
NS_SEARCH_PARAMS = "urn:xmpp:channel-search:0:search-params"
NS_SEARCH_ERRORS = "urn:xmpp:channel-search:0:error"
NS_MODERATE1 = "urn:xmpp:message-moderate:1"
NS_MODERATE0 = "urn:xmpp:message-moderate:0"
NS_RETRACT1 = "urn:xmpp:message-retract:1"
NS_RETRACT0 = "urn:xmpp:message-retract:0"
NS_FASTEN = "urn:xmpp:fasten:0"

DEFAULT_TOPICS = ["general", "sports", "movies", "music", "technology", "games", "books", "news"]
HEX16 = re.compile(r"^[0-9a-f]{16}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")


# --------------------------------------------------------------------------
# helpers


def new_room(stack, label: str) -> str:
    """A room JID no other test (or earlier run on this Redis) uses."""
    return f"{label}-{secrets.token_hex(4)}@{stack.domain}"


def local(room: str) -> str:
    return room.split("@", 1)[0]


def assert_error(st: ET.Element, condition: str, etype: Optional[str] = None,
                 frm: Optional[str] = None, text: Optional[str] = None) -> None:
    assert st.get("type") == "error", dump(st)
    assert error_condition(st) == condition, dump(st)
    if etype is not None:
        assert error_type(st) == etype, dump(st)
    if frm is not None:
        assert st.get("from") == frm, dump(st)
    if text is not None:
        assert error_text(st) == text, dump(st)


def assert_result(reply: ET.Element, frm: str) -> None:
    assert reply.get("type") == "result", dump(reply)
    assert reply.get("from") == frm, dump(reply)


def form(fields: Dict[str, str], form_type: str = NS_ROOMCONFIG) -> str:
    out = [f"<x xmlns='{NS_DATA}' type='submit'>"]
    if form_type:
        out.append(f"<field var='FORM_TYPE'><value>{form_type}</value></field>")
    for var, value in fields.items():
        out.append(f"<field var='{xml_text(var)}'><value>{xml_text(value)}</value></field>")
    out.append("</x>")
    return "".join(out)


def configure(client: Client, room: str, fields: Optional[Dict[str, str]] = None) -> ET.Element:
    """Submits the room configuration form (muc#owner); an empty one makes
    an instant room (XEP-0045 10.1.2). Returns the reply."""
    x = form(fields) if fields else f"<x xmlns='{NS_DATA}' type='submit'/>"
    return client.iq(room, f"<query xmlns='{NS_MUC_OWNER}'>{x}</query>", "set")


def configure_ok(client: Client, room: str, fields: Optional[Dict[str, str]] = None) -> None:
    assert_result(configure(client, room, fields), room)


def create_room(owner: Client, room: str, nick: str = "Alice",
                fields: Optional[Dict[str, str]] = None) -> Joined:
    j = owner.join(room, nick)
    assert j.codes == ["110", "201"], j.dump()
    configure_ok(owner, room, fields)
    return j


def admin(client: Client, room: str, items: str, itype: str = "set") -> ET.Element:
    return client.iq(room, f"<query xmlns='{NS_MUC_ADMIN}'>{items}</query>", itype)


def presence_from(frm: str, ptype: Optional[str] = None, code: Optional[str] = None):
    def pred(s: ET.Element) -> bool:
        return (is_presence(s) and s.get("from") == frm and s.get("type") == ptype
                and (code is None or code in status_codes(s)))
    return pred


def message_from(frm: str, mtype: Optional[str] = None, mid: Optional[str] = None):
    def pred(s: ET.Element) -> bool:
        return (is_message(s) and s.get("from") == frm
                and (mtype is None or s.get("type") == mtype)
                and (mid is None or s.get("id") == mid))
    return pred


def from_room(room: str):
    return lambda s: s.get("from", "").split("/", 1)[0] == room


def error_reply(mid: str):
    return lambda s: s.get("type") == "error" and s.get("id") == mid


def send_message(client: Client, to: str, text: str, mtype: str = "chat",
                 extra: str = "") -> str:
    mid = client.xmpp.new_id()
    client.send_raw(f"<message type='{mtype}' id='{mid}' to={quoteattr(to)}>"
                    f"<body>{xml_text(text)}</body>{extra}</message>")
    return mid


def say(client: Client, room: str, text: str, extra: str = "") -> ET.Element:
    """Sends a groupchat message; returns the room's echo of it."""
    mid = client.groupchat(room, text, extra=extra)
    return client.wait_for(lambda s: is_message(s) and s.get("id") == mid
                           and s.get("from", "").startswith(room + "/"),
                           10, f"echo of groupchat {mid}")


def disco_info(client: Client, jid: str) -> ET.Element:
    return client.iq(jid, f"<query xmlns='{NS_DISCO_INFO}'/>")


def room_info(client: Client, room: str) -> Dict[str, object]:
    """disco#info of a room as identities, features and muc#roominfo fields."""
    r = disco_info(client, room)
    assert_result(r, room)
    q = r.find(f"{{{NS_DISCO_INFO}}}query")
    assert q is not None, dump(r)
    fields = {}
    x = q.find(f"{{{NS_DATA}}}x")
    if x is not None:
        for f in x.findall(f"{{{NS_DATA}}}field"):
            v = f.find(f"{{{NS_DATA}}}value")
            fields[f.get("var")] = None if v is None else (v.text or "")
    return {
        "identities": [(i.get("category"), i.get("type"), i.get("name"))
                       for i in q.findall(f"{{{NS_DISCO_INFO}}}identity")],
        "features": [f.get("var") for f in q.findall(f"{{{NS_DISCO_INFO}}}feature")],
        "fields": fields,
        "x_type": None if x is None else x.get("type"),
    }


def disco_items(client: Client, jid: str, node: Optional[str] = None) -> ET.Element:
    n = f" node='{node}'" if node else ""
    return client.iq(jid, f"<query xmlns='{NS_DISCO_ITEMS}'{n}/>")


def items_of(reply: ET.Element) -> List[Dict[str, str]]:
    q = reply.find(f"{{{NS_DISCO_ITEMS}}}query")
    assert q is not None, dump(reply)
    return [dict(i.attrib) for i in q.findall(f"{{{NS_DISCO_ITEMS}}}item")]


def subject_of(msg: ET.Element) -> Optional[str]:
    s = msg.find(f"{{{NS_CLIENT}}}subject")
    return None if s is None else (s.text or "")


def delay_of(msg: ET.Element) -> Dict[str, str]:
    d = msg.find(f"{{{NS_DELAY}}}delay")
    assert d is not None, f"no XEP-0203 delay in {dump(msg)}"
    return dict(d.attrib)


def parse_stamp(s: str) -> float:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", s), f"bad stamp {s!r}"
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if "." in s else "%Y-%m-%dT%H:%M:%SZ"
    return datetime.strptime(s, fmt).replace(tzinfo=timezone.utc).timestamp()


def stamp_str(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def the_stanza_id(msg: ET.Element, room: str) -> str:
    ids = stanza_ids(msg)
    assert len(ids) == 1 and ids[0]["by"] == room, \
        f"expected exactly one stanza-id by {room}: {dump(msg)}"
    assert HEX16.match(ids[0]["id"]), dump(msg)
    return ids[0]["id"]


# --------------------------------------------------------------------------
# creating, joining, leaving


def test_create_instant_room(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "instant")
    j = alice.join(room, "Alice")
    # A new room: the creator is its owner, and learns the room is new (201).
    assert j.codes == ["110", "201"], j.dump()
    assert j.others == [] and j.history == [], j.dump()
    assert item_attrs(j.self_presence) == {
        "affiliation": "owner", "role": "moderator", "jid": alice.full_jid}, j.dump()
    assert HEX32.match(j.occupant_id or ""), j.dump()
    # The subject is always sent, even when there is none, from the room.
    assert j.subject.get("from") == room and j.subject.get("type") == "groupchat", j.dump()
    assert subject_of(j.subject) == "" and body(j.subject) is None, j.dump()

    # Locked until its owner configures it: nobody else can enter or see it.
    assert_error(bob.join_error(room, "Bob"), "item-not-found", "cancel", frm=f"{room}/Bob")
    assert_error(disco_info(bob, room), "item-not-found", "cancel", frm=room)
    assert room not in [i.get("jid") for i in items_of(disco_items(bob, stack.domain))]

    # The owner fetches the form, then accepts the defaults (an instant room).
    f = alice.iq(room, f"<query xmlns='{NS_MUC_OWNER}'/>")
    assert_result(f, room)
    x = f.find(f"{{{NS_MUC_OWNER}}}query/{{{NS_DATA}}}x")
    assert x is not None and x.get("type") == "form", dump(f)
    ftype = [fl for fl in x.findall(f"{{{NS_DATA}}}field") if fl.get("var") == "FORM_TYPE"]
    assert ftype and ftype[0].findtext(f"{{{NS_DATA}}}value") == NS_ROOMCONFIG, dump(f)
    configure_ok(alice, room)

    info = room_info(bob, room)
    assert info["identities"] == [("conference", "text", local(room))], info
    for feature in ("http://jabber.org/protocol/muc", "muc_public", "muc_temporary", "muc_open",
                    "muc_unmoderated", "muc_semianonymous", "muc_unsecured"):
        assert feature in info["features"], info
    assert bob.join(room, "Bob").codes == ["110"]


def test_join_sees_occupants_and_is_announced(stack, connect):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = new_room(stack, "join")
    ja = create_room(alice, room)
    alice.clear()

    jb = bob.join(room, "Bob", payload="<show>chat</show><status>hello all</status>")
    # Bob sees Alice as a participant sees a moderator: no real JID (the room
    # is semi-anonymous), with her occupant id.
    assert [s.get("from") for s in jb.others] == [f"{room}/Alice"], jb.dump()
    assert item_attrs(jb.others[0]) == {"affiliation": "owner", "role": "moderator"}, jb.dump()
    assert status_codes(jb.others[0]) == [], jb.dump()
    assert occupant_id(jb.others[0]) == ja.occupant_id, jb.dump()
    # Then himself (110, his own JID), then the subject: others first.
    assert jb.stanzas.index(jb.others[0]) < jb.stanzas.index(jb.self_presence), jb.dump()
    assert jb.codes == ["110"], jb.dump()
    assert item_attrs(jb.self_presence) == {
        "affiliation": "none", "role": "participant", "jid": bob.full_jid}, jb.dump()
    assert jb.self_presence.findtext(f"{{{NS_CLIENT}}}show") == "chat", jb.dump()
    assert subject_of(jb.subject) == "", jb.dump()
    assert HEX32.match(jb.occupant_id or "") and jb.occupant_id != ja.occupant_id

    # Alice (a moderator) is told, with Bob's real JID and his presence.
    p = alice.wait_for(presence_from(f"{room}/Bob"), 10, "Bob's arrival")
    assert item_attrs(p) == {"affiliation": "none", "role": "participant",
                             "jid": bob.full_jid}, dump(p)
    assert status_codes(p) == [] and occupant_id(p) == jb.occupant_id, dump(p)
    assert p.findtext(f"{{{NS_CLIENT}}}status") == "hello all", dump(p)

    # A third: sees both; Bob hears of Carol without her real JID.
    jc = carol.join(room, "Carol")
    assert sorted(s.get("from") for s in jc.others) == [f"{room}/Alice", f"{room}/Bob"]
    pb = [s for s in jc.others if s.get("from") == f"{room}/Bob"][0]
    assert item_attrs(pb) == {"affiliation": "none", "role": "participant"}, dump(pb)
    p = bob.wait_for(presence_from(f"{room}/Carol"), 10, "Carol's arrival")
    assert item_attrs(p) == {"affiliation": "none", "role": "participant"}, dump(p)
    assert status_codes(p) == [], dump(p)
    info = room_info(carol, room)
    assert info["fields"]["muc#roominfo_occupants"] == "3", info


def test_presence_update_broadcast(stack, connect):
    """A status change to the room reaches everyone, from the occupant's
    address, without anything the client tried to assert for the room."""
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "status")
    ja = create_room(alice, room)
    forged = (f"<x xmlns='{NS_MUC_USER}'><item affiliation='owner' role='moderator'/>"
              f"<status code='201'/></x><occupant-id xmlns='{NS_OCCUPANT_ID}' id='forged'/>")
    jb = bob.join(room, "Bob", payload=forged)
    assert item_attrs(jb.self_presence)["role"] == "participant", jb.dump()
    assert len(jb.self_presence.findall(f"{{{NS_MUC_USER}}}x")) == 1, jb.dump()
    alice.clear()
    bob.clear()
    bob.send_raw(f"<presence to='{room}/Bob'><show>away</show><status>lunch</status>"
                 f"{forged}</presence>")
    for c, codes in ((alice, []), (bob, ["110"])):
        p = c.wait_for(presence_from(f"{room}/Bob"), 10, "Bob's new status")
        assert p.findtext(f"{{{NS_CLIENT}}}show") == "away", dump(p)
        assert p.findtext(f"{{{NS_CLIENT}}}status") == "lunch", dump(p)
        assert status_codes(p) == codes, dump(p)
        assert len(p.findall(f"{{{NS_MUC_USER}}}x")) == 1, dump(p)
        assert item_attrs(p)["affiliation"] == "none" and item_attrs(p)["role"] == "participant"
        assert [o.get("id") for o in p.findall(f"{{{NS_OCCUPANT_ID}}}occupant-id")] == [
            jb.occupant_id], dump(p)
    # A newcomer sees Bob as he is now.
    carol = connect("carol")
    jc = carol.join(room, "Carol")
    pb = [p for p in jc.others if p.get("from") == f"{room}/Bob"][0]
    assert pb.findtext(f"{{{NS_CLIENT}}}show") == "away", dump(pb)
    assert ja.occupant_id != jb.occupant_id


def test_nick_conflict(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "conflict")
    create_room(alice, room)
    alice.clear()
    err = bob.join_error(room, "Alice")
    assert_error(err, "conflict", "cancel", frm=f"{room}/Alice",
                 text="that nickname is in use")
    alice.expect_nothing(from_room(room), 0.3, "stanza about a refused join")
    # Bob is not in the room; under another nick he gets in.
    assert bob.join(room, "Bob").codes == ["110"]


def test_nick_change(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "nick")
    create_room(alice, room)
    jb = bob.join(room, "Bob")
    alice.clear()
    bob.send_raw(f"<presence to='{room}/Robert'/>")
    # XEP-0045 7.6: unavailable from the old nick with 303 and the new one...
    gone = alice.wait_for(from_room(room), 10, "303 for Bob")
    assert presence_from(f"{room}/Bob", "unavailable")(gone), dump(gone)
    assert status_codes(gone) == ["303"], dump(gone)
    assert item_attrs(gone) == {"affiliation": "none", "role": "none", "jid": bob.full_jid,
                                "nick": "Robert"}, dump(gone)
    # ...then available from the new one.
    back = alice.wait_for(from_room(room), 10, "Robert's presence")
    assert presence_from(f"{room}/Robert")(back), dump(back)
    assert item_attrs(back) == {"affiliation": "none", "role": "participant",
                                "jid": bob.full_jid}, dump(back)
    assert status_codes(back) == [], dump(back)
    mine = bob.wait_for(from_room(room), 10, "own 303")
    assert presence_from(f"{room}/Bob", "unavailable")(mine), dump(mine)
    assert status_codes(mine) == ["110", "303"], dump(mine)
    assert item_attrs(mine)["nick"] == "Robert", dump(mine)
    mine = bob.wait_for(from_room(room), 10, "own new presence")
    assert presence_from(f"{room}/Robert")(mine), dump(mine)
    assert status_codes(mine) == ["110"], dump(mine)
    assert occupant_id(mine) == jb.occupant_id, "a nick change changed the occupant id"
    # The new nick is taken by someone else: conflict, and he keeps his.
    bob.send_raw(f"<presence to='{room}/Alice' id='nc2'/>")
    err = bob.wait_for(error_reply("nc2"), 10, "conflict on nick change")
    assert_error(err, "conflict", "cancel", frm=f"{room}/Alice")
    # He is reachable under the new nick.
    mid = send_message(alice, f"{room}/Robert", "hi Robert")
    pm = bob.wait_for(message_from(f"{room}/Alice", "chat", mid), 10, "PM to Robert")
    assert body(pm) == "hi Robert"
    assert_error(alice.wait_for(error_reply(send_message(alice, f"{room}/Bob", "x")), 10),
                 "item-not-found", "cancel")


def test_leave_and_temporary_room_disappears(stack, connect):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = new_room(stack, "leave")
    create_room(alice, room)
    jb = bob.join(room, "Bob")
    alice.clear()
    mine = bob.leave(room, "Bob")
    assert status_codes(mine) == ["110"], dump(mine)
    assert item_attrs(mine) == {"affiliation": "none", "role": "none", "jid": bob.full_jid}
    p = alice.wait_for(presence_from(f"{room}/Bob", "unavailable"), 10, "Bob leaving")
    assert status_codes(p) == [] and occupant_id(p) == jb.occupant_id, dump(p)
    assert item_attrs(p) == {"affiliation": "none", "role": "none", "jid": bob.full_jid}
    # Leaving again says nothing.
    bob.send_raw(f"<presence type='unavailable' to='{room}/Bob'/>")
    bob.expect_nothing(from_room(room), 0.3)
    # The last one out: a temporary room is gone with it.
    alice.leave(room, "Alice")
    assert_error(disco_info(carol, room), "item-not-found", "cancel", frm=room)
    assert room not in [i.get("jid") for i in items_of(disco_items(carol, stack.domain))]
    # Joining again creates it anew (201), with Carol as its owner.
    j = carol.join(room, "Carol")
    assert j.codes == ["110", "201"], j.dump()
    assert item_attrs(j.self_presence)["affiliation"] == "owner"


def test_multiple_resources_one_nick(stack, connect):
    a1, a2 = connect("alice", "desk"), connect("alice", "phone")
    bob = connect("bob")
    room = new_room(stack, "multi")
    ja = create_room(a1, room)
    bob.join(room, "Bob")
    a1.clear()
    bob.clear()
    j2 = a2.join(room, "Alice")
    # The second session learns who is there and its own presence (110, its
    # own full JID); nobody else hears anything new.
    assert [s.get("from") for s in j2.others] == [f"{room}/Bob"], j2.dump()
    assert j2.codes == ["110"], j2.dump()
    assert item_attrs(j2.self_presence) == {"affiliation": "owner", "role": "moderator",
                                            "jid": a2.full_jid}, j2.dump()
    assert j2.occupant_id == ja.occupant_id
    bob.expect_nothing(from_room(room), 0.3, "presence for a second session")
    a1.expect_nothing(from_room(room), 0.1)
    # A message reaches both sessions.
    mid = bob.groupchat(room, "to both")
    for a in (a1, a2):
        m = a.wait_for(message_from(f"{room}/Bob", "groupchat", mid), 10, "groupchat")
        assert body(m) == "to both"
    # One session leaves: only it is told; Alice stays in the room.
    mine = a2.leave(room, "Alice")
    assert status_codes(mine) == ["110"], dump(mine)
    bob.expect_nothing(presence_from(f"{room}/Alice", "unavailable"), 0.3)
    mid = bob.groupchat(room, "still there?")
    assert body(a1.wait_for(message_from(f"{room}/Bob", "groupchat", mid), 10)) == "still there?"
    a2.expect_nothing(message_from(f"{room}/Bob", "groupchat", mid), 0.2)
    assert room_info(bob, room)["fields"]["muc#roominfo_occupants"] == "2"


def test_disconnect_leaves_the_room(stack, connect):
    """A client that just goes away (no unavailable presence of its own) is
    taken out by its server's unavailable presence."""
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "vanish")
    create_room(alice, room)
    jb = bob.join(room, "Bob")
    alice.clear()
    bob.close()
    p = alice.wait_for(presence_from(f"{room}/Bob", "unavailable"), 10, "Bob gone")
    assert status_codes(p) == [] and occupant_id(p) == jb.occupant_id, dump(p)
    assert room_info(alice, room)["fields"]["muc#roominfo_occupants"] == "1"


def test_nick_with_markup_characters(stack, connect):
    """A nick full of XML specials is a valid JID resource: it must come back
    escaped properly in every address the room writes."""
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "markup")
    create_room(alice, room)
    nick = "<b>&\"Bob's\"</b>"
    jb = bob.join(room, nick)
    assert jb.self_presence.get("from") == f"{room}/{nick}", jb.dump()
    p = alice.wait_for(presence_from(f"{room}/{nick}"), 10, "odd nick's arrival")
    assert item_attrs(p)["role"] == "participant"
    mid = bob.groupchat(room, "<hello> & 'bye'")
    m = alice.wait_for(message_from(f"{room}/{nick}", "groupchat", mid), 10, "groupchat")
    assert body(m) == "<hello> & 'bye'"
    pm = send_message(alice, f"{room}/{nick}", "psst")
    assert body(bob.wait_for(message_from(f"{room}/Alice", "chat", pm), 10)) == "psst"


# --------------------------------------------------------------------------
# messages


def test_groupchat_stanza_id_and_occupant_id(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "ids")
    ja = create_room(alice, room)
    jb = bob.join(room, "Bob")
    alice.clear()
    # A client cannot forge the ids the room asserts: they are replaced.
    forged = (f"<stanza-id xmlns='urn:xmpp:sid:0' id='forged' by='{room}'/>"
              f"<occupant-id xmlns='{NS_OCCUPANT_ID}' id='forged'/>")
    mid = bob.groupchat(room, "hi & <bye>", mid="m1-" + secrets.token_hex(3), extra=forged)
    got = {}
    for who, c in (("alice", alice), ("bob", bob)):
        m = c.wait_for(message_from(f"{room}/Bob", "groupchat", mid), 10, "groupchat")
        assert body(m) == "hi & <bye>", dump(m)
        assert m.get("to") == c.full_jid, dump(m)
        got[who] = (the_stanza_id(m, room), m.findall(f"{{{NS_OCCUPANT_ID}}}occupant-id"))
    assert got["alice"][0] == got["bob"][0], "the copies carry different stanza-ids"
    for _sid, oids in got.values():
        assert [o.get("id") for o in oids] == [jb.occupant_id]
    first = got["alice"][0]
    # Alice's messages carry her own, different id; stanza-ids grow.
    m = say(alice, room, "mine")
    assert occupant_id(m) == ja.occupant_id != jb.occupant_id
    assert the_stanza_id(m, room) > first
    # Bob leaves and comes back under another nick: same occupant id.
    bob.leave(room, "Bob")
    jr = bob.join(room, "Robert")
    assert jr.occupant_id == jb.occupant_id, jr.dump()
    assert occupant_id(say(bob, room, "back")) == jb.occupant_id


def test_burst_keeps_order(stack, connect, redis):
    """Many messages at once: every occupant gets them all, in order, with
    increasing stanza-ids, and so does the archive."""
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "burst")
    create_room(alice, room, fields={"muc#maxhistoryfetch": "100"})
    bob.join(room, "Bob")
    n = 60
    mids = [alice.groupchat(room, f"burst {i}", mid=f"b{i}") for i in range(n)]
    for c in (alice, bob):
        got = [c.wait_for(message_from(f"{room}/Alice", "groupchat"), 10, f"burst {i}")
               for i in range(n)]
        assert [m.get("id") for m in got] == mids
        assert [body(m) for m in got] == [f"burst {i}" for i in range(n)]
        sids = [the_stanza_id(m, room) for m in got]
        assert sids == sorted(set(sids)), "stanza-ids not strictly increasing"
    rows, fin = mam_query(bob, room, "<max>100</max>")
    assert [mam_row(m)["id"] for m in rows] == sids
    assert fin_of(fin) == ("true", sids[0], sids[-1])


def test_history_on_join(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "history")
    ja = create_room(alice, room)
    sent = []
    for i in range(5):
        sent.append(say(alice, room, f"m{i}"))
    time.sleep(2.6)
    sent.append(say(alice, room, "m5"))
    sids = [the_stanza_id(m, room) for m in sent]

    def joined_with(history=None) -> Joined:
        j = bob.join(room, "Bob", history=history)
        # History comes after the self-presence and before the subject.
        pos = [j.stanzas.index(m) for m in j.history]
        assert all(p > j.stanzas.index(j.self_presence) for p in pos), j.dump()
        bob.leave(room, "Bob")
        return j

    # seconds: only what is younger (first, while m5 is fresh).
    j = joined_with({"seconds": "2"})
    assert [body(m) for m in j.history] == ["m5"], j.dump()
    t_join = time.time()
    j = joined_with()
    assert [body(m) for m in j.history] == [f"m{i}" for i in range(6)], j.dump()
    for m, sid in zip(j.history, sids):
        assert m.get("from") == f"{room}/Alice" and m.get("type") == "groupchat", dump(m)
        d = delay_of(m)
        assert d["from"] == room, dump(m)
        assert t_join - 15 < parse_stamp(d["stamp"]) <= t_join + 1, dump(m)
        assert the_stanza_id(m, room) == sid, dump(m)
        assert occupant_id(m) == ja.occupant_id, dump(m)
    stamps = [parse_stamp(delay_of(m)["stamp"]) for m in j.history]
    assert stamps == sorted(stamps) and stamps[5] - stamps[4] >= 2.5, stamps

    j = joined_with({"maxstanzas": "2"})
    assert [body(m) for m in j.history] == ["m4", "m5"], j.dump()
    j = joined_with({"maxstanzas": "0"})
    assert j.history == [], j.dump()
    j = joined_with({"maxchars": "0"})
    assert j.history == [], j.dump()
    # since: messages after that instant (between m4 and m5).
    j = joined_with({"since": stamp_str((stamps[4] + stamps[5]) / 2)})
    assert [body(m) for m in j.history] == ["m5"], j.dump()


def test_history_maxchars_counts_whole_stanzas(stack, connect):
    """XEP-0045 7.2.15: maxchars limits "the total number of characters in
    the history", counting "the complete XML stanzas, not only their XML
    character data". Room for one and a half stanzas brings exactly one."""
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "maxchars")
    create_room(alice, room)
    say(alice, room, "first message")
    say(alice, room, "second message")
    j = bob.join(room, "Bob")
    assert [body(m) for m in j.history] == ["first message", "second message"], j.dump()
    bob.leave(room, "Bob")
    one = history_stanza_chars(j.history[-1], bob.full_jid)
    limit = one + one // 2
    j = bob.join(room, "Bob", history={"maxchars": str(limit)})
    assert [body(m) for m in j.history] == ["second message"], \
        f"maxchars={limit}, and one history stanza is {one} characters:\n{j.dump()}"


def history_stanza_chars(m: ET.Element, to: str) -> int:
    """Characters of a history message as the room serializes it."""
    d = delay_of(m)
    sid = stanza_ids(m)[0]
    text = (f'<message from="{m.get("from")}" to="{to}" type="groupchat">'
            f'<body>{xml_text(body(m))}</body>'
            f'<delay xmlns="urn:xmpp:delay" from="{d["from"]}" stamp="{d["stamp"]}"/>'
            f'<stanza-id xmlns="urn:xmpp:sid:0" id="{sid["id"]}" by="{sid["by"]}"/>'
            f'<occupant-id xmlns="urn:xmpp:occupant-id:0" id="{occupant_id(m)}"/></message>')
    return len(text)


def test_private_message(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "pm")
    create_room(alice, room)
    jb = bob.join(room, "Bob")
    mid = send_message(bob, f"{room}/Alice", "psst")
    pm = alice.wait_for(message_from(f"{room}/Bob", "chat", mid), 10, "private message")
    assert body(pm) == "psst" and pm.get("to") == alice.full_jid, dump(pm)
    x = muc_x(pm)
    assert x is not None and len(x) == 0, f"expected an empty muc#user x: {dump(pm)}"
    assert occupant_id(pm) == jb.occupant_id, dump(pm)
    assert stanza_ids(pm) == [], dump(pm)
    bob.expect_nothing(message_from(f"{room}/Bob"), 0.3, "echo of a private message")


def test_private_message_to_missing_nick(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "pmnone")
    create_room(alice, room)
    bob.join(room, "Bob")
    mid = send_message(bob, f"{room}/Nobody", "hello?")
    err = bob.wait_for(error_reply(mid), 10, "error for a PM to nobody")
    assert_error(err, "item-not-found", "cancel", frm=f"{room}/Nobody")
    assert is_message(err), dump(err)


def test_private_message_policy(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "pmpolicy")
    create_room(alice, room, fields={"muc#roomconfig_allowpm": "moderators"})
    bob.join(room, "Bob")
    mid = send_message(bob, f"{room}/Alice", "may I?")
    assert_error(bob.wait_for(error_reply(mid), 10, "forbidden PM"), "forbidden", "auth",
                 frm=f"{room}/Alice")
    alice.expect_nothing(message_from(f"{room}/Bob", "chat"), 0.3, "PM past the policy")
    mid = send_message(alice, f"{room}/Bob", "you may not")
    assert body(bob.wait_for(message_from(f"{room}/Alice", "chat", mid), 10)) == "you may not"


def test_non_occupants_cannot_send(stack, connect):
    alice, carol = connect("alice"), connect("carol")
    room = new_room(stack, "outsider")
    create_room(alice, room)
    alice.clear()
    mid = carol.groupchat(room, "let me in")
    assert_error(carol.wait_for(error_reply(mid), 10), "not-acceptable", frm=room)
    mid = send_message(carol, f"{room}/Alice", "psst")
    assert_error(carol.wait_for(error_reply(mid), 10), "not-acceptable")
    alice.expect_nothing(from_room(room), 0.3, "message from an outsider")
    nowhere = new_room(stack, "nosuchroom")
    mid = carol.groupchat(nowhere, "anyone?")
    assert_error(carol.wait_for(error_reply(mid), 10), "item-not-found", "cancel", frm=nowhere)


def test_subject_change_by_participant_forbidden(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "subjectno")
    create_room(alice, room)
    bob.join(room, "Bob")
    alice.clear()
    bob.send_raw(f"<message type='groupchat' id='s1' to='{room}'><subject>mine</subject></message>")
    assert_error(bob.wait_for(error_reply("s1"), 10), "forbidden", "auth", frm=room)
    alice.expect_nothing(lambda s: is_message(s) and subject_of(s) is not None, 0.3)
    # Once the owner lets participants change it, Bob may.
    configure_ok(alice, room, {"muc#roomconfig_changesubject": "1"})
    bob.send_raw(f"<message type='groupchat' id='s2' to='{room}'><subject>ours</subject></message>")
    m = alice.wait_for(lambda s: message_from(f"{room}/Bob", "groupchat")(s)
                       and subject_of(s) is not None, 10, "subject from Bob")
    assert subject_of(m) == "ours"


def test_subject_change_by_moderator(stack, connect):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = new_room(stack, "subject")
    create_room(alice, room)
    bob.join(room, "Bob")
    alice.send_raw(f"<message type='groupchat' to='{room}'>"
                   "<subject>Football &amp; more</subject></message>")
    for c in (alice, bob):
        m = c.wait_for(lambda s: message_from(f"{room}/Alice", "groupchat")(s)
                       and subject_of(s) is not None, 10, "new subject")
        assert subject_of(m) == "Football & more" and body(m) is None, dump(m)
    # A newcomer gets it as the subject (from who set it), not as history.
    jc = carol.join(room, "Carol")
    assert jc.subject.get("from") == f"{room}/Alice", jc.dump()
    assert subject_of(jc.subject) == "Football & more", jc.dump()
    assert jc.subject.find(f"{{{NS_DELAY}}}delay") is None and jc.history == [], jc.dump()
    assert room_info(carol, room)["fields"]["muc#roominfo_subject"] == "Football & more"


# --------------------------------------------------------------------------
# access control


def test_password_protected_room(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "secret")
    create_room(alice, room)
    # Protection without a password is refused as a whole.
    r = configure(alice, room, {"muc#roomconfig_passwordprotectedroom": "1"})
    assert_error(r, "not-acceptable", "modify", frm=room,
                 text="unacceptable value for muc#roomconfig_roomsecret")
    configure_ok(alice, room, {"muc#roomconfig_passwordprotectedroom": "1",
                               "muc#roomconfig_roomsecret": "s3cret"})
    assert "muc_passwordprotected" in room_info(bob, room)["features"]
    assert_error(bob.join_error(room, "Bob"), "not-authorized", "auth", frm=f"{room}/Bob")
    assert_error(bob.join_error(room, "Bob", password="wrong"), "not-authorized", "auth")
    j = bob.join(room, "Bob", password="s3cret")
    assert j.codes == ["110"] and item_attrs(j.self_presence)["role"] == "participant"


def test_members_only_room(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "members")
    create_room(alice, room)
    bob.join(room, "Bob")
    alice.clear()
    configure_ok(alice, room, {"muc#roomconfig_membersonly": "1"})
    # Occupants learn the configuration changed (104); non-members are
    # removed (322).
    m = alice.wait_for(message_from(room, "groupchat"), 10, "status 104")
    assert status_codes(m) == ["104"], dump(m)
    mine = bob.wait_for(presence_from(f"{room}/Bob", "unavailable"), 10, "322 removal")
    assert status_codes(mine) == ["110", "322"], dump(mine)
    seen = alice.wait_for(presence_from(f"{room}/Bob", "unavailable"), 10, "Bob removed")
    assert status_codes(seen) == ["322"], dump(seen)
    assert "muc_membersonly" in room_info(alice, room)["features"]

    assert_error(bob.join_error(room, "Bob"), "registration-required", "auth")
    # Granted with slixmpp's own XEP-0045 plugin, as a client would.
    alice.xmpp.register_plugin("xep_0045")
    alice.run(alice.xmpp.plugin["xep_0045"].set_affiliation(
        room, "member", jid=stack.jid("bob"), reason="welcome", timeout=10))
    j = bob.join(room, "Bob")
    assert item_attrs(j.self_presence) == {"affiliation": "member", "role": "participant",
                                           "jid": bob.full_jid}, j.dump()
    r = admin(alice, room, "<item affiliation='member'/>", "get")
    assert_result(r, room)
    items = list(r.iter(f"{{{NS_MUC_ADMIN}}}item"))
    assert [dict(i.attrib) for i in items] == [
        {"affiliation": "member", "jid": stack.jid("bob")}], dump(r)
    assert items[0].findtext(f"{{{NS_MUC_ADMIN}}}reason") == "welcome", dump(r)


def test_max_users(stack, connect):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = new_room(stack, "full")
    create_room(alice, room, fields={"muc#roomconfig_maxusers": "2"})
    bob.join(room, "Bob")
    err = carol.join_error(room, "Carol")
    assert_error(err, "service-unavailable", frm=f"{room}/Carol")
    bob.leave(room, "Bob")
    assert carol.join(room, "Carol").codes == ["110"]
    assert room_info(alice, room)["fields"]["muc#roominfo_occupants"] == "2"


def test_full_room_admits_another_session_of_an_occupant(stack, connect):
    """A second client of someone already in a full room adds no occupant:
    it joins under the same nick."""
    alice, carol = connect("alice"), connect("carol")
    carol2 = connect("carol", "second")
    room = new_room(stack, "fullsession")
    create_room(alice, room, fields={"muc#roomconfig_maxusers": "2"})
    carol.join(room, "Carol")
    j = carol2.join(room, "Carol")
    assert j.codes == ["110"], j.dump()
    assert room_info(alice, room)["fields"]["muc#roominfo_occupants"] == "2"


# --------------------------------------------------------------------------
# moderation


def test_kick(stack, connect):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = new_room(stack, "kick")
    create_room(alice, room)
    bob.join(room, "Bob")
    carol.join(room, "Carol")
    bob.clear()
    r = admin(alice, room, "<item nick='Carol' role='none'><reason>spam</reason></item>")
    assert_result(r, room)
    mine = carol.wait_for(presence_from(f"{room}/Carol", "unavailable"), 10, "kick")
    assert status_codes(mine) == ["110", "307"], dump(mine)
    it = muc_item(mine)
    assert {k: it.get(k) for k in ("affiliation", "role")} == {"affiliation": "none",
                                                                "role": "none"}, dump(mine)
    assert it.find(f"{{{NS_MUC_USER}}}actor").get("nick") == "Alice", dump(mine)
    assert it.findtext(f"{{{NS_MUC_USER}}}reason") == "spam", dump(mine)
    seen = bob.wait_for(presence_from(f"{room}/Carol", "unavailable"), 10, "Carol kicked")
    assert status_codes(seen) == ["307"], dump(seen)
    assert muc_item(seen).findtext(f"{{{NS_MUC_USER}}}reason") == "spam", dump(seen)
    assert "jid" not in muc_item(seen).attrib, dump(seen)
    mid = carol.groupchat(room, "I'm still here")
    assert_error(carol.wait_for(error_reply(mid), 10), "not-acceptable")
    # Kicking nobody.
    r = admin(alice, room, "<item nick='Nobody' role='none'/>")
    assert_error(r, "item-not-found", "cancel", frm=room)


def test_participant_cannot_kick(stack, connect):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = new_room(stack, "nokick")
    create_room(alice, room)
    bob.join(room, "Bob")
    carol.join(room, "Carol")
    r = admin(bob, room, "<item nick='Carol' role='none'/>")
    assert_error(r, "forbidden", "auth", frm=room)
    carol.expect_nothing(presence_from(f"{room}/Carol", "unavailable"), 0.3, "kick")
    # Nor may he ban, or grant himself more.
    r = admin(bob, room, f"<item affiliation='outcast' jid='{stack.jid('carol')}'/>")
    assert_error(r, "forbidden", "auth")
    r = admin(bob, room, f"<item affiliation='owner' jid='{stack.jid('bob')}'/>")
    assert_error(r, "forbidden", "auth")
    assert room_info(carol, room)["fields"]["muc#roominfo_occupants"] == "3"


def test_ban(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    bob2 = connect("bob", "other")
    room = new_room(stack, "ban")
    create_room(alice, room)
    bob.join(room, "Bob")
    alice.clear()
    r = admin(alice, room, f"<item affiliation='outcast' jid='{stack.jid('bob')}'>"
                           "<reason>troll</reason></item>")
    assert_result(r, room)
    mine = bob.wait_for(presence_from(f"{room}/Bob", "unavailable"), 10, "ban")
    assert status_codes(mine) == ["110", "301"], dump(mine)
    assert {k: muc_item(mine).get(k) for k in ("affiliation", "role")} == {
        "affiliation": "outcast", "role": "none"}, dump(mine)
    assert muc_item(mine).find(f"{{{NS_MUC_USER}}}actor").get("nick") == "Alice"
    seen = alice.wait_for(presence_from(f"{room}/Bob", "unavailable"), 10, "Bob banned")
    assert status_codes(seen) == ["301"], dump(seen)
    # Banned whatever the client or nick.
    for c, nick in ((bob, "Bob"), (bob2, "Robert")):
        assert_error(c.join_error(room, nick), "forbidden", "auth", frm=f"{room}/{nick}")
    r = admin(alice, room, "<item affiliation='outcast'/>", "get")
    items = list(r.iter(f"{{{NS_MUC_ADMIN}}}item"))
    assert [dict(i.attrib) for i in items] == [
        {"affiliation": "outcast", "jid": stack.jid("bob")}], dump(r)
    assert items[0].findtext(f"{{{NS_MUC_ADMIN}}}reason") == "troll", dump(r)
    # The last owner cannot drop ownership.
    r = admin(alice, room, f"<item affiliation='none' jid='{stack.jid('alice')}'/>")
    assert_error(r, "conflict", "cancel")


def test_moderated_room_voice(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "voice")
    create_room(alice, room, fields={"muc#roomconfig_moderatedroom": "1"})
    assert "muc_moderated" in room_info(bob, room)["features"]
    j = bob.join(room, "Bob")
    assert item_attrs(j.self_presence)["role"] == "visitor", j.dump()
    alice.clear()
    mid = bob.groupchat(room, "can I speak?")
    assert_error(bob.wait_for(error_reply(mid), 10), "forbidden", "auth", frm=room)
    alice.expect_nothing(message_from(f"{room}/Bob", "groupchat"), 0.3, "a visitor's message")
    r = admin(alice, room, "<item nick='Bob' role='participant'><reason>ok</reason></item>")
    assert_result(r, room)
    p = bob.wait_for(presence_from(f"{room}/Bob"), 10, "voice granted")
    assert status_codes(p) == ["110"], dump(p)
    assert muc_item(p).get("role") == "participant", dump(p)
    p = alice.wait_for(presence_from(f"{room}/Bob"), 10, "voice granted (moderator's view)")
    assert muc_item(p).get("role") == "participant", dump(p)
    m = say(bob, room, "thanks")
    assert body(alice.wait_for(message_from(f"{room}/Bob", "groupchat", m.get("id")))) == "thanks"
    # And revoked again.
    assert_result(admin(alice, room, "<item nick='Bob' role='visitor'/>"), room)
    assert muc_item(bob.wait_for(presence_from(f"{room}/Bob"), 10)).get("role") == "visitor"
    mid = bob.groupchat(room, "and now?")
    assert_error(bob.wait_for(error_reply(mid), 10), "forbidden", "auth")


def test_destroy_with_alternate_venue(stack, connect):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = new_room(stack, "destroy")
    venue = new_room(stack, "venue")
    create_room(alice, room)
    bob.join(room, "Bob")
    r = bob.iq(room, f"<query xmlns='{NS_MUC_OWNER}'><destroy/></query>", "set")
    assert_error(r, "forbidden", "auth", frm=room)
    r = alice.iq(room, f"<query xmlns='{NS_MUC_OWNER}'><destroy jid='{venue}'>"
                       "<reason>moved &amp; improved</reason></destroy></query>", "set")
    assert_result(r, room)
    for c, nick in ((bob, "Bob"), (alice, "Alice")):
        p = c.wait_for(presence_from(f"{room}/{nick}", "unavailable"), 10, "room destroyed")
        it = muc_item(p)
        assert (it.get("affiliation"), it.get("role")) == (
            "owner" if nick == "Alice" else "none", "none"), dump(p)
        d = muc_x(p).find(f"{{{NS_MUC_USER}}}destroy")
        assert d is not None and d.get("jid") == venue, dump(p)
        assert d.findtext(f"{{{NS_MUC_USER}}}reason") == "moved & improved", dump(p)
    assert_error(disco_info(carol, room), "item-not-found", "cancel", frm=room)


def test_mediated_invitation(stack, connect):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = new_room(stack, "invite")
    create_room(alice, room)
    bob.join(room, "Bob")
    alice.send_raw(f"<message id='inv1' to='{room}'><x xmlns='{NS_MUC_USER}'>"
                   f"<invite to='{stack.jid('carol')}'><reason>join us</reason></invite>"
                   "</x></message>")
    m = carol.wait_for(message_from(room, mid="inv1"), 10, "invitation")
    inv = muc_x(m).find(f"{{{NS_MUC_USER}}}invite")
    assert inv is not None and inv.get("from") == alice.full_jid, dump(m)
    assert inv.findtext(f"{{{NS_MUC_USER}}}reason") == "join us", dump(m)
    conf = m.find(f"{{{NS_CONFERENCE}}}x")
    assert conf is not None and dict(conf.attrib) == {"jid": room, "reason": "join us"}, dump(m)
    # A participant may not invite unless the owner allows it.
    bob.send_raw(f"<message id='inv2' to='{room}'><x xmlns='{NS_MUC_USER}'>"
                 f"<invite to='{stack.jid('carol')}'/></x></message>")
    assert_error(bob.wait_for(error_reply("inv2"), 10), "forbidden", "auth", frm=room)
    carol.expect_nothing(message_from(room, mid="inv2"), 0.3, "forbidden invitation")
    # The invitee can decline: the inviter is told.
    carol.send_raw(f"<message to='{room}'><x xmlns='{NS_MUC_USER}'>"
                   f"<decline to='{alice.full_jid}'><reason>busy</reason></decline></x></message>")
    m = alice.wait_for(lambda s: message_from(room)(s) and muc_x(s) is not None
                       and muc_x(s).find(f"{{{NS_MUC_USER}}}decline") is not None, 10, "decline")
    dec = muc_x(m).find(f"{{{NS_MUC_USER}}}decline")
    assert dec.get("from") == carol.full_jid, dump(m)
    assert dec.findtext(f"{{{NS_MUC_USER}}}reason") == "busy", dump(m)


def test_invitation_to_members_only_room_makes_a_member(stack, connect):
    alice, carol = connect("alice"), connect("carol")
    room = new_room(stack, "invmember")
    create_room(alice, room, fields={"muc#roomconfig_membersonly": "1",
                                     "muc#roomconfig_passwordprotectedroom": "1",
                                     "muc#roomconfig_roomsecret": "pw"})
    assert_error(carol.join_error(room, "Carol", password="pw"), "registration-required")
    alice.send_raw(f"<message id='inv3' to='{room}'><x xmlns='{NS_MUC_USER}'>"
                   f"<invite to='{stack.jid('carol')}'/></x></message>")
    m = carol.wait_for(message_from(room, mid="inv3"), 10, "invitation")
    # The invitation carries the password, in both forms.
    assert muc_x(m).findtext(f"{{{NS_MUC_USER}}}password") == "pw", dump(m)
    assert m.find(f"{{{NS_CONFERENCE}}}x").get("password") == "pw", dump(m)
    j = carol.join(room, "Carol", password="pw")
    assert item_attrs(j.self_presence)["affiliation"] == "member", j.dump()


def answering(client, seconds: float) -> threading.Thread:
    """Runs client's event loop in the background for a while, so that its
    slixmpp plugins answer IQs while another client waits for a reply."""
    t = threading.Thread(target=client.run, args=(asyncio.sleep(seconds),))
    t.start()
    return t


def test_iq_to_occupant(stack, connect):
    """An IQ to an occupant address reaches that occupant's client from the
    asker's occupant address (the real JID stays hidden) and the answer comes
    back; vCard requests go to the account (XEP-0054), whose server answers."""
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = new_room(stack, "iqfwd")
    create_room(alice, room)
    bob.join(room, "Bob")
    alice.xmpp.register_plugin("xep_0092", {"software_name": "AliceChat", "version": "4.2"})
    t = answering(alice, 3.0)
    try:
        r = bob.iq(f"{room}/Alice", "<query xmlns='jabber:iq:version'/>")
    finally:
        t.join()
    assert_result(r, f"{room}/Alice")
    assert r.get("id") is not None and not r.get("id").startswith("stoa1."), dump(r)
    assert r.findtext("{jabber:iq:version}query/{jabber:iq:version}name") == "AliceChat", dump(r)

    if stack.kind == "prosody":  # mod_vcard answers; the e2e ejabberd has no vCard module
        alice.iq(stack.jid("alice"), "<vCard xmlns='vcard-temp'><FN>Alice A.</FN></vCard>", "set")
    r = bob.iq(f"{room}/Alice", "<vCard xmlns='vcard-temp'/>")
    assert r.get("from") == f"{room}/Alice", dump(r)
    if stack.kind == "prosody":
        assert_result(r, f"{room}/Alice")
        assert r.findtext("{vcard-temp}vCard/{vcard-temp}FN") == "Alice A.", dump(r)
    else:
        assert_error(r, "service-unavailable", frm=f"{room}/Alice")

    r = carol.iq(f"{room}/Alice", "<query xmlns='jabber:iq:version'/>")
    assert_error(r, "not-acceptable", frm=f"{room}/Alice")
    r = bob.iq(f"{room}/Nobody", "<query xmlns='jabber:iq:version'/>")
    assert_error(r, "item-not-found", frm=f"{room}/Nobody")


def test_self_ping(stack, connect):
    """XEP-0410 with the self-ping optimization: the room itself answers a
    ping to one's own occupant address."""
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = new_room(stack, "selfping")
    create_room(alice, room)
    assert "http://jabber.org/protocol/muc#self-ping-optimization" in \
        room_info(carol, room)["features"]
    bob.join(room, "Bob")
    r = bob.iq(f"{room}/Bob", f"<ping xmlns='{NS_PING}'/>")
    assert_result(r, f"{room}/Bob")
    assert len(r) == 0, dump(r)
    # Not joined: not-acceptable (the client should rejoin).
    r = carol.iq(f"{room}/Carol", f"<ping xmlns='{NS_PING}'/>")
    assert_error(r, "not-acceptable", frm=f"{room}/Carol")
    bob.leave(room, "Bob")
    r = bob.iq(f"{room}/Bob", f"<ping xmlns='{NS_PING}'/>")
    assert_error(r, "not-acceptable", frm=f"{room}/Bob")


# --------------------------------------------------------------------------
# configuration


def test_configure_with_slixmpp_forms(stack, connect):
    """slixmpp's XEP-0045 plugin reads the form and submits it back: the
    form must be one a real client library understands."""
    alice, bob = connect("alice"), connect("bob")
    for plugin in ("xep_0004", "xep_0045"):
        alice.xmpp.register_plugin(plugin)
    room = new_room(stack, "slixform")
    create_room(alice, room)
    bob.join(room, "Bob")
    muc = alice.xmpp.plugin["xep_0045"]
    f = alice.run(muc.get_room_config(room, timeout=10))
    fields = f.get_fields()
    assert fields["muc#roomconfig_publicroom"]["type"] == "boolean"
    assert fields["muc#roomconfig_publicroom"]["value"] is True
    assert fields["x-stoa#topic"]["type"] == "list-single"
    assert [o["value"] for o in fields["x-stoa#topic"]["options"]] == [""] + DEFAULT_TOPICS
    assert fields["muc#roomconfig_whois"]["value"] == "moderators"
    answer = f.__class__()
    answer["type"] = "submit"
    answer.add_field(var="FORM_TYPE", ftype="hidden", value=NS_ROOMCONFIG)
    answer.add_field(var="muc#roomconfig_roomname", value="Slix Room")
    answer.add_field(var="muc#roomconfig_roomdesc", value="configured by slixmpp")
    answer.add_field(var="x-stoa#topic", value="music")
    answer.add_field(var="muc#roomconfig_whois", value="anyone")
    alice.clear()
    alice.run(muc.set_room_config(room, answer, timeout=10))
    # Real JIDs just became visible to everyone: 104 and 172.
    for c in (alice, bob):
        m = c.wait_for(message_from(room, "groupchat"), 10, "config change notice")
        assert status_codes(m) == ["104", "172"], dump(m)
    info = room_info(bob, room)
    assert info["identities"] == [("conference", "text", "Slix Room")], info
    assert info["fields"]["muc#roominfo_description"] == "configured by slixmpp"
    assert info["fields"]["x-stoa#topic"] == "music"
    assert "muc_nonanonymous" in info["features"], info
    # Now everyone sees real JIDs, and a newcomer is told so (100).
    carol = connect("carol")
    jc = carol.join(room, "Carol")
    assert jc.codes == ["110", "100"], jc.dump()
    pb = [s for s in jc.others if s.get("from") == f"{room}/Bob"][0]
    assert item_attrs(pb)["jid"] == bob.full_jid, dump(pb)
    p = bob.wait_for(presence_from(f"{room}/Carol"), 10, "Carol's arrival")
    assert item_attrs(p)["jid"] == carol.full_jid and "110" not in status_codes(p), dump(p)


def test_slixmpp_join_muc_wait(stack, connect):
    """slixmpp's own join (XEP-0045 plugin) completes: it waits for the
    self-presence, then the subject, gathering occupants and history."""
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "slixjoin")
    create_room(alice, room)
    say(alice, room, "first")
    say(alice, room, "second")
    bob.xmpp.register_plugin("xep_0045")
    pres, subject, occupants, history = bob.run(
        bob.xmpp.plugin["xep_0045"].join_muc_wait(room, "Bob", maxstanzas=1, timeout=10))
    assert pres["type"] == "available" and pres["from"] == f"{room}/Bob"
    assert "110" in [str(c) for c in pres["muc"]["status_codes"]], pres
    assert f"{room}/Alice" in [str(o["from"]) for o in occupants]
    assert [m["body"] for m in history] == ["second"]
    assert subject["from"] == room and subject["subject"] == ""


def test_config_form_garbage_refused(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "garbage")
    create_room(alice, room, fields={"muc#roomconfig_roomname": "Before"})
    for var, value in (("muc#roomconfig_maxusers", "-5"),
                       ("muc#roomconfig_maxusers", "lots"),
                       ("muc#roomconfig_publicroom", "maybe"),
                       ("muc#roomconfig_whois", "participants"),
                       ("muc#roomconfig_allowpm", "everybody"),
                       ("x-stoa#topic", "knitting"),
                       ("muc#maxhistoryfetch", "5000"),
                       ("muc#roomconfig_roomname", "x" * 1025)):
        fields = {"muc#roomconfig_roomname": "After"}
        fields[var] = value  # a good field beside the bad one
        r = configure(alice, room, fields)
        assert_error(r, "not-acceptable", "modify", frm=room,
                     text=f"unacceptable value for {var}")
    # Refused forms change nothing.
    assert room_info(bob, room)["identities"] == [("conference", "text", "Before")]
    # Neither does a non-owner's form, nor a form of another type.
    r = bob.iq(room, f"<query xmlns='{NS_MUC_OWNER}'>"
                     f"{form({'muc#roomconfig_roomname': 'Bob'})}</query>", "set")
    assert_error(r, "forbidden", "auth", frm=room)
    r = alice.iq(room, f"<query xmlns='{NS_MUC_OWNER}'>"
                       f"{form({'muc#roomconfig_roomname': 'X'}, 'urn:example:other')}</query>",
                 "set")
    assert_error(r, "bad-request", "modify", frm=room)
    assert room_info(bob, room)["identities"] == [("conference", "text", "Before")]


# --------------------------------------------------------------------------
# the directory


def test_directory(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    tag = secrets.token_hex(3)
    football = f"football-{tag}@{stack.domain}"
    hidden = f"hidden-{tag}@{stack.domain}"
    cinema = f"cinema-{tag}@{stack.domain}"
    locked = f"locked-{tag}@{stack.domain}"
    create_room(alice, football, fields={"muc#roomconfig_roomname": "Football Fans",
                                         "x-stoa#topic": "sports",
                                         "muc#roomconfig_roomdesc": "Matches & gossip"})
    create_room(alice, hidden, fields={"muc#roomconfig_publicroom": "0",
                                       "x-stoa#topic": "sports"})
    create_room(alice, cinema, fields={"x-stoa#topic": "movies"})
    assert alice.join(locked, "Alice").codes == ["110", "201"]  # never configured

    mine = lambda items: sorted((i for i in items if tag in i.get("jid", "")),  # noqa: E731
                                key=lambda i: i["jid"])
    r = disco_items(bob, stack.domain)
    assert_result(r, stack.domain)
    # Each name carries the occupant count; Bob joining football shows in it.
    assert mine(items_of(r)) == [{"jid": cinema, "name": f"{local(cinema)} (1)"},
                                 {"jid": football, "name": "Football Fans (1)"}], dump(r)
    bob.join(football, "Bob")
    r = disco_items(bob, stack.domain)
    assert {"jid": football, "name": "Football Fans (2)"} in mine(items_of(r)), dump(r)
    r = disco_items(bob, stack.domain, "topics")
    assert_result(r, stack.domain)
    assert r.find(f"{{{NS_DISCO_ITEMS}}}query").get("node") == "topics"
    assert items_of(r) == [{"jid": stack.domain, "node": f"topic/{t}", "name": t}
                           for t in DEFAULT_TOPICS], dump(r)
    r = disco_items(bob, stack.domain, "topic/sports")
    assert_result(r, stack.domain)
    assert mine(items_of(r)) == [{"jid": football, "name": "Football Fans (2)"}], dump(r)
    r = disco_items(bob, stack.domain, "topic/movies")
    assert mine(items_of(r)) == [{"jid": cinema, "name": f"{local(cinema)} (1)"}], dump(r)
    assert_error(disco_items(bob, stack.domain, "topic/knitting"), "item-not-found", "cancel",
                 frm=stack.domain)

    info = room_info(bob, football)
    assert info["identities"] == [("conference", "text", "Football Fans")], info
    assert "muc_public" in info["features"] and "muc_hidden" not in info["features"]
    assert info["x_type"] == "result"
    assert info["fields"]["FORM_TYPE"] == NS_ROOMINFO, info
    assert info["fields"]["muc#roominfo_description"] == "Matches & gossip", info
    assert info["fields"]["muc#roominfo_occupants"] == "2", info
    assert info["fields"]["x-stoa#topic"] == "sports", info
    assert "muc_hidden" in room_info(bob, hidden)["features"]
    # The service advertises rooms and search.
    r = disco_info(bob, stack.domain)
    feats = [f.get("var") for f in r.iter(f"{{{NS_DISCO_INFO}}}feature")]
    for f in ("http://jabber.org/protocol/muc", NS_SEARCH, "urn:xmpp:occupant-id:0"):
        assert f in feats, feats


def search(client: Client, domain: str, fields: Optional[Dict[str, str]] = None,
           rsm: str = "", itype: str = "set") -> ET.Element:
    x = form(fields, NS_SEARCH_PARAMS) if fields is not None else ""
    return client.iq(domain, f"<search xmlns='{NS_SEARCH}'>{rsm}{x}</search>", itype)


def search_items(r: ET.Element) -> List[Dict[str, object]]:
    res = r.find(f"{{{NS_SEARCH}}}result")
    assert res is not None, dump(r)
    out = []
    for it in res.findall(f"{{{NS_SEARCH}}}item"):
        d: Dict[str, object] = {"address": it.get("address")}
        for child in it:
            name = child.tag.split("}", 1)[1]
            d[name] = True if name == "is-open" else child.text
        out.append(d)
    return out


def test_channel_search(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    word = "zq" + secrets.token_hex(3)
    football = f"football-{word}@{stack.domain}"
    films = f"films-{word}@{stack.domain}"
    create_room(alice, football, fields={"muc#roomconfig_roomname": f"Weekend football {word}",
                                         "x-stoa#topic": "sports"})
    create_room(alice, films, fields={"muc#roomconfig_roomdesc": f"Weekend cinema {word}",
                                      "x-stoa#topic": "movies",
                                      "muc#roomconfig_lang": "en"})
    bob.join(films, "Bob")

    r = search(bob, stack.domain, itype="get")
    assert_result(r, stack.domain)
    x = r.find(f"{{{NS_SEARCH}}}search/{{{NS_DATA}}}x")
    assert x is not None and x.get("type") == "form", dump(r)
    vars_ = [f.get("var") for f in x.findall(f"{{{NS_DATA}}}field")]
    for v in ("FORM_TYPE", "q", "all", "sinname", "sindescription", "min_users", "key",
              "{urn:xmpp:stoa:0}topic"):
        assert v in vars_, vars_

    r = search(bob, stack.domain, {"q": word.upper()})
    assert_result(r, stack.domain)
    # Busiest first: films has two occupants.
    assert search_items(r) == [
        {"address": films, "name": local(films), "description": f"Weekend cinema {word}",
         "language": "en", "nusers": "2", "service-type": "xep-0045", "is-open": True},
        {"address": football, "name": f"Weekend football {word}", "nusers": "1",
         "service-type": "xep-0045", "is-open": True},
    ], dump(r)
    rs = r.find(f"{{{NS_SEARCH}}}result/{{{NS_RSM}}}set")
    assert rs.findtext(f"{{{NS_RSM}}}count") == "2", dump(r)

    r = search(bob, stack.domain, {"q": word, "{urn:xmpp:stoa:0}topic": "sports"})
    assert [i["address"] for i in search_items(r)] == [football], dump(r)
    r = search(bob, stack.domain, {"q": word, "min_users": "2"})
    assert [i["address"] for i in search_items(r)] == [films], dump(r)
    r = search(bob, stack.domain, {"q": word, "sinname": "false", "sindescription": "false",
                                   "sinaddr": "false"})
    assert search_items(r) == [], dump(r)
    r = search(bob, stack.domain, {"q": word, "key": "{urn:xmpp:channel-search:0:order}address"},
               rsm=f"<set xmlns='{NS_RSM}'><max>1</max></set>")
    assert [i["address"] for i in search_items(r)] == [films], dump(r)
    rs = r.find(f"{{{NS_SEARCH}}}result/{{{NS_RSM}}}set")
    assert (rs.findtext(f"{{{NS_RSM}}}first"), rs.findtext(f"{{{NS_RSM}}}last"),
            rs.findtext(f"{{{NS_RSM}}}count")) == ("0", "0", "2"), dump(r)
    r = search(bob, stack.domain, {"q": word, "key": "{urn:xmpp:channel-search:0:order}address"},
               rsm=f"<set xmlns='{NS_RSM}'><max>1</max><after>0</after></set>")
    assert [i["address"] for i in search_items(r)] == [football], dump(r)

    r = search(bob, stack.domain, {})
    assert_error(r, "bad-request", "modify", frm=stack.domain)
    assert r.find(f"{{{NS_CLIENT}}}error/{{{NS_SEARCH_ERRORS}}}no-search-conditions") is not None
    r = search(bob, stack.domain, {"all": "true", "key": "{x}y"})
    assert_error(r, "feature-not-implemented", "modify")
    assert r.find(f"{{{NS_CLIENT}}}error/{{{NS_SEARCH_ERRORS}}}invalid-sort-key") is not None


# --------------------------------------------------------------------------
# archive (XEP-0313) and moderation (XEP-0425)


def mam_query(client: Client, room: str, rsm: str = "", queryid: str = "q",
              fields: Optional[Dict[str, str]] = None):
    """Returns (result messages in order, the final iq)."""
    x = form(fields, NS_MAM) if fields else ""
    s = f"<set xmlns='{NS_RSM}'>{rsm}</set>" if rsm else ""
    client.take(lambda st: is_message(st) and st.find(f"{{{NS_MAM}}}result") is not None)
    fin = client.iq(room, f"<query xmlns='{NS_MAM}' queryid='{queryid}'>{x}{s}</query>", "set")
    rows = client.take(lambda st: is_message(st) and st.find(f"{{{NS_MAM}}}result") is not None)
    return rows, fin


def mam_row(row: ET.Element) -> Dict[str, object]:
    res = row.find(f"{{{NS_MAM}}}result")
    fwd = res.find(f"{{{NS_FORWARD}}}forwarded")
    msg = fwd.find(f"{{{NS_CLIENT}}}message")
    return {"from": row.get("from"), "queryid": res.get("queryid"), "id": res.get("id"),
            "stamp": fwd.find(f"{{{NS_DELAY}}}delay").get("stamp"),
            "msg_from": msg.get("from"), "type": msg.get("type"), "body": body(msg),
            "occupant_id": occupant_id(msg)}


def fin_of(fin: ET.Element):
    f = fin.find(f"{{{NS_MAM}}}fin")
    assert f is not None, dump(fin)
    s = f.find(f"{{{NS_RSM}}}set")
    return (f.get("complete"), s.findtext(f"{{{NS_RSM}}}first"), s.findtext(f"{{{NS_RSM}}}last"))


def test_mam_paging(stack, connect, redis):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = new_room(stack, "mam")
    # The room keeps only two messages of history: five in the archive
    # prove it is Redis that answers.
    ja = create_room(alice, room, fields={"muc#maxhistoryfetch": "2"})
    echoes = [say(alice, room, f"m{i}") for i in range(5)]
    sids = [the_stanza_id(m, room) for m in echoes]
    key = f"stoa-{stack.kind}:muc:log:{room}"
    assert redis.wait_reply(":5", "XLEN", key) == ":5", f"the archive in Redis ({key})"

    r = alice.iq(room, f"<query xmlns='{NS_MAM}'/>")
    assert_result(r, room)
    x = r.find(f"{{{NS_MAM}}}query/{{{NS_DATA}}}x")
    assert x is not None and x.get("type") == "form", dump(r)
    assert x.find(f"{{{NS_DATA}}}field[@var='FORM_TYPE']").findtext(f"{{{NS_DATA}}}value") \
        == NS_MAM

    # Page 1 of 3.
    rows, fin = mam_query(bob, room, "<max>2</max>", queryid="p1")
    assert_result(fin, room)
    got = [mam_row(m) for m in rows]
    assert [(g["id"], g["body"]) for g in got] == [(sids[0], "m0"), (sids[1], "m1")], got
    for g in got:
        assert g["from"] == room and g["queryid"] == "p1", g
        assert g["msg_from"] == f"{room}/Alice" and g["type"] == "groupchat", g
        assert g["occupant_id"] == ja.occupant_id, g
        parse_stamp(g["stamp"])
    assert fin_of(fin) == ("false", sids[0], sids[1])
    # Page 2, then the last.
    rows, fin = mam_query(bob, room, f"<max>2</max><after>{sids[1]}</after>")
    assert [mam_row(m)["body"] for m in rows] == ["m2", "m3"]
    assert fin_of(fin) == ("false", sids[2], sids[3])
    rows, fin = mam_query(bob, room, f"<max>2</max><after>{sids[3]}</after>")
    assert [mam_row(m)["body"] for m in rows] == ["m4"]
    assert fin_of(fin) == ("true", sids[4], sids[4])
    # An empty <before/>: the newest page, in chronological order.
    rows, fin = mam_query(bob, room, "<max>2</max><before/>")
    assert [mam_row(m)["body"] for m in rows] == ["m3", "m4"]
    assert fin_of(fin) == ("false", sids[3], sids[4])
    rows, fin = mam_query(bob, room, f"<max>10</max><before>{sids[3]}</before>")
    assert [mam_row(m)["body"] for m in rows] == ["m0", "m1", "m2"]
    assert fin_of(fin) == ("true", sids[0], sids[2])
    # Filtering by id in the form.
    rows, fin = mam_query(bob, room, fields={"after-id": sids[2]})
    assert [mam_row(m)["body"] for m in rows] == ["m3", "m4"]
    # Nonsense is refused.
    rows, fin = mam_query(bob, room, "<after>../../etc</after>")
    assert rows == [] and error_condition(fin) == "not-acceptable", dump(fin)
    # Someone banned may not read it.
    assert_result(admin(alice, room, f"<item affiliation='outcast' jid='{stack.jid('carol')}'/>"),
                  room)
    rows, fin = mam_query(carol, room)
    assert rows == [], [dump(m) for m in rows]
    assert_error(fin, "forbidden", "auth", frm=room)
    # A temporary room takes its archive with it.
    alice.leave(room, "Alice")
    deadline = time.monotonic() + 5
    while redis.command_line("EXISTS", key) != ":0":
        assert time.monotonic() < deadline, f"{key} still in Redis after the room went"
        time.sleep(0.05)


def test_moderator_retracts_message(stack, connect):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = new_room(stack, "moderate")
    ja = create_room(alice, room)
    bob.join(room, "Bob")
    spam = say(bob, room, "spam link")
    sid = the_stanza_id(spam, room)
    fine = say(alice, room, "fine")
    fine_sid = the_stanza_id(fine, room)
    alice.clear()
    bob.clear()

    req = (f"<moderate id='{sid}' xmlns='{NS_MODERATE1}'><retract xmlns='{NS_RETRACT1}'/>"
           "<reason>spam</reason></moderate>")
    assert_error(bob.iq(room, req, "set"), "forbidden", "auth", frm=room)
    assert_result(alice.iq(room, req, "set"), room)
    for c in (alice, bob):
        m = c.wait_for(lambda s: message_from(room, "groupchat")(s)
                       and s.find(f"{{{NS_RETRACT1}}}retract") is not None, 10, "retraction")
        r = m.find(f"{{{NS_RETRACT1}}}retract")
        assert r.get("id") == sid, dump(m)
        mod = r.find(f"{{{NS_MODERATE1}}}moderated")
        assert mod is not None and mod.get("by") == f"{room}/Alice", dump(m)
        assert occupant_id(mod) == ja.occupant_id, dump(m)
        assert r.findtext(f"{{{NS_RETRACT1}}}reason") == "spam", dump(m)
        # The older protocol's form too (XEP-0425 0.2, fastening).
        a = m.find(f"{{{NS_FASTEN}}}apply-to")
        assert a is not None and a.get("id") == sid, dump(m)
        m0 = a.find(f"{{{NS_MODERATE0}}}moderated")
        assert m0 is not None and m0.get("by") == f"{room}/Alice", dump(m)
        assert m0.find(f"{{{NS_RETRACT0}}}retract") is not None, dump(m)
        assert body(m) is None, dump(m)

    # A later joiner does not get it from the history...
    jc = carol.join(room, "Carol")
    assert "spam link" not in jc.dump(), jc.dump()
    assert [body(m) for m in jc.history if body(m) is not None] == ["fine"], jc.dump()
    # ...nor anyone from the archive.
    rows, fin = mam_query(carol, room)
    assert_result(fin, room)
    got = [mam_row(m) for m in rows]
    assert [(g["id"], g["body"]) for g in got] == [(fine_sid, "fine")], got


# --------------------------------------------------------------------------
# hostile input through the server


def assert_component_alive(stack, client: Client) -> None:
    assert stack.component.running(), stack.component.describe_failure("component died")
    assert_result(disco_info(client, stack.domain), stack.domain)


# Who refuses an impossible occupant address, and how. Prosody's stanza
# router checks the 'to' of what clients send (jid-malformed); ejabberd's
# parser refuses the attribute (bad-request); a join without a nick is a valid
# address that only the room can refuse.
HOSTILE_NICKS = {
    "overlong": "n" * 1100,  # a resourcepart is at most 1023 bytes
    "tab": "bad\tnick",      # control characters are not allowed in JIDs
    "empty": "",             # to='room@service', no nick at all
}
EJABBERD_BAD_TO = "Bad value of attribute 'to' in tag <presence/> qualified by namespace " \
                  "'jabber:client'"


def expected_refusal(kind: str, what: str):
    """(condition, type, text check) for a hostile join on this server."""
    if what == "empty":
        return "jid-malformed", "modify", lambda t: t == "a nickname is required"
    if kind == "prosody":
        return "jid-malformed", "modify", \
            lambda t: (t or "").startswith("The destination address is invalid")
    return "bad-request", "modify", lambda t: t == EJABBERD_BAD_TO


@pytest.mark.parametrize("what", list(HOSTILE_NICKS))
def test_hostile_nick_refused(stack, connect, what):
    """The server or the component refuses an impossible occupant address;
    nobody in the room hears of it, and the component carries on."""
    nick = HOSTILE_NICKS[what]
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, f"hostile-{what}")
    create_room(alice, room)
    alice.clear()
    esc = nick.replace("\t", "&#9;")
    to = f"{room}/{esc}" if nick else room
    bob.send_raw(f"<presence to='{to}' id='h1'><x xmlns='http://jabber.org/protocol/muc'/>"
                 "</presence>")
    err = bob.wait_for(error_reply("h1"), 10, "refusal of a hostile nick")
    cond, etype, text_ok = expected_refusal(stack.kind, what)
    assert is_presence(err), dump(err)
    assert_error(err, cond, etype)
    assert text_ok(error_text(err)), dump(err)
    alice.expect_nothing(from_room(room), 0.3, "news of a hostile join")
    assert_component_alive(stack, bob)
    assert bob.join(room, "Bob").codes == ["110"]
    assert room_info(bob, room)["fields"]["muc#roominfo_occupants"] == "2"


def test_hostile_history_request(stack, connect):
    """Nonsense in <history/> is ignored: the whole history comes."""
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "hostile-history")
    create_room(alice, room)
    say(alice, room, "one")
    say(alice, room, "two")
    j = bob.join(room, "Bob", history={"maxstanzas": "-1", "seconds": "soon",
                                       "since": "yesterday", "maxchars": "9" * 30})
    assert [body(m) for m in j.history] == ["one", "two"], j.dump()
    assert_component_alive(stack, bob)
