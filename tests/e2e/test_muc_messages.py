"""Chat rooms (XEP-0045) end to end: groupchat with stanza and occupant ids,
history on join, private messages, who may speak, the subject.
mucutil.py says how these tests work and holds what they share.
"""

from __future__ import annotations

import secrets
import time
import xml.etree.ElementTree as ET

from mucutil import (
    assert_error,
    configure_ok,
    create_room,
    delay_of,
    error_reply,
    fin_of,
    from_room,
    mam_query,
    mam_row,
    message_from,
    new_room,
    parse_stamp,
    room_info,
    say,
    send_message,
    stamp_str,
    subject_of,
    the_stanza_id,
)
from xmpp import (
    Joined,
    NS_DELAY,
    NS_OCCUPANT_ID,
    body,
    dump,
    is_message,
    muc_x,
    occupant_id,
    stanza_ids,
    xml_text,
)


def test_groupchat_stanza_id_and_occupant_id(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "ids")
    ja = create_room(alice, room)
    jb = bob.join(room, "Bob")
    alice.clear()
    # A client cannot forge the ids the room asserts: they are replaced.
    forged = (f"<stanza-id xmlns='urn:xmpp:sid:0' id='forged' by='{room}'/>"
              f"<occupant-id xmlns='{NS_OCCUPANT_ID}' id='forged'/>")
    mid = bob.groupchat(room, "hi & <bye>", mid="m1-" + secrets.token_hex(3), extra=forged)
    got = {}
    for who, c in (("alice", alice), ("bob", bob)):
        m = c.wait_for(message_from(f"{room}/Bob", "groupchat", mid), 10, "groupchat")
        assert body(m) == "hi & <bye>", dump(m)
        assert m.get("to") == c.full_jid, dump(m)
        got[who] = (the_stanza_id(m, room), m.findall(f"{{{NS_OCCUPANT_ID}}}occupant-id"))
    assert got["alice"][0] == got["bob"][0], "the copies carry different stanza-ids"
    for _sid, oids in got.values():
        assert [o.get("id") for o in oids] == [jb.occupant_id]
    first = got["alice"][0]
    # Alice's messages carry her own, different id; stanza-ids grow.
    m = say(alice, room, "mine")
    assert occupant_id(m) == ja.occupant_id != jb.occupant_id
    assert the_stanza_id(m, room) > first
    # Bob leaves and comes back under another nick: same occupant id.
    bob.leave(room, "Bob")
    jr = bob.join(room, "Robert")
    assert jr.occupant_id == jb.occupant_id, jr.dump()
    assert occupant_id(say(bob, room, "back")) == jb.occupant_id


def test_burst_keeps_order(stack, connect, redis):
    """Many messages at once: every occupant gets them all, in order, with
    increasing stanza-ids, and so does the archive."""
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "burst")
    create_room(alice, room, fields={"muc#maxhistoryfetch": "100"})
    bob.join(room, "Bob")
    n = 60
    mids = [alice.groupchat(room, f"burst {i}", mid=f"b{i}") for i in range(n)]
    for c in (alice, bob):
        got = [c.wait_for(message_from(f"{room}/Alice", "groupchat"), 10, f"burst {i}")
               for i in range(n)]
        assert [m.get("id") for m in got] == mids
        assert [body(m) for m in got] == [f"burst {i}" for i in range(n)]
        sids = [the_stanza_id(m, room) for m in got]
        assert sids == sorted(set(sids)), "stanza-ids not strictly increasing"
    rows, fin = mam_query(bob, room, "<max>100</max>")
    assert [mam_row(m)["id"] for m in rows] == sids
    assert fin_of(fin) == ("true", sids[0], sids[-1])


def test_history_on_join(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "history")
    ja = create_room(alice, room)
    sent = []
    for i in range(5):
        sent.append(say(alice, room, f"m{i}"))
    time.sleep(2.6)
    sent.append(say(alice, room, "m5"))
    sids = [the_stanza_id(m, room) for m in sent]

    def joined_with(history=None) -> Joined:
        j = bob.join(room, "Bob", history=history)
        # History comes after the self-presence and before the subject.
        pos = [j.stanzas.index(m) for m in j.history]
        assert all(p > j.stanzas.index(j.self_presence) for p in pos), j.dump()
        bob.leave(room, "Bob")
        return j

    # seconds: only what is younger (first, while m5 is fresh).
    j = joined_with({"seconds": "2"})
    assert [body(m) for m in j.history] == ["m5"], j.dump()
    t_join = time.time()
    j = joined_with()
    assert [body(m) for m in j.history] == [f"m{i}" for i in range(6)], j.dump()
    for m, sid in zip(j.history, sids):
        assert m.get("from") == f"{room}/Alice" and m.get("type") == "groupchat", dump(m)
        d = delay_of(m)
        assert d["from"] == room, dump(m)
        assert t_join - 15 < parse_stamp(d["stamp"]) <= t_join + 1, dump(m)
        assert the_stanza_id(m, room) == sid, dump(m)
        assert occupant_id(m) == ja.occupant_id, dump(m)
    stamps = [parse_stamp(delay_of(m)["stamp"]) for m in j.history]
    assert stamps == sorted(stamps) and stamps[5] - stamps[4] >= 2.5, stamps

    j = joined_with({"maxstanzas": "2"})
    assert [body(m) for m in j.history] == ["m4", "m5"], j.dump()
    j = joined_with({"maxstanzas": "0"})
    assert j.history == [], j.dump()
    j = joined_with({"maxchars": "0"})
    assert j.history == [], j.dump()
    # since: messages after that instant (between m4 and m5).
    j = joined_with({"since": stamp_str((stamps[4] + stamps[5]) / 2)})
    assert [body(m) for m in j.history] == ["m5"], j.dump()


def test_history_maxchars_counts_whole_stanzas(stack, connect):
    """XEP-0045 7.2.15: maxchars limits "the total number of characters in
    the history", counting "the complete XML stanzas, not only their XML
    character data". Room for one and a half stanzas brings exactly one."""
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "maxchars")
    create_room(alice, room)
    say(alice, room, "first message")
    say(alice, room, "second message")
    j = bob.join(room, "Bob")
    assert [body(m) for m in j.history] == ["first message", "second message"], j.dump()
    bob.leave(room, "Bob")
    one = history_stanza_chars(j.history[-1], bob.full_jid)
    limit = one + one // 2
    j = bob.join(room, "Bob", history={"maxchars": str(limit)})
    assert [body(m) for m in j.history] == ["second message"], \
        f"maxchars={limit}, and one history stanza is {one} characters:\n{j.dump()}"


def history_stanza_chars(m: ET.Element, to: str) -> int:
    """Characters of a history message as the room serializes it."""
    d = delay_of(m)
    sid = stanza_ids(m)[0]
    text = (f'<message from="{m.get("from")}" to="{to}" type="groupchat">'
            f'<body>{xml_text(body(m))}</body>'
            f'<delay xmlns="urn:xmpp:delay" from="{d["from"]}" stamp="{d["stamp"]}"/>'
            f'<stanza-id xmlns="urn:xmpp:sid:0" id="{sid["id"]}" by="{sid["by"]}"/>'
            f'<occupant-id xmlns="urn:xmpp:occupant-id:0" id="{occupant_id(m)}"/></message>')
    return len(text)


def test_private_message(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "pm")
    create_room(alice, room)
    jb = bob.join(room, "Bob")
    mid = send_message(bob, f"{room}/Alice", "psst")
    pm = alice.wait_for(message_from(f"{room}/Bob", "chat", mid), 10, "private message")
    assert body(pm) == "psst" and pm.get("to") == alice.full_jid, dump(pm)
    x = muc_x(pm)
    assert x is not None and len(x) == 0, f"expected an empty muc#user x: {dump(pm)}"
    assert occupant_id(pm) == jb.occupant_id, dump(pm)
    assert stanza_ids(pm) == [], dump(pm)
    bob.expect_nothing(message_from(f"{room}/Bob"), 0.3, "echo of a private message")


def test_private_message_to_missing_nick(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "pmnone")
    create_room(alice, room)
    bob.join(room, "Bob")
    mid = send_message(bob, f"{room}/Nobody", "hello?")
    err = bob.wait_for(error_reply(mid), 10, "error for a PM to nobody")
    assert_error(err, "item-not-found", "cancel", frm=f"{room}/Nobody")
    assert is_message(err), dump(err)


def test_private_message_policy(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "pmpolicy")
    create_room(alice, room, fields={"muc#roomconfig_allowpm": "moderators"})
    bob.join(room, "Bob")
    mid = send_message(bob, f"{room}/Alice", "may I?")
    assert_error(bob.wait_for(error_reply(mid), 10, "forbidden PM"), "forbidden", "auth",
                 frm=f"{room}/Alice")
    alice.expect_nothing(message_from(f"{room}/Bob", "chat"), 0.3, "PM past the policy")
    mid = send_message(alice, f"{room}/Bob", "you may not")
    assert body(bob.wait_for(message_from(f"{room}/Alice", "chat", mid), 10)) == "you may not"


def test_non_occupants_cannot_send(stack, connect):
    alice, carol = connect("alice"), connect("carol")
    room = new_room(stack, "outsider")
    create_room(alice, room)
    alice.clear()
    mid = carol.groupchat(room, "let me in")
    assert_error(carol.wait_for(error_reply(mid), 10), "not-acceptable", frm=room)
    mid = send_message(carol, f"{room}/Alice", "psst")
    assert_error(carol.wait_for(error_reply(mid), 10), "not-acceptable")
    alice.expect_nothing(from_room(room), 0.3, "message from an outsider")
    nowhere = new_room(stack, "nosuchroom")
    mid = carol.groupchat(nowhere, "anyone?")
    assert_error(carol.wait_for(error_reply(mid), 10), "item-not-found", "cancel", frm=nowhere)


def test_subject_change_by_participant_forbidden(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "subjectno")
    create_room(alice, room)
    bob.join(room, "Bob")
    alice.clear()
    bob.send_raw(f"<message type='groupchat' id='s1' to='{room}'><subject>mine</subject></message>")
    assert_error(bob.wait_for(error_reply("s1"), 10), "forbidden", "auth", frm=room)
    alice.expect_nothing(lambda s: is_message(s) and subject_of(s) is not None, 0.3)
    # Once the owner lets participants change it, Bob may.
    configure_ok(alice, room, {"muc#roomconfig_changesubject": "1"})
    bob.send_raw(f"<message type='groupchat' id='s2' to='{room}'><subject>ours</subject></message>")
    m = alice.wait_for(lambda s: message_from(f"{room}/Bob", "groupchat")(s)
                       and subject_of(s) is not None, 10, "subject from Bob")
    assert subject_of(m) == "ours"


def test_subject_change_by_moderator(stack, connect):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = new_room(stack, "subject")
    create_room(alice, room)
    bob.join(room, "Bob")
    alice.send_raw(f"<message type='groupchat' to='{room}'>"
                   "<subject>Football &amp; more</subject></message>")
    for c in (alice, bob):
        m = c.wait_for(lambda s: message_from(f"{room}/Alice", "groupchat")(s)
                       and subject_of(s) is not None, 10, "new subject")
        assert subject_of(m) == "Football & more" and body(m) is None, dump(m)
    # A newcomer gets it as the subject (from who set it), not as history.
    jc = carol.join(room, "Carol")
    assert jc.subject.get("from") == f"{room}/Alice", jc.dump()
    assert subject_of(jc.subject) == "Football & more", jc.dump()
    assert jc.subject.find(f"{{{NS_DELAY}}}delay") is None and jc.history == [], jc.dump()
    assert room_info(carol, room)["fields"]["muc#roominfo_subject"] == "Football & more"
