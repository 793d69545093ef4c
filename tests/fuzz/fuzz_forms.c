/* Data forms as a client submits them, through the service: the room
 * configuration form (component/muc/owner.c) and the desk's command forms
 * (component/desk/). Input: one byte choosing the form (0: the room's
 * configuration, else a desk command), then the fields, which go inside
 * <x xmlns='jabber:x:data' type='submit'>. Whatever the fields hold, every
 * answer must be stanzas a server accepts. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzzutil.h"

#define ROOM "lounge@" FZ_DOMAIN
#define NS_CMD "http://jabber.org/protocol/commands"

/* The desk's commands, as its disco#items lists them. An unknown node is
 * answered too, so this list need not follow the desk exactly. */
static const char *const nodes[] = {"report",       "list",   "view", "dismiss",  "warn",
                                    "mute",         "unmute", "kick", "ban-room", "ban",
                                    "block-domain", "erase",  "audit"};

static void submit_room_config(service *svc, const char *fields, size_t n)
{
    buf b = BUF_INIT;
    buf_printf(&b,
               "<iq type='set' id='cfg' from='" FZ_OWNER "' to='" ROOM "'>"
               "<query xmlns='http://jabber.org/protocol/muc#owner'>"
               "<x xmlns='jabber:x:data' type='submit'>%.*s</x></query></iq>",
               (int)n, fields);
    fz_feed(svc, buf_unread(&b));
    buf_free(&b);
    fz_check_output();
    /* What the room now is: its form, its disco#info, a newcomer's join. */
    fz_feed(svc, "<iq type='get' id='get' from='" FZ_OWNER "' to='" ROOM "'>"
                 "<query xmlns='http://jabber.org/protocol/muc#owner'/></iq>");
    fz_feed(svc, "<iq type='get' id='info' from='guest@example.org/a' to='" ROOM "'>"
                 "<query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
    fz_feed(svc, "<presence from='guest@example.org/a' to='" ROOM "/Guest'>"
                 "<x xmlns='http://jabber.org/protocol/muc'/></presence>");
    fz_feed(svc, "<message type='groupchat' id='m' from='" FZ_OWNER "' to='" ROOM "'>"
                 "<body>hi</body></message>");
}

static void submit_command(service *svc, const char *node, const char *fields, size_t n)
{
    buf b = BUF_INIT;
    buf_printf(&b,
               "<iq type='set' id='exe' from='" FZ_MODERATOR "/desk' to='" FZ_DOMAIN "'>"
               "<command xmlns='" NS_CMD "' node='%s' action='execute'/></iq>",
               node);
    fz_feed(svc, buf_unread(&b));
    /* The session the desk opened, if it did. */
    char sid[64] = "";
    char *answer = strndup(buf_unread(&fz_output), buf_unread_len(&fz_output));
    const char *s = answer ? strstr(answer, "sessionid=\"") : NULL;
    if (s)
        sscanf(s + 11, "%63[^\"]", sid);
    free(answer);
    fz_check_output();
    buf_reset(&b);
    buf_printf(&b,
               "<iq type='set' id='sub' from='" FZ_MODERATOR "/desk' to='" FZ_DOMAIN "'>"
               "<command xmlns='" NS_CMD "' node='%s' sessionid='%s' action='complete'>"
               "<x xmlns='jabber:x:data' type='submit'>%.*s</x></command></iq>",
               node, sid, (int)n, fields);
    fz_feed(svc, buf_unread(&b));
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    service *svc = fz_service_with_room(ROOM, false);
    const char *fields = (const char *)data + 1;
    size_t n = size - 1;
    if (data[0] == 0)
        submit_room_config(svc, fields, n);
    else
        submit_command(svc, nodes[(data[0] - 1) % (sizeof nodes / sizeof *nodes)], fields, n);
    fz_check_output();
    service_free(svc);
    fz_check_output();
    return 0;
}
