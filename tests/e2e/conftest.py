"""Session fixtures: each real server starts once per test run.

Environment:
  STOA_COMPONENT   the stoa-component binary (default build/asan/component/stoa-component)
  STOA_E2E_DIR     where the run's state directories go (default .state/e2e)
  STOA_TEST_LOGS   where every server log is copied at the end (default .state/test-logs)
  STOA_E2E_KEEP=1  keep the run's state directories (data, configs) after the run
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import pytest

sys.dont_write_bytecode = True  # tests/e2e is distributed: keep __pycache__ out of it
sys.path.insert(0, str(Path(__file__).resolve().parent))

from xmpp import Client  # noqa: E402
from servers import (  # noqa: E402
    ROOT,
    Component,
    Ejabberd,
    Process,
    Prosody,
    Redis,
    ServerError,
    component_binary,
    free_port,
)

DOMAIN = "rooms.localhost"
HOST = "localhost"
SECRET = "e2e-component-secret"
USERS = {"alice": "alice-e2e-pw", "bob": "bob-e2e-pw", "carol": "carol-e2e-pw",
         "dave": "dave-e2e-pw", "eve": "eve-e2e-pw", "listkeeper": "listkeeper-e2e-pw"}

# Component domains of their own for test_safety.py, which needs components
# with its own limits (and two at once) beside the shared one.
SAFETY_DOMAINS = ("safety.localhost", "safety2.localhost")
# test_rtbl.py: the host server's own pubsub service plays a block-list
# publisher (xmppbl.org), whose nodes listkeeper keeps; a component of its
# own subscribes.
PUBSUB = "pubsub.localhost"
RTBL_DOMAIN = "rtbl.localhost"
# XEP-0157 abuse addresses of the host (test_desk_forward.py): a person, and
# the shared stack's Stoa desk, which reads forwarded reports.
ABUSE_ADDRESSES = [f"xmpp:eve@{HOST}", f"xmpp:{DOMAIN}"]
RATE_CLASSES = ("room_message", "private_message", "join", "presence", "invite", "report", "other")

_started: List[Process] = []


def pytest_report_header(config):
    return [f"stoa-component: {component_binary()}"]


def _on_sigterm(signum, frame):
    # Turn SIGTERM (CI timeout, kill) into the same orderly teardown as Ctrl-C,
    # so no server outlives the run.
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config):
    signal.signal(signal.SIGTERM, _on_sigterm)
    atexit.register(_stop_all)  # last resort if teardown never ran


def searchable_by_all(path: Path) -> bool:
    """Whether every existing ancestor of path lets other users through."""
    for d in [path, *path.parents]:
        if d.exists() and not d.stat().st_mode & 0o001:
            return False
    return True


@pytest.fixture(scope="session")
def state_root():
    if "STOA_E2E_DIR" in os.environ:
        base = Path(os.environ["STOA_E2E_DIR"])
    elif searchable_by_all(ROOT):
        base = ROOT / ".state" / "e2e"
    else:
        # Prosody and ejabberd run as their own users and could not reach a
        # state directory inside this tree (e.g. a clone under /root).
        base = Path(tempfile.gettempdir()) / f"stoa-e2e-{os.getuid()}"
    base.mkdir(parents=True, exist_ok=True)
    run = base / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    run.mkdir()
    # Prosody and ejabberd run as their own users: they must reach their dirs
    # (only the directories made here are changed).
    for d in [run, *run.parents]:
        if d == ROOT or d == Path(tempfile.gettempdir()) or d == Path("/"):
            break
        mode = d.stat().st_mode
        if mode & 0o005 != 0o005:
            d.chmod(mode | 0o005)
    yield run
    keep = Path(os.environ.get("STOA_TEST_LOGS", ROOT / ".state" / "test-logs"))
    dest = keep / run.name
    dest.mkdir(parents=True, exist_ok=True)
    for p in run.rglob("*"):
        if p.is_file() and (p.suffix in (".log", ".conf", ".lua", ".yml", ".cfg")):
            target = dest / p.relative_to(run)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(p, target)
    print(f"\n[e2e] logs kept in {dest}")
    if not os.environ.get("STOA_E2E_KEEP"):
        _stop_all()  # nothing may still write there
        shutil.rmtree(run, ignore_errors=True)


def _stop_all():
    for p in reversed(_started):
        try:
            if p.running():
                p.stop()
        except Exception as e:  # keep stopping the others
            print(f"[e2e] stopping {p.name}: {e}")


@pytest.fixture(scope="session", autouse=True)
def _stop_everything_at_exit():
    yield
    _stop_all()


def started(p: Process) -> Process:
    _started.append(p)
    p.start()
    return p


@pytest.fixture(scope="session")
def redis(state_root):
    r = Redis(state_root / "redis")
    started(r)
    yield r
    r.stop()


@pytest.fixture
def own_redis(state_root, request):
    """A Redis of the test's own, which it may stop, pause or restart."""
    tag = request.node.name.replace("/", "_").replace("[", "-").replace("]", "")
    r = Redis(state_root / f"redis-{tag}")
    started(r)
    yield r
    if r.running():
        r.stop()


@pytest.fixture(scope="session")
def prosody(state_root):
    comps = {DOMAIN: SECRET, **{d: SECRET for d in (*SAFETY_DOMAINS, RTBL_DOMAIN)}}
    p = Prosody(state_root / "prosody", host=HOST, components=comps, users=USERS,
                report_to=DOMAIN, pubsub=PUBSUB, pubsub_admin=f"listkeeper@{HOST}",
                contact_abuse=ABUSE_ADDRESSES)
    started(p)
    yield p
    p.stop()


@pytest.fixture(scope="session")
def ejabberd(state_root):
    e = Ejabberd(state_root / "ejabberd", host=HOST, components={DOMAIN: SECRET}, users=USERS,
                 report_to=DOMAIN, pubsub=PUBSUB, contact_abuse=ABUSE_ADDRESSES,
                 extra_components={d: SECRET for d in (*SAFETY_DOMAINS, RTBL_DOMAIN)})
    started(e)
    yield e
    e.stop()


def finish_component(c: Component) -> None:
    """Stops a component and checks it ended well: exit status 0 on SIGTERM
    and no sanitizer report in its log."""
    if c.proc is None:
        return
    was_running = c.running()
    status = c.stop()
    reports = c.sanitizer_reports()
    assert not reports, c.describe_failure("sanitizer reports:\n" + "\n".join(reports))
    if was_running:
        assert status == 0, c.describe_failure(f"exit status {status} after SIGTERM, expected 0")


@pytest.fixture
def component_factory(state_root, request):
    """Makes components that are stopped (and checked) after the test."""
    made: List[Component] = []

    def make(settings: Dict[str, Dict[str, str]], name: str = "component", **kw) -> Component:
        tag = f"{request.node.name}".replace("/", "_").replace("[", "-").replace("]", "")
        d = state_root / "components" / f"{tag}-{name}-{len(made)}"
        c = Component(d, settings, name=name, **kw)
        made.append(c)
        _started.append(c)
        c.start()
        return c

    yield make
    errors = []
    for c in made:
        try:
            finish_component(c)
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n\n".join(errors)


@dataclass
class Stack:
    kind: str
    server: Process
    component: Component
    c2s_port: int
    component_port: int
    users: Dict[str, str]
    metrics_port: int
    domain: str = DOMAIN
    host: str = HOST
    secret: str = SECRET

    def jid(self, user: str) -> str:
        return f"{user}@{self.host}"


def component_settings(server_port: int, redis_port: int, **component) -> Dict[str, Dict[str, str]]:
    s = {
        "component": {"domain": DOMAIN, "secret": SECRET, "server_port": server_port,
                      "keepalive": "30s", "reconnect_min": "250ms", "reconnect_max": "2s"},
        "redis": {"enabled": "true", "port": redis_port},
        "log": {"level": "debug"},
    }
    s["component"].update({k: str(v) for k, v in component.items()})
    return s


@pytest.fixture(scope="session", params=["prosody", "ejabberd"])
def stack(request, state_root, redis):
    """A host server (Prosody or ejabberd) with stoa-component attached."""
    server = request.getfixturevalue(request.param)
    settings = component_settings(server.component_port, redis.port, reconnect_max="5s")
    # Both stacks share one Redis: a prefix each keeps the rooms one stack
    # persists out of the other's component.
    settings["redis"]["prefix"] = f"stoa-{request.param}:"
    # The shared component serves the room tests: every stanza still passes
    # the safety gate (one Redis round trip each), but with no rate limit
    # and links delivered. test_safety.py tests limits and policies on
    # components of its own (SAFETY_DOMAINS).
    settings["ratelimit"] = {f"{c}_{scope}interval": "0" for c in RATE_CLASSES
                             for scope in ("", "domain_")}
    settings["links"] = {"policy": "deliver"}
    # The abuse desk (test_desk.py): dave moderates; the host server may
    # forward its users' blocking requests.
    settings["desk"] = {"moderators": f"dave@{HOST}", "report_servers": HOST}
    # The metrics and health endpoint (test_metrics.py).
    metrics_port = free_port()
    settings["metrics"] = {"port": str(metrics_port)}
    c = Component(state_root / f"component-{request.param}", settings,
                  name=f"component-{request.param}")
    _started.append(c)
    c.start()
    t0 = time.monotonic()
    c.wait_log(rf"component link ready: {DOMAIN} via 127\.0\.0\.1:{server.component_port}", 15)
    print(f"[e2e] component attached to {request.param} in {time.monotonic() - t0:.2f}s")
    yield Stack(request.param, server, c, server.c2s_port, server.component_port, USERS,
                metrics_port)
    finish_component(c)


@pytest.fixture
def connect(stack):
    """Logs real users of the stack's server in (available, as clients are);
    every client is closed after the test. connect("alice", "phone") binds
    that resource."""
    made: List[Client] = []

    def make(user: str, resource: str = "") -> Client:
        jid = stack.jid(user) + (f"/{resource}" if resource else "")
        c = Client(jid, stack.users[user], stack.c2s_port, available=True)
        made.append(c)
        return c

    yield make
    for c in reversed(made):
        c.close()


__all__ = ["Stack", "ServerError", "component_settings", "DOMAIN", "HOST", "SECRET", "USERS",
           "SAFETY_DOMAINS", "RATE_CLASSES", "PUBSUB", "RTBL_DOMAIN",
           "ABUSE_ADDRESSES"]
