/* stats: latency samples and the process figures the benchmark reports. */
#ifndef STOA_BENCH_STATS_H
#define STOA_BENCH_STATS_H

#include <stddef.h>

typedef struct stats_samples {
    double *v;
    size_t n, cap;
} stats_samples;

/* Adds one sample (silently dropped when out of memory: a percentile over
 * fewer samples is still honest, a crash in the middle of a run is not). */
void stats_add(stats_samples *s, double x);
/* The p-th percentile (0..100) by nearest rank; sorts the samples. 0 if none. */
double stats_pct(stats_samples *s, double p);
void stats_free(stats_samples *s);

/* Seconds on a monotonic clock. */
double stats_now(void);
/* User + system CPU seconds of process pid (all its threads), from
 * /proc/PID/stat; -1 when it cannot be read. */
double stats_cpu(int pid);
/* User + system CPU seconds of this process so far (getrusage). */
double stats_self_cpu(void);
/* A "Vm...:" field of /proc/PID/status in KiB (e.g. "VmRSS"), -1 if absent. */
long stats_vm_kib(int pid, const char *field);

#endif
