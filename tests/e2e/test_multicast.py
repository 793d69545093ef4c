"""The host servers' fan-out expanders, on their own (docs/prosody.md and
docs/ejabberd.md, "The fan-out expander").

A trusted component sends one stanza to multicast.localhost with a bcc list
of recipients; the host delivers one copy to each, as if the component had
sent them one by one. On Prosody that is Stoa's own module
(contrib/prosody/mod_stoa_multicast.lua), on ejabberd mod_multicast with
`access` restricted to the trusted domain (contrib/config/). Neither may be
an open relay: a local user, another component and a remote server are
refused, and Prosody's module delivers to this server's users only.

The trusted component here is a raw XEP-0114 connection (rawcomponent.py),
so each test sends exactly the stanza it means to; Stoa's own use of the
expander is tested in test_fanout.py."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from conftest import HOST, started
from rawcomponent import RawComponent
from hostservers import render_config
from servers import Ejabberd, Prosody, chown_tree
from testbed import CertAuthority, Dnsmasq, RemoteProsody, loopback_base
from xmpp import Client, NS_CLIENT, body, error_condition

TRUSTED = "trusted.localhost"
OTHER = "other.localhost"
SECRET = "e2e-multicast-secret"
MULTICAST = f"multicast.{HOST}"
NS_ADDRESS = "http://jabber.org/protocol/address"
USERS = {"alice": "alice-mc-pw", "bob": "bob-mc-pw", "carol": "carol-mc-pw"}
ROOM = f"room@{TRUSTED}"


@pytest.fixture(scope="module", params=["prosody", "ejabberd"])
def host(request, state_root):
    d = state_root / f"multicast-{request.param}"
    if request.param == "prosody":
        s = Prosody(d, host=HOST, components={TRUSTED: SECRET, OTHER: SECRET}, users=USERS,
                    multicast=[TRUSTED])
        s.trusted_port = s.other_port = s.component_port
    else:
        # ejabberd routes a listener's domains to any of its connections: the
        # untrusted component gets a listener of its own.
        s = Ejabberd(d, host=HOST, components={TRUSTED: SECRET}, users=USERS,
                     extra_components={OTHER: SECRET}, multicast=[TRUSTED])
        s.trusted_port, s.other_port = s.component_port, s.component_ports[OTHER]
    started(s)
    yield s
    s.stop()


@pytest.fixture
def clients(host):
    made = {u: Client(f"{u}@{HOST}/mc", pw, host.c2s_port, available=True)
            for u, pw in USERS.items()}
    yield made
    for c in made.values():
        c.close()


@pytest.fixture
def trusted(host):
    c = RawComponent(host.trusted_port, TRUSTED, SECRET)
    yield c
    c.close()


def bcc(*jids: str) -> str:
    return (f"<addresses xmlns='{NS_ADDRESS}'>"
            + "".join(f"<address type='bcc' jid='{j}'/>" for j in jids) + "</addresses>")


def groupchat(frm: str, text: str, addresses: str, mid: str = "m1") -> str:
    return (f"<message from='{frm}' to='{MULTICAST}' type='groupchat' id='{mid}'>"
            f"<body>{text}</body>"
            f"<stanza-id xmlns='urn:xmpp:sid:0' id='sid-{mid}' by='{ROOM}'/>"
            f"<occupant-id xmlns='urn:xmpp:occupant-id:0' id='occ1'/>"
            f"{addresses}</message>")


def copies(c: Client, text: str):
    return [s for s in c.inbox if body(s) == text]


def settle(clients) -> None:
    """Every copy the server was going to deliver is in the inboxes: each
    client's round trip to the server comes after them."""
    for c in clients:
        c.pump(0.3)
        c.sync()


def test_disco_finds_the_expander(host, clients, trusted):
    alice = clients["alice"]
    items = alice.iq(HOST, "<query xmlns='http://jabber.org/protocol/disco#items'/>")
    jids = [i.get("jid") for i in items.iter("{http://jabber.org/protocol/disco#items}item")]
    assert MULTICAST in jids, ET.tostring(items, "unicode")
    # As Stoa asks it: from the component (ejabberd's answer depends on who
    # asks, a component being a "remote" sender).
    trusted.send(f"<iq type='get' id='d1' from='{TRUSTED}' to='{MULTICAST}'>"
                 "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
    info = trusted.wait_for(lambda s: s.get("id") == "d1", 10, "the disco#info result")
    assert info.get("type") == "result", ET.tostring(info, "unicode")
    feats = [f.get("var") for f in info.iter("{http://jabber.org/protocol/disco#info}feature")]
    assert NS_ADDRESS in feats, ET.tostring(info, "unicode")
    # How many addresses one stanza may hold (XEP-0128), which Stoa splits
    # its lists by: configured past ejabberd's default of 20.
    limits = {f.get("var"): f.findtext("{jabber:x:data}value")
              for f in info.iter("{jabber:x:data}field")}
    assert limits.get("FORM_TYPE") == NS_ADDRESS, ET.tostring(info, "unicode")
    assert limits.get("message") in ("infinite", "20000"), limits


def test_each_recipient_gets_one_copy(host, clients, trusted):
    alice, bob, carol = clients["alice"], clients["bob"], clients["carol"]
    trusted.send(groupchat(f"{ROOM}/nick", "once each", bcc(alice.full_jid, bob.full_jid)))
    settle([alice, bob, carol])
    for c in (alice, bob):
        got = copies(c, "once each")
        assert len(got) == 1, [ET.tostring(s, "unicode") for s in got]
        m = got[0]
        assert m.get("from") == f"{ROOM}/nick" and m.get("to") == c.full_jid
        assert m.get("type") == "groupchat" and m.get("id") == "m1"
        # The ids every Stoa copy carries arrive as sent; nobody learns who
        # else was on the list.
        sid = m.find("{urn:xmpp:sid:0}stanza-id")
        assert sid is not None and sid.get("id") == "sid-m1" and sid.get("by") == ROOM
        assert m.find("{urn:xmpp:occupant-id:0}occupant-id").get("id") == "occ1"
        assert not list(m.iter(f"{{{NS_ADDRESS}}}address")), ET.tostring(m, "unicode")
    assert copies(carol, "once each") == []


def test_copies_are_the_stanza_as_sent(host, clients, trusted):
    """Escaped text and attributes, a language, nested children in other
    namespaces: each copy says what the one stanza said."""
    alice, bob = clients["alice"], clients["bob"]
    text = "a <b> & 'c' \"d\" \u00e9"
    trusted.send(f"<message from='{ROOM}/n&apos;k' to='{MULTICAST}' type='groupchat' id='e&amp;1'"
                 f" xml:lang='fr'><body>a &lt;b&gt; &amp; 'c' \"d\" \u00e9</body>"
                 "<x xmlns='urn:example:x'><y a='1&apos;'>t<z/></y></x>"
                 f"{bcc(alice.full_jid, bob.full_jid)}</message>")
    for c in (alice, bob):
        m = c.wait_for(lambda s: body(s) == text, 10, "the copy")
        assert m.get("from") == f"{ROOM}/n'k" and m.get("id") == "e&1", ET.tostring(m, "unicode")
        assert m.get("{http://www.w3.org/XML/1998/namespace}lang") == "fr"
        y = m.find("{urn:example:x}x/{urn:example:x}y")
        assert y is not None and y.get("a") == "1'" and y.text == "t"
        assert y.find("{urn:example:x}z") is not None


def test_identical_presence_goes_the_same_way(host, clients, trusted):
    alice, bob = clients["alice"], clients["bob"]
    trusted.send(f"<presence from='{ROOM}/newcomer' to='{MULTICAST}'>"
                 "<x xmlns='http://jabber.org/protocol/muc#user'>"
                 "<item affiliation='none' role='participant'/></x>"
                 f"{bcc(alice.full_jid, bob.full_jid)}</presence>")
    for c in (alice, bob):
        p = c.wait_for(lambda s: s.get("from") == f"{ROOM}/newcomer", 10, "the presence")
        assert p.tag == f"{{{NS_CLIENT}}}presence" and p.get("type") is None
        assert not list(p.iter(f"{{{NS_ADDRESS}}}address"))
    settle([alice, bob])
    assert not [s for c in (alice, bob) for s in c.inbox
                if s.get("from") == f"{ROOM}/newcomer"], "a second copy"


def test_more_addresses_than_the_default_limit(host, clients, trusted):
    # ejabberd limits a "remote" sender (a component is one) to 20 addresses
    # unless `limits` says otherwise; the configuration lifts it.
    alice, bob = clients["alice"], clients["bob"]
    jids = [alice.full_jid, bob.full_jid] * 15
    trusted.send(groupchat(f"{ROOM}/nick", "thirty", bcc(*jids), "m30"))
    settle([alice, bob])
    assert len(copies(alice, "thirty")) == 15 and len(copies(bob, "thirty")) == 15


def refused(c, condition: str, what: str):
    e = c.wait_for(lambda s: s.get("type") == "error" and s.get("from") == MULTICAST, 10,
                   f"the error for {what}")
    assert error_condition(e) == condition, ET.tostring(e, "unicode")


def test_a_local_user_is_refused(host, clients):
    alice, bob = clients["alice"], clients["bob"]
    alice.send_raw(f"<message to='{MULTICAST}' type='chat' id='u1'><body>relay me</body>"
                   f"{bcc(bob.full_jid)}</message>")
    refused(alice, "forbidden", "a user's multicast")
    settle([bob])
    assert copies(bob, "relay me") == []


def test_another_component_is_refused(host, clients):
    bob = clients["bob"]
    with RawComponent(host.other_port, OTHER, SECRET) as other:
        other.send(f"<message from='x@{OTHER}/y' to='{MULTICAST}' type='chat' id='o1'>"
                   f"<body>relay me too</body>{bcc(bob.full_jid)}</message>")
        e = other.wait_for(lambda s: s.get("type") == "error", 10, "the error")
        assert e.find("{*}error/{urn:ietf:params:xml:ns:xmpp-stanzas}forbidden") is not None, \
            ET.tostring(e, "unicode")
    settle([bob])
    assert copies(bob, "relay me too") == []


@pytest.mark.parametrize("host", ["prosody"], indirect=True)
def test_prosody_tells_only_the_trusted_it_expands(host, clients):
    """Another component, or a user, that asks Stoa's module what it is is
    not told it takes XEP-0033: a Stoa domain it does not trust would send
    it broadcasts only to have them refused."""
    info = clients["alice"].iq(MULTICAST, "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    feats = [f.get("var") for f in info.iter("{http://jabber.org/protocol/disco#info}feature")]
    assert info.get("type") == "result" and NS_ADDRESS not in feats, ET.tostring(info, "unicode")
    with RawComponent(host.other_port, OTHER, SECRET) as other:
        other.send(f"<iq type='get' id='d2' from='{OTHER}' to='{MULTICAST}'>"
                   "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
        info = other.wait_for(lambda s: s.get("id") == "d2", 10, "the disco#info result")
    feats = [f.get("var") for f in info.iter("{http://jabber.org/protocol/disco#info}feature")]
    assert info.get("type") == "result" and NS_ADDRESS not in feats, ET.tostring(info, "unicode")


@pytest.mark.parametrize("host", ["prosody"], indirect=True)
@pytest.mark.parametrize("elsewhere", ["someone@remote.example/r", f"x@{OTHER}/y", OTHER,
                                       f"{TRUSTED}"])
def test_prosody_delivers_to_its_own_users_only(host, clients, trusted, elsewhere):
    """Stoa's module refuses the whole stanza when one address is not a user
    of this server (a remote domain, a component, a bare domain): nothing is
    delivered, not even to the local users on the list. (ejabberd's
    mod_multicast relays to other servers for a sender it allows; Stoa puts
    only the host's own users on its lists, docs/ejabberd.md.)"""
    alice = clients["alice"]
    trusted.send(groupchat(f"{ROOM}/nick", "not for export", bcc(alice.full_jid, elsewhere),
                           "x1"))
    e = trusted.wait_for(lambda s: s.get("type") == "error" and s.get("id") == "x1", 10,
                         "the error")
    assert e.find("{*}error/{urn:ietf:params:xml:ns:xmpp-stanzas}not-allowed") is not None, \
        ET.tostring(e, "unicode")
    settle([alice])
    assert copies(alice, "not for export") == []


def test_offline_recipient_bounces_to_the_sender(host, clients, trusted):
    """A session that is gone gets the error a copy sent on its own would
    get, back to the component (which takes the occupant out of the room)."""
    alice = clients["alice"]
    gone = f"bob@{HOST}/no-such-session"
    trusted.send(groupchat(f"{ROOM}/nick", "one gone", bcc(alice.full_jid, gone), "g1"))
    e = trusted.wait_for(lambda s: s.get("type") == "error" and s.get("from") == gone, 10,
                         "the bounce")
    assert e.get("to") == f"{ROOM}/nick", ET.tostring(e, "unicode")
    settle([alice])
    assert len(copies(alice, "one gone")) == 1


# ---- a remote server (s2s) ----

HOME = "home.test"
FAR = "remote.test"


@pytest.fixture(scope="module")
def federated(state_root):
    """Two real Prosodys federating by s2s (testbed.py: the run's CA and
    DNS): home.test with the expander at multicast.home.test, remote.test."""
    base = loopback_base()
    d = state_root / "multicast-s2s"
    ca = CertAuthority(d / "ca")
    dns = Dnsmasq(d / "dns", f"{base}.5")
    plugins = d / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    (plugins / "mod_stoa_multicast.lua").write_text(render_config("test", "multicast"))
    chown_tree(plugins, "prosody")
    home = RemoteProsody(d / "home", f"{base}.2", dns.resolv_conf(),
                         ca.issue("home", [HOME, f"multicast.{HOME}"]), ca.cert, host=HOME,
                         users=USERS, plugin_paths=[plugins],
                         extra=f'\nComponent "multicast.{HOME}" "stoa_multicast"\n'
                               f'    stoa_multicast_senders = {{ "rooms.{HOME}" }}\n')
    home.name = "home-prosody"
    far = RemoteProsody(d / "far", f"{base}.3", dns.resolv_conf(), ca.issue("far", [FAR]),
                        ca.cert, host=FAR, users=USERS)
    for p, a, names in ((home, f"{base}.2", [HOME, f"multicast.{HOME}"]),
                        (far, f"{base}.3", [FAR])):
        for n in names:
            dns.host(n, a)
            dns.srv("_xmpp-server", n, n, p.s2s_port)
    for p in (dns, home, far):
        started(p)
    yield home, far
    for p in (far, home, dns):
        p.stop()


def test_a_remote_server_is_refused(federated):
    home, far = federated
    alice = Client(f"alice@{HOME}/mc", USERS["alice"], home.c2s_port, host=home.addr,
                   available=True)
    bob = Client(f"bob@{FAR}/mc", USERS["bob"], far.c2s_port, host=far.addr, available=True)
    try:
        bob.send_raw(f"<message to='multicast.{HOME}' type='chat' id='r1'>"
                     f"<body>relay from afar</body>{bcc(alice.full_jid)}</message>")
        # The first stanza waits for DNS and both s2s streams.
        e = bob.wait_for(lambda s: s.get("type") == "error" and s.get("id") == "r1", 30,
                         "the error from the other server")
        assert e.get("from") == f"multicast.{HOME}", ET.tostring(e, "unicode")
        assert error_condition(e) == "forbidden", ET.tostring(e, "unicode")
        settle([alice])
        assert copies(alice, "relay from afar") == []
        assert "not a trusted sender" in (home.dir / "prosody.log").read_text(errors="replace")
    finally:
        bob.close()
        alice.close()
