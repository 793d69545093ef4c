/* The configuration file (lib/config.c) with stoa-component's schema
 * (component/settings.c): any text loads or is refused with a message, and
 * nothing leaks either way. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = strndup((const char *)data, size);
    if (!text)
        return 0;
    settings s;
    char err[512];
    err[0] = '\0';
    if (settings_load_string("fuzz.conf", text, &s, err, sizeof err) == 0) {
        char **topics = settings_topics(&s);
        settings_free_topics(topics);
        settings_free(&s);
    } else if (!err[0]) {
        fprintf(stderr, "refused without a message:\n%s\n", text);
        abort();
    }
    free(text);
    return 0;
}
