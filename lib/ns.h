/* ns: every XML namespace Stoa speaks or writes, in one place. A
 * namespace is defined here and nowhere else; code compares namespaces,
 * never prefixes (xml.h). Prefixes of families (NS_..._PREFIX) are for
 * the checks that accept every version of a protocol. */
#ifndef STOA_NS_H
#define STOA_NS_H

/* ---- streams and stanzas (RFC 6120, XEP-0114) ---- */
#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_COMPONENT "jabber:component:accept"
#define NS_CLIENT "jabber:client"
#define NS_SERVER "jabber:server"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_STREAM_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_XML "http://www.w3.org/XML/1998/namespace"
/* Server-to-server streams (lib/s2s.c). */
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_DIALBACK "jabber:server:dialback"
#define NS_DIALBACK_FEATURE "urn:xmpp:features:dialback"

/* ---- the service (XEP-0030, XEP-0199, XEP-0092, XEP-0004, XEP-0050) ---- */
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_PING "urn:xmpp:ping"
#define NS_VERSION "jabber:iq:version"
#define NS_DATA "jabber:x:data"
#define NS_COMMANDS "http://jabber.org/protocol/commands"
#define NS_RSM "http://jabber.org/protocol/rsm"       /* XEP-0059 */
#define NS_FORWARD "urn:xmpp:forward:0"               /* XEP-0297 */
#define NS_DELAY "urn:xmpp:delay"                     /* XEP-0203 */
#define NS_JID0 "urn:xmpp:jid:0"                      /* XEP-0377's reported JID */
#define NS_VCARD "vcard-temp"                         /* XEP-0054 */
#define NS_VCARD_UPDATE "vcard-temp:x:update"         /* XEP-0153 */
#define NS_PUBSUB "http://jabber.org/protocol/pubsub" /* XEP-0060 */
#define NS_PUBSUB_EVENT "http://jabber.org/protocol/pubsub#event"

/* ---- rooms (XEP-0045 and what clients expect of a room) ---- */
#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_MUC_ADMIN "http://jabber.org/protocol/muc#admin"
#define NS_MUC_OWNER "http://jabber.org/protocol/muc#owner"
#define NS_MUC_REQUEST "http://jabber.org/protocol/muc#request" /* XEP-0045 7.13, 8.6 */
#define NS_MUC_ROOMINFO "http://jabber.org/protocol/muc#roominfo"
#define NS_MUC_ROOMCONFIG "http://jabber.org/protocol/muc#roomconfig"
#define NS_MUC_STABLE_ID "http://jabber.org/protocol/muc#stable_id"
#define NS_MUC_SELF_PING "http://jabber.org/protocol/muc#self-ping-optimization" /* XEP-0410 */
#define NS_CONFERENCE "jabber:x:conference"                                      /* XEP-0249 */
#define NS_SID "urn:xmpp:sid:0"                                                  /* XEP-0359 */
#define NS_OCCUPANT_ID "urn:xmpp:occupant-id:0"                                  /* XEP-0421 */
#define NS_MAM "urn:xmpp:mam:2"                                                  /* XEP-0313 */
#define NS_FASTEN "urn:xmpp:fasten:0"                                            /* XEP-0422 */
#define NS_MODERATE0 "urn:xmpp:message-moderate:0"                               /* XEP-0425 */
#define NS_MODERATE1 "urn:xmpp:message-moderate:1"
#define NS_RETRACT0 "urn:xmpp:message-retract:0" /* XEP-0424 */
#define NS_RETRACT1 "urn:xmpp:message-retract:1"
/* XEP-0433, extended channel search */
#define NS_CHANNEL_SEARCH "urn:xmpp:channel-search:0:search"
#define NS_CHANNEL_SEARCH_PARAMS "urn:xmpp:channel-search:0:search-params"
#define NS_CHANNEL_SEARCH_ERRORS "urn:xmpp:channel-search:0:error"
#define NS_CHANNEL_SEARCH_ORDER "urn:xmpp:channel-search:0:order"

/* ---- safety (XEP-0377, XEP-0191, and what counts as a link or a file) ---- */
#define NS_REPORTING_PREFIX "urn:xmpp:reporting:"
#define NS_REPORTING0 "urn:xmpp:reporting:0"
#define NS_REPORTING1 "urn:xmpp:reporting:1"
#define NS_REPORTING_SPAM "urn:xmpp:reporting:spam"   /* a reason, in :0 */
#define NS_REPORTING_ABUSE "urn:xmpp:reporting:abuse" /* a reason, in :0 */
#define NS_BLOCKING "urn:xmpp:blocking"
#define NS_ROSTER "jabber:iq:roster"                              /* RFC 6121 */
#define NS_PRIVILEGE1 "urn:xmpp:privilege:1"                      /* XEP-0356 0.2 (ejabberd) */
#define NS_PRIVILEGE2 "urn:xmpp:privilege:2"                      /* XEP-0356 0.4 (Prosody) */
#define NS_OOB "jabber:x:oob"                                     /* XEP-0066 */
#define NS_SIMS "urn:xmpp:sims:1"                                 /* XEP-0385 */
#define NS_SFS_PREFIX "urn:xmpp:sfs:"                             /* XEP-0447 */
#define NS_JINGLE_FT_PREFIX "urn:xmpp:jingle:apps:file-transfer:" /* XEP-0234 */
#define NS_FILE_METADATA_PREFIX "urn:xmpp:file:metadata:"         /* XEP-0446 */

/* ---- Stoa's own ---- */
/* Elements Stoa adds to stanzas (held messages, unverified links) and the
 * fields it adds to forms, in Clark notation. */
#define NS_STOA "urn:xmpp:stoa:0"
/* Documents Stoa keeps in Redis (schemas/redis-keys.md). */
#define NS_STOA_ROOM_DOC "urn:stoa:muc:room:0"
#define NS_STOA_OCC_RECORD "urn:stoa:muc:occ:0"
/* contrib/ejabberd/mod_stoa_roster: a roster item written with its
 * subscription, where ejabberd 23.01's privileged roster set cannot. */
#define NS_STOA_ROSTER "urn:stoa:roster:0"

#endif
