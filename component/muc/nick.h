/* nick: what a room nickname must be beyond Resourceprep (XEP-0045 17.1,
 * 7.2.9, 7.6), which the router's parsing of the occupant address has
 * already applied (an address Resourceprep refuses never reaches a room).
 *
 * - Not blank: a nick made only of spaces or of characters that show as
 *   nothing (fillers, blanks, lone combining marks) is refused with
 *   jid-malformed, as an empty one is (17.1: "MUST NOT allow empty or
 *   invisible Room Nicknames").
 * - Not a look-alike: two nicks whose keys are equal are one nick, so
 *   nobody can take "ALICE", "Alice " or "Аlice" (a Cyrillic A) beside
 *   someone else's "Alice" (conflict, 7.2.9 and 7.6). The key is the nick
 *   case-folded and NFKC-normalized (RFC 3454 B.2, as Nodeprep folds),
 *   without spaces or invisible characters, with the Cyrillic and Greek
 *   letters that look like Latin ones and the digits and capitals that look
 *   like l, I and O mapped to one of each. The same person may hold
 *   look-alike nicks (several clients under variants of their name).
 *
 * Ownership: everything is borrowed; the key of an occupant's nick is kept
 * on the occupant (o->fold, freed by the model). */
#ifndef STOA_MUC_NICK_H
#define STOA_MUC_NICK_H

#include <stdbool.h>

#include "muc/room.h"

/* Whether nick (prepared, NUL-terminated UTF-8) shows as nothing. */
bool muc_nick_blank(const char *nick);
/* The look-alike key of nick, malloc'ed; NULL on OOM. */
char *muc_nick_fold(const char *nick);
/* NULL when bare may take nick in r (besides an exact match, which the
 * caller handles), else why not, with *e set. `self` (may be NULL) is the
 * occupant changing its nick, not compared with itself. */
const char *muc_nick_refusal(muc_room *r, const char *nick, const char *bare,
                             const muc_occupant *self, stanza_error *e);

#endif
