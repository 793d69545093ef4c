"""stoactl, the operator's command line, against the real Redis state a real
stoa-component wrote through Prosody and ejabberd: every verb, its errors
and exit statuses (sysexits), --help for each, the desk's audit log; and a
ban made with stoactl refused by the running component at once."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from pathlib import Path
from typing import List

import pytest

from conftest import DOMAIN, HOST
from servers import component_binary, free_port, write_component_config
from test_desk import raw
from mucutil import create_room
from xmpp import body, error_condition, is_message

NS_REPORT = "urn:xmpp:reporting:1"
ACTOR = "stoactl:e2e"


def stoactl_binary() -> Path:
    env = os.environ.get("STOA_STOACTL")
    return Path(env) if env else component_binary().parent.parent / "ctl" / "stoactl"


def config(tmp: Path, redis_port: int, prefix: str, **redis) -> Path:
    path = tmp / "stoa-component.conf"
    write_component_config(path, {"component": {"domain": DOMAIN},
                                  "redis": {"port": redis_port, "prefix": prefix, **redis},
                                  "desk": {"audit_max": "1000"}})
    return path


def ctl(conf: Path, *args: str, status: int = 0) -> str:
    r = subprocess.run([str(stoactl_binary()), "-c", str(conf), "--actor", ACTOR, *args],
                       capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, ASAN_OPTIONS="detect_leaks=1:exitcode=23"))
    assert r.returncode == status, (f"stoactl {' '.join(args)}: status {r.returncode}, "
                                    f"expected {status}\n{r.stdout}{r.stderr}")
    if status:
        assert r.stderr.startswith("stoactl: ") or "Usage:" in r.stderr, r.stderr
    return r.stdout + r.stderr


def rows(out: str, first: str) -> List[List[str]]:
    return [line.split("\t") for line in out.splitlines() if line.startswith(first)]


def test_every_verb_has_help(tmp_path):
    conf = tmp_path / "none.conf"  # --help never reads the configuration
    text = ctl(conf, "--help")
    verbs = re.findall(r"^  stoactl (\w+)(?: (list|inspect|destroy|view|dismiss|add|remove|show|create|delete|display|undisplay))?",
                       text, re.M)
    assert len(verbs) >= 25, text
    for noun, verb in verbs:
        out = ctl(conf, noun, *([verb] if verb else []), "--help")
        assert out.startswith("Usage:\n  stoactl " + noun), out
    assert "Usage:" in ctl(conf, "bans", "--help")
    ctl(conf, status=64)
    ctl(conf, "frobnicate", status=64)
    ctl(conf, "bans", status=64)
    ctl(conf, "bans", "frob", status=64)
    ctl(conf, "bans", "add", status=64)
    ctl(conf, "bans", "list", "extra", status=64)
    ctl(conf, "bans", "list", "--yes", status=64)
    ctl(conf, "bans", "add", "x@y", "--duration", "soon", status=65)
    ctl(conf, "reports", "list", "--count", "0", status=65)
    assert "at least 2" in ctl(conf, "groups", "add", "G", status=64)
    assert "next start" in ctl(conf, "groups", "create", "--help")
    assert "cannot read" in ctl(conf, "bans", "list", status=78)


def test_redis_and_config_errors(tmp_path, redis):
    ctl(config(tmp_path, free_port(), "x:"), "bans", "list", status=69)
    # Redis has no password: AUTH is refused.
    ctl(config(tmp_path, redis.port, "x:", password="wrong"), "bans", "list", status=77)
    off = tmp_path / "off.conf"
    write_component_config(off, {"component": {"domain": DOMAIN}, "redis": {"enabled": "false"}})
    assert "enabled = false" in ctl(off, "bans", "list", status=78)


def test_verbs_on_the_component_state(stack, connect, redis, tmp_path):
    prefix = f"stoa-{stack.kind}:"
    conf = config(tmp_path, redis.port, prefix)
    carol, bob, eve = connect("carol"), connect("bob"), connect("eve")
    room = f"ctl-{uuid.uuid4().hex[:8]}@{DOMAIN}"
    create_room(carol, room, nick="Carol", fields={"muc#roomconfig_persistentroom": "1"})
    bob.join(room, "Bob")
    carol.groupchat(room, "evidence")
    bob.wait_for(lambda s: is_message(s) and body(s) == "evidence")

    # rooms
    r = [x for x in rows(ctl(conf, "rooms", "list"), room) if x[0] == room]
    assert r and r[0][1] == "persistent" and int(r[0][2]) >= 2 and int(r[0][3]) >= 1, r
    out = ctl(conf, "rooms", "inspect", room)
    assert f"affiliation: {stack.jid('carol')} owner" in out, out
    assert "config persistent: 1" in out and "nick=Bob" in out, out
    ctl(conf, "rooms", "inspect", f"nothing-here@{DOMAIN}", status=66)
    ctl(conf, "rooms", "inspect", "bad@@jid", status=65)
    ctl(conf, "rooms", "inspect", "room@elsewhere.example", status=65)

    # reports: bob reports carol in the room; the desk files it
    r = bob.iq(room + "/Carol", f"<report xmlns='{NS_REPORT}' reason='urn:xmpp:reporting:spam'>"
               "<text>stoactl test</text></report>", "set")
    assert r.get("type") == "result"
    listed = [x for x in rows(ctl(conf, "reports", "list"), "") if "stoactl test" in x[-1]]
    assert len(listed) == 1, listed
    rid = listed[0][0]
    assert listed[0][1] == stack.jid("carol") and listed[0][2] == room, listed
    out = ctl(conf, "reports", "view", rid)
    assert f"target: {stack.jid('carol')}" in out and "reason: spam" in out, out
    ctl(conf, "reports", "view", "0" * 16, status=66)
    ctl(conf, "reports", "view", "not-an-id", status=65)
    ctl(conf, "reports", "dismiss", rid, "--reason", "handled")
    ctl(conf, "reports", "dismiss", rid, status=66)
    assert raw(redis, "EXISTS", f"{prefix}desk:report:{rid}") == "0"

    # bans: made here, honoured by the running component at once
    eve_jid = stack.jid("eve")
    ctl(conf, "bans", "add", eve_jid.upper(), "--reason", "spam wave", "--duration", "1h")
    assert raw(redis, "GET", f"{prefix}safety:ban:jid:{eve_jid}") == "spam wave"
    assert 3500 < int(raw(redis, "TTL", f"{prefix}safety:ban:jid:{eve_jid}")) <= 3600
    assert eve_jid in [x[0] for x in rows(ctl(conf, "bans", "list"), eve_jid)]
    err = eve.join_error(room, "Eve")
    assert error_condition(err) == "forbidden", err
    ctl(conf, "bans", "add", f"{eve_jid}/phone", status=65)
    ctl(conf, "bans", "remove", eve_jid)
    ctl(conf, "bans", "remove", eve_jid, status=66)
    eve.join(room, "Eve")

    # blocks
    ctl(conf, "blocks", "add", "Spam.Example", "--reason", "spam source")
    assert raw(redis, "GET", f"{prefix}safety:ban:domain:spam.example") == "spam source"
    assert rows(ctl(conf, "blocks", "list"), "spam.example")
    ctl(conf, "blocks", "add", DOMAIN, status=65)
    ctl(conf, "blocks", "add", "user@spam.example", status=65)
    ctl(conf, "blocks", "remove", "spam.example")
    ctl(conf, "blocks", "remove", "spam.example", status=66)

    # limits: a service-wide mute the gate enforces
    ctl(conf, "limits", "add", eve_jid, "--duration", "10m", "--reason", "calm down")
    assert rows(ctl(conf, "limits", "list"), eve_jid)
    mid = eve.groupchat(room, "muted words")
    refused = eve.wait_for(lambda s: s.get("type") == "error" and s.get("id") == mid)
    assert error_condition(refused) == "forbidden", refused
    ctl(conf, "limits", "remove", eve_jid)
    ctl(conf, "limits", "remove", eve_jid, status=66)

    # the audit log has each change, by the operator stoactl named
    audit = rows(ctl(conf, "audit", "--count", "500"), "")
    mine = [x[2] for x in audit if len(x) > 2 and x[1] == ACTOR]
    for action in ("dismiss", "ban", "unban", "block-domain", "unblock-domain", "mute", "unmute"):
        assert action in mine, (action, mine)

    # erase: keys and archived messages of a person
    ctl(conf, "bans", "add", eve_jid)
    ctl(conf, "erase", eve_jid, status=64)
    out = ctl(conf, "erase", eve_jid, "--yes")
    assert re.search(r"erased for .*: \d+ reports, [1-9]\d* keys", out), out
    assert raw(redis, "EXISTS", f"{prefix}safety:ban:jid:{eve_jid}") == "0"
    assert "erase" in [x[2] for x in rows(ctl(conf, "audit"), "") if len(x) > 2]

    # destroy: an empty persistent room
    empty = f"ctl-empty-{uuid.uuid4().hex[:6]}@{DOMAIN}"
    create_room(carol, empty, nick="Carol", fields={"muc#roomconfig_persistentroom": "1"})
    carol.leave(empty, "Carol")
    ctl(conf, "rooms", "destroy", empty, status=64)
    ctl(conf, "rooms", "destroy", empty, "--yes")
    ctl(conf, "rooms", "inspect", empty, status=66)
    ctl(conf, "rooms", "destroy", empty, "--yes", status=66)
