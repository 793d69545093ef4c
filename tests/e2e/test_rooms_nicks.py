"""Room nicknames through real Prosody and ejabberd (issue 14): what XEP-0045
asks beyond Resourceprep, which the servers and the router apply first.

- 17.1 (Business Rules, Addresses): "a MUC service MUST NOT allow empty or
  invisible Room Nicknames (i.e., Room Nicknames that consist only of one or
  more space characters)": jid-malformed, as 7.2.1 answers a join without a
  nick.
- 7.2.9 and 7.6: a nick in use by someone else is a conflict; Stoa counts a
  look-alike of it (other capitals, spaces, invisible characters, Cyrillic
  or Greek letters drawn like Latin ones) as the same nick
  (component/muc/nick.h, docs/rooms.md).
"""

from __future__ import annotations

import pytest

from mucutil import assert_error, create_room, from_room, new_room, presence_from, room_info
from test_muc_hostile import assert_component_alive
from xmpp import dump, is_presence, status_codes

BLANK = "a nickname must have something visible in it"
LOOKS_LIKE = "that nickname looks like one in use"

BLANK_NICKS = {
    "spaces": "   ",
    "one space": " ",
    "hangul filler": "\u3164\u3164",
    "braille blank": "\u2800",
}


@pytest.mark.parametrize("what", list(BLANK_NICKS))
def test_blank_nick_refused_17_1(stack, connect, what):
    """XEP-0045 17.1: no nick made only of spaces or invisible characters."""
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "nick-blank")
    create_room(alice, room)
    alice.clear()
    err = bob.join_error(room, BLANK_NICKS[what])
    assert is_presence(err), dump(err)
    assert_error(err, "jid-malformed", "modify", text=BLANK)
    alice.expect_nothing(from_room(room), 0.3, "news of a blank nick")
    # No room is made for one either.
    other = new_room(stack, "nick-blank-new")
    err = bob.join_error(other, BLANK_NICKS[what])
    assert_error(err, "jid-malformed", "modify", text=BLANK)
    assert_error(bob.iq(other, "<query xmlns='http://jabber.org/protocol/disco#info'/>"),
                 "item-not-found")
    assert_component_alive(stack, bob)
    assert room_info(bob, room)["fields"]["muc#roominfo_occupants"] == "1"


LOOKALIKES = {
    "lower case": "alice",
    "capitals": "ALICE",
    "inner space": "Al ice",
    "cyrillic A": "\u0410lice",
    "greek iota": "Al\u03b9ce",
    "trailing filler": "Alice\u3164",
}


@pytest.mark.parametrize("what", list(LOOKALIKES))
def test_lookalike_nick_is_a_conflict_7_2_9(stack, connect, what):
    """XEP-0045 7.2.9: conflict for a nick in use, look-alikes included."""
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "nick-alike")
    create_room(alice, room)
    alice.clear()
    err = bob.join_error(room, LOOKALIKES[what])
    assert_error(err, "conflict", "cancel", text=LOOKS_LIKE)
    alice.expect_nothing(from_room(room), 0.3, "news of a look-alike")
    # The nick itself is the plain conflict; another nick is fine.
    assert_error(bob.join_error(room, "Alice"), "conflict", "cancel",
                 text="that nickname is in use")
    assert bob.join(room, "Bob").codes == ["110"]


def test_own_variant_allowed_and_nick_change_checked_7_6(stack, connect):
    """A person may hold variants of their own nick (another client); a nick
    change (7.6) to someone else's look-alike is a conflict, to a blank one
    jid-malformed, and to a fresh one goes through (303)."""
    alice, alice2, bob = connect("alice"), connect("alice", "phone"), connect("bob")
    room = new_room(stack, "nick-change")
    create_room(alice, room)
    assert alice2.join(room, "ALICE").codes == ["110"]
    bob.join(room, "Bob")
    bob.clear()
    bob.send_raw(f"<presence to='{room}/alice' id='nc1'/>")
    err = bob.wait_for(lambda s: s.get("id") == "nc1", 10, "refused nick change")
    assert_error(err, "conflict", "cancel", text=LOOKS_LIKE)
    bob.send_raw(f"<presence to='{room}/  ' id='nc2'/>")
    err = bob.wait_for(lambda s: s.get("id") == "nc2", 10, "refused blank nick change")
    assert_error(err, "jid-malformed", "modify", text=BLANK)
    bob.send_raw(f"<presence to='{room}/Robert'/>")
    p = bob.wait_for(presence_from(f"{room}/Bob", "unavailable"), 10, "nick change")
    assert "303" in status_codes(p), dump(p)
