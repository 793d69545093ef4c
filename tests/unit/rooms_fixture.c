/* The additions of rooms_fixture.h to the shared room fixture (mucfix.c). */
#include "rooms_fixture.h"

#include <stdarg.h>

const char *rf_feedf(const char *fmt, ...)
{
    char in[16384];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(in, sizeof in, fmt, ap);
    va_end(ap);
    ck_assert_msg(n > 0 && (size_t)n < sizeof in, "test input too long");
    return feed(in);
}

void rf_make_room(const char *room, const char *fields)
{
    rf_join(ALICE, room, "Alice");
    const char *got = rf_feedf(
        "<iq type='set' id='cfg' from='" ALICE "' to='%s@" SVC "'>"
        "<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' "
        "type='submit'><field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig"
        "</value></field>%s</x></query></iq>",
        room, fields ? fields : "");
    ck_assert_msg(strstr(got, "type=\"result\"") != NULL, "room not configured: %s", got);
}

const char *rf_join(const char *full, const char *room, const char *nick)
{
    return rf_feedf("<presence from='%s' to='%s@" SVC "/%s'>"
                    "<x xmlns='http://jabber.org/protocol/muc'/></presence>",
                    full, room, nick);
}

unsigned rf_count(const char *hay, const char *needle)
{
    unsigned n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}
