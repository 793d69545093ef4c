/* linkpol: links and files in messages from strangers.
 *
 * A stranger is an occupant with no affiliation who joined less than
 * [links] stranger_minutes ago. What happens to a groupchat or private
 * message of a stranger that carries a link or a file offer is the
 * service's link policy (docs/safety.md): deliver, mark, hold or reject.
 *
 * Ownership: nothing is kept; the detector only reads the stanza. */
#ifndef STOA_SAFETY_LINKPOL_H
#define STOA_SAFETY_LINKPOL_H

#include "xml.h"

/* Zero is deliver, so a zeroed muc_config changes nothing. */
typedef enum { LINKPOL_DELIVER = 0, LINKPOL_MARK, LINKPOL_HOLD, LINKPOL_REJECT } linkpol_action;

enum { LINKPOL_LINK = 1, LINKPOL_FILE = 2 };

/* LINKPOL_LINK and/or LINKPOL_FILE for what msg carries, 0 for neither. */
unsigned linkpol_detect(const xml_node *msg);
/* "deliver", "mark", "hold", "reject": the [links] policy choices. */
extern const char *const linkpol_names[];

#endif
