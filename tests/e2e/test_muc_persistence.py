"""Rooms and their occupants across a restart of stoa-component, through a
real Prosody and a real ejabberd.

The stack's own component is stopped and a new process is started on the
same Redis and server. Rooms (configuration, affiliations, a ban, subject,
recent history, archive) come back from Redis, and so do the occupants: a
SIGTERM is a restart nobody notices (the occupants stay in Redis, are seated
again and checked, and go on talking without rejoining), while SIGUSR1 is a
real shutdown that tells everyone (332).
"""

from __future__ import annotations

import re
import signal
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Optional

from conftest import DOMAIN
from mucutil import (
    admin,
    assert_error,
    assert_result,
    configure_ok,
    create_room,
    from_room,
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
from xmpp import (NS_MUC_ADMIN, body, dump, is_message, is_presence, item_attrs, occupant_id,
                  status_codes)


@dataclass
class Restarted:
    """What a restart brought back, and when (seconds after the stop)."""
    rooms: int       # persistent rooms restored
    seated: int      # occupant sessions seated again
    kept: int        # of those, answered their check (or spoke) and stay
    removed: int     # did not, and were removed (333)
    attached: float  # the new process's link is ready
    checked: float   # every seated occupant has been checked


def pump_until(comp, regex: str, clients: Iterable, timeout: float, since: int):
    """Waits for a log line while running the clients' event loops, so that
    they answer what the component asks them meanwhile."""
    clients = list(clients)
    deadline = time.monotonic() + timeout
    r = re.compile(regex)
    while True:
        for line in comp.lines_since(since):
            m = r.search(line)
            if m:
                return m
        assert comp.running(), comp.describe_failure(f"exited while waiting for /{regex}/")
        assert time.monotonic() < deadline, comp.describe_failure(
            f"no log line matching /{regex}/ within {timeout}s")
        if clients:
            for c in clients:
                c.pump(0.02)
        else:
            time.sleep(0.05)


def stop_component(comp, sig: int = signal.SIGTERM) -> None:
    """SIGTERM (a restart: occupants kept), SIGUSR1 (a shutdown: occupants
    told) or SIGKILL (a crash)."""
    if sig == signal.SIGKILL:
        comp.proc.kill()
        comp.proc.wait(10)
        return
    comp.signal(sig)
    status = comp.proc.wait(comp.stop_timeout)
    assert status == 0, comp.describe_failure(f"exit status {status} after signal {sig}")
    assert not comp.sanitizer_reports(), comp.describe_failure("sanitizer report")


def restart_component(stack, sig: int = signal.SIGTERM, clients: Iterable = (),
                      while_down: Optional[Callable[[], None]] = None,
                      timeout: float = 40.0) -> Restarted:
    """Stops the stack's component with sig and starts a new process; waits
    until it is attached and, running the clients' loops so they answer the
    room's checks, until every occupant it seated again has been checked."""
    comp = stack.component
    mark = comp.mark()
    t0 = time.monotonic()
    stop_component(comp, sig)
    if while_down:
        while_down()
    comp.start()
    rooms = int(comp.wait_log(r"(\d+) persistent rooms? restored from Redis", 15,
                              since=mark).group(1))
    seated = int(comp.wait_log(r"(\d+) occupant sessions? seated again from Redis", 15,
                               since=mark).group(1))
    comp.wait_log(rf"component link ready: {re.escape(DOMAIN)} via 127\.0\.0\.1:"
                  f"{stack.component_port}", 15, since=mark)
    attached = time.monotonic() - t0
    kept = removed = 0
    if seated:
        m = pump_until(comp, r"occupants checked in [0-9.]+s: (\d+) answered and stay, "
                       r"(\d+) removed", clients, timeout, mark)
        kept, removed = int(m.group(1)), int(m.group(2))
    return Restarted(rooms, seated, kept, removed, attached, time.monotonic() - t0)


def occupants(client, room: str):
    """(nick, role, affiliation, bare JID) of everyone in the room, as an
    owner sees them (XEP-0045 9.x role lists)."""
    out = []
    for role in ("moderator", "participant", "visitor"):
        r = admin(client, room, f"<item role='{role}'/>", "get")
        assert_result(r, room)
        out += [(i.get("nick"), i.get("role"), i.get("affiliation"), i.get("jid"))
                for i in r.iter(f"{{{NS_MUC_ADMIN}}}item")]
    return sorted(out)


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
    who = occupants(alice, room)
    alice.clear()
    bob.clear()
    # Alice's client answers pings (XEP-0199) with a result; Bob's has no
    # ping and says feature-not-implemented: both are there.
    alice.xmpp.register_plugin("xep_0199")

    back = restart_component(stack, clients=(alice, bob))
    print(f"[e2e] {stack.kind}: restart: attached after {back.attached:.2f}s, "
          f"{back.seated} occupants checked after {back.checked:.2f}s")
    assert back.rooms >= 1
    assert back.kept >= 2 and back.removed == 0, back

    # Nobody noticed: no presence at all from the room, and both go on
    # talking without rejoining.
    for c in (alice, bob):
        c.expect_nothing(lambda s: is_presence(s) and from_room(room)(s), 0.3,
                         "presence from the room across a restart")
    say(alice, room, "after")
    bob.wait_for(lambda s: is_message(s) and body(s) == "after" and from_room(room)(s), 10,
                 "Alice's message after the restart")
    assert occupants(alice, room) == who

    # A newcomer finds both there, the subject and the last three messages
    # (the configured history), ids and authors unchanged.
    dave = connect("dave")
    jd = dave.join(room, "Dave")
    assert jd.codes == ["110"], jd.dump()  # no 201: the room was not created anew
    assert sorted(p.get("from") for p in jd.others) == [f"{room}/Alice", f"{room}/Bob"]
    assert subject_of(jd.subject) == "Chapter one", jd.dump()
    assert jd.subject.get("from") == f"{room}/Alice", jd.dump()
    assert [body(m) for m in jd.history] == ["m2", "m3", "after"], jd.dump()
    assert [the_stanza_id(m, room) for m in jd.history][:2] == sids[2:], jd.dump()
    assert [occupant_id(m) for m in jd.history] == [ja.occupant_id, jb.occupant_id,
                                                    ja.occupant_id], jd.dump()
    for m in jd.history:
        assert delay_of(m)["from"] == room, dump(m)

    info = room_info(dave, room)
    assert info["identities"] == [("conference", "text", "Keep <me>")], info
    assert info["fields"]["muc#roominfo_description"] == "Survives restarts", info
    assert info["fields"]["x-stoa#topic"] == "books", info
    assert info["fields"]["muc#roominfo_subject"] == "Chapter one", info
    assert info["fields"]["muc#roominfo_occupants"] == "3", info
    assert "muc_persistent" in info["features"], info

    # The ban holds. A client that joins again anyway (it lost track of the
    # room) gets the whole join, as the same occupant: the others hear
    # nothing of it.
    assert_error(eve.join_error(room, "Eve"), "forbidden", "auth", frm=f"{room}/Eve")
    alice.clear()  # Dave's arrival
    bob.clear()
    ja2 = alice.join(room, "Alice")
    assert ja2.codes == ["110"], ja2.dump()
    assert item_attrs(ja2.self_presence)["affiliation"] == "owner", ja2.dump()
    assert ja2.occupant_id == ja.occupant_id, "occupant ids changed with the restart"
    assert sorted(p.get("from") for p in ja2.others) == [f"{room}/Bob", f"{room}/Dave"]
    bob.expect_nothing(presence_from(f"{room}/Alice"), 0.3, "a second join of Alice")
    r = admin(alice, room, "<item affiliation='outcast'/>", "get")
    items = list(r.iter(f"{{{NS_MUC_ADMIN}}}item"))
    assert [(i.get("jid"), i.findtext(f"{{{NS_MUC_ADMIN}}}reason")) for i in items] == [
        (stack.jid("eve"), "abuse")], dump(r)

    # The archive still has everything, with the same ids.
    rows, fin = mam_query(dave, room)
    assert_result(fin, room)
    assert [(mam_row(m)["id"], mam_row(m)["body"]) for m in rows][:4] == \
        list(zip(sids, ["m0", "m1", "m2", "m3"])), [dump(m) for m in rows]
    # New messages carry on after the old ones.
    assert the_stanza_id(say(dave, room, "later"), room) > sids[-1]

    # A persistent room outlives its last occupant.
    for c, nick in ((alice, "Alice"), (bob, "Bob"), (dave, "Dave")):
        c.leave(room, nick)
    assert room_info(eve, room)["fields"]["muc#roominfo_occupants"] == "0"
    occ = f"stoa-{stack.kind}:muc:occ:{room}"
    assert redis.command_line("EXISTS", occ) == ":0", f"{occ} outlived the occupants"
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


def test_temporary_room_survives_restart(stack, connect, redis):
    """An ordinary (temporary) room with people in it is kept for them
    across a restart, and goes, from Redis too, once they have left."""
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "temp")
    ja = create_room(alice, room)
    jb = bob.join(room, "Bob")
    say(bob, room, "before")
    p = f"stoa-{stack.kind}:muc:"
    assert redis.command_line("HLEN", f"{p}occ:{room}") == ":2"
    assert redis.command_line("SISMEMBER", f"{p}live:{DOMAIN}", room) == ":1"
    alice.clear()
    bob.clear()

    back = restart_component(stack, clients=(alice, bob))
    assert back.kept >= 2 and back.removed == 0, back
    echo = say(bob, room, "after")
    assert occupant_id(echo) == jb.occupant_id, dump(echo)
    m = alice.wait_for(lambda s: body(s) == "after" and from_room(room)(s), 10)
    assert occupant_id(m) == jb.occupant_id, dump(m)
    # Alice still owns it.
    r = admin(alice, room, "<item affiliation='owner'/>", "get")
    assert [i.get("jid") for i in r.iter(f"{{{NS_MUC_ADMIN}}}item")] == [stack.jid("alice")]
    assert ja.occupant_id == occupant_id(say(alice, room, "mine"))

    bob.leave(room, "Bob")
    alice.leave(room, "Alice")
    assert_error(alice.iq(room, "<query xmlns='http://jabber.org/protocol/disco#info'/>"),
                 "item-not-found", "cancel")
    deadline = time.monotonic() + 5
    while (redis.command_line("EXISTS", f"{p}room:{room}", f"{p}occ:{room}") != ":0"
           or redis.command_line("SISMEMBER", f"{p}live:{DOMAIN}", room) != ":0"):
        assert time.monotonic() < deadline, f"{room} is still in Redis"
        time.sleep(0.05)


def test_who_left_meanwhile_is_removed(stack, connect):
    """Someone whose client went away while the component was down (its
    unavailable presence bounced) does not answer the room's check: the
    others see it leave, with status 333."""
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = new_room(stack, "gone")
    create_room(alice, room)
    bob.join(room, "Bob")
    carol.join(room, "Carol")
    alice.clear()
    bob.clear()
    back = restart_component(stack, clients=(alice, bob), while_down=carol.close)
    print(f"[e2e] {stack.kind}: restart with one client gone: checked after "
          f"{back.checked:.2f}s ({back.kept} kept, {back.removed} removed)")
    assert back.removed >= 1, back
    for c in (alice, bob):
        p = c.wait_for(presence_from(f"{room}/Carol", "unavailable"), 10, "Carol's removal")
        assert status_codes(p) == ["333"], dump(p)
        assert item_attrs(p)["role"] == "none", dump(p)
    bob.expect_nothing(presence_from(f"{room}/Alice"), 0.3, "news of Alice")
    say(bob, room, "still here")


def test_shutdown_with_sigusr1_tells_occupants(stack, connect, redis):
    """SIGUSR1 is a real shutdown: occupants are told (110 + 332), Redis
    forgets them, and after the next start the temporary room is gone."""
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "bye")
    create_room(alice, room)
    bob.join(room, "Bob")
    alice.clear()
    bob.clear()
    back = restart_component(stack, signal.SIGUSR1)
    assert back.seated == 0, back
    for c, nick in ((alice, "Alice"), (bob, "Bob")):
        p = c.wait_for(presence_from(f"{room}/{nick}", "unavailable"), 10, "shutdown 332")
        assert status_codes(p) == ["110", "332"], dump(p)
    assert redis.command_line("EXISTS", f"stoa-{stack.kind}:muc:occ:{room}") == ":0"
    r = alice.iq(room, "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    assert_error(r, "item-not-found", "cancel", frm=room)
    j = bob.join(room, "Bob")
    assert j.codes == ["110", "201"], j.dump()
