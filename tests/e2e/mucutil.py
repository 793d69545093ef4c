"""What the chat-room end-to-end tests (test_muc_*.py, and the desk, safety,
faults and archive tests that use rooms) share: namespaces, making and
configuring rooms, matching the stanzas clients receive, archive queries.

In test_muc_*.py real slixmpp clients, logged in as real users of a real
Prosody or ejabberd, use the rooms stoa-component serves on rooms.localhost
through that server. Every test runs once per server (the `stack` fixture is
parametrized) on the stack's one component, each in rooms of its own
(new_room), and checks the exact stanzas the clients receive: status codes,
<item/> attributes, error conditions and types, ids. tests/unit/check_muc_*.c
pin the same behaviour byte by byte without a server; here the point is that
it survives real servers and clients.
"""

from __future__ import annotations

import re
import secrets
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Dict, List, Optional
from xml.sax.saxutils import quoteattr

from xmpp import (
    NS_CLIENT,
    NS_DATA,
    NS_DELAY,
    NS_MUC_ADMIN,
    NS_MUC_OWNER,
    Client,
    Joined,
    body,
    dump,
    error_condition,
    error_text,
    error_type,
    is_message,
    is_presence,
    occupant_id,
    stanza_ids,
    status_codes,
    xml_text,
)

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_PING = "urn:xmpp:ping"
NS_ROOMCONFIG = "http://jabber.org/protocol/muc#roomconfig"
NS_ROOMINFO = "http://jabber.org/protocol/muc#roominfo"
NS_CONFERENCE = "jabber:x:conference"
NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_FORWARD = "urn:xmpp:forward:0"
NS_SEARCH = "urn:xmpp:channel-search:0:search"
NS_SEARCH_PARAMS = "urn:xmpp:channel-search:0:search-params"
NS_SEARCH_ERRORS = "urn:xmpp:channel-search:0:error"
NS_MODERATE1 = "urn:xmpp:message-moderate:1"
NS_MODERATE0 = "urn:xmpp:message-moderate:0"
NS_RETRACT1 = "urn:xmpp:message-retract:1"
NS_RETRACT0 = "urn:xmpp:message-retract:0"
NS_FASTEN = "urn:xmpp:fasten:0"

DEFAULT_TOPICS = ["general", "sports", "movies", "music", "technology", "games", "books", "news"]
HEX16 = re.compile(r"^[0-9a-f]{16}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")


# --------------------------------------------------------------------------
# helpers


def new_room(stack, label: str) -> str:
    """A room JID no other test (or earlier run on this Redis) uses."""
    return f"{label}-{secrets.token_hex(4)}@{stack.domain}"


def local(room: str) -> str:
    return room.split("@", 1)[0]


def assert_error(st: ET.Element, condition: str, etype: Optional[str] = None,
                 frm: Optional[str] = None, text: Optional[str] = None) -> None:
    assert st.get("type") == "error", dump(st)
    assert error_condition(st) == condition, dump(st)
    if etype is not None:
        assert error_type(st) == etype, dump(st)
    if frm is not None:
        assert st.get("from") == frm, dump(st)
    if text is not None:
        assert error_text(st) == text, dump(st)


def assert_result(reply: ET.Element, frm: str) -> None:
    assert reply.get("type") == "result", dump(reply)
    assert reply.get("from") == frm, dump(reply)


def form(fields: Dict[str, str], form_type: str = NS_ROOMCONFIG) -> str:
    out = [f"<x xmlns='{NS_DATA}' type='submit'>"]
    if form_type:
        out.append(f"<field var='FORM_TYPE'><value>{form_type}</value></field>")
    for var, value in fields.items():
        out.append(f"<field var='{xml_text(var)}'><value>{xml_text(value)}</value></field>")
    out.append("</x>")
    return "".join(out)


def configure(client: Client, room: str, fields: Optional[Dict[str, str]] = None) -> ET.Element:
    """Submits the room configuration form (muc#owner); an empty one makes
    an instant room (XEP-0045 10.1.2). Returns the reply."""
    x = form(fields) if fields else f"<x xmlns='{NS_DATA}' type='submit'/>"
    return client.iq(room, f"<query xmlns='{NS_MUC_OWNER}'>{x}</query>", "set")


def configure_ok(client: Client, room: str, fields: Optional[Dict[str, str]] = None) -> None:
    assert_result(configure(client, room, fields), room)


def create_room(owner: Client, room: str, nick: str = "Alice",
                fields: Optional[Dict[str, str]] = None) -> Joined:
    j = owner.join(room, nick)
    assert j.codes == ["110", "201"], j.dump()
    configure_ok(owner, room, fields)
    return j


def admin(client: Client, room: str, items: str, itype: str = "set") -> ET.Element:
    return client.iq(room, f"<query xmlns='{NS_MUC_ADMIN}'>{items}</query>", itype)


def presence_from(frm: str, ptype: Optional[str] = None, code: Optional[str] = None):
    def pred(s: ET.Element) -> bool:
        return (is_presence(s) and s.get("from") == frm and s.get("type") == ptype
                and (code is None or code in status_codes(s)))
    return pred


def message_from(frm: str, mtype: Optional[str] = None, mid: Optional[str] = None):
    def pred(s: ET.Element) -> bool:
        return (is_message(s) and s.get("from") == frm
                and (mtype is None or s.get("type") == mtype)
                and (mid is None or s.get("id") == mid))
    return pred


def from_room(room: str):
    return lambda s: s.get("from", "").split("/", 1)[0] == room


def error_reply(mid: str):
    return lambda s: s.get("type") == "error" and s.get("id") == mid


def send_message(client: Client, to: str, text: str, mtype: str = "chat",
                 extra: str = "") -> str:
    mid = client.xmpp.new_id()
    client.send_raw(f"<message type='{mtype}' id='{mid}' to={quoteattr(to)}>"
                    f"<body>{xml_text(text)}</body>{extra}</message>")
    return mid


def say(client: Client, room: str, text: str, extra: str = "") -> ET.Element:
    """Sends a groupchat message; returns the room's echo of it."""
    mid = client.groupchat(room, text, extra=extra)
    return client.wait_for(lambda s: is_message(s) and s.get("id") == mid
                           and s.get("from", "").startswith(room + "/"),
                           10, f"echo of groupchat {mid}")


def disco_info(client: Client, jid: str) -> ET.Element:
    return client.iq(jid, f"<query xmlns='{NS_DISCO_INFO}'/>")


def room_info(client: Client, room: str) -> Dict[str, object]:
    """disco#info of a room as identities, features and muc#roominfo fields."""
    r = disco_info(client, room)
    assert_result(r, room)
    q = r.find(f"{{{NS_DISCO_INFO}}}query")
    assert q is not None, dump(r)
    fields = {}
    x = q.find(f"{{{NS_DATA}}}x")
    if x is not None:
        for f in x.findall(f"{{{NS_DATA}}}field"):
            v = f.find(f"{{{NS_DATA}}}value")
            fields[f.get("var")] = None if v is None else (v.text or "")
    return {
        "identities": [(i.get("category"), i.get("type"), i.get("name"))
                       for i in q.findall(f"{{{NS_DISCO_INFO}}}identity")],
        "features": [f.get("var") for f in q.findall(f"{{{NS_DISCO_INFO}}}feature")],
        "fields": fields,
        "x_type": None if x is None else x.get("type"),
    }


def disco_items(client: Client, jid: str, node: Optional[str] = None) -> ET.Element:
    n = f" node='{node}'" if node else ""
    return client.iq(jid, f"<query xmlns='{NS_DISCO_ITEMS}'{n}/>")


def items_of(reply: ET.Element) -> List[Dict[str, str]]:
    q = reply.find(f"{{{NS_DISCO_ITEMS}}}query")
    assert q is not None, dump(reply)
    return [dict(i.attrib) for i in q.findall(f"{{{NS_DISCO_ITEMS}}}item")]


def subject_of(msg: ET.Element) -> Optional[str]:
    s = msg.find(f"{{{NS_CLIENT}}}subject")
    return None if s is None else (s.text or "")


def delay_of(msg: ET.Element) -> Dict[str, str]:
    d = msg.find(f"{{{NS_DELAY}}}delay")
    assert d is not None, f"no XEP-0203 delay in {dump(msg)}"
    return dict(d.attrib)


def parse_stamp(s: str) -> float:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", s), f"bad stamp {s!r}"
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if "." in s else "%Y-%m-%dT%H:%M:%SZ"
    return datetime.strptime(s, fmt).replace(tzinfo=timezone.utc).timestamp()


def stamp_str(t: float) -> str:
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def the_stanza_id(msg: ET.Element, room: str) -> str:
    ids = stanza_ids(msg)
    assert len(ids) == 1 and ids[0]["by"] == room, \
        f"expected exactly one stanza-id by {room}: {dump(msg)}"
    assert HEX16.match(ids[0]["id"]), dump(msg)
    return ids[0]["id"]


def mam_query(client: Client, room: str, rsm: str = "", queryid: str = "q",
              fields: Optional[Dict[str, str]] = None):
    """Returns (result messages in order, the final iq)."""
    x = form(fields, NS_MAM) if fields else ""
    s = f"<set xmlns='{NS_RSM}'>{rsm}</set>" if rsm else ""
    client.take(lambda st: is_message(st) and st.find(f"{{{NS_MAM}}}result") is not None)
    fin = client.iq(room, f"<query xmlns='{NS_MAM}' queryid='{queryid}'>{x}{s}</query>", "set")
    rows = client.take(lambda st: is_message(st) and st.find(f"{{{NS_MAM}}}result") is not None)
    return rows, fin


def mam_row(row: ET.Element) -> Dict[str, object]:
    res = row.find(f"{{{NS_MAM}}}result")
    fwd = res.find(f"{{{NS_FORWARD}}}forwarded")
    msg = fwd.find(f"{{{NS_CLIENT}}}message")
    return {"from": row.get("from"), "queryid": res.get("queryid"), "id": res.get("id"),
            "stamp": fwd.find(f"{{{NS_DELAY}}}delay").get("stamp"),
            "msg_from": msg.get("from"), "type": msg.get("type"), "body": body(msg),
            "occupant_id": occupant_id(msg)}


def fin_of(fin: ET.Element):
    f = fin.find(f"{{{NS_MAM}}}fin")
    assert f is not None, dump(fin)
    s = f.find(f"{{{NS_RSM}}}set")
    return (f.get("complete"), s.findtext(f"{{{NS_RSM}}}first"), s.findtext(f"{{{NS_RSM}}}last"))
