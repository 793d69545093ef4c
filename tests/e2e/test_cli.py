"""The daemon's command line: --version, -t, and configuration errors."""

from __future__ import annotations

import subprocess

from servers import ROOT, component_binary, package_version, write_component_config


def run(*args, timeout=20):
    return subprocess.run([str(component_binary()), *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_version():
    r = run("--version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"stoa-component {package_version()}"


def test_example_config_is_valid(tmp_path):
    # Installed as a private copy: the example itself is world-readable
    # (test_secrets.py: such a file is refused).
    conf = tmp_path / "example.conf"
    conf.write_bytes((ROOT / "component" / "stoa-component.conf.example").read_bytes())
    conf.chmod(0o600)
    r = run("-t", "-c", str(conf))
    assert r.returncode == 0, r.stdout + r.stderr


def test_check_only_good_config(tmp_path):
    conf = tmp_path / "good.conf"
    write_component_config(conf, {"component": {"secret": "SuperSecretValue42"}})
    r = run("-t", "-c", str(conf))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SuperSecretValue42" not in r.stdout + r.stderr, "secret echoed"


def test_unknown_key_is_config_error(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("[component]\ndomain = rooms.localhost\nsecret = x\nsecert = y\n")
    for args in (["-t", "-c", str(conf)], ["-c", str(conf)]):
        r = run(*args)
        assert r.returncode == 78, f"{args}: exit {r.returncode}: {r.stderr}"
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, r.stderr
        assert lines[0].startswith(f"stoa-component: {conf}:4:"), lines[0]
        assert "secert" in lines[0]


def test_missing_secret_is_config_error(tmp_path):
    conf = tmp_path / "nosecret.conf"
    conf.write_text("[component]\ndomain = rooms.localhost\n")
    r = run("-t", "-c", str(conf))
    assert r.returncode == 78, r.stderr
    assert r.stderr.startswith(f"stoa-component: {conf}"), r.stderr
    assert "secret" in r.stderr


def test_bad_value_is_config_error(tmp_path):
    conf = tmp_path / "badval.conf"
    conf.write_text("[component]\ndomain = rooms.localhost\nsecret = x\nserver_port = 70000\n")
    r = run("-t", "-c", str(conf))
    assert r.returncode == 78, r.stderr
    assert r.stderr.startswith(f"stoa-component: {conf}:4:"), r.stderr


def test_missing_file_is_config_error(tmp_path):
    r = run("-t", "-c", str(tmp_path / "absent.conf"))
    assert r.returncode == 78, r.stderr
    assert "absent.conf" in r.stderr
