"""stoactl groups against a real Redis: every verb and its errors, the keys
the component's ad-hoc commands write (schemas/redis-keys.md, roster:),
the audit log. That a component started afterwards applies a group made
with stoactl is in test_roster.py (test_group_from_stoactl_applied_at_start),
which has the privileged host."""
from __future__ import annotations

import subprocess
import uuid

from conftest import DOMAIN
from servers import write_component_config
from test_stoactl import ACTOR, ctl, rows


def rcli(redis, *args: str) -> str:
    r = subprocess.run(["redis-cli", "-p", str(redis.port), "--raw", *args],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def members(redis, key: str):
    return sorted(rcli(redis, "SMEMBERS", key).split())


def test_groups_verbs_and_errors(redis, tmp_path):
    p = f"ctlg-{uuid.uuid4().hex[:6]}:"
    conf = tmp_path / "stoa-component.conf"
    write_component_config(conf, {"component": {"domain": DOMAIN},
                                  "redis": {"port": redis.port, "prefix": p},
                                  "roster": {"group_max": "3"},
                                  "desk": {"audit_max": "1000"}})
    assert "no roster groups" in ctl(conf, "groups", "list")
    # create: the name rule of the component's model
    assert "created group Staff" in ctl(conf, "groups", "create", "Staff")
    ctl(conf, "groups", "create", "Sales")
    assert "exists" in ctl(conf, "groups", "create", "Staff", status=65)
    for bad in ("a:b", "x;y", " lead", "n" * 65, "tab\there"):
        ctl(conf, "groups", "create", bad, status=65)
    ctl(conf, "groups", "create", "ü" * 32)  # 64 bytes of UTF-8
    assert members(redis, f"{p}roster:groups") == sorted(["Sales", "Staff", "ü" * 32])
    # add: JIDs normalized with the jid module; all or nothing
    out = ctl(conf, "groups", "add", "Staff", "Alice@Example.ORG", "bob@example.org")
    assert "added 2 of 2" in out, out
    assert members(redis, f"{p}roster:members:Staff") == ["alice@example.org", "bob@example.org"]
    assert "added 0 of 1" in ctl(conf, "groups", "add", "Staff", "alice@example.org")
    for bad in ("example.org", "carol@example.org/phone", "a b@example.org", "@x"):
        ctl(conf, "groups", "add", "Staff", "carol@example.org", bad, status=65)
    assert "group_max" in ctl(conf, "groups", "add", "Staff", "c@example.org", "d@example.org",
                              status=65)
    ctl(conf, "groups", "add", "Nope", "c@example.org", status=66)
    assert members(redis, f"{p}roster:members:Staff") == ["alice@example.org", "bob@example.org"]
    ctl(conf, "groups", "add", "Sales", "carol@example.org")
    # display / undisplay
    assert "now displayed to Sales" in ctl(conf, "groups", "display", "Staff", "Sales")
    assert rcli(redis, "SMEMBERS", f"{p}roster:shown:Staff") == "Sales"
    ctl(conf, "groups", "display", "Staff", "Sales", status=65)
    ctl(conf, "groups", "display", "Staff", "Staff", status=65)
    ctl(conf, "groups", "display", "Staff", "Nope", status=66)
    ctl(conf, "groups", "display", "Sales", "Staff")
    ctl(conf, "groups", "undisplay", "Sales", "Staff")
    ctl(conf, "groups", "undisplay", "Sales", "Staff", status=66)
    # list and show
    table = rows(ctl(conf, "groups", "list"), "S")
    assert ["Sales", "1", ""] in table and ["Staff", "2", "Sales"] in table, table
    shown = ctl(conf, "groups", "show", "Staff")
    assert "members: 2\n  alice@example.org\n  bob@example.org\ndisplayed to:\n  Sales" in shown
    ctl(conf, "groups", "show", "Nope", status=66)
    # remove: every JID must be a member, else nothing changes
    ctl(conf, "groups", "remove", "Staff", "bob@example.org", "zed@example.org", status=66)
    assert members(redis, f"{p}roster:members:Staff") == ["alice@example.org", "bob@example.org"]
    ctl(conf, "groups", "remove", "Staff", "bad/jid", status=65)
    assert "removed 1 of 1" in ctl(conf, "groups", "remove", "Staff", "BOB@example.org")
    # delete: --yes; the group leaves every key, and every display to it
    ctl(conf, "groups", "display", "Sales", "Staff")
    ctl(conf, "groups", "delete", "Staff", status=64)
    assert "1 member" in ctl(conf, "groups", "delete", "Staff", "--yes")
    ctl(conf, "groups", "delete", "Staff", "--yes", status=66)
    assert "Staff" not in members(redis, f"{p}roster:groups")
    assert rcli(redis, "EXISTS", f"{p}roster:members:Staff", f"{p}roster:shown:Staff") == "0"
    assert rcli(redis, "SMEMBERS", f"{p}roster:shown:Sales") == ""
    # the audit log names stoactl's operator and each change
    audit = [x for x in rows(ctl(conf, "audit", "--count", "500"), "") if len(x) > 3]
    mine = [(x[2], x[3]) for x in audit if x[1] == ACTOR]
    for entry in [("roster-create", "Staff"), ("roster-add", "alice@example.org"),
                  ("roster-remove", "bob@example.org"), ("roster-display", "Staff"),
                  ("roster-undisplay", "Sales"), ("roster-delete", "Staff")]:
        assert entry in mine, (entry, mine)
    # usage errors
    ctl(conf, "groups", "add", "Sales", status=64)
    ctl(conf, "groups", "display", "Sales", status=64)
    ctl(conf, "groups", "create", status=64)
    rcli(redis, "DEL", f"{p}roster:groups", f"{p}roster:members:Sales", f"{p}roster:shown:Sales",
         f"{p}roster:members:" + "ü" * 32)
