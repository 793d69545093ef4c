"""The configuration file holds the component secret and the Redis
password: stoa-component refuses one that users other than its owner and
the daemon's own group can read (exit 78, EX_CONFIG), at start, with -t,
and on SIGHUP (then it keeps the running configuration). Debian ships such
files root:<daemon group> 0640; docs/configuration.md."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from fakeserver import FakeServer
from servers import component_binary, write_component_config
from test_component_link import DOMAIN, SECRET

PASSWORD = "RedisPassword-e2e-42"


def run(*args, timeout=20):
    return subprocess.run([str(component_binary()), *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def conf_with_secrets(path):
    write_component_config(path, {"component": {"secret": "SuperSecretValue42"},
                                  "redis": {"password": PASSWORD}})
    return path


@pytest.mark.parametrize("mode,verb", [(0o644, "read"), (0o604, "read"), (0o602, "change")])
def test_file_others_can_use_is_refused(tmp_path, mode, verb):
    conf = conf_with_secrets(tmp_path / "open.conf")
    conf.chmod(mode)
    for args in (["-t", "-c", str(conf)], ["-c", str(conf)]):
        r = run(*args)
        assert r.returncode == 78, f"{args}: exit {r.returncode}: {r.stdout}{r.stderr}"
        lines = r.stderr.strip().splitlines()
        assert lines == [
            f"stoa-component: {conf} holds [component] secret, but every user of this machine "
            f"may {verb} it (mode {mode:04o}): chmod 0600, or 0640 with the group the daemon "
            "runs as (chown root:<its group>)"], r.stderr
        assert "SuperSecretValue42" not in r.stdout + r.stderr
        assert PASSWORD not in r.stdout + r.stderr


def test_owner_and_own_group_may_read(tmp_path):
    conf = conf_with_secrets(tmp_path / "private.conf")
    for mode in (0o600, 0o400, 0o640, 0o660):
        conf.chmod(mode)
        r = run("-t", "-c", str(conf))
        assert r.returncode == 0, f"mode {mode:04o}: {r.stdout}{r.stderr}"


def test_another_group_is_refused(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("needs root to give the file to another group (tests/run runs as root)")
    conf = conf_with_secrets(tmp_path / "group.conf")
    conf.chmod(0o640)
    os.chown(conf, -1, 65534)  # nogroup: not the group the daemon runs as
    r = run("-t", "-c", str(conf))
    assert r.returncode == 78, r.stdout + r.stderr
    assert "but the members of group nogroup may read it (mode 0640)" in r.stderr, r.stderr


def test_reload_refuses_a_file_opened_up(tmp_path, component_factory):
    fake = FakeServer(domain=DOMAIN, secret=SECRET)
    try:
        comp = component_factory({
            "component": {"domain": DOMAIN, "secret": SECRET, "server_port": fake.port},
            "redis": {"enabled": "false"},
            "log": {"level": "info"},
        })
        link = fake.accept(timeout=15)
        link.handshake()
        comp.wait_log(r"component link ready", 10)
        mark = comp.mark()
        comp.config_path.chmod(0o644)
        comp.signal(signal.SIGHUP)
        comp.wait_log(r"ERROR .*reload failed, keeping the running configuration: .* holds "
                      r"\[component\] secret, but every user of this machine may read it", 10,
                      since=mark)
        assert comp.running()
        comp.config_path.chmod(0o600)
        mark = comp.mark()
        comp.signal(signal.SIGHUP)
        comp.wait_log(r"configuration reloaded from", 10, since=mark)
        assert SECRET not in comp.text()
    finally:
        fake.close()
