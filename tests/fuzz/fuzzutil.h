/* Helpers the fuzz targets share (tests/fuzz/README.md): stanzas parsed as
 * the component link parses them, a service with the settings the unit
 * tests use, and the check every target makes of what the component sends:
 * whatever the input, the output must be stanzas a server accepts, since
 * bytes it rejects would cost the whole link. */
#ifndef STOA_FUZZUTIL_H
#define STOA_FUZZUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "out.h"
#include "service.h"
#include "xml.h"

#define FZ_DOMAIN "rooms.example.org"
#define FZ_OWNER "owner@example.org/pc"
#define FZ_MODERATOR "mod@example.org"

/* Where the sink writes; fz_check_output empties it. */
extern buf fz_output;
extern const out fz_sink;

/* One stanza written as on a component stream (default namespace
 * jabber:component:accept), or NULL when it does not parse. */
xml_node *fz_stanza(const char *xml, size_t n);
/* Aborts unless fz_output holds a well-formed sequence of stanzas; empties it. */
void fz_check_output(void);
/* The service of the unit tests: rooms with history, the desk with
 * FZ_MODERATOR, no Redis. Aborts on OOM. */
service *fz_service_new(void);
/* The same, with per-user blocking (XEP-0191) when blocking is true. */
service *fz_service_make(bool blocking);
/* fz_service_new with FZ_OWNER in the room `room_jid` (nick Owner), which
 * is left locked as a new room is (configure false) or made an instant room. */
service *fz_service_with_room(const char *room_jid, bool configure);
/* Feeds one literal stanza to the service (nothing when it does not parse). */
void fz_feed(service *svc, const char *xml);
/* A fixed clock that moves on a little at each call. */
double fz_clock(void);

#endif
