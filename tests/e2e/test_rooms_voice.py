"""Voice requests through real Prosody and ejabberd (issue 14).

XEP-0045 7.13: "To request voice, a visitor SHOULD send a <message/> stanza
containing a data form to the room itself, where the data form contains
only a "muc#role" field with a value of "participant"." 8.6: "The service
then SHOULD use that voice request data form as the basis for a voice
approval data form that it generates and sends to the room moderator(s)
... If a moderator approves the voice request, the service shall grant
voice to the occupant and send a presence update as described in the
Granting Voice to a Visitor section" (8.3). The moderator's side is what
Gajim does: it submits the form it was sent with muc#request_allow true.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mucutil import (assert_error, create_room, error_reply, message_from, new_room,
                      presence_from, room_info, say)
from xmpp import NS_DATA, body, dump, item_attrs, muc_item, status_codes

NS_REQUEST = "http://jabber.org/protocol/muc#request"


def request_form(role: str = "participant", ftype: str = "submit") -> str:
    return (f"<x xmlns='{NS_DATA}' type='{ftype}'><field var='FORM_TYPE'>"
            f"<value>{NS_REQUEST}</value></field><field var='muc#role' type='list-single'>"
            f"<value>{role}</value></field></x>")


def fields_of(x: ET.Element) -> dict:
    return {f.get("var"): [v.text or "" for v in f.findall(f"{{{NS_DATA}}}value")]
            for f in x.findall(f"{{{NS_DATA}}}field")}


def moderated_room(stack, alice, bob):
    room = new_room(stack, "voice-req")
    create_room(alice, room, fields={"muc#roomconfig_moderatedroom": "1"})
    j = bob.join(room, "Bob")
    assert item_attrs(j.self_presence)["role"] == "visitor", j.dump()
    return room


def approval_form_of(msg: ET.Element) -> ET.Element:
    x = msg.find(f"{{{NS_DATA}}}x")
    assert x is not None and x.get("type") == "form", dump(msg)
    return x


def test_voice_request_approved_7_13_8_6(stack, connect):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = moderated_room(stack, alice, bob)
    carol.join(room, "Carol")  # a visitor too: must not see the request
    assert "http://jabber.org/protocol/muc#request" in room_info(alice, room)["features"]
    alice.clear()
    carol.clear()
    bob.send_raw(f"<message to='{room}' id='vr1'>{request_form()}</message>")

    # 8.6: the moderator gets the approval form, from the room.
    msg = alice.wait_for(lambda s: s.get("from") == room and s.find(f"{{{NS_DATA}}}x") is not None,
                         10, "the voice approval form")
    x = approval_form_of(msg)
    assert x.findtext(f"{{{NS_DATA}}}title") == "Voice request", dump(msg)
    f = fields_of(x)
    assert f["FORM_TYPE"] == [NS_REQUEST], dump(msg)
    assert f["muc#role"] == ["participant"], dump(msg)
    assert f["muc#jid"] == [bob.full_jid], dump(msg)
    assert f["muc#roomnick"] == ["Bob"], dump(msg)
    assert f["muc#request_allow"] == ["false"], dump(msg)
    carol.expect_nothing(lambda s: s.find(f"{{{NS_DATA}}}x") is not None, 0.3,
                         "a visitor got the approval form")

    # The moderator submits it back with muc#request_allow true.
    x.set("type", "submit")
    for fld in x.findall(f"{{{NS_DATA}}}field"):
        if fld.get("var") == "muc#request_allow":
            fld.find(f"{{{NS_DATA}}}value").text = "true"
    for t in ("title", "instructions"):
        for el in x.findall(f"{{{NS_DATA}}}{t}"):
            x.remove(el)
    alice.send_raw(f"<message to='{room}' id='ok1'>{ET.tostring(x).decode()}</message>")

    # 8.3's presence: Bob is a participant, the actor is Alice.
    p = bob.wait_for(presence_from(f"{room}/Bob"), 10, "voice granted")
    assert status_codes(p) == ["110"], dump(p)
    assert muc_item(p).get("role") == "participant", dump(p)
    actor = muc_item(p).find("{http://jabber.org/protocol/muc#user}actor")
    assert actor is not None and actor.get("nick") == "Alice", dump(p)
    p = carol.wait_for(presence_from(f"{room}/Bob"), 10, "voice granted (others' view)")
    assert muc_item(p).get("role") == "participant", dump(p)
    m = say(bob, room, "thank you")
    assert body(alice.wait_for(message_from(f"{room}/Bob", "groupchat", m.get("id")))) \
        == "thank you"


def test_voice_request_bad_forms_7_13(stack, connect):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = moderated_room(stack, alice, bob)
    alice.clear()
    cases = [
        ("a role other than participant", request_form("moderator"), "bad-request"),
        ("a form, not a submission", request_form(ftype="form"), "bad-request"),
        ("no muc#role", f"<x xmlns='{NS_DATA}' type='submit'><field var='FORM_TYPE'>"
                        f"<value>{NS_REQUEST}</value></field></x>", "bad-request"),
    ]
    for i, (what, form, cond) in enumerate(cases):
        bob.send_raw(f"<message to='{room}' id='bad{i}'>{form}</message>")
        err = bob.wait_for(error_reply(f"bad{i}"), 10, what)
        assert_error(err, cond, "modify", frm=room)
    alice.expect_nothing(lambda s: s.find(f"{{{NS_DATA}}}x") is not None, 0.3,
                         "a moderator bothered by a bad request")
    # Not in the room: not-acceptable; voice already: not-allowed.
    carol.send_raw(f"<message to='{room}' id='out'>{request_form()}</message>")
    assert_error(carol.wait_for(error_reply("out"), 10), "not-acceptable", frm=room)
    alice.send_raw(f"<message to='{room}' id='mod'>{request_form()}</message>")
    assert_error(alice.wait_for(error_reply("mod"), 10), "not-allowed", frm=room)
    # An approval naming nobody here.
    alice.send_raw(
        f"<message to='{room}' id='stale'><x xmlns='{NS_DATA}' type='submit'>"
        f"<field var='FORM_TYPE'><value>{NS_REQUEST}</value></field>"
        "<field var='muc#roomnick'><value>Nobody</value></field>"
        "<field var='muc#request_allow'><value>1</value></field></x></message>")
    assert_error(alice.wait_for(error_reply("stale"), 10), "item-not-found", frm=room)
    # Bob is still a visitor.
    mid = bob.groupchat(room, "may I?")
    assert_error(bob.wait_for(error_reply(mid), 10), "forbidden", "auth")
