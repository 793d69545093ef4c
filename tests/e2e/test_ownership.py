"""Requests waiting for Redis when Redis refuses them or the daemon stops.

The component keeps a request's state (desk sessions, archive queries) in
memory while Redis works on it. These tests make Redis refuse a request
half-way through a moderator's command, and stop the daemon while an
archive query is still unanswered: the component must answer what it can,
free what it holds exactly once, and exit cleanly. The binary under test is
the ASan+UBSan build, so a read of freed memory is a sanitizer report that
component_factory turns into a failure (docs/architecture.md, ownership)."""

from __future__ import annotations

import signal
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest

from fakeserver import FakeServer, NS_STANZAS
from servers import Redis
from test_component_link import DOMAIN, SECRET, iq

NS_COMMANDS = "http://jabber.org/protocol/commands"
NS_DATA = "jabber:x:data"
NS_MAM = "urn:xmpp:mam:2"
MOD = "mod@localhost/desk"
PREFIX = "own:"


def rcli(redis: Redis, *args: str) -> str:
    r = subprocess.run(["redis-cli", "-p", str(redis.port), "--raw", *args],
                       capture_output=True, text=True, timeout=10, check=True)
    return r.stdout.strip()


def settings(fake: FakeServer, redis: Redis):
    return {
        "component": {"domain": DOMAIN, "secret": SECRET, "server_port": fake.port,
                      "reconnect_min": "100ms", "reconnect_max": "1s"},
        "redis": {"enabled": "true", "host": "127.0.0.1", "port": redis.port,
                  "prefix": PREFIX},
        # The gate would hold the stanzas of these tests behind Redis too;
        # what is tested here is the desk's and the archive's own requests.
        "ratelimit": {"enabled": "false"},
        "desk": {"moderators": "mod@localhost"},
        "log": {"level": "debug"},
    }


def attach(fake, comp, redis):
    link = fake.accept(timeout=15)
    link.handshake()
    comp.wait_log(rf"redis up: 127\.0\.0\.1:{redis.port}", 15)
    comp.wait_log(rf"component link ready: {DOMAIN}", 15)
    return link


def command(node: str, iid: str, sid: str = "", fields: str = "") -> str:
    if not sid:
        return iq(MOD, DOMAIN, "set", f"<command xmlns='{NS_COMMANDS}' node='{node}'/>", iid)
    return iq(MOD, DOMAIN, "set",
              f"<command xmlns='{NS_COMMANDS}' node='{node}' sessionid='{sid}' "
              f"action='complete'><x xmlns='{NS_DATA}' type='submit'>{fields}</x></command>",
              iid)


def answer(link, iid: str) -> ET.Element:
    deadline = time.monotonic() + 10
    while True:
        st = link.recv_stanza(timeout=max(0.1, deadline - time.monotonic()))
        if st.get("id") == iid:
            return st


def error_condition(st: ET.Element) -> str:
    err = st.find("{jabber:component:accept}error")
    assert err is not None, ET.tostring(st)
    return [c.tag.split("}")[1] for c in err if c.tag.startswith(f"{{{NS_STANZAS}}}")][0]


def open_report(redis: Redis, rid: str) -> None:
    now = f"{time.time():.3f}"
    rcli(redis, "HSET", f"{PREFIX}desk:report:{rid}", "target", "eve@localhost", "room", "",
         "reason", "spam", "count", "1", "last", now, "text", "", "held", "0")
    rcli(redis, "ZADD", f"{PREFIX}desk:open", now, rid)


@pytest.mark.parametrize("node", ["view", "dismiss"])
def test_redis_refuses_the_second_step(node, own_redis, component_factory):
    """A moderator's view or dismiss: the report list comes from Redis, then
    Redis goes away before the chosen report is read or dismissed. The
    second request is refused by rdb; the moderator gets
    service-unavailable (and the desk did not read the request it had just
    handed over: desk.c's send consumes it, see struct pend)."""
    fake = FakeServer(domain=DOMAIN, secret=SECRET)
    try:
        comp = component_factory(settings(fake, own_redis))
        link = attach(fake, comp, own_redis)
        open_report(own_redis, "0123456789abcdef")
        link.send(command(node, "c1"))
        st = answer(link, "c1")
        c = st.find(f"{{{NS_COMMANDS}}}command")
        assert st.get("type") == "result" and c is not None and c.get("status") == "executing", \
            ET.tostring(st)
        assert b"0123456789abcdef" in ET.tostring(st)
        sid = c.get("sessionid")

        mark = comp.mark()
        own_redis.stop()
        comp.wait_log(r"redis down", 10, since=mark)
        link.send(command(node, "c2", sid,
                          "<field var='report'><value>0123456789abcdef</value></field>"))
        st = answer(link, "c2")
        assert st.get("type") == "error" and error_condition(st) == "service-unavailable", \
            ET.tostring(st)
        # Still serving: the refusal cost that command only.
        link.send(iq("alice@localhost/x", DOMAIN, "get", "<ping xmlns='urn:xmpp:ping'/>", "p"))
        assert answer(link, "p").get("type") == "result"
        assert comp.running()
    finally:
        fake.close()


def test_stop_while_an_archive_query_waits(own_redis, component_factory):
    """SIGTERM while Redis (paused) still owes the answer to a MAM query:
    freeing the Redis connection runs the query's callback, which must find
    the rooms and the link still there (rdb goes first at exit)."""
    fake = FakeServer(domain=DOMAIN, secret=SECRET)
    paused = False
    try:
        comp = component_factory(settings(fake, own_redis))
        link = attach(fake, comp, own_redis)
        room = f"r{int(time.time() * 1000) % 10**8}@{DOMAIN}"
        link.send(f"<presence from='alice@localhost/x' to='{room}/alice'>"
                  "<x xmlns='http://jabber.org/protocol/muc'/></presence>")
        st = link.recv_stanza(timeout=10)
        assert st.tag.endswith("presence") and st.get("type") is None, ET.tostring(st)

        own_redis.signal(signal.SIGSTOP)
        paused = True
        link.send(iq("alice@localhost/x", room, "set", f"<query xmlns='{NS_MAM}'/>", "mam"))
        time.sleep(0.5)  # the query reaches Redis's socket and waits there
        assert comp.running()
        status = comp.stop()  # within rdb's 10 s ping deadline: still owed
        reports = comp.sanitizer_reports()
        assert not reports, comp.describe_failure("sanitizer reports:\n" + "\n".join(reports))
        assert status == 0, comp.describe_failure(f"exit status {status} after SIGTERM")
    finally:
        fake.close()
        if paused:
            own_redis.signal(signal.SIGCONT)
