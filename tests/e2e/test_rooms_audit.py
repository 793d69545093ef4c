"""The MUSTs of XEP-0045 7-10 and 17, XEP-0313 4-5, XEP-0421, XEP-0359 and
XEP-0410 that no other test pinned (issue 14's audit), through real Prosody
and ejabberd with slixmpp. Each test names the section it checks; the whole
audit, section by section with the test for each requirement, is the table in
docs/rooms.md ("Standards: what is checked where")."""

from __future__ import annotations

import pytest

from mucutil import (admin, assert_error, assert_result, create_room, from_room, mam_query,
                      mam_row, new_room, parse_stamp, presence_from, room_info, say,
                      the_stanza_id)
from xmpp import dump, is_presence, muc_item

NS_OWNER = "http://jabber.org/protocol/muc#owner"


def affiliate(client, room: str, jid: str, aff: str):
    return admin(client, room, f"<item affiliation='{aff}' jid='{jid}'/>")


def test_ban_oneself_is_a_conflict_9_1(stack, connect):
    """9.1: "If an admin or owner attempts to ban himself, the service MUST
    deny the request and return a <conflict/> error"; also when another owner
    would remain."""
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "audit-selfban")
    create_room(alice, room)
    assert_result(affiliate(alice, room, stack.jid("bob"), "owner"), room)
    assert_result(affiliate(alice, room, stack.jid("carol"), "admin"), room)
    r = affiliate(alice, room, stack.jid("alice"), "outcast")
    assert_error(r, "conflict", "cancel", frm=room, text="you cannot ban yourself")
    carol = connect("carol")
    r = affiliate(carol, room, stack.jid("carol"), "outcast")
    assert_error(r, "conflict", "cancel", frm=room)
    # Nothing changed: Alice is still an owner.
    r = admin(alice, room, "<item affiliation='owner'/>", "get")
    assert stack.jid("alice") in dump(r), dump(r)


def test_admins_cannot_touch_owners_9_1_10_3(stack, connect):
    """9.1: an admin who bans an owner gets not-allowed; 10.3/10.6: granting
    owner or admin is for owners ("MUST return a <forbidden/> error")."""
    alice, carol = connect("alice"), connect("carol")
    room = new_room(stack, "audit-admin")
    create_room(alice, room)
    assert_result(affiliate(alice, room, stack.jid("carol"), "admin"), room)
    assert_error(affiliate(carol, room, stack.jid("alice"), "outcast"), "not-allowed", "cancel",
                 frm=room)
    assert_error(affiliate(carol, room, stack.jid("dave"), "owner"), "forbidden", "auth",
                 frm=room)
    assert_error(affiliate(carol, room, stack.jid("dave"), "admin"), "forbidden", "auth",
                 frm=room)
    # Members are the admin's to grant (9.3).
    assert_result(affiliate(carol, room, stack.jid("dave"), "member"), room)


def test_roles_of_admins_are_theirs_8_2_8_4_9_7(stack, connect):
    """8.2: a moderator who is a member cannot kick an admin (not-allowed);
    8.4: nobody revokes an admin's voice; 9.7: an admin cannot take moderation
    from an owner."""
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = new_room(stack, "audit-roles")
    create_room(alice, room)
    assert_result(affiliate(alice, room, stack.jid("bob"), "member"), room)
    assert_result(affiliate(alice, room, stack.jid("carol"), "admin"), room)
    bob.join(room, "Bob")
    carol.join(room, "Carol")
    assert_result(admin(alice, room, "<item nick='Bob' role='moderator'/>"), room)
    bob.wait_for(lambda s: is_presence(s) and s.get("from") == f"{room}/Bob"
                 and muc_item(s).get("role") == "moderator", 10, "Bob a moderator")
    alice.clear()
    assert_error(admin(bob, room, "<item nick='Carol' role='none'/>"), "not-allowed", "cancel",
                 frm=room)
    assert_error(admin(bob, room, "<item nick='Carol' role='visitor'/>"), "not-allowed",
                 frm=room)
    assert_error(admin(carol, room, "<item nick='Alice' role='participant'/>"), "not-allowed",
                 frm=room)
    alice.expect_nothing(presence_from(f"{room}/Carol", "unavailable"), 0.3, "Carol kicked")


def test_role_and_affiliation_in_one_item_17_4(stack, connect):
    """17.4: "if a moderator, admin, or owner attempts to modify both the
    affiliation and role of the same item in the same IQ set, the service
    MUST return a <bad-request/> error"."""
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "audit-both")
    create_room(alice, room)
    bob.join(room, "Bob")
    r = admin(alice, room, f"<item nick='Bob' role='visitor' affiliation='member' "
                           f"jid='{stack.jid('bob')}'/>")
    assert_error(r, "bad-request", "modify", frm=room,
                 text="an item changes a role or an affiliation, not both")


def test_unavailable_from_a_non_occupant_is_ignored_17_3(stack, connect):
    """17.3: "A room MUST silently ignore unavailable presence received from a
    user who has a role of none"; and a presence of another type is no join."""
    alice, carol = connect("alice"), connect("carol")
    room = new_room(stack, "audit-unavail")
    create_room(alice, room)
    alice.clear()
    carol.send_raw(f"<presence to='{room}/Carol' type='unavailable'/>")
    carol.expect_nothing(from_room(room), 0.5, "an answer to a stray unavailable")
    alice.expect_nothing(from_room(room), 0.1, "news of a stray unavailable")
    assert room_info(alice, room)["fields"]["muc#roominfo_occupants"] == "1"


def test_non_owners_cannot_configure_or_destroy_10_2_10_9(stack, connect):
    """10.2 and 10.9: the configuration form and <destroy/> are for owners
    ("MUST return a <forbidden/> error"); an admin is no owner."""
    alice, carol = connect("alice"), connect("carol")
    room = new_room(stack, "audit-owner")
    create_room(alice, room)
    assert_result(affiliate(alice, room, stack.jid("carol"), "admin"), room)
    assert_error(carol.iq(room, f"<query xmlns='{NS_OWNER}'/>"), "forbidden", "auth", frm=room)
    assert_error(carol.iq(room, f"<query xmlns='{NS_OWNER}'><destroy/></query>", "set"),
                 "forbidden", "auth", frm=room)
    assert room_info(alice, room)["fields"]["muc#roominfo_occupants"] == "1"


def test_initial_configuration_cancelled_destroys_the_room_10_1_3(stack, connect):
    """10.1.3: "If the room owner cancels the initial configuration, the
    service MUST destroy the room, making sure to send unavailable presence to
    the room owner"."""
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "audit-cancel")
    j = alice.join(room, "Alice")
    assert j.codes == ["110", "201"], j.dump()
    r = alice.iq(room, f"<query xmlns='{NS_OWNER}'><x xmlns='jabber:x:data' type='cancel'/>"
                       "</query>", "set")
    assert_result(r, room)
    p = alice.wait_for(presence_from(f"{room}/Alice", "unavailable"), 10, "the room destroyed")
    assert p.find(".//{http://jabber.org/protocol/muc#user}destroy") is not None, dump(p)
    assert_error(bob.iq(room, "<query xmlns='http://jabber.org/protocol/disco#info'/>"),
                 "item-not-found")


def test_mam_unknown_form_field_4_1_5(stack, connect):
    """XEP-0313 4.1.5: "If a client includes a form field that the server does
    not recognise, the server MUST respond with a 'feature-not-implemented'
    error"; a bad value of a known one is not-acceptable."""
    alice = connect("alice")
    room = new_room(stack, "audit-mam")
    create_room(alice, room)
    say(alice, room, "one")
    rows, fin = mam_query(alice, room, fields={"{urn:example}colour": "blue"})
    assert rows == []
    assert_error(fin, "feature-not-implemented", frm=room,
                 text="unknown field {urn:example}colour")
    rows, fin = mam_query(alice, room, fields={"start": "yesterday"})
    assert_error(fin, "not-acceptable", frm=room, text="unacceptable value for start")


def test_room_advertises_ids_and_self_ping_0421_0359_0410(stack, connect):
    """XEP-0421 2 ("MUST specify the 'urn:xmpp:occupant-id:0' feature"),
    XEP-0359 5 (urn:xmpp:sid:0), XEP-0410 3.3 (self-ping-optimization on the
    room) and XEP-0045 7.4 (muc#stable_id on the service and the rooms)."""
    alice = connect("alice")
    room = new_room(stack, "audit-disco")
    create_room(alice, room)
    feats = room_info(alice, room)["features"]
    for f in ("urn:xmpp:occupant-id:0", "urn:xmpp:sid:0",
              "http://jabber.org/protocol/muc#self-ping-optimization",
              "http://jabber.org/protocol/muc#stable_id", "urn:xmpp:mam:2"):
        assert f in feats, (f, feats)
    r = alice.iq(stack.domain, "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    svc = [e.get("var") for e in r.iter("{http://jabber.org/protocol/disco#info}feature")]
    for f in ("urn:xmpp:occupant-id:0", "urn:xmpp:sid:0",
              "http://jabber.org/protocol/muc#stable_id", "vcard-temp"):
        assert f in svc, (f, svc)


@pytest.fixture
def redis_wait(redis):
    def wait(stack, key: str, want: str = ":3") -> str:
        return redis.wait_reply(want, "XLEN", key)
    return wait


def test_mam_archive_metadata_5(stack, connect, redis_wait):
    """XEP-0313 5: "If the archive is not empty, this element MUST include
    <start/> and <end/> elements, which each have an 'id' and XEP-0082
    formatted 'timestamp' of the first and last messages in the archive
    respectively. If the archive is empty, the server MUST instead send an
    empty <metadata/> element." """
    alice = connect("alice")
    room = new_room(stack, "audit-meta")
    create_room(alice, room)
    md = "{urn:xmpp:mam:2}metadata"
    r = alice.iq(room, "<metadata xmlns='urn:xmpp:mam:2'/>")
    assert_result(r, room)
    assert r.find(md) is not None and len(list(r.find(md))) == 0, dump(r)
    sids = [the_stanza_id(say(alice, room, f"m{i}"), room) for i in range(3)]
    key = f"stoa-{stack.kind}:muc:log:{room}"
    assert redis_wait(stack, key) == ":3"
    r = alice.iq(room, "<metadata xmlns='urn:xmpp:mam:2'/>")
    assert_result(r, room)
    start, end = r.find(f"{md}/{{urn:xmpp:mam:2}}start"), r.find(f"{md}/{{urn:xmpp:mam:2}}end")
    assert start is not None and end is not None, dump(r)
    assert (start.get("id"), end.get("id")) == (sids[0], sids[-1]), dump(r)
    for e in (start, end):
        parse_stamp(e.get("timestamp"))
    # The ids are the archive's: a query after the start finds the rest.
    rows, fin = mam_query(alice, room, f"<after>{start.get('id')}</after>")
    assert [mam_row(m)["body"] for m in rows] == ["m1", "m2"]


def test_no_registration_no_reserved_nick_7_10_7_12(stack, connect):
    """7.10: "If the room or service does not support registration, it MUST
    return a <service-unavailable/> error"; 7.12: with no registered nick "the
    room MUST return a service discovery <query/> element that is empty"."""
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "audit-register")
    create_room(alice, room)
    assert_error(bob.iq(room, "<query xmlns='jabber:iq:register'/>"), "service-unavailable",
                 frm=room)
    r = bob.iq(room, "<query xmlns='http://jabber.org/protocol/disco#info' "
                     "node='x-roomuser-item'/>")
    assert_result(r, room)
    q = r.find("{http://jabber.org/protocol/disco#info}query")
    assert q is not None and q.get("node") == "x-roomuser-item" and len(list(q)) == 0, dump(r)


def test_full_room_admits_admins_7_2_9(stack, connect):
    """7.2.9: "If the room has reached its maximum number of occupants and a
    room admin or owner attempts to join, the room MUST allow the admin or
    owner to join"; anyone else gets service-unavailable."""
    alice, bob, carol, dave = connect("alice"), connect("bob"), connect("carol"), connect("dave")
    room = new_room(stack, "audit-full")
    create_room(alice, room, fields={"muc#roomconfig_maxusers": "2"})
    assert_result(affiliate(alice, room, stack.jid("carol"), "admin"), room)
    bob.join(room, "Bob")
    assert_error(dave.join_error(room, "Dave"), "service-unavailable", frm=f"{room}/Dave")
    assert carol.join(room, "Carol").codes == ["110"]
    assert room_info(alice, room)["fields"]["muc#roominfo_occupants"] == "3"
