#include "common/log.h"

#include "common/redact.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Atomic int log_level = FG_LOG_INFO;
static int log_journal; /* set once by fg_log_init() before threads start */

/* JOURNAL_STREAM is "dev:ino" of the journal socket; only trust it when it
 * names our stderr, as sd-daemon(3) asks, so redirected output keeps
 * human timestamps. */
void fg_log_init(void) {
        const char *js = getenv("JOURNAL_STREAM");
        struct stat st;
        unsigned long long dev, ino;

        log_journal = 0;
        if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
                return;
        if (fstat(STDERR_FILENO, &st) == 0 && (unsigned long long)st.st_dev == dev &&
            (unsigned long long)st.st_ino == ino)
                log_journal = 1;
}

bool fg_log_to_journal(void) { return log_journal; }

void fg_log_set_level(fg_log_level_t level) {
        atomic_store_explicit(&log_level, (int)level, memory_order_relaxed);
}

fg_log_level_t fg_log_get_level(void) {
        return (fg_log_level_t)atomic_load_explicit(&log_level, memory_order_relaxed);
}

static const struct {
        const char *name;
        fg_log_level_t level;
} log_levels[] = {
    {"error", FG_LOG_ERROR},
    {"warn", FG_LOG_WARN},
    {"info", FG_LOG_INFO},
    {"debug", FG_LOG_DEBUG},
};

int fg_log_level_parse(const char *name) {
        for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
                if (!strcmp(name, log_levels[i].name))
                        return (int)log_levels[i].level;
        return -1;
}

const char *fg_log_level_name(fg_log_level_t level) {
        for (size_t i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
                if (log_levels[i].level == level)
                        return log_levels[i].name;
        return "?";
}

/* Every line goes through fg_redact_urls: a URL with a password in it may
 * reach a message from anywhere (a config value, a library's error). */
void fg_vlog(fg_log_level_t level, const char *fmt, va_list ap) {
        char line[2048], clean[2048];
        size_t len;
        int n;

        if ((int)level > atomic_load_explicit(&log_level, memory_order_relaxed))
                return;

        if (log_journal) {
                n = snprintf(line, sizeof(line), "<%d>", (int)level);
        } else {
                struct timespec ts;
                struct tm tm;
                clock_gettime(CLOCK_REALTIME, &ts);
                gmtime_r(&ts.tv_sec, &tm);
                n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                             tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L,
                             fg_log_level_name(level));
        }
        len = (size_t)(n > 0 ? n : 0);
        n = vsnprintf(line + len, sizeof(line) - len - 1, fmt, ap);
        if (n < 0)
                n = 0;
        len += (size_t)n;
        if (len > sizeof(line) - 2)
                len = sizeof(line) - 2; /* truncated: keep the newline */
        line[len] = '\0';
        if (fg_redact_has_url_userinfo(line)) {
                fg_redact_urls(line, clean, sizeof(clean) - 1);
                len = strlen(clean);
                memcpy(line, clean, len);
        }
        line[len++] = '\n';
        /* One write per line; a failed log write has nowhere to be reported. */
        if (write(STDERR_FILENO, line, len) < 0)
                return;
}

void fg_log(fg_log_level_t level, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fg_vlog(level, fmt, ap);
        va_end(ap);
}
