"""Owners hear of reports about their rooms (issue 14), through real Prosody
and ejabberd with Redis.

The service's moderators ([desk] moderators: dave) get a chat message from
the service for every new report; the owners of the room a report is about
get the same message, and only for their own rooms. The desk's commands
already show an owner the reports of the rooms they manage
(test_desk.py::test_room_owner_acts_on_own_room_only)."""

from __future__ import annotations

from test_desk import chat_from_service, clean, direct_report, room_name  # noqa: F401
from mucutil import create_room
from xmpp import body, dump, is_message



def from_service(stack):
    return lambda s: is_message(s) and s.get("from") == stack.domain \
        and "New report" in (body(s) or "")


def test_owners_get_reports_about_their_rooms_only(stack, connect, redis, clean):  # noqa: F811
    dave = connect("dave")
    alice, bob, carol, eve = connect("alice"), connect("bob"), connect("carol"), connect("eve")
    mine, theirs = room_name(), room_name()
    create_room(alice, mine)
    create_room(bob, theirs, nick="Bob")
    eve.join(mine, "Eve")
    eve.join(theirs, "Eve")

    # Carol reports Eve in Alice's room: Alice and the service's moderator
    # hear of it, Bob (owner elsewhere) and Carol do not.
    r = direct_report(carol, mine, target=f"{mine}/Eve", text="rude")
    assert r.get("type") == "result", dump(r)
    m = chat_from_service(alice, "New report")
    assert m.get("type") == "chat", dump(m)
    assert stack.jid("eve") in body(m) and mine in body(m) and "rude" in body(m), dump(m)
    assert "View a report" in body(m), dump(m)
    assert chat_from_service(dave, "New report") is not None
    bob.expect_nothing(from_service(stack), 0.5, "a report about someone else's room")
    carol.expect_nothing(from_service(stack), 0.1, "the reporter told")

    # A second owner of Bob's room hears of reports about it, Alice not.
    r = bob.iq(theirs, "<query xmlns='http://jabber.org/protocol/muc#admin'>"
                       f"<item affiliation='owner' jid='{stack.jid('carol')}'/></query>", "set")
    assert r.get("type") == "result", dump(r)
    r = direct_report(alice, theirs, target=f"{theirs}/Eve", text="spam links")
    assert r.get("type") == "result", dump(r)
    for owner in (bob, carol):
        m = chat_from_service(owner, "New report")
        assert theirs in body(m) and "spam links" in body(m), dump(m)
    alice.expect_nothing(from_service(stack), 0.5, "a report about someone else's room")

    # A report about a person with no room names no owner.
    r = direct_report(carol, stack.domain, target=stack.jid("eve"), text="everywhere")
    assert r.get("type") == "result", dump(r)
    chat_from_service(dave, "everywhere")
    for c in (alice, bob, carol):
        c.expect_nothing(from_service(stack), 0.2, "a report about no room")
