"""What a service manager sees: sd_notify readiness, status, watchdog and
stopping (the unit is Type=notify with WatchdogSec=), journald priority
prefixes, and secrets read from files or the environment."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from fakeserver import FakeServer

DOMAIN = "rooms.localhost"
SECRET = "notify-link-secret"


def settings(fake: FakeServer, **component):
    s = {
        "component": {"domain": DOMAIN, "secret": SECRET, "server_port": fake.port,
                      "reconnect_min": "100ms", "reconnect_max": "500ms"},
        "redis": {"enabled": "false"},
        "log": {"level": "info"},
    }
    s["component"].update(component)
    return s


class NotifySocket:
    """systemd's side of sd_notify: a datagram socket in the state directory."""

    def __init__(self, path: Path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.messages: list = []

    def wait_for(self, word: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            for m in self.messages:
                if word in m.split("\n"):
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {word} from the daemon; got {self.messages!r}")
            self.sock.settimeout(left)
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass

    def close(self):
        self.sock.close()


@pytest.fixture
def fake():
    f = FakeServer(domain=DOMAIN, secret=SECRET)
    yield f
    f.close()


def test_ready_status_watchdog_stopping(fake, component_factory, tmp_path):
    ns = NotifySocket(tmp_path / "notify")
    try:
        # No WATCHDOG_PID: sd_watchdog_enabled then accepts any process.
        comp = component_factory(settings(fake), extra_env={
            "NOTIFY_SOCKET": str(ns.path), "WATCHDOG_USEC": "400000"})
        comp.wait_log(r"systemd watchdog: a ping every 0\.2s", 10)
        # Not ready before the host server accepted the link.
        time.sleep(0.5)
        assert not any("READY=1" in m for m in ns.messages), ns.messages
        link = fake.accept(timeout=15)
        link.handshake()
        ready = ns.wait_for("READY=1")
        assert f"STATUS=serving {DOMAIN} via 127.0.0.1:{fake.port}" in ready, ready
        # The watchdog keeps pinging from the loop.
        n = sum(m == "WATCHDOG=1" for m in ns.messages)
        time.sleep(1.0)
        ns.sock.settimeout(0.1)
        try:
            while True:
                ns.messages.append(ns.sock.recv(4096).decode())
        except socket.timeout:
            pass
        pings = sum(m == "WATCHDOG=1" for m in ns.messages) - n
        assert pings >= 3, f"{pings} watchdog pings in 1s at a 0.2s period: {ns.messages!r}"
        # A lost link is a status, not a second READY.
        link.close()
        ns.wait_for("STATUS=component link down, reconnecting")
        link = fake.accept(timeout=15)
        link.handshake()
        comp.signal(15)
        ns.wait_for("STOPPING=1")
        comp.proc.wait(10)
        assert comp.stop() == 0
        assert sum("READY=1" in m.split("\n") for m in ns.messages) == 1, ns.messages
    finally:
        ns.close()


def test_journald_priority_prefixes(fake, component_factory):
    # A first start only creates the log file whose numbers we need; its
    # link goes to a server that is then dropped.
    first = FakeServer(domain=DOMAIN, secret=SECRET)
    comp = component_factory(settings(first), name="journal")
    comp.stop()
    first.close()
    comp.settings["component"]["server_port"] = fake.port
    # systemd names its stream in JOURNAL_STREAM as "device:inode"; stderr
    # is this log file, so the same numbers make it "the journal".
    st = os.stat(comp.log_path)
    comp.extra_env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
    mark = comp.mark()
    comp.start()
    link = fake.accept(timeout=15)
    link.handshake()
    comp.wait_log(rf"^<6>component link ready: {DOMAIN}", 10, since=mark)
    assert comp.stop() == 0
    lines = [l for l in comp.lines_since(mark) if l and not l.startswith("===")]
    assert lines and all(l[:3] in ("<3>", "<4>", "<6>", "<7>") for l in lines), lines
    # Without it (or with another stream's numbers), the usual timestamps.
    comp.extra_env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino + 1}"
    mark = comp.mark()
    comp.start()
    comp.wait_log(r"^\d{4}-\d\d-\d\dT[\d:.]+Z INFO stoa-component: ", 10, since=mark)


def test_secret_from_file_and_environment(fake, component_factory, tmp_path):
    secret = tmp_path / "component.secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    comp = component_factory(settings(fake, secret=None, secret_file=str(secret)), name="file")
    link = fake.accept(timeout=15)
    link.handshake()  # the fake checks the SHA-1 of the secret
    comp.wait_log(rf"component link ready: {DOMAIN}", 10)
    comp.stop()
    comp2 = component_factory(settings(fake, secret=None), name="env",
                              extra_env={"STOA_COMPONENT_SECRET": SECRET})
    link = fake.accept(timeout=15)
    link.handshake()
    comp2.wait_log(rf"component link ready: {DOMAIN}", 10)
