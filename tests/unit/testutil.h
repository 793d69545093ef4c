/* Helpers shared by the unit tests: literal XML in, serialized XML out. */
#ifndef STOA_TESTUTIL_H
#define STOA_TESTUTIL_H

#include <check.h>

#include "xml.h"

/* Parses one stanza written as it would appear on a component stream
 * (default namespace jabber:component:accept). Caller frees. NULL if it
 * does not parse. */
xml_node *tu_stanza(const char *xml);
/* Serializes as it would be written on a component stream; caller frees. */
char *tu_str(const xml_node *n);
/* Asserts that r is NULL when want is NULL, else that it serializes to
 * want; frees r either way. */
void tu_expect(xml_node *r, const char *want);

/* Runs a suite the way every unit test program does (CK_ENV: the
 * CK_VERBOSITY and CK_FORK variables apply); returns the exit status. */
int tu_run(Suite *s);

#endif
