"""Group rosters and who is online (docs/rosters.md), end to end on real
Prosody and real ejabberd with stoa-component as a XEP-0356 privileged
entity: members find each other in their rosters through roster pushes,
with subscription both and presence; removal takes them out again; the
users' own contacts are never touched; who is online follows logins and
logouts; a service-wide ban takes the banned person out; a restart
changes nothing; bad input gets clear errors and changes nothing.

Each server kind runs privately here (its privileges would forward every
user's presence to the shared component of the other tests)."""
from __future__ import annotations

import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Callable, Dict, List, Optional, Tuple

import pytest

from conftest import DOMAIN, HOST, SECRET, finish_component, started
from servers import Component, Ejabberd, Prosody
from test_stoactl import ctl
from xmpp import Client, dump, error_condition, error_text, xml_text

NS_CMD = "http://jabber.org/protocol/commands"
NS_DATA = "jabber:x:data"
NS_ROSTER = "jabber:iq:roster"
NS_ITEMS = "http://jabber.org/protocol/disco#items"

ADMIN = "boss"
USERS = {n: f"{n}-roster-pw" for n in
         ("boss", "alice", "bob", "carol", "dave", "eve", "frank", "grace")}
GROUP_MAX = 20


def jid(user: str) -> str:
    return f"{user}@{HOST}"


class RosterStack:
    def __init__(self, kind, server, component, redis, prefix):
        self.kind = kind
        self.server = server
        self.component = component
        self.redis = redis
        self.prefix = prefix
        self.clients: List[Client] = []
        self.groups: List[str] = []

    def connect(self, user: str, available: bool = True) -> Client:
        c = Client(jid(user), USERS[user], self.server.c2s_port, available=available)
        self.clients.append(c)
        watch_pushes(c)
        return c

    def close_all(self):
        for c in self.clients:
            c.close()
        self.clients = []

    def rcli(self, *args: str) -> str:
        r = subprocess.run(["redis-cli", "-p", str(self.redis.port), "--raw", *args],
                           capture_output=True, text=True, timeout=10)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()


def component_settings(server, redis, prefix: str, **roster) -> Dict[str, Dict[str, str]]:
    s = {
        "component": {"domain": DOMAIN, "secret": SECRET, "server_port": server.component_port,
                      "keepalive": "30s", "reconnect_min": "250ms", "reconnect_max": "2s"},
        "redis": {"enabled": "true", "port": redis.port, "prefix": prefix},
        "ratelimit": {"enabled": "false"},
        "desk": {"moderators": jid(ADMIN)},
        "roster": {"enabled": "true", "admins": jid(ADMIN), "group_max": str(GROUP_MAX),
                   "permission_wait": "5s", "rate": "500"},
        "log": {"level": "debug"},
    }
    s["roster"].update(roster)
    return s


@pytest.fixture(scope="module", params=["prosody", "ejabberd"])
def rstack(request, state_root, redis):
    kind = request.param
    cls = Prosody if kind == "prosody" else Ejabberd
    server = cls(state_root / f"roster-{kind}", host=HOST, components={DOMAIN: SECRET},
                 users=USERS, privileged=DOMAIN)
    started(server)
    prefix = f"stoa-roster-{kind}-{uuid.uuid4().hex[:6]}:"
    comp = Component(state_root / f"roster-{kind}-component",
                     component_settings(server, redis, prefix))
    started(comp)
    comp.wait_log(r"roster: localhost grants roster read and write and presence", timeout=30)
    st = RosterStack(kind, server, comp, redis, prefix)
    yield st
    st.close_all()
    finish_component(comp)
    server.stop()


@pytest.fixture
def rs(rstack):
    """The stack for one test: the groups it made are deleted afterwards,
    and the next test starts once every roster Stoa wrote is empty again."""
    yield rstack
    if rstack.groups:
        admin = rstack.connect(ADMIN)
        for g in rstack.groups:
            run(admin, "roster-delete", {"group": g})
        rstack.groups = []
        wait_until(lambda: not rstack.rcli("--scan", "--pattern", f"{rstack.prefix}roster:given:*"),
                   timeout=60, what="the rosters Stoa wrote emptied")
    rstack.close_all()


# ---- helpers ----

def watch_pushes(c: Client) -> None:
    """Keeps every roster push (RFC 6121 2.1.6) the client receives in
    c.pushes as (jid, subscription, groups)."""
    c.pushes = []
    inner = c.xmpp.incoming_filter

    def filt(xml):
        if xml.tag == "{jabber:client}iq" and xml.get("type") == "set":
            q = xml.find(f"{{{NS_ROSTER}}}query")
            for it in (q.findall(f"{{{NS_ROSTER}}}item") if q is not None else []):
                c.pushes.append((it.get("jid"), it.get("subscription"),
                                 sorted(g.text or "" for g in it.findall(f"{{{NS_ROSTER}}}group"))))
        return inner(xml)

    c.xmpp.incoming_filter = filt


def roster_of(c: Client) -> Dict[str, Tuple[str, List[str], Optional[str]]]:
    r = c.iq(None, f"<query xmlns='{NS_ROSTER}'/>")
    assert r.get("type") == "result", dump(r)
    out = {}
    for it in r.find(f"{{{NS_ROSTER}}}query").findall(f"{{{NS_ROSTER}}}item"):
        out[it.get("jid")] = (it.get("subscription"),
                              sorted(g.text or "" for g in it.findall(f"{{{NS_ROSTER}}}group")),
                              it.get("name"))
    return out


def wait_until(pred: Callable[[], bool], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.2)


def wait_roster(c: Client, pred, timeout: float = 20.0, what: str = ""):
    last = {}

    def ok():
        nonlocal last
        last = roster_of(c)
        return pred(last)

    try:
        wait_until(ok, timeout, what)
    except AssertionError as e:
        raise AssertionError(f"{e}; {c.jid}'s roster: {last}")
    return last


def fields_xml(fields: Dict[str, object]) -> str:
    out = [f"<x xmlns='{NS_DATA}' type='submit'>"]
    for k, v in fields.items():
        vals = v if isinstance(v, list) else [v]
        out.append(f"<field var='{k}'>" +
                   "".join(f"<value>{xml_text(str(x))}</value>" for x in vals) + "</field>")
    out.append("</x>")
    return "".join(out)


def command(c: Client, node: str, sid=None, action=None, fields=None) -> ET.Element:
    attrs = f" node='{node}'"
    if sid:
        attrs += f" sessionid='{sid}'"
    if action:
        attrs += f" action='{action}'"
    x = fields_xml(fields) if fields is not None else ""
    return c.iq(DOMAIN, f"<command xmlns='{NS_CMD}'{attrs}>{x}</command>", "set", timeout=20)


def run(c: Client, node: str, fields: Dict[str, object]) -> ET.Element:
    first = command(c, node)
    cmd = first.find(f"{{{NS_CMD}}}command")
    if first.get("type") != "result":
        return first
    assert cmd.get("status") == "executing", dump(first)
    return command(c, node, cmd.get("sessionid"), "complete", fields)


def completed(reply: ET.Element) -> ET.Element:
    cmd = reply.find(f"{{{NS_CMD}}}command")
    assert reply.get("type") == "result" and cmd is not None, dump(reply)
    assert cmd.get("status") == "completed", dump(reply)
    return cmd


def new_group(rs: RosterStack, admin: Client, members: List[str]) -> str:
    name = f"Staff {uuid.uuid4().hex[:6]}"
    completed(run(admin, "roster-create", {"name": name, "members": [jid(m) for m in members]}))
    rs.groups.append(name)
    return name


def both(roster, who: str, group: str) -> bool:
    item = roster.get(jid(who))
    return item is not None and item[0] == "both" and group in item[1]


def available_from(c: Client, who: str) -> bool:
    c.pump(0.1)  # the client reads only while its loop runs
    return any(s.tag == "{jabber:client}presence" and (s.get("from") or "").startswith(jid(who) + "/")
               and s.get("type") is None for s in c.inbox)


# ---- tests ----

def test_members_find_each_other_with_presence(rs):
    """A new group's members get each other through roster pushes, with
    subscription both under the group's name, and presence flows as for any
    contact: at login both ways, and between members already online from
    the next presence they send (ejabberd at once: its roster write sends
    the presence the new subscription calls for; Prosody's privileged set
    only pushes the item, docs/rosters.md)."""
    admin = rs.connect(ADMIN)
    alice, bob = rs.connect("alice"), rs.connect("bob")
    group = new_group(rs, admin, ["alice", "bob", "carol"])
    r = wait_roster(alice, lambda r: both(r, "bob", group) and both(r, "carol", group),
                    what="alice holds bob and carol")
    assert jid("alice") not in r
    wait_roster(bob, lambda r: both(r, "alice", group) and both(r, "carol", group))
    assert any(p[0] == jid("bob") and p[1] == "both" and group in p[2] for p in alice.pushes), \
        alice.pushes
    if rs.kind == "ejabberd":
        wait_until(lambda: available_from(alice, "bob"), what="alice sees bob online")
    bob.send_raw("<presence><status>here</status></presence>")
    wait_until(lambda: available_from(alice, "bob"), what="alice sees bob's presence")
    # carol logs in: her presence reaches alice, and alice's reaches her.
    carol = rs.connect("carol")
    wait_until(lambda: available_from(alice, "carol"), what="alice sees carol log in")
    wait_until(lambda: available_from(carol, "alice"), what="carol sees alice at login")


def test_removal_and_own_contacts(rs):
    """Removing a member takes them out of the others' rosters and the others
    out of theirs; a contact the user added themselves is never touched,
    neither when it joins the group nor when it leaves."""
    admin = rs.connect(ADMIN)
    alice = rs.connect("alice")
    # alice's own contact, with her own name and group.
    r = alice.iq(None, f"<query xmlns='{NS_ROSTER}'><item jid='{jid('dave')}' name='My Dave'>"
                       f"<group>Friends</group></item></query>", "set")
    assert r.get("type") == "result", dump(r)
    group = new_group(rs, admin, ["alice", "bob", "dave"])
    wait_roster(alice, lambda r: both(r, "bob", group))
    dave = rs.connect("dave")
    wait_roster(dave, lambda r: both(r, "alice", group) and both(r, "bob", group))
    time.sleep(1)
    mine = roster_of(alice)[jid("dave")]
    assert mine[1] == ["Friends"] and mine[2] == "My Dave", mine
    given = rs.rcli("HGETALL", f"{rs.prefix}roster:given:{jid('alice')}").split()
    assert jid("dave") not in given and jid("bob") in given, given
    # dave and bob leave.
    completed(run(admin, "roster-remove", {"group": group, "members": [jid("dave"), jid("bob")]}))
    r = wait_roster(alice, lambda r: jid("bob") not in r, what="bob leaves alice's roster")
    assert r[jid("dave")][1] == ["Friends"] and r[jid("dave")][2] == "My Dave", r
    wait_roster(dave, lambda r: jid("alice") not in r and jid("bob") not in r)


def test_who_is_online(rs):
    """The group's online members with show and status, by ad-hoc command
    and by disco node, following logins and logouts; members only."""
    admin = rs.connect(ADMIN)
    group = new_group(rs, admin, ["alice", "bob", "frank"])
    alice = rs.connect("alice", available=False)
    alice.send_raw("<presence><show>away</show><status>lunch</status></presence>")
    bob = rs.connect("bob")

    def online() -> Dict[str, Tuple[str, str]]:
        r = run(alice, "roster-online", {"group": group})
        cmd = completed(r)
        out = {}
        for item in cmd.iter(f"{{{NS_DATA}}}item"):
            vals = {f.get("var"): (f.findtext(f"{{{NS_DATA}}}value") or "")
                    for f in item.findall(f"{{{NS_DATA}}}field")}
            out[vals["jid"]] = (vals["show"], vals["status"])
        return out

    wait_until(lambda: set(online()) == {alice.full_jid, bob.full_jid}, what="alice and bob")
    assert online()[alice.full_jid] == ("away", "lunch")
    items = alice.iq(DOMAIN, f"<query xmlns='{NS_ITEMS}' node='online/{xml_text(group)}'/>")
    names = {i.get("jid"): i.get("name") for i in items.iter(f"{{{NS_ITEMS}}}item")}
    assert names.get(alice.full_jid) == "away: lunch", dump(items)
    bob.close()
    wait_until(lambda: set(online()) == {alice.full_jid}, what="bob gone after logout")
    # eve is no member: refused, by command and by disco.
    eve = rs.connect("eve")
    r = run(eve, "roster-online", {"group": group})
    assert error_condition(r) == "forbidden", dump(r)
    r = eve.iq(DOMAIN, f"<query xmlns='{NS_ITEMS}' node='online/{xml_text(group)}'/>")
    assert error_condition(r) == "forbidden", dump(r)


def test_ban_removes_contact(rs):
    """A service-wide ban by the desk takes the banned person out of every
    group and every roster Stoa put them in."""
    admin = rs.connect(ADMIN)
    alice = rs.connect("alice")
    group = new_group(rs, admin, ["alice", "grace"])
    wait_roster(alice, lambda r: both(r, "grace", group))
    completed(run(admin, "ban", {"jid": jid("grace"), "duration": "3600", "reason": "spam"}))
    wait_roster(alice, lambda r: jid("grace") not in r, what="grace leaves alice's roster")
    assert rs.rcli("SISMEMBER", f"{rs.prefix}roster:members:{group}", jid("grace")) == "0"
    rs.rcli("DEL", f"{rs.prefix}safety:ban:jid:{jid('grace')}")


def test_restart_changes_nothing(rs):
    """After a restart of the component the rosters are the same and no
    roster push went out: what Stoa gave is in Redis."""
    admin = rs.connect(ADMIN)
    alice = rs.connect("alice")
    group = new_group(rs, admin, ["alice", "bob", "carol"])
    before = wait_roster(alice, lambda r: both(r, "bob", group) and both(r, "carol", group))
    time.sleep(1)
    pushes = len(alice.pushes)
    mark = rs.component.mark()
    rs.component.restart()
    rs.component.wait_log(r"roster: localhost grants roster read and write", timeout=30)
    # The start-up reconciliation reads every member's roster; give it time.
    rs.component.wait_log(r"roster: \d+ groups?", timeout=30, since=0)
    time.sleep(5)
    assert roster_of(alice) == before
    assert alice.pushes[pushes:] == [], alice.pushes[pushes:]
    assert rs.component.count(r"roster: .* failed", since=mark) == 0


def test_group_from_stoactl_applied_at_start(rs):
    """A group stoactl makes in Redis reaches the rosters when the component
    next starts, and not before: the component reads the groups only then
    (man stoactl)."""
    alice = rs.connect("alice")
    name = f"Ctl {uuid.uuid4().hex[:6]}"
    ctl(rs.component.config_path, "groups", "create", name)
    rs.groups.append(name)
    ctl(rs.component.config_path, "groups", "add", name, jid("alice"), jid("bob"))
    time.sleep(2)
    assert jid("bob") not in roster_of(alice)
    rs.component.restart()
    rs.component.wait_log(r"roster: localhost grants roster read and write", timeout=30)
    wait_roster(alice, lambda r: both(r, "bob", name), what="alice holds bob after the start")


def test_bad_input(rs):
    """Unknown groups, JIDs that fail stringprep, too many members and
    commands from non-admins: each a clear error, nothing half-applied."""
    admin = rs.connect(ADMIN)
    bob = rs.connect("bob")
    group = new_group(rs, admin, ["alice", "bob"])
    key = f"{rs.prefix}roster:members:{group}"
    r = run(admin, "roster-add", {"group": "no such group", "members": [jid("carol")]})
    assert error_condition(r) == "item-not-found", dump(r)
    # Nodeprep and Nameprep refuse spaces (RFC 3920 appendix A, B).
    for bad in ("bad user@localhost", "bob@exa mple.com", "a@b@c"):
        r = run(admin, "roster-add", {"group": group, "members": [jid("carol"), bad]})
        assert error_condition(r) == "jid-malformed", dump(r)
    many = [f"user{i}@{HOST}" for i in range(GROUP_MAX + 5)]
    r = run(admin, "roster-add", {"group": group, "members": many})
    assert error_condition(r) == "not-acceptable", dump(r)
    assert "group_max" in (error_text(r) or ""), dump(r)
    assert rs.rcli("SCARD", key) == "2"
    r = run(admin, "roster-create", {"name": "bad;name", "members": []})
    assert error_condition(r) == "not-acceptable", dump(r)
    r = run(bob, "roster-create", {"name": "mine", "members": [jid("bob")]})
    assert error_condition(r) == "forbidden", dump(r)
    r = run(bob, "roster-add", {"group": group, "members": [jid("eve")]})
    assert error_condition(r) == "forbidden", dump(r)
    assert rs.rcli("SCARD", key) == "2"
    assert rs.rcli("SISMEMBER", f"{rs.prefix}roster:groups", "mine") == "0"


# ---- permissions the host refuses ----

@pytest.fixture(params=["prosody", "ejabberd"])
def refused(request, state_root, redis):
    """A host that grants Stoa less than group rosters need: Prosody with
    roster "get" only, ejabberd 23.01 without contrib/ejabberd/mod_stoa_roster
    (its own privileged roster set is broken)."""
    kind = request.param
    if kind == "prosody":
        server = Prosody(state_root / "roster-refused-prosody", host=HOST,
                         components={DOMAIN: SECRET}, users=USERS, privileged=DOMAIN,
                         priv_roster="get", priv_presence="managed_entity")
    else:
        server = Ejabberd(state_root / "roster-refused-ejabberd", host=HOST,
                          components={DOMAIN: SECRET}, users=USERS, privileged=DOMAIN,
                          roster_module=False)
    started(server)
    prefix = f"stoa-roster-refused-{kind}-{uuid.uuid4().hex[:6]}:"
    comp = Component(state_root / f"roster-refused-{kind}-component",
                     component_settings(server, redis, prefix))
    started(comp)
    yield kind, server, comp
    finish_component(comp)
    server.stop()


def test_refused_permission_one_line_nothing_else_breaks(refused):
    """The permission that is missing gives one log line naming the
    configuration to add; group rosters are off, rooms and who is online
    (which the host does grant) go on."""
    kind, server, comp = refused
    if kind == "prosody":
        comp.wait_log(r'WARN .*roster: localhost grants no roster read and write: group rosters '
                      r'are off\. Set on its VirtualHost privileged_entities', timeout=30)
    else:
        comp.wait_log(r"WARN .*roster: localhost \(ejabberd, urn:xmpp:privilege:1\) cannot write "
                      r"roster items .*ejabberd issue #3942.*group rosters are off\. Load "
                      r"contrib/ejabberd/mod_stoa_roster", timeout=30)
    time.sleep(6)  # past permission_wait: no second line, no "no privilege message"
    assert comp.count(r"roster: localhost") == 1, comp.text()
    assert comp.count(r"sent no XEP-0356 privilege message") == 0
    admin = Client(jid(ADMIN), USERS[ADMIN], server.c2s_port, available=True)
    alice = Client(jid("alice"), USERS["alice"], server.c2s_port, available=True)
    try:
        # A room works as ever.
        room = f"roster-{uuid.uuid4().hex[:6]}@{DOMAIN}"
        alice.join(room, "alice")
        # Groups are stored but nobody's roster is written.
        r = run(admin, "roster-create", {"name": "Off", "members": [jid("alice"), jid("bob")]})
        completed(r)
        time.sleep(2)
        assert jid("bob") not in roster_of(alice)
        # Who is online: the host grants presence, so it answers.
        r = run(alice, "roster-online", {"group": "Off"})
        completed(r)
    finally:
        admin.close()
        alice.close()


def component_handshake(port: int, domain: str, secret: str):
    """A bare XEP-0114 connection: the socket, once the handshake passed."""
    import hashlib
    import re
    import socket
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(f"<stream:stream xmlns='jabber:component:accept' "
              f"xmlns:stream='http://etherx.jabber.org/streams' to='{domain}'>".encode())
    data = b""
    while b"id=" not in data or b">" not in data[data.find(b"id="):]:
        data += s.recv(4096)
    sid = re.search(rb"id=['\"]([^'\"]+)['\"]", data).group(1).decode()
    digest = hashlib.sha1((sid + secret).encode()).hexdigest()
    s.sendall(f"<handshake>{digest}</handshake>".encode())
    data = b""
    while b"<handshake" not in data:
        chunk = s.recv(4096)
        assert chunk and b"stream:error" not in chunk, chunk
        data += chunk
    return s, data


def test_ejabberd_2301_privileged_roster_set_is_broken(state_root):
    """The upstream limit mod_stoa_roster works around: ejabberd 23.01 grants
    roster "both", yet a XEP-0356 roster set (urn:xmpp:privilege:1) from the
    privileged component drops its connection (ejabberd issue #3942) and
    writes nothing; a roster get works."""
    server = Ejabberd(state_root / "roster-upstream-ejabberd", host=HOST,
                      components={DOMAIN: SECRET}, users=USERS, privileged=DOMAIN,
                      roster_module=False)
    started(server)
    try:
        s, got = component_handshake(server.component_port, DOMAIN, SECRET)
        deadline = time.monotonic() + 10
        while b"urn:xmpp:privilege:1" not in got and time.monotonic() < deadline:
            got += s.recv(65536)
        assert b"type='both' access='roster'" in got.replace(b'"', b"'"), got
        s.sendall(f"<iq type='get' id='g1' from='{DOMAIN}' to='{jid('alice')}'>"
                  f"<query xmlns='{NS_ROSTER}'/></iq>".encode())
        got = b""
        while b"id='g1'" not in got.replace(b'"', b"'"):
            got += s.recv(65536)
        assert b"type='result'" in got.replace(b'"', b"'"), got
        s.sendall(f"<iq type='set' id='s1' from='{DOMAIN}' to='{jid('alice')}'>"
                  f"<query xmlns='{NS_ROSTER}'><item jid='{jid('bob')}' subscription='both'/>"
                  f"</query></iq>".encode())
        closed = False
        got = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except OSError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            got += chunk
        s.close()
        assert closed, f"ejabberd kept the link after a privileged roster set: {got!r}"
        alice = Client(jid("alice"), USERS["alice"], server.c2s_port)
        try:
            assert jid("bob") not in roster_of(alice)
        finally:
            alice.close()
    finally:
        server.stop()


def test_config_groups_checked(tmp_path):
    """[roster] groups is checked before the daemon runs (-t): a group of
    100,000 names over group_max, a JID that fails stringprep and a bad name
    each stop it with a clear line; a good one passes."""
    from servers import component_binary, write_component_config
    conf = tmp_path / "c.conf"

    def check(groups: str, group_max: int = 10000) -> subprocess.CompletedProcess:
        write_component_config(conf, {"component": {"secret": "x"},
                                      "roster": {"enabled": "true", "groups": groups,
                                                 "group_max": str(group_max)}})
        return subprocess.run([str(component_binary()), "-t", "-c", str(conf)],
                              capture_output=True, text=True, timeout=60)

    # 100,000 names do not even fit in a configuration file (its size limit).
    r = check("Big: " + " ".join(f"u{i}@{HOST}" for i in range(100000)))
    assert r.returncode == 78 and "too large" in r.stderr, r.stderr[-500:]
    r = check("Big: " + " ".join(f"u{i}@{HOST}" for i in range(GROUP_MAX + 1)), GROUP_MAX)
    assert r.returncode == 78, r.stderr[-500:]
    assert "[roster] groups" in r.stderr and "group_max" in r.stderr, r.stderr[-500:]
    assert len(r.stderr) < 1000  # one line, not the names
    r = check(f"Staff: {jid('alice')} bad user@{HOST}")
    assert r.returncode == 78 and "is not a bare user JID" in r.stderr, r.stderr
    r = check(f"Sta;ff: {jid('alice')}")
    assert r.returncode == 78, r.stderr
    r = check(f"Staff: {jid('alice')} {jid('bob')}; Sales: {jid('carol')}")
    assert r.returncode == 0, r.stderr


def test_remove_and_block_a_contact(rs):
    """A person who reports someone removes that contact from their roster
    and blocks it in one step; a group never puts it back."""
    admin = rs.connect(ADMIN)
    alice = rs.connect("alice")
    group = new_group(rs, admin, ["alice", "eve"])
    wait_roster(alice, lambda r: both(r, "eve", group))
    note = completed(run(alice, "roster-drop", {"jid": jid("eve")}))
    assert "removed from your roster" in (note.findtext(f"{{{NS_CMD}}}note") or "")
    wait_roster(alice, lambda r: jid("eve") not in r, what="eve leaves alice's roster")
    assert rs.rcli("SISMEMBER", f"{rs.prefix}safety:ublock:{jid('alice')}", jid("eve")) == "1"
    # Another group with both: alice's whole roster is reconciled, eve stays out.
    other = new_group(rs, admin, ["alice", "eve", "frank"])
    wait_roster(alice, lambda r: both(r, "frank", other))
    time.sleep(1)
    assert jid("eve") not in roster_of(alice)
    r = run(alice, "roster-drop", {"jid": jid("alice")})
    assert error_condition(r) == "jid-malformed", dump(r)
    rs.rcli("DEL", f"{rs.prefix}safety:ublock:{jid('alice')}")
    # What remembers the drop is the one record the groups' deletion leaves.
    assert rs.rcli("HGET", f"{rs.prefix}roster:given:{jid('alice')}", jid("eve")) == ""
    rs.rcli("HDEL", f"{rs.prefix}roster:given:{jid('alice')}", jid("eve"))
