/* The fixture every check_muc_* program shares: one service on a fixed
 * clock with seeded ids, writing into a buffer; literal stanzas in, the
 * serialized output back with occupant ids shown as OID-N. */
#ifndef STOA_MUCFIX_H
#define STOA_MUCFIX_H

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "out.h"
#include "muc/occstore.h"
#include "muc/recheck.h"
#include "muc/store.h"
#include "safety/linkpol.h"
#include "safety/ublock.h"
#include "service.h"
#include "testutil.h"

#define SVC "rooms.example.org"
#define ALICE "alice@example.org/pc"
#define BOB "bob@example.org/phone"
#define CAROL "carol@example.org/web"
#define NOW 1000000.0 /* 1970-01-12T13:46:40Z */
/* Stanza ids: milliseconds << 12, then a counter. */
#define SID1 "000003b9aca00000"
#define SID2 "000003b9aca00001"

/* What the tests read and set: the service under test, its clock, the
 * output of the last stanza fed (normalized), the occupant ids seen. */
extern buf output;
extern service *svc;
extern double clock_now;
extern char *last;
extern char oids[8][33];
extern int noids;

/* The service every test runs against; policy and stranger_seconds are
 * the [links] settings (LINKPOL_DELIVER, 0: none). */
service *new_service(linkpol_action policy, double stranger_seconds);
/* Where the service and other modules under test write: into output. */
out mucfix_out(void);
/* The checked fixture: a fresh service, clock and occupant-id numbering. */
void mucfix_setup(void);
void mucfix_teardown(void);
/* Takes what was written since output was last reset, normalized, into
 * last, and returns it. */
const char *mucfix_take(void);
/* Feeds one literal stanza to the service; returns mucfix_take(). */
const char *feed(const char *in);
/* Alice creates room and accepts the default configuration (an instant
 * room, XEP-0045 10.1.2). */
void make_room(const char *room);
void join(const char *full, const char *room, const char *nick);
/* Runs the suite (tu_run) and frees what the fixture holds. */
int mucfix_run(Suite *s);

#define expect(in, want) ck_assert_str_eq(feed(in), want)
#define expect_has(in, part)                                                                       \
    do {                                                                                           \
        const char *got_ = feed(in);                                                               \
        ck_assert_msg(strstr(got_, part) != NULL, "expected\n  %s\nin\n  %s", part, got_);         \
    } while (0)
#define expect_silence(in) ck_assert_str_eq(feed(in), "")

#define STANZA_ERR(cond) "<" cond " xmlns=\"urn:ietf:params:xml:ns:xmpp-stanzas\"/>"

#endif
