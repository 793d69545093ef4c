"""Room avatars through real Prosody and ejabberd with Redis (issue 14).

XEP-0486 (MUC Avatars) on XEP-0054 and XEP-0153: an owner publishes a
vCard-temp with a PHOTO on the room JID ("If the user trying to publish an
avatar isn't allowed to do so, the room must return a forbidden error");
"The room should then broadcast a notification that the configuration
changed" (status 104); the room advertises the hash as
'muc#roominfo_avatarhash' in disco#info ("will not be present when the room
doesn't have an avatar set"); anyone reads the vCard; "Setting an empty vCard
unpublishes the avatar". Stoa also sends the XEP-0153 presence from the room,
on which Converse.js fetches the vCard again. The browser test shows the avatar in Converse.js
(test_browser.py)."""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib
import xml.etree.ElementTree as ET

from test_desk import raw
from mucutil import (assert_error, assert_result, create_room, from_room, new_room, room_info)
from xmpp import dump, is_message, is_presence, status_codes

NS_VCARD = "vcard-temp"
NS_VCARD_UPDATE = "vcard-temp:x:update"


def png(w: int, h: int, pixel) -> bytes:
    """A real PNG (RGB, 8 bits) of w x h, pixel(x, y) -> (r, g, b)."""
    rows = b"".join(b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(w)) for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def stoa_avatar() -> bytes:
    """64x64: an orange disc with a blue bar, on white; easy to spot."""
    def pixel(x, y):
        if 26 <= y < 38 and 12 <= x < 52:
            return (30, 80, 200)
        return (240, 120, 20) if (x - 32) ** 2 + (y - 32) ** 2 < 28 ** 2 else (255, 255, 255)
    return png(64, 64, pixel)


def vcard_photo(mime: str, data_b64: str) -> str:
    return (f"<vCard xmlns='{NS_VCARD}'><PHOTO><TYPE>{mime}</TYPE>"
            f"<BINVAL>{data_b64}</BINVAL></PHOTO></vCard>")


def set_avatar(client, room: str, image: bytes, mime: str = "image/png") -> ET.Element:
    return client.iq(room, vcard_photo(mime, base64.b64encode(image).decode()), "set")


def photo_of(reply: ET.Element):
    v = reply.find(f"{{{NS_VCARD}}}vCard")
    assert reply.get("type") == "result" and v is not None, dump(reply)
    p = v.find(f"{{{NS_VCARD}}}PHOTO")
    if p is None:
        return None
    return (p.findtext(f"{{{NS_VCARD}}}TYPE"),
            base64.b64decode(p.findtext(f"{{{NS_VCARD}}}BINVAL") or ""))


def test_owner_sets_avatar_everyone_sees_it_xep_0486(stack, connect, redis):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    room = new_room(stack, "avatar")
    # A temporary room: kept in Redis while occupied, gone after the test
    # (a persistent one would stay alice's in other tests' eyes).
    create_room(alice, room)
    bob.join(room, "Bob")
    assert "muc#roominfo_avatarhash" not in room_info(bob, room)["fields"]
    assert photo_of(carol.iq(room, f"<vCard xmlns='{NS_VCARD}'/>")) is None
    assert "vcard-temp" in room_info(bob, room)["features"]
    bob.clear()

    image = stoa_avatar()
    sha1 = hashlib.sha1(image).hexdigest()
    assert_result(set_avatar(alice, room, image), room)
    # Occupants: status 104, and the room's presence with the XEP-0153 hash.
    m = bob.wait_for(lambda s: is_message(s) and s.get("from") == room
                     and "104" in status_codes(s), 10, "status 104")
    assert m.get("type") == "groupchat", dump(m)
    p = bob.wait_for(lambda s: is_presence(s) and s.get("from") == room, 10, "room presence")
    assert p.findtext(f"{{{NS_VCARD_UPDATE}}}x/{{{NS_VCARD_UPDATE}}}photo") == sha1, dump(p)
    # disco#info carries the hash; anyone (carol is not in the room) reads it.
    assert room_info(carol, room)["fields"]["muc#roominfo_avatarhash"] == sha1
    assert photo_of(carol.iq(room, f"<vCard xmlns='{NS_VCARD}'/>")) == ("image/png", image)
    # Kept with the room's state in Redis (a temporary room's too, while it
    # has occupants).
    state = raw(redis, "GET", f"stoa-{stack.kind}:muc:room:{room}")
    assert "<avatar type=\"image/png\">" in state, state[:300]

    # An empty vCard removes it.
    bob.clear()
    assert_result(alice.iq(room, f"<vCard xmlns='{NS_VCARD}'/>", "set"), room)
    p = bob.wait_for(lambda s: is_presence(s) and s.get("from") == room, 10, "room presence")
    photo = p.find(f"{{{NS_VCARD_UPDATE}}}x/{{{NS_VCARD_UPDATE}}}photo")
    assert photo is not None and not (photo.text or ""), dump(p)
    assert "muc#roominfo_avatarhash" not in room_info(bob, room)["fields"]
    assert photo_of(carol.iq(room, f"<vCard xmlns='{NS_VCARD}'/>")) is None


def test_avatar_only_owners_and_bad_images_refused(stack, connect):
    alice, bob = connect("alice"), connect("bob")
    room = new_room(stack, "avatar-bad")
    create_room(alice, room)
    bob.join(room, "Bob")
    image = stoa_avatar()
    # Not an owner: forbidden (XEP-0486), an admin neither.
    assert_error(set_avatar(bob, room, image), "forbidden", "auth", frm=room,
                 text="only owners may change the room's avatar")
    r = alice.iq(room, "<query xmlns='http://jabber.org/protocol/muc#admin'>"
                       f"<item affiliation='admin' jid='{stack.jid('bob')}'/></query>", "set")
    assert_result(r, room)
    assert_error(set_avatar(bob, room, image), "forbidden", "auth", frm=room)
    bob.clear()

    svg = b"<svg xmlns='http://www.w3.org/2000/svg'/>"
    big = png(200, 200, lambda x, y: ((x * 7 + y * 13) % 256, (x * y) % 256, (x ^ y) % 256))
    assert len(big) > 32 * 1024, len(big)
    cases = [
        ("SVG", set_avatar(alice, room, svg, "image/svg+xml"), "not-acceptable",
         "a room's avatar is a PNG, JPEG, GIF or WebP image (TYPE)"),
        ("text as a PNG", set_avatar(alice, room, b"hello, not an image"), "not-acceptable",
         "the image is not of the TYPE it claims"),
        ("a PNG said to be a JPEG", set_avatar(alice, room, image, "image/jpeg"),
         "not-acceptable", "the image is not of the TYPE it claims"),
        ("over 32 KiB", set_avatar(alice, room, big), "not-acceptable",
         "the image is larger than 32 KiB"),
        ("not base64", alice.iq(room, vcard_photo("image/png", "*not base64*"), "set"),
         "bad-request", "BINVAL is not base64"),
        ("a link", alice.iq(room, f"<vCard xmlns='{NS_VCARD}'><PHOTO><EXTVAL>"
                                  "https://example.org/a.png</EXTVAL></PHOTO></vCard>", "set"),
         "not-acceptable", "a room's avatar is an image in BINVAL, not a link (EXTVAL)"),
    ]
    for what, reply, cond, text in cases:
        assert reply.get("type") == "error", (what, dump(reply))
        assert_error(reply, cond, frm=room, text=text)
    bob.expect_nothing(from_room(room), 0.3, "news of a refused avatar")
    assert "muc#roominfo_avatarhash" not in room_info(bob, room)["fields"]
