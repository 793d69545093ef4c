"""A join from a client already in the room (issue 14), through real Prosody
and ejabberd.

XEP-0045 17.3.3: "If a MUC service receives a Basic MUC Protocol join
request from a client that is already joined, it MUST treat it as a full
synchronization request, and send to the client everything that would be
sent to it on a normal join. The MUC service SHOULD send a presence update
to the other participants if the join presence is different from the
client's previous presence." 7.2.1 says the same of an <x/>-tagged join.
"""

from __future__ import annotations

from mucutil import create_room, new_room, presence_from, say, subject_of
from xmpp import NS_CLIENT, body, dump, status_codes


def test_second_join_is_a_full_resync_17_3_3(stack, connect):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = new_room(stack, "rejoin")
    create_room(alice, room)
    alice.send_raw(f"<message type='groupchat' to='{room}'><subject>Resync</subject></message>")
    alice.wait_for(lambda s: s.get("from") == f"{room}/Alice" and subject_of(s) == "Resync", 10)
    say(alice, room, "one")
    say(alice, room, "two")
    carol.join(room, "Carol")
    first = bob.join(room, "Bob", payload="<status>here</status>")
    alice.clear()
    carol.clear()

    # The same client joins again, its presence unchanged.
    again = bob.join(room, "Bob", payload="<status>here</status>")
    assert sorted(s.get("from") for s in again.others) == [f"{room}/Alice", f"{room}/Carol"], \
        again.dump()
    assert again.codes == ["110"], again.dump()
    assert again.occupant_id == first.occupant_id, again.dump()
    assert [body(m) for m in again.history] == ["one", "two"], again.dump()
    assert subject_of(again.subject) == "Resync", again.dump()
    # The others hear nothing: nothing changed.
    alice.expect_nothing(presence_from(f"{room}/Bob"), 0.5, "news of an unchanged rejoin")

    # A join with another presence is the same resync, and the others learn it.
    again = bob.join(room, "Bob", payload="<show>away</show>", history={"maxstanzas": "1"})
    assert [body(m) for m in again.history] == ["two"], again.dump()
    assert subject_of(again.subject) == "Resync", again.dump()
    p = carol.wait_for(presence_from(f"{room}/Bob"), 10, "Bob's new presence")
    assert p.findtext(f"{{{NS_CLIENT}}}show") == "away", dump(p)
    assert status_codes(p) == [], dump(p)
    # Still one occupant Bob.
    assert [s.get("from") for s in again.others].count(f"{room}/Bob") == 0
