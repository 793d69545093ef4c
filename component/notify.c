#include "autoconfig.h"

#include "notify.h"

#ifdef HAVE_SYSTEMD
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-daemon.h>

#include "log.h"

static ev_timer watchdog;
static bool watchdog_on, ready_sent;

/* The timer fires only while the loop turns: a loop stuck in a handler stops
 * the pings and systemd restarts the daemon, which is the point. */
static void on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    sd_notify(0, "WATCHDOG=1");
}

void notify_start(struct ev_loop *loop)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return;
    /* Half the period, as sd_watchdog_enabled(3) advises. */
    double every = (double)usec / 2e6;
    ev_timer_init(&watchdog, on_watchdog, every, every);
    ev_timer_start(loop, &watchdog);
    watchdog_on = true;
    log_info("systemd watchdog: a ping every %.1fs", every);
}

void notify_ready(const char *status)
{
    if (!ready_sent) {
        sd_notifyf(0, "READY=1\nSTATUS=%s", status);
        ready_sent = true;
    } else {
        sd_notifyf(0, "STATUS=%s", status);
    }
}

void notify_status(const char *status)
{
    sd_notifyf(0, "STATUS=%s", status);
}

void notify_stopping(void)
{
    sd_notify(0, "STOPPING=1\nSTATUS=stopping");
}

void notify_stop(struct ev_loop *loop)
{
    if (watchdog_on)
        ev_timer_stop(loop, &watchdog);
    watchdog_on = false;
}

#else

void notify_start(struct ev_loop *loop)
{
    (void)loop;
}

void notify_ready(const char *status)
{
    (void)status;
}

void notify_status(const char *status)
{
    (void)status;
}

void notify_stopping(void) {}

void notify_stop(struct ev_loop *loop)
{
    (void)loop;
}

#endif
