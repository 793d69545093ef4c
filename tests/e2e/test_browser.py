"""A person's view of a room: Converse.js in headless Chromium.

Prosody (with WebSocket on a private HTTP port) and stoa-component run as in
the other tests. A slixmpp occupant (bob) creates an instant room on the
component and gives it an avatar (XEP-0486: a vCard on the room JID);
tests/browser/run.mjs then has Converse.js, served from
tests/browser/node_modules over a local HTTP server, log alice in over
WebSocket and join the room. The browser must show the room's avatar in the
room's heading (browser/room-avatar.png), both occupants, its
message must reach bob, and bob's reply must appear in the page. A screenshot
of the room is kept in the test logs (browser/room.png).

Needs Debian's `chromium` and `nodejs`, and `npm ci --prefix tests/browser`:
when any is missing the test fails and says so (it is never skipped).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import http.server
import os
import secrets
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import DOMAIN, HOST, SECRET, USERS, component_settings, started
from servers import ROOT, Prosody, free_port
from test_rooms_avatar import stoa_avatar
from xmpp import NS_CLIENT, Client, XmppError

BROWSER_DIR = ROOT / "tests" / "browser"
CHROMIUM = Path(os.environ.get("STOA_CHROMIUM", "/usr/bin/chromium"))
NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_MUC_OWNER = "http://jabber.org/protocol/muc#owner"

DRIVER_TIMEOUT = 35  # seconds for every browser step together (a pass takes ~4)


def logs_dir() -> Path:
    d = Path(os.environ.get("STOA_TEST_LOGS", ROOT / ".state" / "test-logs")) / "browser"
    d.mkdir(parents=True, exist_ok=True)
    return d


def require_browser_tools() -> str:
    """The node binary; fails the test (never skips) when anything is missing."""
    problems = []
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        problems.append("no `node` on PATH: install Debian's nodejs (and npm)")
    if not CHROMIUM.exists():
        problems.append(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    for need in ("converse.js/dist/converse.min.js", "playwright-core/package.json"):
        if not (BROWSER_DIR / "node_modules" / need).exists():
            problems.append(f"tests/browser/node_modules/{need} is missing: "
                            "run `npm ci --prefix tests/browser`")
    if problems:
        pytest.fail("browser test cannot run:\n  " + "\n  ".join(problems), pytrace=False)
    return node


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    log_file = None

    def log_message(self, fmt, *args):
        if self.log_file is not None:
            self.log_file.write(f"{self.address_string()} {fmt % args}\n")
            self.log_file.flush()

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


@pytest.fixture
def static_site():
    """tests/browser (node_modules too) over HTTP on a free loopback port."""
    port = free_port()
    log = open(logs_dir() / "http.log", "w")
    handler = type("Handler", (QuietHandler,), {"log_file": log})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(handler, directory=str(BROWSER_DIR)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="browser-http", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}/index.html"
    server.shutdown()
    server.server_close()
    thread.join(5)
    log.close()


@pytest.fixture(scope="module")
def web_prosody(state_root):
    """A Prosody of its own with WebSocket at /xmpp-websocket."""
    p = Prosody(state_root / "prosody-browser", host=HOST, components={DOMAIN: SECRET},
                users=USERS, http_port=free_port())
    started(p)
    yield p
    p.stop()


def join_room(client: Client, room_jid: str, nick: str, timeout: float = 10.0) -> ET.Element:
    """Sends MUC join presence; returns the room's self-presence (status 110)."""
    presences: "asyncio.Queue" = asyncio.Queue()
    client.xmpp.add_event_handler("presence", lambda p: presences.put_nowait(p.xml))
    client.send_raw(f"<presence to='{room_jid}/{nick}'><x xmlns='{NS_MUC}'/></presence>")

    async def self_presence():
        while True:
            p = await presences.get()
            if p.get("from") != f"{room_jid}/{nick}":
                continue
            if p.get("type") == "error":
                raise XmppError(f"join {room_jid} refused: {ET.tostring(p).decode()}")
            codes = {s.get("code") for s in p.iter(f"{{{NS_MUC_USER}}}status")}
            if "110" in codes:
                return p

    try:
        return client.run(asyncio.wait_for(self_presence(), timeout))
    except asyncio.TimeoutError:
        raise XmppError(f"no self-presence from {room_jid}/{nick} within {timeout}s")


def body_of(msg: ET.Element) -> str:
    b = msg.find(f"{{{NS_CLIENT}}}body")
    return "" if b is None or b.text is None else b.text


def test_converse_in_chromium(web_prosody, redis, component_factory, static_site):
    node = require_browser_tools()
    t_start = time.monotonic()
    out = logs_dir()
    for old in out.glob("room*.png"):  # room.png, room-avatar.png, room-failure.png
        old.unlink()

    comp = component_factory(component_settings(web_prosody.component_port, redis.port))
    comp.wait_log(rf"component link ready: {DOMAIN} via 127\.0\.0\.1:{web_prosody.component_port}",
                  15)

    room = f"browser-{secrets.token_hex(4)}@{DOMAIN}"
    web_nick, bot_nick = "alice-web", "bob-bot"
    tag = secrets.token_hex(3)
    to_bot = f"Hello from Converse in Chromium ({tag})"
    to_browser = f"Hello back from slixmpp ({tag})"

    bob = Client(f"bob@{HOST}", USERS["bob"], web_prosody.c2s_port)
    try:
        # An instant room (XEP-0045 10.1.2): join, then submit an empty form.
        created = join_room(bob, room, bot_nick)
        codes = {s.get("code") for s in created.iter(f"{{{NS_MUC_USER}}}status")}
        assert "201" in codes, f"room not newly created: {ET.tostring(created).decode()}"
        reply = bob.iq(room, f"<query xmlns='{NS_MUC_OWNER}'>"
                             "<x xmlns='jabber:x:data' type='submit'/></query>", itype="set")
        assert reply.get("type") == "result", ET.tostring(reply).decode()
        # The room's avatar (XEP-0486), set by its owner before the browser comes.
        avatar = base64.b64encode(stoa_avatar()).decode()
        reply = bob.iq(room, f"<vCard xmlns='vcard-temp'><PHOTO><TYPE>image/png</TYPE>"
                             f"<BINVAL>{avatar}</BINVAL></PHOTO></vCard>", itype="set")
        assert reply.get("type") == "result", ET.tostring(reply).decode()

        bob_presences = []
        bob.xmpp.add_event_handler("presence", lambda p: bob_presences.append(p.xml))

        stdout_path, stderr_path = out / "run.stdout.log", out / "run.stderr.log"
        cmd = [node, str(BROWSER_DIR / "run.mjs"),
               "--page", static_site, "--ws", web_prosody.websocket_url(),
               "--jid", f"alice@{HOST}", "--password", USERS["alice"],
               "--room", room, "--nick", web_nick, "--peer", bot_nick,
               "--send", to_bot, "--expect", to_browser,
               "--screenshot", str(out / "room.png"), "--room-avatar", avatar,
               "--console-log", str(out / "browser-console.log"),
               "--timeout", str(DRIVER_TIMEOUT)]
        with open(stdout_path, "w") as so, open(stderr_path, "w") as se:
            driver = subprocess.Popen(cmd, cwd=str(BROWSER_DIR), stdin=subprocess.DEVNULL,
                                      stdout=so, stderr=se, start_new_session=True)

        def driver_output() -> str:
            return (f"--- {stdout_path} ---\n{stdout_path.read_text(errors='replace')}"
                    f"--- {stderr_path} ---\n{stderr_path.read_text(errors='replace')}"
                    f"(console of the page: {out / 'browser-console.log'})")

        deadline = time.monotonic() + DRIVER_TIMEOUT + 20
        try:
            # bob waits for the browser's message, then answers it.
            got = None
            while got is None:
                if driver.poll() is not None:
                    pytest.fail(f"the browser driver exited ({driver.returncode}) before its "
                                f"message reached {bot_nick}:\n{driver_output()}", pytrace=False)
                if time.monotonic() > deadline:
                    pytest.fail(f"{bot_nick} got no message {to_bot!r} from the browser:\n"
                                f"{driver_output()}", pytrace=False)
                try:
                    m = bob.next_message(timeout=0.5)
                except XmppError:
                    continue
                if m.get("type") == "groupchat" and body_of(m) == to_bot:
                    got = m
            assert got.get("from") == f"{room}/{web_nick}", ET.tostring(got).decode()
            bob.send_message(room, to_browser, mtype="groupchat")

            # Keep bob's loop turning (the reply is written by it) until the
            # driver is done.
            while driver.poll() is None and time.monotonic() < deadline:
                bob.run(asyncio.sleep(0.2))
            if driver.poll() is None:
                pytest.fail(f"the browser driver did not finish within {DRIVER_TIMEOUT + 20}s:\n"
                            f"{driver_output()}", pytrace=False)
        finally:
            if driver.poll() is None:
                os.killpg(driver.pid, 9)
                driver.wait(10)

        assert driver.returncode == 0, f"browser driver failed ({driver.returncode}):\n{driver_output()}"
        stdout = stdout_path.read_text()
        assert f"received from {bot_nick}" in stdout, driver_output()
        assert (out / "room.png").stat().st_size > 10_000, "screenshot missing or empty"
        assert "room avatar shown in the heading" in stdout, driver_output()
        assert (out / "room-avatar.png").stat().st_size > 1_000, "heading screenshot missing"

        # bob saw alice enter through the component.
        joined = [p for p in bob_presences
                  if p.get("from") == f"{room}/{web_nick}" and p.get("type") is None]
        assert joined, f"{bot_nick} got no presence of {web_nick}: " + \
            " ".join(ET.tostring(p).decode() for p in bob_presences)
    finally:
        bob.close()
    print(f"[e2e] browser test took {time.monotonic() - t_start:.1f}s; "
          f"screenshot {out / 'room.png'}")
