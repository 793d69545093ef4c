"""A small synchronous XMPP client for the tests, on slixmpp.

Each Client owns an asyncio loop and drives it only while a test waits for
something, so tests read top to bottom. IQs are built from raw XML and the
replies handed back as ElementTree elements: the tests check the exact XML the
component produced, not what a slixmpp plugin made of it.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import ssl
import time
import xml.etree.ElementTree as ET
from typing import Callable, Dict, List, Optional
from xml.sax.saxutils import quoteattr

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.jid import JID, InvalidJID

NS_CLIENT = "jabber:client"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"

logging.getLogger("slixmpp").setLevel(logging.WARNING)


class XmppError(AssertionError):
    pass


class Client:
    """available=True sends initial presence once the session is up, as a real
    client does (servers deliver messages to a bare JID, e.g. invitations,
    only to available resources). Every presence and message received is
    also kept in `inbox`, in arrival order, for wait_for()."""

    def __init__(self, jid: str, password: str, port: int, host: str = "127.0.0.1",
                 timeout: float = 15.0, available: bool = False, starttls: bool = False):
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.jid = jid
        self.timeout = timeout
        self.xmpp = slixmpp.ClientXMPP(jid, password)
        self.xmpp.loop = self.loop
        # Loopback test servers without TLS: allow SASL PLAIN in the clear.
        self.xmpp["feature_mechanisms"].unencrypted_plain = True
        self.messages: "asyncio.Queue" = asyncio.Queue()
        self.inbox: List[ET.Element] = []
        self._arrived = asyncio.Event()
        self._session: asyncio.Future = self.loop.create_future()
        self._disconnected: asyncio.Future = self.loop.create_future()

        def done(fut, exc=None, value=True):
            if not fut.done():
                if exc is not None:
                    fut.set_exception(exc)
                else:
                    fut.set_result(value)

        self.xmpp.add_event_handler("session_start", lambda _e: done(self._session))
        self.xmpp.add_event_handler(
            "failed_auth", lambda _e: done(self._session, XmppError(f"{jid}: authentication failed")))
        self.xmpp.add_event_handler(
            "connection_failed",
            lambda e: done(self._session, XmppError(f"{jid}: connection to {host}:{port} failed: {e}")))
        self.xmpp.add_event_handler("disconnected", lambda _e: done(self._disconnected))
        self.xmpp.add_event_handler("message", lambda m: self.messages.put_nowait(m))
        self.xmpp.add_event_handler("message_error", lambda m: None)
        # Every presence and message is kept as it came off the wire, before
        # slixmpp sees it (see _incoming).
        self.xmpp.incoming_filter = self._incoming

        if starttls:
            # Servers that require TLS (a packaged Prosody or ejabberd in
            # tests/install/guide), with their self-signed certificates.
            self.xmpp.ssl_context.check_hostname = False
            self.xmpp.ssl_context.verify_mode = ssl.CERT_NONE
        self.xmpp.connect((host, port), use_ssl=False, force_starttls=starttls,
                          disable_starttls=not starttls)
        try:
            self.run(asyncio.wait_for(asyncio.shield(self._session), timeout))
        except asyncio.TimeoutError:
            self.close()
            raise XmppError(f"{jid}: no session on {host}:{port} within {timeout}s")
        except Exception:
            self.close()
            raise
        if available:
            self.send_raw("<presence/>")

    @property
    def full_jid(self) -> str:
        """The bound full JID."""
        return str(self.xmpp.boundjid.full)

    def _incoming(self, xml: ET.Element) -> ET.Element:
        if xml.tag in (f"{{{NS_CLIENT}}}presence", f"{{{NS_CLIENT}}}message"):
            self.inbox.append(copy.deepcopy(xml))
            self._arrived.set()
        # A server may send back an address slixmpp cannot parse (e.g. the
        # error for a join with an overlong nick comes from that nick), and
        # slixmpp then drops the whole connection. Its copy gets the bare
        # part; the inbox keeps the original.
        frm = xml.get("from")
        if frm is not None and not valid_jid(frm):
            xml.set("from", bare(frm) if valid_jid(bare(frm)) else "")
        return xml

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def iq(self, to: str, payload: Optional[str], itype: str = "get",
           timeout: float = 10.0) -> ET.Element:
        """Sends an IQ with the given payload XML (None: no child) and returns
        the reply, result or error, as an element in jabber:client."""
        iq = self.xmpp.make_iq(ito=to, itype=itype)
        if payload is not None:
            iq.xml.append(ET.fromstring(payload))

        async def send():
            try:
                reply = await iq.send(timeout=timeout)
            except IqError as e:
                reply = e.iq
            except IqTimeout:
                raise XmppError(f"no reply to IQ {itype} {payload!r} to {to} within {timeout}s")
            return reply.xml

        return self.run(send())

    def send_raw(self, data: str) -> None:
        self.xmpp.send_raw(data)

    def send_message(self, to: str, body: str, mtype: str = "chat") -> str:
        msg = self.xmpp.make_message(mto=to, mbody=body, mtype=mtype)
        msg["id"] = self.xmpp.new_id()
        msg.send()
        return msg["id"]

    def next_message(self, timeout: float = 10.0) -> ET.Element:
        async def get():
            try:
                m = await asyncio.wait_for(self.messages.get(), timeout)
            except asyncio.TimeoutError:
                raise XmppError(f"no message within {timeout}s")
            return m.xml

        return self.run(get())

    # ------------------------------------------------------------------
    # the inbox: every presence and message, in arrival order

    def pump(self, seconds: float) -> None:
        """Runs the loop for a while (receives whatever arrives)."""
        self.run(asyncio.sleep(seconds))

    def wait_for(self, pred: Callable[[ET.Element], bool], timeout: float = 10.0,
                 what: str = "a matching stanza") -> ET.Element:
        """Removes from the inbox and returns the first stanza for which pred
        is true, waiting for it if needed."""
        deadline = time.monotonic() + timeout
        while True:
            for i, st in enumerate(self.inbox):
                if pred(st):
                    return self.inbox.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise XmppError(f"{self.jid}: no {what} within {timeout}s; inbox holds:\n"
                                + "\n".join(dump(s) for s in self.inbox[-20:]))
            self._arrived.clear()
            try:
                self.run(asyncio.wait_for(self._arrived.wait(), left))
            except asyncio.TimeoutError:
                pass

    def take(self, pred: Callable[[ET.Element], bool]) -> List[ET.Element]:
        """Removes and returns every stanza already in the inbox matching pred."""
        got = [s for s in self.inbox if pred(s)]
        self.inbox = [s for s in self.inbox if not pred(s)]
        return got

    def expect_nothing(self, pred: Callable[[ET.Element], bool], seconds: float = 0.5,
                       what: str = "stanza") -> None:
        """Fails if a stanza matching pred is, or arrives within `seconds`, in
        the inbox."""
        self.pump(seconds)
        self.sync()
        got = [s for s in self.inbox if pred(s)]
        assert not got, f"{self.jid}: unexpected {what}:\n" + "\n".join(dump(s) for s in got)

    def sync(self) -> None:
        """A round trip to our server: whatever it sent us before its answer
        is in the inbox afterwards."""
        r = self.iq(self.xmpp.boundjid.domain, "<ping xmlns='urn:xmpp:ping'/>")
        assert r.get("type") == "result", dump(r)

    def clear(self) -> None:
        """Empties the inbox of everything received so far (sync() first)."""
        self.sync()
        self.inbox.clear()

    # ------------------------------------------------------------------
    # multi-user chat (XEP-0045) from a client's side

    def join(self, room: str, nick: str, password: Optional[str] = None,
             history: Optional[Dict[str, str]] = None, timeout: float = 10.0,
             pid: Optional[str] = None, payload: str = "") -> "Joined":
        """Joins room (a bare room JID) as nick and collects what the room
        sends until the subject, which ends a join (XEP-0045 7.2.16); earlier
        stanzas from the room still in the inbox are dropped first. Raises
        JoinRefused (with the error presence) when the room refuses."""
        self.take(lambda s: bare(s.get("from", "")) == room)
        self.send_raw(join_presence(room, nick, password, history, pid, payload))
        occupant = f"{room}/{nick}"
        got: List[ET.Element] = []
        deadline = time.monotonic() + timeout
        while True:
            st = self.wait_for(lambda s: bare(s.get("from", "")) == room,
                               max(0.01, deadline - time.monotonic()),
                               f"stanza from {room} while joining as {nick!r}")
            if st.tag == f"{{{NS_CLIENT}}}presence" and st.get("type") == "error":
                raise JoinRefused(st)
            got.append(st)
            if is_message(st) and st.find(f"{{{NS_CLIENT}}}subject") is not None \
                    and body(st) is None:
                return Joined(room, occupant, got)

    def join_error(self, room: str, nick: str, password: Optional[str] = None,
                   timeout: float = 10.0) -> ET.Element:
        """Joins expecting a refusal: returns the error presence."""
        try:
            j = self.join(room, nick, password=password, timeout=timeout, pid=self.xmpp.new_id())
        except JoinRefused as e:
            return e.stanza
        raise XmppError(f"{self.jid} joined {room} as {nick!r}, expected a refusal:\n"
                        + "\n".join(dump(s) for s in j.stanzas))

    def leave(self, room: str, nick: str, timeout: float = 10.0) -> ET.Element:
        """Leaves; returns the room's unavailable self-presence (110)."""
        self.send_raw(f"<presence type='unavailable' to={quoteattr(room + '/' + nick)}/>")
        return self.wait_for(
            lambda s: s.tag == f"{{{NS_CLIENT}}}presence" and s.get("type") == "unavailable"
            and s.get("from") == f"{room}/{nick}" and "110" in status_codes(s),
            timeout, f"unavailable self-presence from {room}/{nick}")

    def groupchat(self, room: str, text: str, mid: Optional[str] = None, extra: str = "") -> str:
        """Sends a groupchat message (extra: more children, raw XML); returns its id."""
        mid = mid or self.xmpp.new_id()
        self.send_raw(f"<message type='groupchat' id={quoteattr(mid)} to={quoteattr(room)}>"
                      f"<body>{xml_text(text)}</body>{extra}</message>")
        return mid

    def close(self) -> None:
        if self.loop.is_closed():
            return
        try:
            if self.xmpp.transport is not None:
                self.xmpp.disconnect()
                self.run(asyncio.wait_for(asyncio.shield(self._disconnected), 5))
        except Exception:
            pass
        finally:
            self.xmpp.abort() if self.xmpp.transport is not None else None
            pending = [t for t in asyncio.all_tasks(self.loop) if not t.done()]
            for t in pending:
                t.cancel()
            if pending:
                self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            self.loop.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def error_condition(stanza: ET.Element) -> Optional[str]:
    """The defined condition of an error stanza (e.g. 'service-unavailable')."""
    err = stanza.find(f"{{{NS_CLIENT}}}error")
    if err is None:
        return None
    for child in err:
        if child.tag.startswith(f"{{{NS_STANZAS}}}") and not child.tag.endswith("}text"):
            return child.tag.split("}", 1)[1]
    return None


def error_type(stanza: ET.Element) -> Optional[str]:
    err = stanza.find(f"{{{NS_CLIENT}}}error")
    return None if err is None else err.get("type")


# --------------------------------------------------------------------------
# MUC helpers

NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_MUC_ADMIN = "http://jabber.org/protocol/muc#admin"
NS_MUC_OWNER = "http://jabber.org/protocol/muc#owner"
NS_DATA = "jabber:x:data"
NS_SID = "urn:xmpp:sid:0"
NS_OCCUPANT_ID = "urn:xmpp:occupant-id:0"
NS_DELAY = "urn:xmpp:delay"


class JoinRefused(XmppError):
    def __init__(self, stanza: ET.Element):
        super().__init__(f"join refused: {dump(stanza)}")
        self.stanza = stanza


def dump(st: ET.Element) -> str:
    return ET.tostring(st, encoding="unicode")


def xml_text(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def valid_jid(j: str) -> bool:
    try:
        JID(j)
    except InvalidJID:
        return False
    return True


def bare(j: str) -> str:
    return j.split("/", 1)[0]


def join_presence(room: str, nick: str, password: Optional[str] = None,
                  history: Optional[Dict[str, str]] = None, pid: Optional[str] = None,
                  payload: str = "") -> str:
    inner = ""
    if history is not None:
        attrs = "".join(f" {k}={quoteattr(str(v))}" for k, v in history.items())
        inner += f"<history{attrs}/>"
    if password is not None:
        inner += f"<password>{xml_text(password)}</password>"
    idattr = f" id={quoteattr(pid)}" if pid else ""
    return (f"<presence to={quoteattr(room + '/' + nick)}{idattr}>{payload}"
            f"<x xmlns='{NS_MUC}'>{inner}</x></presence>")


def muc_x(st: ET.Element) -> Optional[ET.Element]:
    return st.find(f"{{{NS_MUC_USER}}}x")


def status_codes(st: ET.Element) -> List[str]:
    x = muc_x(st)
    return [] if x is None else [s.get("code") for s in x.findall(f"{{{NS_MUC_USER}}}status")]


def muc_item(st: ET.Element) -> Optional[ET.Element]:
    x = muc_x(st)
    return None if x is None else x.find(f"{{{NS_MUC_USER}}}item")


def item_attrs(st: ET.Element) -> Dict[str, str]:
    """The attributes of the muc#user <item/> (affiliation, role, jid, nick)."""
    it = muc_item(st)
    assert it is not None, f"no muc#user item in {dump(st)}"
    return dict(it.attrib)


def occupant_id(st: ET.Element) -> Optional[str]:
    o = st.find(f"{{{NS_OCCUPANT_ID}}}occupant-id")
    return None if o is None else o.get("id")


def stanza_ids(st: ET.Element) -> List[Dict[str, str]]:
    return [dict(s.attrib) for s in st.findall(f"{{{NS_SID}}}stanza-id")]


def body(st: ET.Element) -> Optional[str]:
    b = st.find(f"{{{NS_CLIENT}}}body")
    return None if b is None else (b.text or "")


def is_presence(st: ET.Element) -> bool:
    return st.tag == f"{{{NS_CLIENT}}}presence"


def is_message(st: ET.Element) -> bool:
    return st.tag == f"{{{NS_CLIENT}}}message"


def error_text(stanza: ET.Element) -> Optional[str]:
    err = stanza.find(f"{{{NS_CLIENT}}}error")
    t = None if err is None else err.find(f"{{{NS_STANZAS}}}text")
    return None if t is None else t.text


class Joined:
    """What a join brought, in order: presences of the occupants already
    there, the self-presence (110), history, then the subject."""

    def __init__(self, room: str, occupant: str, stanzas: List[ET.Element]):
        self.room = room
        self.occupant = occupant
        self.stanzas = stanzas
        selfs = [s for s in stanzas if is_presence(s) and "110" in status_codes(s)]
        assert len(selfs) == 1, f"{len(selfs)} self-presences in a join:\n" + self.dump()
        self.self_presence = selfs[0]
        self.others = [s for s in stanzas if is_presence(s) and s is not self.self_presence]
        self.history = [s for s in stanzas if is_message(s) and s is not stanzas[-1]]
        self.subject = stanzas[-1]

    @property
    def codes(self) -> List[str]:
        return status_codes(self.self_presence)

    @property
    def occupant_id(self) -> Optional[str]:
        return occupant_id(self.self_presence)

    def dump(self) -> str:
        return "\n".join(dump(s) for s in self.stanzas)
