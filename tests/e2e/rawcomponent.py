"""A raw XEP-0114 component for the tests: it connects to a real server's
component port, authenticates, sends literal XML and hands back what the
server routes to it, as ElementTree elements.

It stands in for a component that is not Stoa (another service on the same
server) or for Stoa itself where a test must send exactly the stanza it
writes, e.g. to a host's fan-out expander."""

from __future__ import annotations

import hashlib
import socket
import time
import xml.etree.ElementTree as ET
from typing import Callable, List, Optional

NS_COMPONENT = "jabber:component:accept"


class RawComponent:
    def __init__(self, port: int, domain: str, secret: str, host: str = "127.0.0.1",
                 timeout: float = 10.0):
        self.domain = domain
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0
        self.stream_id: Optional[str] = None
        self.inbox: List[ET.Element] = []
        self.closed = False
        self.send(f"<?xml version='1.0'?><stream:stream xmlns='{NS_COMPONENT}' "
                  f"xmlns:stream='http://etherx.jabber.org/streams' to='{domain}'>")
        deadline = time.monotonic() + timeout
        while self.stream_id is None:
            self._read(deadline)
        digest = hashlib.sha1((self.stream_id + secret).encode()).hexdigest()
        self.send(f"<handshake>{digest}</handshake>")
        hs = self.wait_for(lambda e: e.tag == f"{{{NS_COMPONENT}}}handshake", timeout,
                           "the handshake's answer")
        assert hs is not None

    def send(self, xml: str) -> None:
        self.sock.sendall(xml.encode())

    def _read(self, deadline: float) -> None:
        if self.closed:
            raise AssertionError(f"{self.domain}: the server closed the stream")
        self.sock.settimeout(max(0.01, min(0.2, deadline - time.monotonic())))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return
        if not data:
            self.closed = True
            return
        self.parser.feed(data)
        for event, el in self.parser.read_events():
            if event == "start":
                self.depth += 1
                if self.depth == 1:
                    self.stream_id = el.get("id")
            else:
                self.depth -= 1
                if self.depth == 1:
                    self.inbox.append(el)
                elif self.depth == 0:
                    self.closed = True

    def wait_for(self, pred: Callable[[ET.Element], bool], timeout: float = 10.0,
                 what: str = "a stanza") -> ET.Element:
        deadline = time.monotonic() + timeout
        while True:
            for i, el in enumerate(self.inbox):
                if pred(el):
                    return self.inbox.pop(i)
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.domain}: no {what} within {timeout}s; got "
                                     + "".join(ET.tostring(e, "unicode") for e in self.inbox))
            self._read(deadline)

    def pump(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.closed:
            self._read(deadline)

    def close(self) -> None:
        try:
            self.send("</stream:stream>")
        except OSError:
            pass
        self.sock.close()

    def __enter__(self) -> "RawComponent":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
