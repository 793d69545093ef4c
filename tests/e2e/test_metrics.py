"""The metrics and health endpoint ([metrics], docs/operating.md) of a real
stoa-component: scraped while real clients talk through Prosody and
ejabberd, the counters move by what the traffic was; /health follows the
link and Redis (a Redis killed under it turns it 503)."""

from __future__ import annotations

import http.client
import re
import time
import uuid
from typing import Dict, Tuple

from conftest import DOMAIN
from fakeserver import FakeServer
from servers import free_port
from test_component_link import SECRET
from mucutil import create_room
from xmpp import body, is_message

NS_REPORT = "urn:xmpp:reporting:1"
SERIES = re.compile(r"^([a-z_]+(?:\{[^}]*\})?) (\S+)$")


def get(port: int, path: str) -> Tuple[int, str, str]:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.getheader("Content-Type") or "", r.read().decode()
    finally:
        c.close()


def scrape(port: int) -> Dict[str, float]:
    status, ctype, text = get(port, "/metrics")
    assert status == 200, text
    assert ctype.startswith("text/plain; version=0.0.4"), ctype
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = SERIES.match(line)
        assert m, f"not Prometheus text: {line!r}"
        out[m.group(1)] = float(m.group(2))
    return out


def test_counters_move_with_traffic(stack, connect):
    before = scrape(stack.metrics_port)
    assert before["stoa_link_up"] == 1 and before["stoa_redis_up"] == 1, before
    carol, bob = connect("carol"), connect("bob")
    room = f"metrics-{uuid.uuid4().hex[:8]}@{DOMAIN}"
    create_room(carol, room, nick="Carol")
    bob.join(room, "Bob")
    n = 5
    for i in range(n):
        carol.groupchat(room, f"counted {i}")
    bob.wait_for(lambda s: is_message(s) and body(s) == f"counted {n - 1}")

    # During the traffic: the room and its two occupants are there.
    during = scrape(stack.metrics_port)
    assert during["stoa_rooms"] >= 1 and during["stoa_occupants"] >= 2, during

    r = bob.iq(room + "/Carol", f"<report xmlns='{NS_REPORT}' reason='urn:xmpp:reporting:spam'>"
               f"<text>metrics test</text></report>", "set")
    assert r.get("type") == "result"
    after = scrape(stack.metrics_port)

    def moved(series: str) -> float:
        return after[series] - before.get(series, 0)

    # Messages in: the n groupchats; out: each to both occupants. Joins and
    # their presence broadcasts, the owner's configuration IQs, the report.
    assert moved('stoa_stanzas_in_total{kind="message"}') >= n, (before, after)
    assert moved('stoa_stanzas_out_total{kind="message"}') >= 2 * n, (before, after)
    assert moved('stoa_stanzas_in_total{kind="presence"}') >= 2, (before, after)
    assert moved('stoa_stanzas_out_total{kind="presence"}') >= 3, (before, after)
    assert moved('stoa_stanzas_in_total{kind="iq"}') >= 2, (before, after)
    assert moved('stoa_stanzas_out_total{kind="iq"}') >= 2, (before, after)
    assert moved('stoa_reports_total{result="filed"}') == 1, (before, after)
    assert after["stoa_gate_queue"] >= 0 and after["stoa_link_queue_bytes"] >= 0
    assert after["stoa_start_time_seconds"] <= time.time()
    status, _, text = get(stack.metrics_port, "/health")
    assert (status, text) == (200, "ok\n")


def test_health_follows_link_and_redis(own_redis, component_factory):
    fake = FakeServer(domain=DOMAIN, secret=SECRET)
    port = free_port()
    try:
        comp = component_factory({
            "component": {"domain": DOMAIN, "secret": SECRET, "server_port": fake.port,
                          "reconnect_min": "100ms", "reconnect_max": "1s"},
            "redis": {"enabled": "true", "host": "127.0.0.1", "port": own_redis.port},
            "metrics": {"port": port},
        })
        link = fake.accept(timeout=15)
        status, _, text = get(port, "/health")
        assert status == 503 and text.startswith("component link"), (status, text)
        link.handshake()
        comp.wait_log(r"component link ready", 10)
        comp.wait_log(rf"redis up: 127\.0\.0\.1:{own_redis.port}", 10)
        assert get(port, "/health")[:3:2] == (200, "ok\n")
        m = scrape(port)
        assert m["stoa_link_up"] == 1 and m["stoa_redis_up"] == 1
        assert m["stoa_link_connects_total"] == 1 and m["stoa_redis_connects_total"] == 1

        mark = comp.mark()
        own_redis.proc.kill()  # SIGKILL: no goodbye on the socket it had
        own_redis.proc.wait(10)
        comp.wait_log(r"redis down", 15, since=mark)
        status, _, text = get(port, "/health")
        assert status == 503 and text.startswith("redis "), (status, text)
        assert scrape(port)["stoa_redis_up"] == 0

        mark = comp.mark()
        own_redis.start()
        comp.wait_log(rf"redis up: 127\.0\.0\.1:{own_redis.port}", 30, since=mark)
        assert get(port, "/health")[0] == 200
        assert scrape(port)["stoa_redis_connects_total"] == 2

        link.close()
        comp.wait_log(r"component link (lost|closed|failed)", 10)
        status, _, text = get(port, "/health")
        assert status == 503 and text.startswith("component link"), (status, text)
        assert scrape(port)["stoa_link_up"] == 0
    finally:
        fake.close()


def test_port_taken_is_a_clear_error(component_factory):
    """A port someone else holds: the daemon says so and exits 78."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        comp = component_factory({"redis": {"enabled": "false"},
                                  "metrics": {"port": taken}})
        assert comp.proc.wait(10) == 78
        assert f"metrics: cannot listen on 127.0.0.1 port {taken}" in comp.text()
