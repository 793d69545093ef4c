"""Reports across federation (docs/safety.md, "Reports across federation").

A component of its own (RTBL_DOMAIN) runs the desk with [desk]
forward_reports on and no report_servers, so the host's users count as users
of a remote domain. The host server publishes XEP-0157 abuse addresses in its
disco#info (Prosody's mod_server_contact_info, ejabberd's mod_disco
server_info): eve, a person, and the shared stack's component, a Stoa desk.
When the moderator acts on a report about carol, both get it in XEP-0377
form, and the other desk files it as a report forwarded by a server.

The remote domain here is the host's own (the component asks it through the
link, as it would ask a remote server through the host's s2s or a gateway):
the exchange is the same XEP-0030/XEP-0157 query and XEP-0377 message.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from typing import Dict, Optional

from conftest import DOMAIN, HOST, RTBL_DOMAIN, component_settings
from xmpp import NS_DATA, body, dump, is_message, xml_text

NS_CMD = "http://jabber.org/protocol/commands"
NS_REPORT = "urn:xmpp:reporting:1"


def desk_component(stack, factory, redis_port: int, forward: bool):
    port = getattr(stack.server, "component_ports", {}).get(RTBL_DOMAIN, stack.component_port)
    s = component_settings(port, redis_port)
    s["component"]["domain"] = RTBL_DOMAIN
    s["redis"]["prefix"] = f"fwd-{secrets.token_hex(4)}:"
    s["ratelimit"] = {"enabled": "false"}
    s["desk"] = {"moderators": f"dave@{HOST}", "forward_reports": str(forward).lower()}
    c = factory(s, name="desk")
    c.wait_log(rf"component link ready: {RTBL_DOMAIN}", 20)
    return c


def command(client, node: str, sid: Optional[str] = None, action: Optional[str] = None,
            fields: Optional[Dict[str, str]] = None) -> ET.Element:
    attrs = f" node='{node}'" + (f" sessionid='{sid}'" if sid else "") \
        + (f" action='{action}'" if action else "")
    x = ""
    if fields is not None:
        x = f"<x xmlns='{NS_DATA}' type='submit'>" + "".join(
            f"<field var='{k}'><value>{xml_text(v)}</value></field>" for k, v in fields.items()
        ) + "</x>"
    r = client.iq(RTBL_DOMAIN, f"<command xmlns='{NS_CMD}'{attrs}>{x}</command>", "set")
    c = r.find(f"{{{NS_CMD}}}command")
    assert r.get("type") == "result" and c is not None, dump(r)
    return c


def act_on_only_report(dave, action: str, reason: str) -> str:
    """view: picks the one open report, acts on it; returns the note."""
    c = command(dave, "view")
    options = [o.find(f"{{{NS_DATA}}}value").text
               for o in c.iter(f"{{{NS_DATA}}}option")]
    assert len(options) == 1, ET.tostring(c, encoding="unicode")
    c = command(dave, "view", c.get("sessionid"), "next", {"report": options[0]})
    c = command(dave, "view", c.get("sessionid"), "complete",
                {"action": action, "reason": reason})
    assert c.get("status") == "completed", ET.tostring(c, encoding="unicode")
    n = c.find(f"{{{NS_CMD}}}note")
    return n.text if n is not None else ""


def file_report(bob, target: str, text: str) -> None:
    r = bob.iq(RTBL_DOMAIN, f"<report xmlns='{NS_REPORT}' reason='urn:xmpp:reporting:spam'>"
               f"<jid xmlns='urn:xmpp:jid:0'>{target}</jid><text>{xml_text(text)}</text>"
               "</report>", "set")
    assert r.get("type") == "result", dump(r)


def report_in(st: ET.Element) -> Optional[ET.Element]:
    return st.find(f"{{{NS_REPORT}}}report")


def test_confirmed_report_goes_to_the_remote_abuse_contact(stack, component_factory, redis,
                                                           connect):
    c = desk_component(stack, component_factory, redis.port, forward=True)
    bob, dave, eve = connect("bob"), connect("dave"), connect("eve")
    carol = f"carol@{HOST}"
    words = f"buys followers {secrets.token_hex(3)}"
    file_report(bob, carol, words)
    dave.wait_for(lambda s: is_message(s) and s.get("from") == RTBL_DOMAIN
                  and carol in (body(s) or ""), 10, "the desk's notice of the report")
    note = act_on_only_report(dave, "warn", "stop that")
    assert f"abuse contact of {HOST}" in note, note
    # eve, the host's abuse address, gets the report in XEP-0377 form.
    m = eve.wait_for(lambda s: is_message(s) and s.get("from") == RTBL_DOMAIN
                     and report_in(s) is not None, 10, "the forwarded report")
    r = report_in(m)
    assert r.get("reason") == "urn:xmpp:reporting:spam", dump(m)
    assert r.findtext("{urn:xmpp:jid:0}jid") == carol, dump(m)
    assert r.findtext(f"{{{NS_REPORT}}}text") == words, dump(m)
    # The other address is a Stoa desk: it files the report as forwarded
    # by a server and tells its moderator (dave moderates both).
    dave.wait_for(lambda s: is_message(s) and s.get("from") == DOMAIN and carol in (body(s) or "")
                  and words in (body(s) or ""), 10, "the other desk's notice")
    c.wait_log(rf"desk: the report about {carol} forwarded to eve@{HOST} {DOMAIN}", 5)


def test_without_forward_reports_nothing_leaves(stack, component_factory, redis, connect):
    c = desk_component(stack, component_factory, redis.port, forward=False)
    bob, dave, eve = connect("bob"), connect("dave"), connect("eve")
    file_report(bob, f"carol@{HOST}", "not forwarded")
    note = act_on_only_report(dave, "warn", "stop that")
    assert "abuse contact" not in note, note
    eve.expect_nothing(lambda s: is_message(s) and report_in(s) is not None, 1.0,
                       "forwarded report")
    assert c.count(r"desk: the report about") == 0
