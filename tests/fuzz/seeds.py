#!/usr/bin/python3
"""Writes the fuzz targets' seed corpus (tests/fuzz/corpus/<target>/) from
the stanzas, JIDs and configuration files the unit tests already use, plus
a few shapes of the end-to-end tests. Run it again when the tests change:

    /usr/bin/python3 tests/fuzz/seeds.py

Each seed is named by the SHA-1 of its bytes, as libFuzzer names its own.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Dict, List, Set

TOP = Path(__file__).resolve().parents[2]
UNIT = TOP / "tests" / "unit"
OUT = TOP / "tests" / "fuzz" / "corpus"

NS_DATA = "jabber:x:data"
NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
# The desk's command nodes in fuzz_forms.c's order (its byte 0 is 1 + index).
DESK_NODES = ["report", "list", "view", "dismiss", "warn", "mute", "unmute", "kick",
              "ban-room", "ban", "block-domain", "erase", "audit"]

LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
DEFINE = re.compile(r'^#define\s+(\w+)\s+((?:"(?:[^"\\\n]|\\.)*"\s*|\w+\s*)+)$', re.M)


def unescape(s: str) -> str:
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        n = s[i + 1]
        if n == "x":
            m = re.match(r"[0-9a-fA-F]+", s[i + 2:])
            out.append(chr(int(m.group(0), 16)))
            i += 2 + len(m.group(0))
            continue
        out.append({"n": "\n", "t": "\t", "r": "\r", "0": "\0"}.get(n, n))
        i += 2
    return "".join(out)


def c_strings(path: Path) -> List[str]:
    """The string constants of a C file, adjacent literals (and string
    macros between them) joined as the compiler joins them."""
    text = path.read_text(errors="replace")
    macros: Dict[str, str] = {}
    for name, body in DEFINE.findall(text):
        parts = re.findall(r'"((?:[^"\\\n]|\\.)*)"|(\w+)', body)
        macros[name] = "".join(unescape(a) if a or not b else macros.get(b, "") for a, b in parts)
    token = re.compile(r'"((?:[^"\\\n]|\\.)*)"|(\w+)|(\s+)|(.)', re.S)
    found: List[str] = []
    cur = None
    for lit, ident, ws, other in token.findall(text):
        if ws:
            continue
        if not (ident or other):  # a literal, perhaps ""
            cur = (cur or "") + unescape(lit)
        elif ident in macros:
            cur = (cur or "") + macros[ident]
        else:
            if cur:
                found.append(cur)
            cur = None
    if cur:
        found.append(cur)
    return found


def well_formed(fragment: str) -> bool:
    try:
        ET.fromstring(f"<r xmlns='jabber:component:accept'>{fragment}</r>")
        return True
    except ET.ParseError:
        return False


def stanzas_of(strings: List[str]) -> List[str]:
    return [s for s in strings
            if s.startswith(("<iq", "<message", "<presence")) and well_formed(s)]


def inner(s: str, tag: str, ns: str) -> List[str]:
    """The raw contents of every <tag xmlns='ns' ...>...</tag> in s."""
    found = []
    for m in re.finditer(rf"<{tag}\b[^>]*xmlns=['\"]{re.escape(ns)}['\"][^>]*?(/?)>", s):
        if m.group(1):
            found.append("")
            continue
        end = s.find(f"</{tag}>", m.end())
        if end > 0:
            found.append(s[m.end():end])
    return found


def write(target: str, seeds: Set[bytes], cap: int = 200) -> None:
    d = OUT / target
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    ordered = sorted(seeds, key=lambda b: (len(b), b))
    for s in ordered[::max(1, len(ordered) // cap)][:cap]:  # small to large
        (d / hashlib.sha1(s).hexdigest()).write_bytes(s)
    print(f"{target}: {min(len(seeds), cap)} seeds")


def main() -> None:
    strings = {p.name: c_strings(p) for p in sorted(UNIT.glob("check_*.c"))}
    stanzas: List[str] = []
    for name, ss in strings.items():
        stanzas += [s for s in stanzas_of(ss) if s not in stanzas]

    component = {s.encode() for s in stanzas}
    for i in range(0, len(stanzas) - 2, 3):  # a few conversations
        component.add("".join(stanzas[i:i + 3]).encode())
    # From the end-to-end tests: the payloads, small.
    e2e = [
        "<message type='groupchat' to='r@rooms.example.org' from='u@example.org/x' id='n'>"
        "<body>x</body><q xmlns='urn:a b'/></message>",
        "<message type='groupchat' to='r@rooms.example.org' from='u@example.org/x' id='d'>"
        + "<x>" * 20 + "</x>" * 20 + "</message>",
        "<message type='groupchat' to='r@rooms.example.org' from='u@example.org/x' id='w'>"
        + "<x/>" * 300 + "</message>",
        "<message to='r@rooms.example.org' from='u@example.org/x' id='s'><body><![CDATA[a<b]]>"
        "</body><y xmlns:p='urn:p q' p:a='1'/></message>",
    ]
    component |= {s.encode() for s in e2e}
    write("fuzz_component", component)

    stream = set()
    for s in sorted(component, key=lambda b: (len(b), b))[:100]:
        for flags in (0xFE, 0x5C):
            stream.add(bytes([flags, 3]) + s)
    stream.add(b"\x01\x05<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
               b"xmlns:stream='http://etherx.jabber.org/streams' id='x'><handshake/>"
               b"</stream:stream>")
    write("fuzz_stream", stream)

    # fuzz_s2s: a flags byte (bit 0 outgoing, bit 1 dialback valid, bits
    # 2-7 the piece size), then what the remote server says.
    hdr = ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
           "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
           "version='1.0' ")
    incoming = hdr + "from='remote.example' to='rooms.example.org'>"
    outgoing = hdr + "id='peer-id' from='remote.example' to='rooms.example.org'>"
    features = ("<stream:features><dialback xmlns='urn:xmpp:features:dialback'/>"
                "</stream:features>")
    msg = ("<message from='u@remote.example/x' to='r@rooms.example.org' type='groupchat'>"
           "<body>hi</body></message>")
    s2s = {
        bytes([0x02 | 0xFC]) + (incoming + "<db:result from='remote.example' "
                                "to='rooms.example.org'>abc</db:result>" + msg
                                + "<db:verify from='remote.example' to='rooms.example.org' "
                                "id='i'>k</db:verify></stream:stream>").encode(),
        bytes([0x00 | 0x10]) + (incoming + "<db:result from='remote.example' "
                                "to='rooms.example.org'>abc</db:result>" + msg).encode(),
        bytes([0x03 | 0x40]) + (outgoing + features + "<db:result from='remote.example' "
                                "to='rooms.example.org' type='valid'/><db:verify "
                                "from='remote.example' to='rooms.example.org' id='fz-id' "
                                "type='valid'/>" + msg).encode(),
        bytes([0x00]) + (incoming + msg).encode(),
        bytes([0x00 | 0xFC]) + (incoming.replace("rooms.example.org", "other.example")).encode(),
    }
    write("fuzz_s2s", s2s)

    write("fuzz_report", {s.encode() for s in stanzas
                          if re.search(r"report|blocking|abuse|spam", s)})

    forms = set()
    for s in stanzas:
        node = re.search(r"node=['\"]([\w-]+)['\"]", s)
        for x in inner(s, "x", NS_DATA):
            if "muc#owner" in s:
                forms.add(b"\x00" + x.encode())
            elif node and node.group(1) in DESK_NODES:
                forms.add(bytes([1 + DESK_NODES.index(node.group(1))]) + x.encode())
    forms.add(b"\x00<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig"
              b"</value></field><field var='muc#roomconfig_roomname'><value>n</value></field>")
    write("fuzz_forms", forms)

    mam = {b"\x00" + q.encode() for s in stanzas for q in inner(s, "query", NS_MAM)}
    mam |= {b"\x00" + q.encode() for q in [
        f"<set xmlns='{NS_RSM}'><max>2</max></set>",
        f"<set xmlns='{NS_RSM}'><max>1</max><after>0</after></set>",
        f"<set xmlns='{NS_RSM}'><before/></set>",
        f"<set xmlns='{NS_RSM}'><before>0000000000000000</before></set>",
        f"<x xmlns='{NS_DATA}' type='submit'><field var='FORM_TYPE'><value>{NS_MAM}</value>"
        "</field><field var='start'><value>2020-01-01T00:00:00Z</value></field></x>",
    ]}
    mam.add(b"\x01")
    write("fuzz_mam", mam)

    jids = {s.encode() for s in strings.get("check_jid.c", []) if len(s) < 3100}
    for s in stanzas:
        jids |= {v.encode() for v in re.findall(r"(?:from|to|jid)=['\"]([^'\"]*)['\"]", s)}
    write("fuzz_jid", jids)

    config = {p.read_bytes() for p in (UNIT / "data").glob("*.conf")}
    config.add((TOP / "component" / "stoa-component.conf.example").read_bytes())
    for name in ("check_config.c", "check_settings.c"):
        config |= {s.encode() for s in strings.get(name, []) if "[" in s and "=" in s}
    write("fuzz_config", config)


if __name__ == "__main__":
    main()
