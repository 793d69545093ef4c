"""Persistent rooms across a restart of stoa-component, through a real
Prosody and a real ejabberd.

The stack's own component is stopped with SIGTERM (occupants are told, 332)
and a new process is started on the same Redis and server: the room, its
configuration, affiliations (a ban among them), subject, recent history and
archive must all come back from Redis.
"""

from __future__ import annotations

import re
import time

from conftest import DOMAIN
from test_muc import (
    admin,
    assert_error,
    assert_result,
    configure_ok,
    create_room,
    mam_query,
    mam_row,
    new_room,
    presence_from,
    room_info,
    say,
    subject_of,
    the_stanza_id,
    delay_of,
)
from xmpp import NS_MUC_ADMIN, body, dump, item_attrs, occupant_id, status_codes


def restart_component(stack) -> int:
    """SIGTERM, check the exit, start a new process; returns the number of
    rooms it restored from Redis."""
    comp = stack.component
    mark = comp.mark()
    status = comp.stop()
    assert status == 0, comp.describe_failure(f"exit status {status} after SIGTERM")
    assert not comp.sanitizer_reports(), comp.describe_failure("sanitizer report")
    comp.start()
    m = comp.wait_log(r"(\d+) persistent rooms? restored from Redis", 15, since=mark)
    comp.wait_log(rf"component link ready: {re.escape(DOMAIN)} via 127\.0\.0\.1:"
                  f"{stack.component_port}", 15, since=mark)
    return int(m.group(1))


def test_persistent_room_survives_restart(stack, connect, redis):
    alice, bob, eve = connect("alice"), connect("bob"), connect("eve")
    room = new_room(stack, "keep")
    ja = create_room(alice, room, fields={
        "muc#roomconfig_persistentroom": "1",
        "muc#roomconfig_roomname": "Keep <me>",
        "muc#roomconfig_roomdesc": "Survives restarts",
        "x-stoa#topic": "books",
        "muc#maxhistoryfetch": "3",
    })
    assert "muc_persistent" in room_info(bob, room)["features"]
    r = admin(alice, room, f"<item affiliation='outcast' jid='{stack.jid('eve')}'>"
                           "<reason>abuse</reason></item>"
                           f"<item affiliation='member' jid='{stack.jid('bob')}'/>")
    assert_result(r, room)
    jb = bob.join(room, "Bob")
    assert item_attrs(jb.self_presence)["affiliation"] == "member"
    alice.send_raw(f"<message type='groupchat' to='{room}'>"
                   "<subject>Chapter one</subject></message>")
    bob.wait_for(lambda s: subject_of(s) == "Chapter one", 10, "the new subject")
    echoes = [say(alice, room, "m0"), say(bob, room, "m1"), say(alice, room, "m2"),
              say(bob, room, "m3")]
    sids = [the_stanza_id(m, room) for m in echoes]
    assert_error(eve.join_error(room, "Eve"), "forbidden", "auth")
    key = f"stoa-{stack.kind}:muc:room:{room}"
    assert redis.command_line("EXISTS", key) == ":1", f"no room state at {key}"
    alice.clear()
    bob.clear()

    restored = restart_component(stack)
    assert restored >= 1

    # Shutting down told each occupant it was removed (110 + 332).
    for c, nick in ((alice, "Alice"), (bob, "Bob")):
        p = c.wait_for(presence_from(f"{room}/{nick}", "unavailable"), 10, "shutdown 332")
        assert status_codes(p) == ["110", "332"], dump(p)
        assert item_attrs(p)["role"] == "none", dump(p)

    # A newcomer finds the subject and the last three messages (the
    # configured history), ids and authors unchanged.
    dave = connect("dave")
    jd = dave.join(room, "Dave")
    assert jd.codes == ["110"], jd.dump()  # no 201: the room was not created anew
    assert subject_of(jd.subject) == "Chapter one", jd.dump()
    assert jd.subject.get("from") == f"{room}/Alice", jd.dump()
    assert [body(m) for m in jd.history] == ["m1", "m2", "m3"], jd.dump()
    assert [the_stanza_id(m, room) for m in jd.history] == sids[1:], jd.dump()
    assert [occupant_id(m) for m in jd.history] == [jb.occupant_id, ja.occupant_id,
                                                    jb.occupant_id], jd.dump()
    for m in jd.history:
        assert delay_of(m)["from"] == room, dump(m)

    info = room_info(dave, room)
    assert info["identities"] == [("conference", "text", "Keep <me>")], info
    assert info["fields"]["muc#roominfo_description"] == "Survives restarts", info
    assert info["fields"]["x-stoa#topic"] == "books", info
    assert info["fields"]["muc#roominfo_subject"] == "Chapter one", info
    assert "muc_persistent" in info["features"], info

    # The ban holds; the owner and the member keep their affiliations, and
    # everyone keeps their occupant id.
    assert_error(eve.join_error(room, "Eve"), "forbidden", "auth", frm=f"{room}/Eve")
    ja2 = alice.join(room, "Alice")
    assert item_attrs(ja2.self_presence)["affiliation"] == "owner", ja2.dump()
    assert ja2.occupant_id == ja.occupant_id, "occupant ids changed with the restart"
    jb2 = bob.join(room, "Bob")
    assert item_attrs(jb2.self_presence)["affiliation"] == "member", jb2.dump()
    r = admin(alice, room, "<item affiliation='outcast'/>", "get")
    items = list(r.iter(f"{{{NS_MUC_ADMIN}}}item"))
    assert [(i.get("jid"), i.findtext(f"{{{NS_MUC_ADMIN}}}reason")) for i in items] == [
        (stack.jid("eve"), "abuse")], dump(r)

    # The archive still has everything, with the same ids.
    rows, fin = mam_query(dave, room)
    assert_result(fin, room)
    assert [(mam_row(m)["id"], mam_row(m)["body"]) for m in rows] == \
        list(zip(sids, ["m0", "m1", "m2", "m3"])), [dump(m) for m in rows]
    # New messages carry on after the old ones.
    assert the_stanza_id(say(dave, room, "after"), room) > sids[-1]

    # A persistent room outlives its last occupant.
    for c, nick in ((alice, "Alice"), (bob, "Bob"), (dave, "Dave")):
        c.leave(room, nick)
    assert room_info(eve, room)["fields"]["muc#roominfo_occupants"] == "0"
    # Made temporary again, it goes (with its state in Redis) once empty.
    alice.join(room, "Alice")
    configure_ok(alice, room, {"muc#roomconfig_persistentroom": "0"})
    alice.leave(room, "Alice")
    assert_error(alice.iq(room, "<query xmlns='http://jabber.org/protocol/disco#info'/>"),
                 "item-not-found", "cancel")
    deadline = time.monotonic() + 5
    while redis.command_line("EXISTS", key) != ":0":
        assert time.monotonic() < deadline, f"{key} still in Redis"
        time.sleep(0.05)


def test_shutdown_tells_occupants_of_temporary_rooms(stack, connect):
    """Occupants of an ordinary (temporary) room get 332 at shutdown too;
    after the restart the room is simply gone."""
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "bye")
    create_room(alice, room)
    bob.join(room, "Bob")
    alice.clear()
    bob.clear()
    restart_component(stack)
    for c, nick in ((alice, "Alice"), (bob, "Bob")):
        p = c.wait_for(presence_from(f"{room}/{nick}", "unavailable"), 10, "shutdown 332")
        assert status_codes(p) == ["110", "332"], dump(p)
    r = alice.iq(room, "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    assert_error(r, "item-not-found", "cancel", frm=room)
    j = bob.join(room, "Bob")
    assert j.codes == ["110", "201"], j.dump()
