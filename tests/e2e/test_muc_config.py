"""Chat rooms (XEP-0045) end to end: room configuration forms (from slixmpp
too), the room directory and the channel search (XEP-0433).
mucutil.py says how these tests work and holds what they share.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional

from mucutil import (
    DEFAULT_TOPICS,
    NS_DISCO_INFO,
    NS_DISCO_ITEMS,
    NS_ROOMCONFIG,
    NS_ROOMINFO,
    NS_RSM,
    NS_SEARCH,
    NS_SEARCH_ERRORS,
    NS_SEARCH_PARAMS,
    assert_error,
    assert_result,
    configure,
    create_room,
    disco_info,
    disco_items,
    form,
    items_of,
    local,
    message_from,
    new_room,
    presence_from,
    room_info,
    say,
)
from xmpp import Client, NS_CLIENT, NS_DATA, NS_MUC_OWNER, dump, item_attrs, status_codes


def test_configure_with_slixmpp_forms(stack, connect):
    """slixmpp's XEP-0045 plugin reads the form and submits it back: the
    form must be one a real client library understands."""
    alice, bob = connect("alice"), connect("bob")
    for plugin in ("xep_0004", "xep_0045"):
        alice.xmpp.register_plugin(plugin)
    room = new_room(stack, "slixform")
    create_room(alice, room)
    bob.join(room, "Bob")
    muc = alice.xmpp.plugin["xep_0045"]
    f = alice.run(muc.get_room_config(room, timeout=10))
    fields = f.get_fields()
    assert fields["muc#roomconfig_publicroom"]["type"] == "boolean"
    assert fields["muc#roomconfig_publicroom"]["value"] is True
    assert fields["x-stoa#topic"]["type"] == "list-single"
    assert [o["value"] for o in fields["x-stoa#topic"]["options"]] == [""] + DEFAULT_TOPICS
    assert fields["muc#roomconfig_whois"]["value"] == "moderators"
    answer = f.__class__()
    answer["type"] = "submit"
    answer.add_field(var="FORM_TYPE", ftype="hidden", value=NS_ROOMCONFIG)
    answer.add_field(var="muc#roomconfig_roomname", value="Slix Room")
    answer.add_field(var="muc#roomconfig_roomdesc", value="configured by slixmpp")
    answer.add_field(var="x-stoa#topic", value="music")
    answer.add_field(var="muc#roomconfig_whois", value="anyone")
    alice.clear()
    alice.run(muc.set_room_config(room, answer, timeout=10))
    # Real JIDs just became visible to everyone: 104 and 172.
    for c in (alice, bob):
        m = c.wait_for(message_from(room, "groupchat"), 10, "config change notice")
        assert status_codes(m) == ["104", "172"], dump(m)
    info = room_info(bob, room)
    assert info["identities"] == [("conference", "text", "Slix Room")], info
    assert info["fields"]["muc#roominfo_description"] == "configured by slixmpp"
    assert info["fields"]["x-stoa#topic"] == "music"
    assert "muc_nonanonymous" in info["features"], info
    # Now everyone sees real JIDs, and a newcomer is told so (100).
    carol = connect("carol")
    jc = carol.join(room, "Carol")
    assert jc.codes == ["110", "100"], jc.dump()
    pb = [s for s in jc.others if s.get("from") == f"{room}/Bob"][0]
    assert item_attrs(pb)["jid"] == bob.full_jid, dump(pb)
    p = bob.wait_for(presence_from(f"{room}/Carol"), 10, "Carol's arrival")
    assert item_attrs(p)["jid"] == carol.full_jid and "110" not in status_codes(p), dump(p)


def test_slixmpp_join_muc_wait(stack, connect):
    """slixmpp's own join (XEP-0045 plugin) completes: it waits for the
    self-presence, then the subject, gathering occupants and history."""
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "slixjoin")
    create_room(alice, room)
    say(alice, room, "first")
    say(alice, room, "second")
    bob.xmpp.register_plugin("xep_0045")
    pres, subject, occupants, history = bob.run(
        bob.xmpp.plugin["xep_0045"].join_muc_wait(room, "Bob", maxstanzas=1, timeout=10))
    assert pres["type"] == "available" and pres["from"] == f"{room}/Bob"
    assert "110" in [str(c) for c in pres["muc"]["status_codes"]], pres
    assert f"{room}/Alice" in [str(o["from"]) for o in occupants]
    assert [m["body"] for m in history] == ["second"]
    assert subject["from"] == room and subject["subject"] == ""


def test_config_form_garbage_refused(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "garbage")
    create_room(alice, room, fields={"muc#roomconfig_roomname": "Before"})
    for var, value in (("muc#roomconfig_maxusers", "-5"),
                       ("muc#roomconfig_maxusers", "lots"),
                       ("muc#roomconfig_publicroom", "maybe"),
                       ("muc#roomconfig_whois", "participants"),
                       ("muc#roomconfig_allowpm", "everybody"),
                       ("x-stoa#topic", "knitting"),
                       ("muc#maxhistoryfetch", "5000"),
                       ("muc#roomconfig_roomname", "x" * 1025)):
        fields = {"muc#roomconfig_roomname": "After"}
        fields[var] = value  # a good field beside the bad one
        r = configure(alice, room, fields)
        assert_error(r, "not-acceptable", "modify", frm=room,
                     text=f"unacceptable value for {var}")
    # Refused forms change nothing.
    assert room_info(bob, room)["identities"] == [("conference", "text", "Before")]
    # Neither does a non-owner's form, nor a form of another type.
    r = bob.iq(room, f"<query xmlns='{NS_MUC_OWNER}'>"
                     f"{form({'muc#roomconfig_roomname': 'Bob'})}</query>", "set")
    assert_error(r, "forbidden", "auth", frm=room)
    r = alice.iq(room, f"<query xmlns='{NS_MUC_OWNER}'>"
                       f"{form({'muc#roomconfig_roomname': 'X'}, 'urn:example:other')}</query>",
                 "set")
    assert_error(r, "bad-request", "modify", frm=room)
    assert room_info(bob, room)["identities"] == [("conference", "text", "Before")]


def test_directory(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    tag = secrets.token_hex(3)
    football = f"football-{tag}@{stack.domain}"
    hidden = f"hidden-{tag}@{stack.domain}"
    cinema = f"cinema-{tag}@{stack.domain}"
    locked = f"locked-{tag}@{stack.domain}"
    create_room(alice, football, fields={"muc#roomconfig_roomname": "Football Fans",
                                         "x-stoa#topic": "sports",
                                         "muc#roomconfig_roomdesc": "Matches & gossip"})
    create_room(alice, hidden, fields={"muc#roomconfig_publicroom": "0",
                                       "x-stoa#topic": "sports"})
    create_room(alice, cinema, fields={"x-stoa#topic": "movies"})
    assert alice.join(locked, "Alice").codes == ["110", "201"]  # never configured

    mine = lambda items: sorted((i for i in items if tag in i.get("jid", "")),  # noqa: E731
                                key=lambda i: i["jid"])
    r = disco_items(bob, stack.domain)
    assert_result(r, stack.domain)
    # Each name carries the occupant count; Bob joining football shows in it.
    assert mine(items_of(r)) == [{"jid": cinema, "name": f"{local(cinema)} (1)"},
                                 {"jid": football, "name": "Football Fans (1)"}], dump(r)
    bob.join(football, "Bob")
    r = disco_items(bob, stack.domain)
    assert {"jid": football, "name": "Football Fans (2)"} in mine(items_of(r)), dump(r)
    r = disco_items(bob, stack.domain, "topics")
    assert_result(r, stack.domain)
    assert r.find(f"{{{NS_DISCO_ITEMS}}}query").get("node") == "topics"
    assert items_of(r) == [{"jid": stack.domain, "node": f"topic/{t}", "name": t}
                           for t in DEFAULT_TOPICS], dump(r)
    r = disco_items(bob, stack.domain, "topic/sports")
    assert_result(r, stack.domain)
    assert mine(items_of(r)) == [{"jid": football, "name": "Football Fans (2)"}], dump(r)
    r = disco_items(bob, stack.domain, "topic/movies")
    assert mine(items_of(r)) == [{"jid": cinema, "name": f"{local(cinema)} (1)"}], dump(r)
    assert_error(disco_items(bob, stack.domain, "topic/knitting"), "item-not-found", "cancel",
                 frm=stack.domain)

    info = room_info(bob, football)
    assert info["identities"] == [("conference", "text", "Football Fans")], info
    assert "muc_public" in info["features"] and "muc_hidden" not in info["features"]
    assert info["x_type"] == "result"
    assert info["fields"]["FORM_TYPE"] == NS_ROOMINFO, info
    assert info["fields"]["muc#roominfo_description"] == "Matches & gossip", info
    assert info["fields"]["muc#roominfo_occupants"] == "2", info
    assert info["fields"]["x-stoa#topic"] == "sports", info
    assert "muc_hidden" in room_info(bob, hidden)["features"]
    # The service advertises rooms and search.
    r = disco_info(bob, stack.domain)
    feats = [f.get("var") for f in r.iter(f"{{{NS_DISCO_INFO}}}feature")]
    for f in ("http://jabber.org/protocol/muc", NS_SEARCH, "urn:xmpp:occupant-id:0"):
        assert f in feats, feats


def search(client: Client, domain: str, fields: Optional[Dict[str, str]] = None,
           rsm: str = "", itype: str = "set") -> ET.Element:
    x = form(fields, NS_SEARCH_PARAMS) if fields is not None else ""
    return client.iq(domain, f"<search xmlns='{NS_SEARCH}'>{rsm}{x}</search>", itype)


def search_items(r: ET.Element) -> List[Dict[str, object]]:
    res = r.find(f"{{{NS_SEARCH}}}result")
    assert res is not None, dump(r)
    out = []
    for it in res.findall(f"{{{NS_SEARCH}}}item"):
        d: Dict[str, object] = {"address": it.get("address")}
        for child in it:
            name = child.tag.split("}", 1)[1]
            d[name] = True if name == "is-open" else child.text
        out.append(d)
    return out


def test_channel_search(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    word = "zq" + secrets.token_hex(3)
    football = f"football-{word}@{stack.domain}"
    films = f"films-{word}@{stack.domain}"
    create_room(alice, football, fields={"muc#roomconfig_roomname": f"Weekend football {word}",
                                         "x-stoa#topic": "sports"})
    create_room(alice, films, fields={"muc#roomconfig_roomdesc": f"Weekend cinema {word}",
                                      "x-stoa#topic": "movies",
                                      "muc#roomconfig_lang": "en"})
    bob.join(films, "Bob")

    r = search(bob, stack.domain, itype="get")
    assert_result(r, stack.domain)
    x = r.find(f"{{{NS_SEARCH}}}search/{{{NS_DATA}}}x")
    assert x is not None and x.get("type") == "form", dump(r)
    vars_ = [f.get("var") for f in x.findall(f"{{{NS_DATA}}}field")]
    for v in ("FORM_TYPE", "q", "all", "sinname", "sindescription", "min_users", "key",
              "{urn:xmpp:stoa:0}topic"):
        assert v in vars_, vars_

    r = search(bob, stack.domain, {"q": word.upper()})
    assert_result(r, stack.domain)
    # Busiest first: films has two occupants.
    assert search_items(r) == [
        {"address": films, "name": local(films), "description": f"Weekend cinema {word}",
         "language": "en", "nusers": "2", "service-type": "xep-0045", "is-open": True},
        {"address": football, "name": f"Weekend football {word}", "nusers": "1",
         "service-type": "xep-0045", "is-open": True},
    ], dump(r)
    rs = r.find(f"{{{NS_SEARCH}}}result/{{{NS_RSM}}}set")
    assert rs.findtext(f"{{{NS_RSM}}}count") == "2", dump(r)

    r = search(bob, stack.domain, {"q": word, "{urn:xmpp:stoa:0}topic": "sports"})
    assert [i["address"] for i in search_items(r)] == [football], dump(r)
    r = search(bob, stack.domain, {"q": word, "min_users": "2"})
    assert [i["address"] for i in search_items(r)] == [films], dump(r)
    r = search(bob, stack.domain, {"q": word, "sinname": "false", "sindescription": "false",
                                   "sinaddr": "false"})
    assert search_items(r) == [], dump(r)
    r = search(bob, stack.domain, {"q": word, "key": "{urn:xmpp:channel-search:0:order}address"},
               rsm=f"<set xmlns='{NS_RSM}'><max>1</max></set>")
    assert [i["address"] for i in search_items(r)] == [films], dump(r)
    rs = r.find(f"{{{NS_SEARCH}}}result/{{{NS_RSM}}}set")
    assert (rs.findtext(f"{{{NS_RSM}}}first"), rs.findtext(f"{{{NS_RSM}}}last"),
            rs.findtext(f"{{{NS_RSM}}}count")) == ("0", "0", "2"), dump(r)
    r = search(bob, stack.domain, {"q": word, "key": "{urn:xmpp:channel-search:0:order}address"},
               rsm=f"<set xmlns='{NS_RSM}'><max>1</max><after>0</after></set>")
    assert [i["address"] for i in search_items(r)] == [football], dump(r)

    r = search(bob, stack.domain, {})
    assert_error(r, "bad-request", "modify", frm=stack.domain)
    assert r.find(f"{{{NS_CLIENT}}}error/{{{NS_SEARCH_ERRORS}}}no-search-conditions") is not None
    r = search(bob, stack.domain, {"all": "true", "key": "{x}y"})
    assert_error(r, "feature-not-implemented", "modify")
    assert r.find(f"{{{NS_CLIENT}}}error/{{{NS_SEARCH_ERRORS}}}invalid-sort-key") is not None
