/* Archive queries (XEP-0313 with XEP-0059 paging, component/muc/mam.c) on
 * a room with history, through the service, as a client sends them: the
 * input is what goes inside <query xmlns='urn:xmpp:mam:2'>. Byte 0 says
 * whether it is a set (a query) or a get (the form). */
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "fuzzutil.h"

#define ROOM "archive@" FZ_DOMAIN

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    service *svc = fz_service_with_room(ROOM, true);
    for (int i = 0; i < 8; i++) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "<message type='groupchat' id='h%d' from='" FZ_OWNER "' to='" ROOM "'>"
                 "<body>message %d</body></message>",
                 i, i);
        fz_feed(svc, msg);
    }
    fz_check_output();
    buf b = BUF_INIT;
    buf_printf(&b,
               "<iq type='%s' id='mam' from='" FZ_OWNER "' to='" ROOM "'>"
               "<query xmlns='urn:xmpp:mam:2' queryid='f'>%.*s</query></iq>",
               data[0] & 1 ? "get" : "set", (int)(size - 1), (const char *)data + 1);
    fz_feed(svc, buf_unread(&b));
    buf_free(&b);
    fz_check_output();
    service_free(svc);
    fz_check_output();
    return 0;
}
