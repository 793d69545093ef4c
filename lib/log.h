/* log: leveled logging to stderr or syslog.
 *
 * Library code returns errors; only daemons' top levels and the stream
 * engine's connection events log. Never pass secrets to these functions. */
#ifndef STOA_LOG_H
#define STOA_LOG_H

#include <stdbool.h>

typedef enum { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR } log_level;

/* ident: program name for syslog and the stderr prefix. */
void log_init(const char *ident, log_level level, bool use_syslog);
void log_set_level(log_level level);
log_level log_get_level(void);
/* Parses "debug"/"info"/"warn"/"warning"/"error". Returns 0 or -1. */
int log_level_parse(const char *s, log_level *out);
const char *log_level_name(log_level level);
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_close(void);

#define log_debug(...)                                                                             \
    do {                                                                                           \
        if (log_get_level() <= LOG_LVL_DEBUG)                                                      \
            log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                                                   \
    } while (0)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)

#endif
