/* xtime: the clocks, and XEP-0082 date-times as stamps in delays,
 * archives and queries.
 *
 * Two clocks, each for its own use: the wall clock for what is shown or
 * stored as a date (stamps, stanza-ids, report times), the monotonic one
 * for intervals (token buckets, lapses, deadlines), which must not jump
 * when the system time is set. Modules that take a clock in their config
 * (for tests) default to one of these. */
#ifndef STOA_XTIME_H
#define STOA_XTIME_H

/* Seconds since the epoch (CLOCK_REALTIME). */
double xtime_wall(void);
/* Seconds on CLOCK_MONOTONIC: only differences mean anything. */
double xtime_mono(void);

/* "2026-11-23T10:00:00.123Z" (UTC, milliseconds) for t seconds since the
 * epoch. out must hold 64 bytes. */
void xtime_format(double t, char out[64]);
/* Parses 2026-11-23T10:00:00Z, with optional fraction and ±hh:mm offset.
 * Returns seconds since the epoch, or -1 when it does not parse. */
double xtime_parse(const char *s);

#endif
