"""Chat rooms end to end: the archive (XEP-0313) and moderation (XEP-0425).
mucutil.py says how these tests work and holds what they share.
"""

from __future__ import annotations

import time

from mucutil import (
    NS_FASTEN,
    NS_MAM,
    NS_MODERATE0,
    NS_MODERATE1,
    NS_RETRACT0,
    NS_RETRACT1,
    admin,
    assert_error,
    assert_result,
    create_room,
    fin_of,
    mam_query,
    mam_row,
    message_from,
    new_room,
    parse_stamp,
    say,
    the_stanza_id,
)
from xmpp import NS_DATA, body, dump, error_condition, occupant_id


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
