"""stoa-component with Redis: it notices Redis going away and coming back,
and keeps serving in between."""

from __future__ import annotations

import time

from fakeserver import FakeServer
from servers import Redis
from test_component_link import DOMAIN, SECRET, USER, iq

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"


def test_redis_down_and_up(own_redis, component_factory):
    fake = FakeServer(domain=DOMAIN, secret=SECRET)
    try:
        comp = component_factory({
            "component": {"domain": DOMAIN, "secret": SECRET, "server_port": fake.port,
                          "reconnect_min": "100ms", "reconnect_max": "1s"},
            "redis": {"enabled": "true", "host": "127.0.0.1", "port": own_redis.port},
            "log": {"level": "debug"},
        })
        link = fake.accept(timeout=15)
        link.handshake()
        up = rf"redis up: 127\.0\.0\.1:{own_redis.port}"
        comp.wait_log(up, 10)

        def disco(iid):
            link.send(iq(USER, DOMAIN, "get", f"<query xmlns='{NS_DISCO_INFO}'/>", iid))
            r = link.recv_stanza(timeout=5)
            assert (r.get("id"), r.get("type")) == (iid, "result")

        disco("before")

        mark = comp.mark()
        t0 = time.monotonic()
        own_redis.stop()
        m = comp.wait_log(r"redis down: (.*); serving without redis, retrying in ([0-9.]+)s",
                          10, since=mark)
        print(f"[e2e] redis down noticed in {time.monotonic() - t0:.2f}s: {m.group(0)}")
        disco("during")
        time.sleep(1.5)  # a few reconnect attempts against nothing
        disco("during2")
        assert comp.count("component link (lost|failed)", since=mark) == 0, \
            "the component link suffered from Redis going away"

        mark = comp.mark()
        t1 = time.monotonic()
        own_redis.start()
        comp.wait_log(up, 30, since=mark)
        print(f"[e2e] redis up again {time.monotonic() - t1:.2f}s after it restarted")
        disco("after")
        assert comp.running()
    finally:
        fake.close()


def test_redis_absent_at_start(state_root, component_factory):
    """Redis not running when the component starts: it serves anyway."""
    from servers import free_port

    port = free_port()
    fake = FakeServer(domain=DOMAIN, secret=SECRET)
    try:
        comp = component_factory({
            "component": {"domain": DOMAIN, "secret": SECRET, "server_port": fake.port},
            "redis": {"enabled": "true", "host": "127.0.0.1", "port": port},
        })
        link = fake.accept(timeout=15)
        link.handshake()
        # At the default log level an operator must learn that Redis is
        # unreachable, even if it never was up.
        comp.wait_log(r"(WARN|ERROR) .*redis", 10)
        link.send(iq(USER, DOMAIN, "get", "<ping xmlns='urn:xmpp:ping'/>", "p"))
        assert link.recv_stanza(timeout=5).get("type") == "result"
        r = Redis(state_root / "redis-late", port=port)
        r.start()
        try:
            comp.wait_log(rf"redis up: 127\.0\.0\.1:{port}", 40)
        finally:
            r.stop()
    finally:
        fake.close()
