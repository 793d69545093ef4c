"""Faults the service must come through with nothing lost, on a real
Prosody and a real ejabberd, with the stack's own component and Redis:

  * Redis killed (kill -9) and started again from its append-only file;
  * stoa-component killed (kill -9) and started again;
  * the host server restarted;
  * the host server frozen (SIGSTOP) for 20 s in the middle of a flood.

Each test builds the same small world (a persistent room with an owner, an
admin, a member, a ban and a subject; a temporary room; messages in both
archives; a report on the desk; a block list), takes a snapshot of all a
client can see of it and of its keys in Redis, brings the fault about,
measures the time until service is back, and compares. The times are
printed at the end of the run and kept in faults-recovery.tsv with the test
logs.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import pytest

from conftest import DOMAIN
from servers import ROOT
from test_desk import clean, cmd_el, command, direct_report  # noqa: F401 (clean: a fixture)
from mucutil import admin, assert_result, create_room, fin_of, mam_query, mam_row, new_room, \
    room_info, say
from test_muc_persistence import occupants, restart_component
from xmpp import body, dump, is_message, is_presence

NS_BLOCKING = "urn:xmpp:blocking"
NS_DATA = "jabber:x:data"
NS_MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
FREEZE = 20.0  # seconds the host server stays stopped

# --------------------------------------------------------------------------
# recovery times, printed at the end


@pytest.fixture(scope="session")
def recovery(request):
    rows: List[tuple] = []
    yield rows
    if not rows:
        return
    out = Path(os.environ.get("STOA_TEST_LOGS", ROOT / ".state" / "test-logs"))
    out.mkdir(parents=True, exist_ok=True)
    lines = ["fault\tserver\tmeasure\tseconds"] + ["\t".join(map(str, r)) for r in rows]
    (out / "faults-recovery.tsv").write_text("\n".join(lines) + "\n")
    plugins = request.config.pluginmanager
    tr, cap = plugins.getplugin("terminalreporter"), plugins.getplugin("capturemanager")
    if tr is not None and cap is not None:
        with cap.global_and_fixture_disabled():
            tr.write_line("")
            tr.write_line("[e2e] recovery from faults (seconds; the machine may be shared):")
            for fault, server, measure, secs in rows:
                tr.write_line(f"[e2e]   {fault:<20} {server:<9} {measure:<42} {secs}")


def record(rows, stack, fault: str, measure: str, seconds: float) -> None:
    rows.append((fault, stack.kind, measure, f"{seconds:.2f}"))
    print(f"[e2e] {stack.kind}: {fault}: {measure}: {seconds:.2f}s")


# --------------------------------------------------------------------------
# Redis, read as it is (RESP, without redis-cli's formatting)


def resp(port: int, *args: str):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall((f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n"
                                                 for a in args)).encode())
        return _reply(s.makefile("rb"))


def _reply(f):
    line = f.readline()
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise AssertionError(f"Redis refused: {rest.decode()}")
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2].decode(errors="replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_reply(f) for _ in range(n)]
    raise AssertionError(f"Redis said {line!r}")


def dump_key(port: int, key: str):
    """(type, contents, has an expiry) of one key; None when it is absent."""
    kind = resp(port, "TYPE", key)
    if kind == "none":
        return None
    read = {
        "string": lambda: resp(port, "GET", key),
        "hash": lambda: sorted(zip(*[iter(resp(port, "HGETALL", key))] * 2)),
        "set": lambda: sorted(resp(port, "SMEMBERS", key)),
        "zset": lambda: resp(port, "ZRANGE", key, "0", "-1", "WITHSCORES"),
        "list": lambda: resp(port, "LRANGE", key, "0", "-1"),
        "stream": lambda: resp(port, "XRANGE", key, "-", "+"),
    }[kind]
    return kind, read(), resp(port, "PTTL", key) > 0


# Buckets and counters that change with every stanza, and expire.
VOLATILE = re.compile(r"safety:rlv?:|desk:flood:")


def redis_state(redis, p: str, rooms: List[str]) -> Dict[str, object]:
    keys = {k for pat in (f"{p}desk:*", f"{p}safety:*") for k in resp(redis.port, "KEYS", pat)
            if not VOLATILE.search(k)}
    keys |= {f"{p}muc:{kind}:{r}" for r in rooms for kind in ("room", "log", "occ")}
    keys.add(f"{p}muc:secret")
    state: Dict[str, object] = {k: dump_key(redis.port, k) for k in sorted(keys)}
    for r in rooms:
        state[f"listed {r}"] = (resp(redis.port, "SISMEMBER", f"{p}muc:rooms", r),
                                resp(redis.port, "SISMEMBER", f"{p}muc:live:{DOMAIN}", r))
    return state


# --------------------------------------------------------------------------
# the world, and what clients see of it


@dataclass
class World:
    keep: str   # persistent
    temp: str   # temporary
    clients: Dict[str, object]
    seats: List[tuple]  # (client name, room, nick)

    @property
    def rooms(self) -> List[str]:
        return [self.keep, self.temp]


def build_world(stack, connect) -> World:
    c = {u: connect(u) for u in ("alice", "bob", "carol", "dave")}
    alice, bob, carol = c["alice"], c["bob"], c["carol"]
    keep, temp = new_room(stack, "fault-keep"), new_room(stack, "fault-temp")
    create_room(alice, keep, fields={"muc#roomconfig_persistentroom": "1",
                                     "muc#roomconfig_roomname": "Faults",
                                     "muc#roomconfig_whois": "anyone"})
    assert_result(admin(alice, keep,
                        f"<item affiliation='admin' jid='{stack.jid('carol')}'/>"
                        f"<item affiliation='member' jid='{stack.jid('bob')}'/>"
                        f"<item affiliation='outcast' jid='{stack.jid('eve')}'>"
                        "<reason>spam</reason></item>"), keep)
    bob.join(keep, "Bob")
    carol.join(keep, "Carol")
    alice.send_raw(f"<message type='groupchat' to='{keep}'><subject>Faults</subject></message>")
    create_room(alice, temp)
    bob.join(temp, "Bob")
    for who, room, text in ((alice, keep, "k0"), (bob, keep, "k1"), (carol, keep, "k2"),
                            (bob, temp, "t0"), (alice, temp, "t1")):
        say(who, room, text)
    r = direct_report(bob, DOMAIN, target=stack.jid("eve"), text="keeps spamming")
    assert r.get("type") == "result", dump(r)
    r = bob.iq(DOMAIN, f"<block xmlns='{NS_BLOCKING}'><item jid='{stack.jid('eve')}'/></block>",
               "set")
    assert r.get("type") == "result", dump(r)
    for x in c.values():
        x.clear()
    return World(keep, temp, c, [("alice", keep, "Alice"), ("bob", keep, "Bob"),
                                 ("carol", keep, "Carol"), ("alice", temp, "Alice"),
                                 ("bob", temp, "Bob")])


def archive(client, room: str) -> List[Dict[str, object]]:
    """The whole archive of a room (XEP-0313), page after page."""
    rows: List[Dict[str, object]] = []
    after = ""
    while True:
        page, fin = mam_query(client, room, f"<max>250</max>{after}")
        assert_result(fin, room)
        rows += [mam_row(m) for m in page]
        complete, _, last = fin_of(fin)
        if complete == "true" or not page:
            break
        after = f"<after>{last}</after>"
    for r in rows:
        r.pop("queryid", None)
    return rows


def seen(w: World, rooms: List[str]) -> Dict[str, object]:
    """Everything a client can see of the world: each room's information,
    affiliation lists, occupants and archive; Bob's block list; the desk's
    open reports."""
    alice, bob, dave = w.clients["alice"], w.clients["bob"], w.clients["dave"]
    out: Dict[str, object] = {}
    for room in rooms:
        affs = {}
        for a in ("owner", "admin", "member", "outcast"):
            r = admin(alice, room, f"<item affiliation='{a}'/>", "get")
            assert_result(r, room)
            affs[a] = sorted((i.get("jid"), i.findtext(f"{{{NS_MUC_ADMIN}}}reason"))
                             for i in r.iter(f"{{{NS_MUC_ADMIN}}}item"))
        out[room] = {"info": room_info(dave, room), "affiliations": affs,
                     "occupants": occupants(alice, room), "archive": archive(alice, room)}
    r = bob.iq(DOMAIN, f"<blocklist xmlns='{NS_BLOCKING}'/>")
    assert r.get("type") == "result", dump(r)
    out["blocks"] = sorted(i.get("jid") for i in r.iter(f"{{{NS_BLOCKING}}}item"))
    x = cmd_el(command(dave, "list")).find(f"{{{NS_DATA}}}x")
    assert x is not None, "the desk lists no report"
    out["desk"] = canonical(x)
    return out


def canonical(el: ET.Element):
    """An element as plain data, its attributes in order, for comparison
    (the order a parser keeps them in is nothing the server chose)."""
    return (el.tag, sorted(el.attrib.items()), (el.text or "").strip(),
            [canonical(c) for c in el])


def snapshot(w: World, redis, p: str, rooms=None) -> Dict[str, object]:
    rooms = w.rooms if rooms is None else rooms
    return {"seen": seen(w, rooms), "redis": redis_state(redis, p, rooms)}


def assert_same(before, after, what: str) -> None:
    if before == after:
        return
    lines = [f"{what} changed:"]
    for part in ("seen", "redis"):
        for k in sorted(set(before[part]) | set(after[part]), key=str):
            b, a = before[part].get(k), after[part].get(k)
            if a != b:
                lines.append(f"  {part} {k}:\n    before {b!r}\n    after  {a!r}")
    raise AssertionError("\n".join(lines))


def no_presence_from(w: World, rooms: List[str]) -> None:
    """Nobody heard anything from the rooms' occupants meanwhile."""
    for c in w.clients.values():
        c.expect_nothing(lambda s: is_presence(s) and s.get("from", "").split("/")[0] in rooms,
                         0.2, "presence from a room")


def everyone_speaks(w: World, label: str) -> None:
    """Each occupant sends a message without joining again; every other
    occupant of the room gets it."""
    for name, room, nick in w.seats:
        text = f"{label} from {nick} in {room.split('-')[1]}"
        say(w.clients[name], room, text)
        for other, r2, _ in w.seats:
            if r2 == room and other != name:
                w.clients[other].wait_for(
                    lambda s: is_message(s) and body(s) == text
                    and s.get("from") == f"{room}/{nick}", 10, f"{text!r}")


# --------------------------------------------------------------------------
# the faults


def test_redis_killed_and_restarted(stack, connect, redis, clean, recovery):
    w = build_world(stack, connect)
    p = clean
    before = snapshot(w, redis, p)
    comp = stack.component
    mark = comp.mark()
    alice, bob = w.clients["alice"], w.clients["bob"]
    t0 = time.monotonic()
    redis.proc.kill()
    redis.proc.wait(10)
    try:
        comp.wait_log(r"redis down", 15, since=mark)
        # Rooms go on without Redis; what they write waits in the store's
        # queue for Redis to come back.
        say(alice, w.keep, "while Redis was away")
        bob.wait_for(lambda s: is_message(s) and body(s) == "while Redis was away", 10)
        outage = time.monotonic() - t0
    finally:
        t1 = time.monotonic()
        redis.start()
    comp.wait_log(r"redis up", 30, since=mark)
    record(recovery, stack, "redis kill -9", "Redis started -> component uses it again",
           time.monotonic() - t1)
    # The queued write arrives; then everything is as it was, that message
    # apart.
    deadline = time.monotonic() + 15
    while True:
        rows = archive(alice, w.keep)
        if rows and rows[-1]["body"] == "while Redis was away":
            break
        assert time.monotonic() < deadline, "the message sent without Redis never reached it"
        time.sleep(0.1)
    record(recovery, stack, "redis kill -9", "kill -> archive holds the queued message",
           time.monotonic() - t0)
    print(f"[e2e] {stack.kind}: Redis away for {outage:.2f}s before its restart")
    after = snapshot(w, redis, p)
    log = f"{p}muc:log:{w.keep}"
    last = after["redis"][log][1].pop()
    assert dict(zip(*[iter(last[1])] * 2))["payload"].startswith("<body>while Redis"), last
    after["seen"][w.keep]["archive"].pop()
    assert_same(before, after, "after Redis was killed")
    no_presence_from(w, w.rooms)
    everyone_speaks(w, "after Redis")


def test_component_killed_and_restarted(stack, connect, redis, clean, recovery):
    w = build_world(stack, connect)
    p = clean
    before = snapshot(w, redis, p)
    assert before["redis"][f"{p}muc:occ:{w.keep}"][0] == "hash"
    back = restart_component(stack, signal.SIGKILL, clients=w.clients.values())
    assert back.seated == len(w.seats) and back.removed == 0, back
    record(recovery, stack, "component kill -9", "kill -> new process attached", back.attached)
    record(recovery, stack, "component kill -9", "kill -> every occupant confirmed", back.checked)
    after = snapshot(w, redis, p)
    assert_same(before, after, "after the component was killed")
    no_presence_from(w, w.rooms)
    t = time.monotonic()
    everyone_speaks(w, "after the crash")
    record(recovery, stack, "component kill -9", "each occupant speaks, no rejoin (all 5)",
           time.monotonic() - t)


def test_host_server_restarted(stack, connect, redis, clean, recovery):
    """Every client loses its session with the server: the rooms are left
    empty (the component checks each occupant once its link is back, and the
    server answers for the sessions that are gone), the temporary room goes
    with its last occupant, and the persistent one is as it was."""
    w = build_world(stack, connect)
    p = clean
    before = snapshot(w, redis, p, [w.keep])
    comp = stack.component
    mark = comp.mark()
    t0 = time.monotonic()
    stack.server.restart()
    record(recovery, stack, "host restart", "restart -> host server ready", time.monotonic() - t0)
    # Whether the server told the rooms of each departure before the link
    # went, or the component's checks find them gone once it is back, the
    # rooms empty.
    attached = emptied = None
    deadline = time.monotonic() + 40
    while attached is None or emptied is None:
        assert time.monotonic() < deadline, (
            comp.describe_failure("no link after the host server restarted") if attached is None
            else "occupants of a restarted server are still seated")
        if attached is None and comp.count(rf"component link ready: {re.escape(DOMAIN)}",
                                           since=mark):
            attached = time.monotonic() - t0
        if emptied is None and not any(dump_key(redis.port, f"{p}muc:occ:{r}")
                                       for r in w.rooms):
            emptied = time.monotonic() - t0
        time.sleep(0.05)
    record(recovery, stack, "host restart", "restart -> component attached again", attached)
    record(recovery, stack, "host restart", "restart -> departed occupants removed", emptied)
    for c in w.clients.values():
        c.close()
    w.clients = {u: connect(u) for u in w.clients}
    alice, bob = w.clients["alice"], w.clients["bob"]
    bob.join(w.keep, "Bob")
    say(bob, w.keep, "back")
    record(recovery, stack, "host restart", "restart -> a user back in and heard",
           time.monotonic() - t0)
    bob.leave(w.keep, "Bob")
    after = snapshot(w, redis, p, [w.keep])
    # Nobody is in any more; all else is as it was, the archive apart from
    # Bob's message.
    assert after["seen"][w.keep]["occupants"] == [], after["seen"][w.keep]["occupants"]
    assert after["redis"][f"{p}muc:occ:{w.keep}"] is None
    assert after["seen"][w.keep]["info"]["fields"].pop("muc#roominfo_occupants") == "0"
    before["seen"][w.keep]["info"]["fields"].pop("muc#roominfo_occupants")
    for part, key in (("seen", w.keep), ("redis", f"{p}muc:occ:{w.keep}"),
                      ("redis", f"listed {w.keep}")):
        if part == "seen":
            before[part][key]["occupants"] = after[part][key]["occupants"]
        else:
            before[part][key] = after[part][key]
    assert after["redis"][f"listed {w.keep}"] == (1, 0)
    assert [r["body"] for r in after["seen"][w.keep]["archive"]][-1] == "back"
    after["seen"][w.keep]["archive"].pop()
    after["redis"][f"{p}muc:log:{w.keep}"][1].pop()
    assert_same(before, after, "after the host server restarted")
    # The temporary room went with its last occupant, archive and all.
    r = alice.iq(w.temp, "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    assert r.get("type") == "error", dump(r)
    assert all(dump_key(redis.port, f"{p}muc:{k}:{w.temp}") is None
               for k in ("room", "log", "occ"))


def test_host_frozen_under_flood(stack, connect, redis, clean, recovery):
    """The host server stops (SIGSTOP) for 20 s while a flood is under way
    and goes on (SIGCONT): the link holds, and every message arrives, in
    order, exactly once."""
    w = build_world(stack, connect)
    p = clean
    before = snapshot(w, redis, p)
    comp = stack.component
    mark = comp.mark()
    alice, bob, carol = w.clients["alice"], w.clients["bob"], w.clients["carol"]
    n = 200
    ids = [alice.groupchat(w.keep, f"flood {i}", mid=f"fl{i}") for i in range(n)]
    pgid = stack.server.proc.pid
    os.killpg(pgid, signal.SIGSTOP)
    try:
        ids += [alice.groupchat(w.keep, f"flood {i}", mid=f"fl{i}") for i in range(n, 2 * n)]
        t_stop = time.monotonic()
        while time.monotonic() - t_stop < FREEZE:
            for c in w.clients.values():
                c.pump(0.1)
    finally:
        os.killpg(pgid, signal.SIGCONT)
    t0 = time.monotonic()
    for c in (bob, carol):
        got: List[str] = []
        deadline = time.monotonic() + 60
        while len(got) < len(ids):
            assert time.monotonic() < deadline, f"{len(got)} of {len(ids)} arrived"
            c.pump(0.1)
            got += [s.get("id") for s in c.take(
                lambda s: is_message(s) and s.get("from") == f"{w.keep}/Alice"
                and (body(s) or "").startswith("flood "))]
        assert got == ids, "the flood arrived out of order or twice"
    record(recovery, stack, "host SIGSTOP 20 s", f"SIGCONT -> all {len(ids)} messages delivered",
           time.monotonic() - t0)
    alice.expect_nothing(lambda s: s.get("type") == "error", 0.2, "error")
    assert comp.count(r"component link (lost|failed|closed)", since=mark) == 0, \
        "the link was lost while the host server was stopped"
    after = snapshot(w, redis, p)
    flood_rows = after["seen"][w.keep]["archive"][-len(ids):]
    assert [r["body"] for r in flood_rows] == [f"flood {i}" for i in range(2 * n)]
    del after["seen"][w.keep]["archive"][-len(ids):]
    del after["redis"][f"{p}muc:log:{w.keep}"][1][-len(ids):]
    assert_same(before, after, "after the host server was stopped under a flood")
    no_presence_from(w, w.rooms)
