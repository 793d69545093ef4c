#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* Whole stderr lines stay below 8 KiB: the prefix (timestamp, level,
 * ident) fits in the 128 bytes kept back from the message. */
#define LINE_MAX_BYTES 8192
#define MSG_MAX_BYTES (LINE_MAX_BYTES - 128)
#define ELLIPSIS "\xe2\x80\xa6" /* U+2026, marks a truncated message */

static char ident_buf[64] = "stoa"; /* openlog() keeps the pointer: must outlive it */
static log_level threshold = LOG_LVL_INFO;
static bool use_syslog_out;
static bool journald; /* stderr is systemd-journald's stream: "<N>" prefixes */

static const struct {
    const char *name;  /* config and command-line spelling */
    const char *upper; /* stderr spelling */
    int priority;
} levels[] = {
    [LOG_LVL_DEBUG] = {"debug", "DEBUG", LOG_DEBUG},
    [LOG_LVL_INFO] = {"info", "INFO", LOG_INFO},
    [LOG_LVL_WARN] = {"warn", "WARN", LOG_WARNING},
    [LOG_LVL_ERROR] = {"error", "ERROR", LOG_ERR},
};

static bool level_valid(log_level level)
{
    return (int)level >= LOG_LVL_DEBUG && (int)level <= LOG_LVL_ERROR;
}

/* systemd sets JOURNAL_STREAM to the device and inode of the stream it
 * connected stdout/stderr to (systemd.exec(5)); comparing them with stderr's
 * tells a journald stream from a redirect made later (a pipe, a file). */
static bool stderr_is_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    struct stat st;
    unsigned long long dev, ino;
    char end;
    if (!js || sscanf(js, "%llu:%llu%c", &dev, &ino, &end) != 2 || fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(const char *ident, log_level level, bool use_syslog)
{
    if (use_syslog_out)
        closelog();
    snprintf(ident_buf, sizeof ident_buf, "%s", ident && *ident ? ident : "stoa");
    threshold = level;
    use_syslog_out = use_syslog;
    journald = stderr_is_journal();
    /* LOG_NDELAY connects now, while /dev/log is still reachable (before
     * any chroot or privilege drop). */
    if (use_syslog_out)
        openlog(ident_buf, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_set_level(log_level level)
{
    threshold = level;
}

log_level log_get_level(void)
{
    return threshold;
}

int log_level_parse(const char *s, log_level *out)
{
    if (!s || !out)
        return -1;
    for (int i = LOG_LVL_DEBUG; i <= LOG_LVL_ERROR; i++) {
        if (strcasecmp(s, levels[i].name) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = LOG_LVL_WARN;
        return 0;
    }
    return -1;
}

const char *log_level_name(log_level level)
{
    return level_valid(level) ? levels[level].name : "unknown";
}

/* Messages can carry peer-supplied text (addresses, stream error text); a
 * newline in it would let a peer forge whole log lines. */
static void sanitize(char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            s[i] = '?';
    }
}

/* Formats into msg (MSG_MAX_BYTES) and returns the length; an overlong
 * message is cut at a UTF-8 character boundary and ends in an ellipsis. */
static size_t format_msg(char *msg, const char *fmt, va_list ap)
{
    int n = vsnprintf(msg, MSG_MAX_BYTES, fmt, ap);
    if (n < 0) {
        snprintf(msg, MSG_MAX_BYTES, "(unformattable log message: %s)", fmt);
        n = (int)strlen(msg);
    }
    size_t len = (size_t)n;
    if (len >= MSG_MAX_BYTES) {
        size_t cut = MSG_MAX_BYTES - sizeof ELLIPSIS;
        while (cut > 0 && ((unsigned char)msg[cut] & 0xC0) == 0x80)
            cut--;
        memcpy(msg + cut, ELLIPSIS, sizeof ELLIPSIS);
        len = cut + sizeof ELLIPSIS - 1;
    }
    sanitize(msg, len);
    return len;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return; /* nowhere left to report it */
        }
        p += w;
        n -= (size_t)w;
    }
}

void log_msg(log_level level, const char *fmt, ...)
{
    if (level < threshold || !level_valid(level))
        return;
    int saved_errno = errno; /* callers log and then still look at errno */

    char msg[MSG_MAX_BYTES];
    va_list ap;
    va_start(ap, fmt);
    size_t len = format_msg(msg, fmt, ap);
    va_end(ap);

    if (use_syslog_out) {
        syslog(levels[level].priority, "%s", msg);
        errno = saved_errno;
        return;
    }

    char line[LINE_MAX_BYTES];
    size_t off = 0;
    int n;
    if (journald) {
        /* sd-daemon(3) priority prefix; the journal adds time and ident. */
        n = snprintf(line, sizeof line, "<%d>", levels[level].priority);
    } else {
        struct timespec ts;
        struct tm tm;
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        off = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
        n = snprintf(line + off, sizeof line - off, ".%03dZ %s %s: ", (int)(ts.tv_nsec / 1000000),
                     levels[level].upper, ident_buf);
    }
    if (n > 0)
        off = off + (size_t)n < sizeof line ? off + (size_t)n : sizeof line - 1;
    if (off + len + 1 > sizeof line)
        len = sizeof line - off - 1;
    memcpy(line + off, msg, len);
    off += len;
    line[off++] = '\n';
    /* One write() per line: O_APPEND and pipe semantics keep lines from
     * several processes sharing stderr whole. */
    write_all(STDERR_FILENO, line, off);
    errno = saved_errno;
}

void log_close(void)
{
    if (use_syslog_out)
        closelog();
    use_syslog_out = false;
}
