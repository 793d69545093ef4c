"""Bounded memory when the host server stops reading (issue 9, item 2).

A host server that stops reading the component link (paused, overloaded)
while its users flood a room must not make stoa-component buffer the whole
fan-out: once the link's write queue is over its high-water mark (4 MiB),
nothing more is fanned out until it drains. Stanzas wait in the gate's
bounded FIFO (or are refused with resource-constraint when it is full),
whether the rate-limit gate is on (stanzas waiting for Redis's verdict) or
off; none is dropped.

The fake server (fakeserver.py) joins OCCUPANTS occupants, stops reading,
floods MESSAGES groupchat messages, waits until the component has done all
it can, then reads everything and counts the deliveries. The figure is the
component's peak resident memory (VmHWM, reset before the flood) over its
resident memory before it. It is measured on the release build: the ASan
build keeps freed memory in its quarantine, which says nothing about the
daemon's own bound."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from fakeserver import FakeServer
from servers import ROOT
from test_component_link import DOMAIN, SECRET

OCCUPANTS = 300
MESSAGES = 2000
# Growth of peak RSS allowed over the RSS before the flood: the 4 MiB queue
# (in a buffer that may have doubled to 8 MiB), the stanzas held in the
# FIFO, and the allocator's slack. Measured on a shared 2-core machine:
# about 12 MiB, gate on or off; before the FIFO held stanzas while the link
# was backed up, 75 MiB (gate on) and 38 to 54 MiB (gate off).
BOUND_MIB = 32


def release_binary() -> Path:
    p = Path(os.environ.get("STOA_RELEASE_COMPONENT",
                            ROOT / "build" / "release" / "component" / "stoa-component"))
    if not p.exists():
        pytest.fail(f"{p} not found: build it with scripts/build --release "
                    "(or set STOA_RELEASE_COMPONENT)")
    return p


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def wait_idle(pid: int, quiet: float = 1.0, timeout: float = 60.0) -> None:
    """Until the process has used no CPU for `quiet` seconds: all it could do
    without the server reading is done."""
    deadline = time.monotonic() + timeout
    last, since = cpu_ticks(pid), time.monotonic()
    while time.monotonic() - since < quiet:
        assert time.monotonic() < deadline, "the component never went idle"
        time.sleep(0.1)
        now = cpu_ticks(pid)
        if now != last:
            last, since = now, time.monotonic()


def flood_with_reader_stopped(comp, link, room: str) -> dict:
    pid = comp.pid

    def send_and_wait(data: str, iid: str) -> None:
        link.send(data)
        deadline = time.monotonic() + 60
        while True:
            st = link.recv_stanza(timeout=max(0.1, deadline - time.monotonic()))
            if st.get("id") == iid:
                assert st.get("type") == "result", st.attrib
                return

    joins = [f"<presence from='u{k}@localhost/r' to='{room}/u{k}'>"
             "<x xmlns='http://jabber.org/protocol/muc'/></presence>" for k in range(OCCUPANTS)]
    # u0 creates the room as an instant room (XEP-0045 10.1.2), the others join.
    send_and_wait(joins[0] + f"<iq type='set' id='made' from='u0@localhost/r' to='{room}'>"
                  "<query xmlns='http://jabber.org/protocol/muc#owner'>"
                  "<x xmlns='jabber:x:data' type='submit'/></query></iq>", "made")
    send_and_wait("".join(joins[1:]) +
                  f"<iq type='get' id='joined' from='u0@localhost/r' to='{DOMAIN}'>"
                  "<ping xmlns='urn:xmpp:ping'/></iq>", "joined")
    link.count_only(b"</body>")
    link.pause_reading()
    time.sleep(0.3)
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")  # VmHWM := VmRSS
    before = status_kib(pid, "VmRSS")
    text = "x" * 60
    flood = "".join(f"<message type='groupchat' id='f{i}' from='u{i % OCCUPANTS}@localhost/r' "
                    f"to='{room}'><body>{i:05d} {text}</body></message>"
                    for i in range(MESSAGES))
    t0 = time.monotonic()
    sender = link.send_background(flood.encode())
    wait_idle(pid)
    paused_peak = status_kib(pid, "VmHWM")
    stalled = time.monotonic() - t0
    link.resume_reading()
    t1 = time.monotonic()
    want = MESSAGES * OCCUPANTS
    deadline = time.monotonic() + 60
    while link.counted < want and time.monotonic() < deadline:
        time.sleep(0.1)
    drained = time.monotonic() - t1
    sender.join(30)
    wait_idle(pid, quiet=0.5)
    figures = {
        "rss_before_mib": before / 1024,
        "peak_while_stalled_mib": paused_peak / 1024,
        "peak_overall_mib": status_kib(pid, "VmHWM") / 1024,
        "growth_mib": (status_kib(pid, "VmHWM") - before) / 1024,
        "delivered": link.counted,
        "expected": want,
        "output_mib": link.counted_bytes / 2**20,
        "stalled_s": stalled,
        "drain_s": drained,
    }
    return figures


@pytest.mark.parametrize("gate", ["on", "off"])
def test_output_bounded_when_the_server_stops_reading(gate, own_redis, component_factory):
    fake = FakeServer(domain=DOMAIN, secret=SECRET)
    try:
        settings = {
            "component": {"domain": DOMAIN, "secret": SECRET, "server_port": fake.port},
            "redis": {"enabled": "true", "host": "127.0.0.1", "port": own_redis.port,
                      "prefix": f"bp-{gate}:"},
            "links": {"policy": "deliver"},
            "log": {"level": "info"},
        }
        if gate == "on":
            # Every stanza waits for Redis's verdict, none is over a limit.
            settings["ratelimit"] = {"enabled": "true", **{
                f"{c}_{scope}interval": "0"
                for c in ("room_message", "private_message", "join", "presence", "invite",
                          "report", "other") for scope in ("", "domain_")}}
        else:
            settings["ratelimit"] = {"enabled": "false"}
        comp = component_factory(settings, binary=release_binary())
        link = fake.accept(timeout=15)
        link.handshake()
        comp.wait_log(r"redis up", 15)
        comp.wait_log(r"component link ready", 15)
        f = flood_with_reader_stopped(comp, link, f"flood@{DOMAIN}")
        print(f"\n[e2e] backpressure, gate {gate}: " +
              ", ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in f.items()))
        assert f["delivered"] == f["expected"], \
            f"messages lost or duplicated: {f}; output began {link.sample[:1500]!r}"
        assert f["growth_mib"] < BOUND_MIB, f"memory not bounded: {f}"
    finally:
        fake.close()
