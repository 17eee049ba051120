/*
 * evlog: libevent's log through ours (see evlog.h).
 */
#include "daemon/evlog.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/ratelimit.h"

static pthread_mutex_t evlog_lock = PTHREAD_MUTEX_INITIALIZER;
static fg_ratelimit_t evlog_rl;
static uint64_t evlog_suppressed; /* total; under evlog_lock */

static void on_libevent_log(int severity, const char *msg) {
        fg_log_level_t level = severity == EVENT_LOG_DEBUG ? FG_LOG_DEBUG
                             : severity == EVENT_LOG_MSG   ? FG_LOG_INFO
                             : severity == EVENT_LOG_WARN  ? FG_LOG_WARN
                                                           : FG_LOG_ERROR;
        uint64_t held = 0;
        bool ok;

        if ((int)level > (int)fg_log_get_level())
                return; /* filtered anyway: spends no token */
        pthread_mutex_lock(&evlog_lock);
        ok = fg_ratelimit_allow(&evlog_rl, fg_mono_ns(), &held);
        if (!ok)
                evlog_suppressed++;
        pthread_mutex_unlock(&evlog_lock);
        if (!ok)
                return;
        if (held)
                fg_log(level, "libevent: %s (%llu earlier libevent messages not shown)", msg,
                       (unsigned long long)held);
        else
                fg_log(level, "libevent: %s", msg);
}

/* Main thread, before other threads. */
void fg_evlog_install(void) {
        fg_ratelimit_init(&evlog_rl, FG_EVLOG_BURST, FG_EVLOG_PER_S);
        event_set_log_callback(on_libevent_log);
}

/* Any thread. */
uint64_t fg_evlog_suppressed_total(void) {
        uint64_t n;

        pthread_mutex_lock(&evlog_lock);
        n = evlog_suppressed;
        pthread_mutex_unlock(&evlog_lock);
        return n;
}
