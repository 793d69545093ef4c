#include "backoff.h"

#include <time.h>
#include <unistd.h>

/* Spreads a seed over all 64 bits, so nearby seeds (consecutive pids,
 * timestamps a nanosecond apart) still start unrelated sequences. */
static uint64_t splitmix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ULL;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
    return x ^ (x >> 31);
}

/* xorshift64* (Vigna): plenty for jitter, and reproducible from a seed in
 * tests, which random() with its global state is not. */
static uint64_t next_u64(backoff *b)
{
    uint64_t x = b->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    b->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static uint64_t unpredictable_seed(void)
{
    /* The counter keeps two backoffs set up in the same clock tick of one
     * process apart; time and pid keep processes apart. */
    static uint64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
    return now ^ ((uint64_t)getpid() << 40) ^ (++counter * 0xD1B54A32D192ED03ULL);
}

void backoff_init(backoff *b, double min, double max, uint64_t seed)
{
    /* Callers are meant to pass 0 < min <= max; repair anything else rather
     * than return 0 forever and reconnect in a tight loop. */
    if (!(min > 0))
        min = 0.001;
    if (!(max >= min))
        max = min;
    b->min = min;
    b->max = max;
    b->ceiling = min;
    b->attempts = 0;
    b->rng = splitmix64(seed ? seed : unpredictable_seed());
    if (b->rng == 0) /* the one state xorshift never leaves */
        b->rng = 0x9E3779B97F4A7C15ULL;
}

double backoff_next(backoff *b)
{
    /* 53 random bits over 2^53 - 1: uniform on [0, 1], both ends included. */
    double u = (double)(next_u64(b) >> 11) / 9007199254740991.0;
    double delay = b->min + u * (b->ceiling - b->min);
    b->ceiling = b->ceiling * 2 < b->max ? b->ceiling * 2 : b->max;
    if (b->attempts < (unsigned)-1)
        b->attempts++;
    return delay;
}

void backoff_reset(backoff *b)
{
    b->ceiling = b->min;
    b->attempts = 0;
}

void backoff_to_max(backoff *b)
{
    b->ceiling = b->max;
}

void backoff_session_ended(backoff *b, double seconds, double stable, bool curable)
{
    if (curable || seconds >= stable)
        backoff_reset(b);
}
