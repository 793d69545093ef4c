"""A fake XEP-0114 host server: a plain loopback socket server, no XMPP
library, so the tests control every byte the component sees.

    fake = FakeServer(secret="s3cret")          # listens on fake.port
    link = fake.accept(timeout=10)              # the component connects
    link.handshake()                            # header, id, SHA-1 check
    link.send("<iq .../>")
    stanza = link.recv_stanza()                 # an ElementTree element

Everything the component sends is parsed as one XML stream
(xml.etree.XMLPullParser), so a reply that is not well-formed XML fails the
test. Raw bytes are kept with their arrival times (for the keepalive test).
"""

from __future__ import annotations

import queue
import socket
import threading
import time
import xml.etree.ElementTree as ET
from typing import List, Optional, Tuple

from servers import free_port, handshake_digest

NS_STREAMS = "http://etherx.jabber.org/streams"
NS_COMPONENT = "jabber:component:accept"
NS_STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"

STREAM_TAG = f"{{{NS_STREAMS}}}stream"
ERROR_TAG = f"{{{NS_STREAMS}}}error"


class LinkClosed(AssertionError):
    pass


class Link:
    """One connection from the component."""

    def __init__(self, sock: socket.socket, server: "FakeServer"):
        self.sock = sock
        self.server = server
        self.events: "queue.Queue[Tuple[str, object]]" = queue.Queue()
        self.raw: List[Tuple[float, bytes]] = []
        self.header: Optional[ET.Element] = None
        self.stream_id: Optional[str] = None
        self.eof = threading.Event()
        self.stream_ended = threading.Event()
        self.parse_error: Optional[str] = None
        # Like a real server: answer the component's </stream:stream> with
        # ours and close. Tests of a silent server set this to False.
        self.auto_close = True
        # Like a server without a fan-out expander: its disco#items, asked
        # for when the link comes up, lists none (_answered_probe).
        self.answer_expander_probe = True
        # A server that stops reading (pause_reading), and one that reads
        # only to count (count_only: for floods too big to keep and parse).
        self._reading = threading.Event()
        self._reading.set()
        self._counting: Optional[bytes] = None
        self.counted = 0
        self.counted_bytes = 0
        self.sample = b""  # the first bytes read in count_only mode, for failures
        self._tail = b""
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    # reading -------------------------------------------------------------
    def _read(self) -> None:
        parser = ET.XMLPullParser(events=("start", "end"))
        depth = 0
        root = None
        while True:
            self._reading.wait()
            try:
                data = self.sock.recv(65536)
            except OSError as e:
                self.events.put(("eof", f"recv error: {e}"))
                break
            if not data:
                self.events.put(("eof", "connection closed"))
                break
            if self._counting is not None:
                self._count(data)
                continue
            with self._lock:
                self.raw.append((time.monotonic(), data))
            if self.parse_error:
                continue
            try:
                parser.feed(data)
                for event, elem in parser.read_events():
                    if event == "start":
                        depth += 1
                        if depth == 1:
                            root = elem
                            self.header = elem
                            self.events.put(("header", elem))
                    else:
                        depth -= 1
                        if depth == 1:
                            if not self._answered_probe(elem):
                                self.events.put(("stanza", elem))
                            if root is not None:
                                root.remove(elem)
                        elif depth == 0:
                            self.stream_ended.set()
                            self.events.put(("end", None))
                            if self.auto_close:
                                self.close_stream()
                                try:
                                    self.sock.shutdown(socket.SHUT_WR)
                                except OSError:
                                    pass
            except ET.ParseError as e:
                self.parse_error = str(e)
                self.events.put(("parse-error", str(e)))
        self.eof.set()

    def _answered_probe(self, elem: ET.Element) -> bool:
        """Answers the component's look for a fan-out expander (disco#items
        of the host's domain each time its link comes up; component/
        expander.h) as a server without one does, with no items, and keeps
        it from the tests, which script everything else."""
        if not self.answer_expander_probe or elem.tag != f"{{{NS_COMPONENT}}}iq" \
                or not (elem.get("id") or "").startswith("stoa-x-") or elem.get("type") != "get":
            return False
        self.send(f"<iq type='result' id='{elem.get('id')}' from='{elem.get('to')}' "
                  f"to='{elem.get('from')}'>"
                  "<query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
        return True

    def _count(self, data: bytes) -> None:
        pat = self._counting
        buf = self._tail + data
        with self._lock:
            self.counted += buf.count(pat)
            self.counted_bytes += len(data)
            if len(self.sample) < 4096:
                self.sample += data[:4096 - len(self.sample)]
        # Keep what could be the start of a pattern cut by the chunk boundary.
        self._tail = buf[-(len(pat) - 1):] if len(pat) > 1 else b""

    def pause_reading(self) -> None:
        """Stops reading (after the chunk being read, if any): the
        component's output piles up in the socket buffers, then in its own
        queue, as with a host server that stopped reading."""
        self._reading.clear()

    def resume_reading(self) -> None:
        self._reading.set()

    def count_only(self, pattern: bytes) -> None:
        """From now on nothing is kept or parsed: only the occurrences of
        pattern (counted) and the bytes."""
        self._counting = pattern

    def next_event(self, timeout: float) -> Tuple[str, object]:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"nothing from the component within {timeout}s; "
                                 f"received so far: {self.received()[-500:]!r}")

    def received(self) -> bytes:
        with self._lock:
            return b"".join(d for _, d in self.raw)

    def raw_chunks(self) -> List[Tuple[float, bytes]]:
        with self._lock:
            return list(self.raw)

    def recv_stanza(self, timeout: float = 10.0) -> ET.Element:
        """The next complete top-level element (stanza, handshake or stream
        error). Fails on end of stream, EOF or bad XML."""
        kind, value = self.next_event(timeout)
        if kind == "stanza":
            return value
        raise AssertionError(f"expected a stanza, got {kind}: {value!r}; "
                             f"received: {self.received()[-500:]!r}")

    # writing -------------------------------------------------------------
    def send(self, data) -> None:
        if isinstance(data, str):
            data = data.encode()
        # The reader thread answers the expander probe: one writer at a time.
        with self._send_lock:
            self.sock.sendall(data)

    def send_background(self, data: bytes) -> threading.Thread:
        """Sends a large payload from a thread, ignoring the peer closing on
        us midway (which is what a limit violation should cause)."""

        def run():
            try:
                with self._send_lock:
                    self.sock.sendall(data)
            except OSError:
                pass

        t = threading.Thread(target=run, daemon=True)
        t.start()
        return t

    # the XEP-0114 opening ----------------------------------------------------
    def handshake(self, timeout: float = 10.0, accept: bool = True,
                  stream_id: Optional[str] = None) -> str:
        """Reads the component's header, answers with ours (with an id),
        checks the handshake digest and accepts it. Returns the digest."""
        kind, header = self.next_event(timeout)
        assert kind == "header", f"expected the stream header, got {kind}: {header!r}"
        assert header.tag == STREAM_TAG, f"stream root is {header.tag}"
        assert header.get("to") == self.server.domain, \
            f"header to={header.get('to')!r}, expected {self.server.domain!r}"
        head = self.received().decode(errors="replace")
        assert f"xmlns='{NS_COMPONENT}'" in head or f'xmlns="{NS_COMPONENT}"' in head, \
            f"default namespace is not {NS_COMPONENT}: {head[:300]!r}"
        self.stream_id = stream_id or f"fake{int(time.time() * 1000) % 10**9}"
        self.send(
            "<?xml version='1.0'?>"
            f"<stream:stream xmlns='{NS_COMPONENT}' xmlns:stream='{NS_STREAMS}' "
            f"from='{self.server.domain}' id='{self.stream_id}'>"
        )
        hs = self.recv_stanza(timeout)
        assert hs.tag == f"{{{NS_COMPONENT}}}handshake", f"expected <handshake/>, got {hs.tag}"
        expected = handshake_digest(self.stream_id, self.server.secret)
        digest = (hs.text or "").strip()
        if accept:
            assert digest == expected, f"handshake digest {digest!r}, expected {expected!r}"
            self.send("<handshake/>")
        else:
            self.send(
                f"<stream:error><not-authorized xmlns='{NS_STREAM_ERRORS}'/></stream:error>"
                "</stream:stream>"
            )
        return digest

    def expect_stream_error(self, condition: str, timeout: float = 10.0) -> ET.Element:
        """Skips stanzas until a <stream:error>; checks its condition and that
        </stream:stream> follows. Returns the error element."""
        deadline = time.monotonic() + timeout
        while True:
            kind, value = self.next_event(max(0.1, deadline - time.monotonic()))
            if kind == "stanza" and value.tag == ERROR_TAG:
                conds = [c.tag for c in value if c.tag.startswith(f"{{{NS_STREAM_ERRORS}}}")
                         and not c.tag.endswith("}text")]
                assert conds == [f"{{{NS_STREAM_ERRORS}}}{condition}"], \
                    f"stream error conditions {conds}, expected {condition}"
                err = value
                break
            if kind == "stanza":
                continue
            raise AssertionError(f"expected <stream:error> {condition}, got {kind}: {value!r}; "
                                 f"received: {self.received()[-500:]!r}")
        kind, value = self.next_event(max(0.1, deadline - time.monotonic()))
        assert kind == "end", f"expected </stream:stream> after the stream error, got {kind}"
        return err

    def close_stream(self) -> None:
        try:
            self.send("</stream:stream>")
        except OSError:
            pass

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def wait_eof(self, timeout: float = 10.0) -> None:
        assert self.eof.wait(timeout), f"component did not close the connection in {timeout}s"


class FakeServer:
    def __init__(self, domain: str = "rooms.localhost", secret: str = "s3cret",
                 port: Optional[int] = None):
        self.domain = domain
        self.secret = secret
        self.port = port or free_port()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        self.connections: "queue.Queue[Link]" = queue.Queue()
        self.accepted = 0
        self.accept_times: List[float] = []
        self.links: List[Link] = []
        self._stop = False
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        while not self._stop:
            try:
                s, _ = self.sock.accept()
            except OSError:
                break
            if self._stop:
                s.close()
                break
            self.accepted += 1
            self.accept_times.append(time.monotonic())
            link = Link(s, self)
            self.links.append(link)
            self.connections.put(link)

    def accept(self, timeout: float = 10.0) -> Link:
        try:
            return self.connections.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the component did not connect to the fake server "
                                 f"(port {self.port}) within {timeout}s")

    def close(self) -> None:
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for link in self.links:
            link.close()
