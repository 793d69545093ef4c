/* search: the room directory searched (XEP-0433, Extended Channel Search),
 * on the service's own address.
 *
 * Ownership: everything is borrowed for the call. */
#ifndef STOA_MUC_SEARCH_H
#define STOA_MUC_SEARCH_H

#include "muc/room.h"

/* q: the IQ's <search/> payload. */
void muc_search(muc *m, const xml_node *iq, const xml_node *q);

#endif
