"""Archive queries naming ids the archive does not hold (XEP-0313), through
real Prosody and ejabberd with the archive in Redis.

XEP-0313 4.3.2: "If the UID contained within an <after> or <before> element
is not present in the archive, the server MUST return an item-not-found
error in response to the query." 4.1.3 says the same of the 'after-id' and
'before-id' form fields. Before, <before>0000000000000000</before> reached
Redis as an exclusive end below every id (ERR invalid end ID for the
interval, logged as an ERROR, answered resource-constraint) and an unknown
<after> returned an empty page."""

from __future__ import annotations

import pytest

from mucutil import (assert_error, create_room, fin_of, mam_query, mam_row, new_room, say,
                      the_stanza_id)
from xmpp import dump

NOT_THERE = "no message with that id in the archive"


def test_unknown_ids_are_item_not_found(stack, connect, redis):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "mamids")
    create_room(alice, room)
    sids = [the_stanza_id(say(alice, room, f"m{i}"), room) for i in range(3)]
    key = f"stoa-{stack.kind}:muc:log:{room}"
    assert redis.wait_reply(":3", "XLEN", key) == ":3", f"the archive in Redis ({key})"
    # A well-formed id of a message that was never sent: one tick after the last.
    missing = f"{int(sids[-1], 16) + 1:016x}"
    mark = stack.component.mark()

    cases = [
        ("RSM before 0", "<before>0000000000000000</before>", None),
        ("RSM after 0", "<after>0000000000000000</after>", None),
        ("RSM after, unknown", f"<max>2</max><after>{missing}</after>", None),
        ("RSM before, unknown", f"<before>{missing}</before>", None),
        ("RSM before, all f", "<before>ffffffffffffffff</before>", None),
        ("after-id, unknown", "", {"after-id": missing}),
        ("before-id, unknown", "", {"before-id": "0000000000000000"}),
    ]
    for what, rsm, fields in cases:
        rows, fin = mam_query(bob, room, rsm, fields=fields)
        assert rows == [], (what, [dump(m) for m in rows])
        assert_error(fin, "item-not-found", "cancel", frm=room, text=NOT_THERE)

    # Ids that are there still page as before.
    rows, fin = mam_query(bob, room, f"<max>1</max><after>{sids[0]}</after>")
    assert [mam_row(m)["body"] for m in rows] == ["m1"]
    assert fin_of(fin) == ("false", sids[1], sids[1])
    rows, fin = mam_query(bob, room, f"<before>{sids[1]}</before>")
    assert [mam_row(m)["body"] for m in rows] == ["m0"]
    rows, fin = mam_query(bob, room, fields={"after-id": sids[0], "before-id": sids[2]})
    assert [mam_row(m)["body"] for m in rows] == ["m1"]
    # Nothing of this reached Redis as a bad range: no error in the log.
    errors = [line for line in stack.component.lines_since(mark)
              if " ERROR " in line or "archive query failed" in line]
    assert errors == [], errors


@pytest.mark.parametrize("rsm", ["<after>zzzzzzzzzzzzzzzz</after>", "<before>0</before>"])
def test_ids_of_the_wrong_form_are_not_acceptable(stack, connect, rsm):
    """Not the form of our stanza-ids at all: refused before any lookup."""
    alice = connect("alice")
    room = new_room(stack, "mamids")
    create_room(alice, room)
    rows, fin = mam_query(alice, room, rsm)
    assert rows == []
    assert_error(fin, "not-acceptable", frm=room)
