"""A real terminal client: Debian's Profanity, driven in tmux as a person
types, joins a Stoa room, chats with a slixmpp user, files an abuse report
the way docs/moderators.md tells (`/blocked report-abuse JID text`) that
reaches the desk's moderator, and, as that moderator, lists the desk's
commands (`/cmd list`) and dismisses a report through "View a report"
(`/cmd exec`, `/fieldN`, `/form submit`); on Prosody and on ejabberd. The screens are kept
in the test logs (profanity-*.txt): docs/moderators.md quotes them."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import DOMAIN
from test_desk import chat_from_service, report_keys, hget, clean  # noqa: F401 (fixture)
from mucutil import create_room
from xmpp import body, dump, is_message

PROFANITY = shutil.which("profanity")


class Terminal:
    """One program in a detached tmux session of its own (private socket),
    160x48, read back with capture-pane."""

    def __init__(self, where: Path, name: str, argv, env):
        self.sock = where / f"tmux-{name}.sock"
        self.name = name
        self.where = where
        subprocess.run(["tmux", "-S", str(self.sock), "new-session", "-d", "-s", name,
                        "-x", "160", "-y", "48", *argv], check=True, env=env, timeout=10)

    def tmux(self, *args: str) -> str:
        r = subprocess.run(["tmux", "-S", str(self.sock), *args], capture_output=True,
                           text=True, timeout=10)
        return r.stdout

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.name, "-l", text)
        self.tmux("send-keys", "-t", self.name, "Enter")

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.name, "-S", "-300")

    def wait(self, regex: str, timeout: float = 20.0) -> str:
        r = re.compile(regex)
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if r.search(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"/{regex}/ not on Profanity's screen within {timeout}s:\n"
                                     f"{text}")
            time.sleep(0.2)

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.screen())

    def close(self) -> None:
        self.tmux("kill-server")


def profanity(stack, tmp: Path, user: str) -> Terminal:
    """Profanity logged in as user, with a home of its own, no TLS (the test
    servers offer none), as a person would type it."""
    home = tmp / f"home-{user}"
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               XDG_DATA_HOME=str(home / ".local/share"), TERM="xterm-256color",
               LANG="C.UTF-8", LC_ALL="C.UTF-8")
    t = Terminal(tmp, f"prof-{user}-{uuid.uuid4().hex[:6]}", [PROFANITY], env)
    t.wait(r"Profanity\. Type /help for help information\.|Welcome to Profanity", 20)
    t.type(f"/connect {stack.jid(user)} server 127.0.0.1 port {stack.c2s_port} tls disable")
    t.wait(r"Enter password:", 20)
    t.type(stack.users[user])
    t.wait(rf"{re.escape(stack.jid(user))}\S* logged in successfully", 30)
    return t


@pytest.fixture
def term_dir(tmp_path):
    if PROFANITY is None or shutil.which("tmux") is None:
        pytest.fail("profanity and tmux are needed (scripts/deps installs them)")
    yield tmp_path


def logs_dir(stack) -> Path:
    return Path(os.environ.get("STOA_TEST_LOGS", Path(__file__).resolve().parents[2]
                               / ".state" / "test-logs")) / "profanity"


def test_profanity_room_chat_and_report(stack, connect, redis, clean, term_dir):
    bob = connect("bob")
    dave = connect("dave")  # the desk's moderator in the e2e stack
    room = f"prof-{uuid.uuid4().hex[:8]}@{DOMAIN}"
    create_room(bob, room, "Bob")
    t = profanity(stack, term_dir, "alice")
    try:
        t.type(f"/join {room} nick Alice")
        t.wait(rf"-> You have joined the room|{re.escape(room)}", 20)
        bob.wait_for(lambda s: s.get("from") == f"{room}/Alice", 15)
        t.type("hello from Profanity")
        m = bob.wait_for(lambda s: is_message(s) and body(s) == "hello from Profanity", 15)
        assert m.get("from") == f"{room}/Alice", dump(m)
        bob.groupchat(room, "welcome, terminal user")
        t.wait(r"welcome, terminal user", 15)
        t.save(logs_dir(stack) / f"profanity-room-{stack.kind}.txt")

        # What docs/moderators.md tells a user to type: block + report to
        # the user's own server, which copies it to Stoa's desk.
        spammer = f"spammer-{uuid.uuid4().hex[:4]}@spam.example"
        t.type(f"/blocked report-abuse {spammer} sent me threats")
        m = chat_from_service(dave, spammer, timeout=20)
        assert "New report" in body(m) and "sent me threats" in body(m), dump(m)
        keys = report_keys(redis, clean)
        assert [hget(redis, k, "target") for k in keys] == [spammer]
        t.save(logs_dir(stack) / f"profanity-report-{stack.kind}.txt")
    finally:
        t.close()


def test_profanity_runs_the_desk(stack, connect, redis, clean, term_dir):
    """The moderator's way through the desk from a terminal, as
    docs/moderators.md writes it: /cmd list, then /cmd exec view, the
    report picked with /field1 and dismissed with /field7, /form submit."""
    alice = connect("alice")
    target = f"troll-{uuid.uuid4().hex[:4]}@elsewhere.example"
    r = alice.iq(stack.jid("alice"), "<block xmlns='urn:xmpp:blocking'>"
                 f"<item jid='{target}'><report xmlns='urn:xmpp:reporting:1' "
                 "reason='urn:xmpp:reporting:abuse'><text>insults</text></report></item>"
                 "</block>", "set")
    assert r.get("type") == "result", dump(r)
    deadline = time.monotonic() + 10
    while not report_keys(redis, clean):
        assert time.monotonic() < deadline, "the report never reached the desk"
        time.sleep(0.1)
    rid = report_keys(redis, clean)[0].rsplit(":", 1)[1]

    t = profanity(stack, term_dir, "dave")
    try:
        t.type(f"/cmd list {DOMAIN}")
        # Profanity lists the commands' nodes, one a line.
        screen = t.wait(r"(?m)!\s+warn\s*$", 20)
        for node in ("report", "list", "view", "dismiss", "mute", "kick", "erase"):
            assert re.search(rf"!\s+{node}\s*$", screen, re.M), f"{node} missing:\n{screen}"
        t.save(logs_dir(stack) / f"profanity-cmd-list-{stack.kind}.txt")

        t.type(f"/cmd exec view {DOMAIN}")
        t.wait(r"\[field1\] Report \(required\)", 20)
        t.type("/form help field1")
        t.wait(rf"(?m)^\S+ -\s+{rid}\s*$", 10)  # the open report's id is a choice
        t.type(f"/field1 {rid}")
        t.type("/form submit")
        t.wait(r"\[field5\] Reporter's words", 20)
        t.wait(r"\[dismiss\] Dismiss the report", 5)
        t.type("/field7 dismiss")
        t.type("/field8 handled")
        t.type("/form submit")
        t.type("/win 2")
        t.wait(r"view completed", 20)
        t.save(logs_dir(stack) / f"profanity-view-{stack.kind}.txt")
        # The audit log says dave dismissed it.
        audit = subprocess.run(["redis-cli", "-p", str(redis.port), "--raw", "XREVRANGE",
                                f"{clean}desk:audit", "+", "-", "COUNT", "5"],
                               capture_output=True, text=True, timeout=10).stdout.split("\n")
        assert "dismiss" in audit and stack.jid("dave") in audit, audit
    finally:
        t.close()
