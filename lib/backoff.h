/* backoff: reconnection delays, exponential with full jitter.
 *
 * Each failed attempt doubles the ceiling (from min up to max); the delay is
 * drawn uniformly from [min, ceiling], so many instances that lost the same
 * server do not come back in lock step. */
#ifndef STOA_BACKOFF_H
#define STOA_BACKOFF_H

#include <stdbool.h>
#include <stdint.h>

typedef struct backoff {
    double min, max; /* seconds, 0 < min <= max */
    double ceiling;  /* current upper bound */
    unsigned attempts;
    uint64_t rng; /* xorshift state: reproducible when seeded */
} backoff;

void backoff_init(backoff *b, double min, double max, uint64_t seed);
/* Delay in seconds before the next attempt; advances the ceiling. */
double backoff_next(backoff *b);
/* After a success: start again from min. */
void backoff_reset(backoff *b);
/* Jump straight to the maximum (e.g. after an authentication failure, where
 * retrying fast cannot help). */
void backoff_to_max(backoff *b);
/* A connection that had been up for `seconds` ended. It starts again from
 * min when it lasted at least `stable` seconds, or when `curable`: our own
 * side ended it for a fault of that connection alone, which a new one does
 * not carry (bad input on a stream that had been working). Otherwise the
 * ceiling keeps growing, so a peer that accepts and drops us at once is not
 * hammered. */
void backoff_session_ended(backoff *b, double seconds, double stable, bool curable);

#endif
