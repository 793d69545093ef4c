/* xtime: XEP-0082 date-times, as stamps in delays, archives and queries. */
#ifndef STOA_XTIME_H
#define STOA_XTIME_H

/* "2026-11-23T10:00:00.123Z" (UTC, milliseconds) for t seconds since the
 * epoch. out must hold 64 bytes. */
void xtime_format(double t, char out[64]);
/* Parses 2026-11-23T10:00:00Z, with optional fraction and ±hh:mm offset.
 * Returns seconds since the epoch, or -1 when it does not parse. */
double xtime_parse(const char *s);

#endif
