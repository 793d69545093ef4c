"""Chat rooms (XEP-0045) end to end: access control and moderation
(passwords, members-only, room size, kicks, bans, voice, destruction),
invitations, IQs to occupants, self-ping.
mucutil.py says how these tests work and holds what they share.
"""

from __future__ import annotations

import asyncio
import threading

from mucutil import (
    NS_CONFERENCE,
    NS_PING,
    admin,
    assert_error,
    assert_result,
    configure,
    configure_ok,
    create_room,
    disco_info,
    error_reply,
    message_from,
    new_room,
    presence_from,
    room_info,
    say,
)
from xmpp import (
    NS_MUC_ADMIN,
    NS_MUC_OWNER,
    NS_MUC_USER,
    body,
    dump,
    item_attrs,
    muc_item,
    muc_x,
    status_codes,
)


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
