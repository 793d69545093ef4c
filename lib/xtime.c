#define _XOPEN_SOURCE 700 /* strptime */
#include "xtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void xtime_format(double t, char out[64])
{
    time_t secs = (time_t)t;
    struct tm tm;
    gmtime_r(&secs, &tm);
    int ms = (int)((t - (double)secs) * 1000.0);
    snprintf(out, 64, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

static double seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double xtime_wall(void)
{
    return seconds(CLOCK_REALTIME);
}

double xtime_mono(void)
{
    return seconds(CLOCK_MONOTONIC);
}

double xtime_parse(const char *s)
{
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    double frac = 0;
    if (*p == '.') {
        char *end;
        frac = strtod(p, &end);
        p = end;
    }
    long off = 0;
    if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return -1;
        off = (hh * 3600L + mm * 60L) * (*p == '+' ? 1 : -1);
    } else if (*p != 'Z') {
        return -1;
    }
    return (double)timegm(&tm) - (double)off + frac;
}
