"""A small synchronous XMPP client for the tests, on slixmpp.

Each Client owns an asyncio loop and drives it only while a test waits for
something, so tests read top to bottom. IQs are built from raw XML and the
replies handed back as ElementTree elements: the tests check the exact XML the
component produced, not what a slixmpp plugin made of it.
"""

from __future__ import annotations

import asyncio
import logging
import xml.etree.ElementTree as ET
from typing import Optional

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

NS_CLIENT = "jabber:client"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"

logging.getLogger("slixmpp").setLevel(logging.WARNING)


class XmppError(AssertionError):
    pass


class Client:
    def __init__(self, jid: str, password: str, port: int, host: str = "127.0.0.1",
                 timeout: float = 15.0):
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        self.jid = jid
        self.timeout = timeout
        self.xmpp = slixmpp.ClientXMPP(jid, password)
        self.xmpp.loop = self.loop
        # Loopback test servers without TLS: allow SASL PLAIN in the clear.
        self.xmpp["feature_mechanisms"].unencrypted_plain = True
        self.messages: "asyncio.Queue" = asyncio.Queue()
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

        self.xmpp.connect((host, port), use_ssl=False, force_starttls=False,
                          disable_starttls=True)
        try:
            self.run(asyncio.wait_for(asyncio.shield(self._session), timeout))
        except asyncio.TimeoutError:
            self.close()
            raise XmppError(f"{jid}: no session on {host}:{port} within {timeout}s")
        except Exception:
            self.close()
            raise

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
