"""Chat rooms (XEP-0045) end to end: creating, joining and leaving.
mucutil.py says how these tests work and holds what they share.
"""

from __future__ import annotations

from mucutil import (
    HEX32,
    NS_ROOMCONFIG,
    assert_error,
    assert_result,
    configure_ok,
    create_room,
    disco_info,
    disco_items,
    error_reply,
    from_room,
    items_of,
    local,
    message_from,
    new_room,
    presence_from,
    room_info,
    send_message,
    subject_of,
)
from xmpp import (
    NS_CLIENT,
    NS_DATA,
    NS_MUC_OWNER,
    NS_MUC_USER,
    NS_OCCUPANT_ID,
    body,
    dump,
    item_attrs,
    occupant_id,
    status_codes,
)


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
