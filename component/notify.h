/* notify: tells systemd how the daemon is doing (sd_notify), for a unit of
 * Type=notify: READY=1 once the component link is first up, STATUS= lines
 * for `systemctl status`, WATCHDOG=1 from a libev timer while the loop runs,
 * STOPPING=1 on shutdown.
 *
 * Every call is a no-op when systemd did not start the daemon (no
 * NOTIFY_SOCKET) or when it was built --without-systemd. One daemon, one
 * loop: the watchdog timer is this module's own static state. */
#ifndef STOA_NOTIFY_H
#define STOA_NOTIFY_H

#include <ev.h>

/* Starts the watchdog timer when the unit sets WatchdogSec=. */
void notify_start(struct ev_loop *loop);
/* The service is up: READY=1 (the first time) and a status line. */
void notify_ready(const char *status);
/* A status line only (the link went down, Redis is away...). */
void notify_status(const char *status);
/* Shutdown has begun. */
void notify_stopping(void);
/* Stops the watchdog timer (before the loop is destroyed). */
void notify_stop(struct ev_loop *loop);

#endif
