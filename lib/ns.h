/* XML namespaces Stoa speaks, in one place. */
#ifndef STOA_NS_H
#define STOA_NS_H

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_COMPONENT "jabber:component:accept"
#define NS_CLIENT "jabber:client"
#define NS_SERVER "jabber:server"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_STREAM_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_XML "http://www.w3.org/XML/1998/namespace"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_PING "urn:xmpp:ping"
#define NS_VERSION "jabber:iq:version"
#define NS_DATA "jabber:x:data"
#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_COMMANDS "http://jabber.org/protocol/commands"
#define NS_ADDRESS "http://jabber.org/protocol/address" /* XEP-0033 */
/* Server-to-server streams (lib/s2s.c). */
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_DIALBACK "jabber:server:dialback"
#define NS_DIALBACK_FEATURE "urn:xmpp:features:dialback"

#endif
