"""Chat rooms end to end: hostile input through the server (impossible
occupant addresses, history requests), refused without harm.
mucutil.py says how these tests work and holds what they share.
"""

from __future__ import annotations

import pytest

from mucutil import (
    assert_error,
    assert_result,
    create_room,
    disco_info,
    error_reply,
    from_room,
    new_room,
    room_info,
    say,
)
from xmpp import Client, body, dump, error_text, is_presence


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
