/*
 * cmd_top: `floodgate top [URL]` — a live terminal view of a running
 * daemon's GET /stats, in the manner of top(1). The text comes from
 * top_render; this file owns the network and the terminal.
 *
 * DESIGN: one event_base on the main thread drives everything. A periodic
 * timer starts a GET on one keep-alive evhttp connection (never more than
 * one request in flight); the body is parsed with jansson and kept as the
 * last good snapshot. Signals (INT, TERM, HUP, QUIT, WINCH, TSTP, CONT) and
 * keystrokes arrive as events on the same base, so no state is shared with
 * a signal handler — except the crash handler, which only writes the
 * restore sequence and resets termios (both async-signal-safe).
 *
 * Three outputs, chosen once at start:
 *   screen  stdout is a TTY: alternate screen, hidden cursor, redraw in
 *           place; stdin non-canonical and silent when it is a TTY too.
 *           An unreachable daemon is shown in the header and retried.
 *   stream  stdout is not a TTY: a plain snapshot every interval, separated
 *           by blank lines (`floodgate top | tee log`); failures go to
 *           stderr as log lines, once per distinct error.
 *   once    --once: one plain snapshot and exit 0; or exit 1 with the
 *           reason on stderr when unreachable or the JSON is malformed.
 *
 * Threading: main thread only.
 * Ownership: top_t owns the base, the connection, the last snapshot and
 * the terminal modes it changed; top_leave_screen() gives the terminal
 * back on every path out of fg_cmd_top().
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "common/buf.h"
#include "common/clock.h"
#include "common/exit.h"
#include "common/log.h"
#include "common/url.h"
#include "common/units.h"
#include "tools/tools.h"
#include "tools/top_render.h"

#define TOP_DEFAULT_URL   "http://127.0.0.1:9464"
#define TOP_DEFAULT_PORT  9464
#define TOP_MIN_INTERVAL  (100 * FG_NS_PER_MS)
#define TOP_MAX_BODY      (16 * 1024 * 1024)
#define TOP_MAX_HEADERS   (64 * 1024)
#define TOP_ONCE_TIMEOUT  5

/* Alternate screen, cursor hidden, cleared; and the way back. */
#define SCREEN_ENTER "\033[?1049h\033[?25l\033[H\033[2J"
#define SCREEN_LEAVE "\033[0m\033[?25h\033[?1049l"

typedef enum top_mode { TOP_SCREEN, TOP_STREAM, TOP_ONCE } top_mode_t;

typedef struct top {
        top_mode_t mode;
        struct event_base *base;
        struct evhttp_connection *evcon;
        struct event *timer;
        struct event *key;
        struct event *sigs[8];
        int nsigs;
        char url[1024]; /* as shown: http://host:port[/prefix] */
        char host[256]; /* for connect(): no IPv6 brackets */
        char hosthdr[300];
        int port;
        char path[768]; /* what we GET: /prefix/stats[?query] */
        int64_t interval_ns;
        int64_t timeout_ns; /* per request, connect included */
        int64_t started_ns; /* when the request in flight was made */
        bool color, unicode;
        bool in_flight;
        int req_error; /* enum evhttp_request_error + 1; 0 = none reported */
        json_t *stats; /* last good snapshot, or NULL */
        int64_t refreshed_ms;
        char error[2048]; /* why the last poll failed; "" = it did not */
        char logged[2048]; /* stream mode: the error last written to stderr */
        bool printed;      /* stream mode: a snapshot was written */
        bool repaint;      /* screen mode: clear everything on the next draw */
        int rc;
        fg_buf_t frame, out;
} top_t;

/* ---- the terminal ---- */

/* Globals only because the crash handler needs them. */
static struct termios saved_tio;
static volatile sig_atomic_t tio_saved, screen_on;

static const int fatal_sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
#define NFATAL (sizeof(fatal_sigs) / sizeof(fatal_sigs[0]))
static struct sigaction old_fatal[NFATAL];

static int write_all(int fd, const char *p, size_t n) {
        while (n) {
                ssize_t w = write(fd, p, n);
                if (w < 0 && errno == EINTR)
                        continue;
                if (w <= 0)
                        return -1;
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

/* Async-signal-safe: write(2) and tcsetattr(3) only. */
static void top_leave_screen(void) {
        if (screen_on) {
                screen_on = 0;
                (void)!write(STDOUT_FILENO, SCREEN_LEAVE, sizeof(SCREEN_LEAVE) - 1);
        }
        if (tio_saved) {
                tio_saved = 0;
                tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tio);
        }
}

static void top_enter_screen(top_t *t) {
        struct termios raw;

        if (isatty(STDIN_FILENO) && !tio_saved && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
                raw = saved_tio;
                /* Keys one at a time, not echoed; ISIG stays so ^C, ^Z, ^\ still work. */
                raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
                raw.c_cc[VMIN] = 1;
                raw.c_cc[VTIME] = 0;
                tio_saved = 1;
                tcsetattr(STDIN_FILENO, TCSANOW, &raw);
        }
        if (!screen_on) {
                screen_on = 1;
                write_all(STDOUT_FILENO, SCREEN_ENTER, sizeof(SCREEN_ENTER) - 1);
        }
        t->repaint = true;
}

static void on_fatal(int sig, siginfo_t *si, void *uc) {
        top_leave_screen();
        for (size_t i = 0; i < NFATAL; i++)
                if (fatal_sigs[i] == sig)
                        sigaction(sig, &old_fatal[i], NULL);
        /* A fault re-executes into the old handler; a sent signal must be re-sent. */
        if (si->si_code <= 0)
                raise(sig);
}

static void fatal_handlers(bool install) {
        struct sigaction sa;

        memset(&sa, 0, sizeof(sa));
        sa.sa_sigaction = on_fatal;
        sa.sa_flags = SA_SIGINFO;
        sigemptyset(&sa.sa_mask);
        for (size_t i = 0; i < NFATAL; i++) {
                if (install)
                        sigaction(fatal_sigs[i], &sa, &old_fatal[i]);
                else
                        sigaction(fatal_sigs[i], &old_fatal[i], NULL);
        }
}

static void term_size(int fd, int *w, int *h) {
        struct winsize ws;
        const char *cols = getenv("COLUMNS");

        *w = 80;
        *h = 24;
        if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0) {
                *w = ws.ws_col;
                *h = ws.ws_row;
        } else if (cols && atoi(cols) >= 20 && atoi(cols) <= 1000) {
                *w = atoi(cols);
        }
}

static bool locale_is_utf8(void) {
        const char *cs;
        char *old = setlocale(LC_CTYPE, NULL);
        char *saved = old ? strdup(old) : NULL;
        bool utf8;

        setlocale(LC_CTYPE, "");
        cs = nl_langinfo(CODESET);
        utf8 = cs && (!strcasecmp(cs, "UTF-8") || !strcasecmp(cs, "utf8"));
        setlocale(LC_CTYPE, saved ? saved : "C");
        free(saved);
        return utf8;
}

/* ---- output ---- */

static fg_top_view_t top_view(const top_t *t, int width, int height, bool plain) {
        fg_top_view_t v = {
            .url = t->url,
            .width = width,
            .height = height,
            .color = !plain && t->color,
            .unicode = !plain && t->unicode,
            .error = t->error[0] ? t->error : NULL,
            .refreshed_ms = t->refreshed_ms,
            .now_ms = fg_wall_ms(),
            .interval_ns = t->mode == TOP_ONCE ? 0 : t->interval_ns,
        };
        return v;
}

static void top_quit(top_t *t, int rc) {
        t->rc = rc;
        event_base_loopbreak(t->base);
}

/* One frame: each line placed by cursor address and cleared to its end,
 * then the rest of the screen cleared — no newlines, so the tty's output
 * flags do not matter and nothing scrolls. Rendering one column short
 * keeps the cursor out of the last column, where terminals disagree about
 * wrapping. */
static void top_draw(top_t *t) {
        fg_top_view_t v;
        int w, h;
        const char *p, *end;

        if (!screen_on)
                return;
        term_size(STDOUT_FILENO, &w, &h);
        v = top_view(t, w > 1 ? w - 1 : 1, h, false);
        fg_buf_reset(&t->frame);
        fg_top_render(&t->frame, t->stats, &v);
        fg_buf_reset(&t->out);
        if (t->repaint)
                fg_buf_append(&t->out, "\033[H\033[2J", 7);
        t->repaint = false;
        p = t->frame.p;
        end = p + t->frame.len;
        for (int row = 1; p && p < end; row++) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
                fg_buf_printf(&t->out, "\033[%d;1H", row);
                fg_buf_append(&t->out, p, len);
                fg_buf_append(&t->out, "\033[K", 3);
                p += len + 1;
        }
        fg_buf_append(&t->out, "\033[J", 3);
        if (write_all(STDOUT_FILENO, t->out.p, t->out.len))
                top_quit(t, FG_EXIT_FAILURE);
}

static int top_print_plain(top_t *t, const json_t *stats) {
        fg_top_view_t v;
        int w, h;

        term_size(STDOUT_FILENO, &w, &h);
        v = top_view(t, w, 0, true);
        fg_buf_reset(&t->frame);
        if (t->printed)
                fg_buf_putc(&t->frame, '\n');
        fg_top_render(&t->frame, stats, &v);
        t->printed = true;
        if (fwrite(t->frame.p, 1, t->frame.len, stdout) != t->frame.len || fflush(stdout))
                return -1;
        return 0;
}

/* After each poll, success or not. */
static void top_show(top_t *t) {
        switch (t->mode) {
        case TOP_ONCE:
                if (t->error[0]) {
                        fprintf(stderr, "floodgate top: %s\n", t->error);
                        top_quit(t, FG_EXIT_FAILURE);
                } else {
                        top_quit(t, top_print_plain(t, t->stats) ? FG_EXIT_FAILURE : FG_EXIT_OK);
                }
                break;
        case TOP_STREAM:
                if (t->error[0]) {
                        if (strcmp(t->error, t->logged)) {
                                char iv[32];
                                fg_warn("%s (retrying every %s)", t->error,
                                        fg_format_duration(t->interval_ns, iv, sizeof(iv)));
                        }
                        snprintf(t->logged, sizeof(t->logged), "%s", t->error);
                        break;
                }
                if (t->logged[0])
                        fg_info("%s is reachable again", t->url);
                t->logged[0] = '\0';
                /* A closed pipe (top | head) ends the stream quietly. */
                if (top_print_plain(t, t->stats))
                        top_quit(t, errno == EPIPE ? FG_EXIT_OK : FG_EXIT_FAILURE);
                break;
        case TOP_SCREEN:
                top_draw(t);
                break;
        }
}

/* ---- polling ---- */

static void lowercase_first(char *s) {
        if (s[0] >= 'A' && s[0] <= 'Z' && !(s[1] >= 'A' && s[1] <= 'Z'))
                s[0] = (char)(s[0] - 'A' + 'a');
}

/* Why connecting fails: one non-blocking connect() to the first address,
 * given at most @p wait_ms. 0 when it connects (or cannot tell). */
static int probe_connect(const top_t *t, int wait_ms) {
        struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        struct evutil_addrinfo *ai = NULL;
        struct pollfd pfd = {.fd = -1, .events = POLLOUT};
        char port[16];
        socklen_t len = sizeof(int);
        int err = 0;

        snprintf(port, sizeof(port), "%d", t->port);
        if (evutil_getaddrinfo(t->host, port, &hints, &ai) || !ai)
                return 0;
        pfd.fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (pfd.fd >= 0 && connect(pfd.fd, ai->ai_addr, (socklen_t)ai->ai_addrlen) < 0) {
                err = errno;
                if (err == EINPROGRESS) {
                        err = 0;
                        if (poll(&pfd, 1, wait_ms) == 1)
                                getsockopt(pfd.fd, SOL_SOCKET, SO_ERROR, &err, &len);
                }
        }
        if (pfd.fd >= 0)
                close(pfd.fd);
        evutil_freeaddrinfo(ai);
        return err;
}

/* libevent completes a request whose connect() failed with code 0 and no
 * reason (and has clobbered errno by then), so the reason is pieced
 * together: the error callback's kind, the resolver's error, the time it
 * took, and, for a fast connect failure, a probe that asks the kernel. */
static void describe_failure(top_t *t) {
        struct bufferevent *bev = evhttp_connection_get_bufferevent(t->evcon);
        int dns = bev ? bufferevent_socket_get_dns_error(bev) : 0, err;
        int64_t took = fg_mono_ns() - t->started_ns;
        char why[512];

        switch (t->req_error - 1) {
        case EVREQ_HTTP_TIMEOUT: snprintf(why, sizeof(why), "timed out"); break;
        case EVREQ_HTTP_INVALID_HEADER: snprintf(why, sizeof(why), "invalid HTTP response"); break;
        case EVREQ_HTTP_DATA_TOO_LONG: snprintf(why, sizeof(why), "response too large"); break;
        case EVREQ_HTTP_BUFFER_ERROR: snprintf(why, sizeof(why), "I/O error"); break;
        case EVREQ_HTTP_EOF:
                if (!dns) {
                        snprintf(why, sizeof(why), "connection closed before a response");
                        break;
                }
                /* fall through */
        default:
                if (dns)
                        snprintf(why, sizeof(why), "cannot resolve '%s' (%s)", t->host,
                                 evutil_gai_strerror(dns));
                else if (took >= t->timeout_ns - 100 * FG_NS_PER_MS)
                        snprintf(why, sizeof(why), "timed out connecting");
                else if ((err = probe_connect(t, 500)))
                        snprintf(why, sizeof(why), "%s", strerror(err));
                else
                        snprintf(why, sizeof(why), "connection failed");
                break;
        }
        lowercase_first(why);
        snprintf(t->error, sizeof(t->error), "cannot reach %s: %s", t->url, why);
}

static void on_request_error(enum evhttp_request_error err, void *arg) {
        top_t *t = arg;
        t->req_error = (int)err + 1;
}

static void on_response(struct evhttp_request *req, void *arg) {
        top_t *t = arg;
        int code = req ? evhttp_request_get_response_code(req) : 0;
        struct evbuffer *body;
        json_error_t jerr;
        json_t *doc;
        size_t len;

        t->in_flight = false;
        if (code == 0) {
                describe_failure(t);
        } else if (code != 200) {
                const char *line = evhttp_request_get_response_code_line(req);
                snprintf(t->error, sizeof(t->error), "bad response from %s: HTTP %d %s", t->url,
                         code, line ? line : "");
        } else {
                body = evhttp_request_get_input_buffer(req);
                len = evbuffer_get_length(body);
                doc = json_loadb(len ? (const char *)evbuffer_pullup(body, -1) : "", len, 0, &jerr);
                if (!doc) {
                        snprintf(t->error, sizeof(t->error),
                                 "bad response from %s: malformed JSON: %s (line %d, column %d)",
                                 t->url, jerr.text, jerr.line, jerr.column);
                } else if (!json_is_object(doc)) {
                        json_decref(doc);
                        snprintf(t->error, sizeof(t->error),
                                 "bad response from %s: malformed JSON: not an object", t->url);
                } else {
                        json_decref(t->stats);
                        t->stats = doc;
                        t->refreshed_ms = fg_wall_ms();
                        t->error[0] = '\0';
                }
        }
        top_show(t);
}

static void top_fetch(top_t *t) {
        struct evhttp_request *req;
        struct evkeyvalq *hdr;

        if (t->in_flight)
                return;
        req = evhttp_request_new(on_response, t);
        if (!req) {
                snprintf(t->error, sizeof(t->error), "cannot reach %s: out of memory", t->url);
                top_show(t);
                return;
        }
        evhttp_request_set_error_cb(req, on_request_error);
        hdr = evhttp_request_get_output_headers(req);
        evhttp_add_header(hdr, "Host", t->hosthdr);
        evhttp_add_header(hdr, "Accept", "application/json");
        evhttp_add_header(hdr, "User-Agent", "floodgate-top/" FG_VERSION);
        t->req_error = 0;
        t->started_ns = fg_mono_ns();
        /* On failure libevent has already freed the request. */
        if (evhttp_make_request(t->evcon, req, EVHTTP_REQ_GET, t->path)) {
                snprintf(t->error, sizeof(t->error), "cannot reach %s: request failed", t->url);
                top_show(t);
                return;
        }
        t->in_flight = true;
}

/* ---- events ---- */

static void on_tick(evutil_socket_t fd, short what, void *arg) { top_fetch(arg); }

static void on_start(evutil_socket_t fd, short what, void *arg) {
        top_t *t = arg;

        if (t->mode == TOP_SCREEN)
                top_draw(t);
        top_fetch(t);
}

static void on_key(evutil_socket_t fd, short what, void *arg) {
        top_t *t = arg;
        char keys[64];
        ssize_t n = read(fd, keys, sizeof(keys));

        if (n < 0 && (errno == EINTR || errno == EAGAIN))
                return;
        if (n <= 0) { /* the terminal went away */
                top_quit(t, FG_EXIT_OK);
                return;
        }
        for (ssize_t i = 0; i < n; i++) {
                switch (keys[i]) {
                case 'q':
                case 'Q':
                case 0x03: /* ^C when ISIG is off somewhere upstream */
                        top_quit(t, FG_EXIT_OK);
                        return;
                case ' ':
                case 'r':
                        top_fetch(t);
                        break;
                default: break;
                }
        }
}

static void on_signal(evutil_socket_t sig, short what, void *arg) {
        top_t *t = arg;

        switch (sig) {
        case SIGWINCH:
                t->repaint = true;
                top_draw(t);
                break;
        case SIGTSTP:
                /* Give the shell its screen back while stopped; SIGSTOP cannot be caught. */
                top_leave_screen();
                raise(SIGSTOP);
                top_enter_screen(t);
                top_draw(t);
                break;
        case SIGCONT:
                /* Stopped and continued from outside: the shell may have reset the modes. */
                if (screen_on) {
                        screen_on = 0;
                        top_leave_screen();
                        top_enter_screen(t);
                }
                top_draw(t);
                break;
        default:
                top_quit(t, FG_EXIT_OK);
                break;
        }
}

/* libevent's own warnings would land in the middle of the screen. */
static void on_event_log(int severity, const char *msg) {
        if (!screen_on && severity >= EVENT_LOG_WARN)
                fg_debug("libevent: %s", msg);
}

/* ---- setup ---- */

static int usage(const char *why) {
        if (why)
                fprintf(stderr, "floodgate top: %s\n", why);
        fprintf(why ? stderr : stdout,
                "usage: floodgate top [URL] [--interval D] [--once] [--no-color]\n"
                "  URL                the daemon's metrics listener, http://HOST:PORT or\n"
                "                     HOST:PORT (default " TOP_DEFAULT_URL ")\n"
                "  -d, --interval D   refresh period: 500ms, 2s, ... (default 1s)\n"
                "  -1, --once         print one plain-text snapshot and exit;\n"
                "                     exit 1 if unreachable or the answer is not JSON\n"
                "  --no-color         no colors (also when NO_COLOR is set)\n"
                "keys: q quit, r or space refresh now\n");
        return why ? FG_EXIT_USAGE : FG_EXIT_OK;
}

/* "http://host:port/prefix?query", "host:port" or "host". */
static int parse_url(top_t *t, const char *arg, char *errstr, size_t errstr_size) {
        char full[600], prefix[512], why[128];
        fg_url_t url = {0};
        bool bare = !strstr(arg, "://");
        size_t plen;
        int rc = -1;

        if (snprintf(full, sizeof(full), "%s%s", bare ? "http://" : "", arg) >= (int)sizeof(full)) {
                snprintf(errstr, errstr_size, "URL too long");
                return -1;
        }
        if (fg_url_parse(full, &url, why, sizeof(why))) {
                snprintf(errstr, errstr_size, "bad URL '%s': %s (want http://HOST:PORT or HOST:PORT)",
                         arg, why);
                return -1;
        }
        if (strcmp(url.scheme, "http")) {
                snprintf(errstr, errstr_size, "only http:// URLs are supported, not '%s'", arg);
                goto out;
        }
        if (strlen(url.host) >= sizeof(t->host)) {
                snprintf(errstr, errstr_size, "bad URL '%s': host name too long", arg);
                goto out;
        }
        /* A bare host:port means the metrics listener; a URL without a port means HTTP's. */
        t->port = url.port > 0 ? url.port : bare ? TOP_DEFAULT_PORT : 80;
        snprintf(t->host, sizeof(t->host), "%s", url.host);
        snprintf(t->hosthdr, sizeof(t->hosthdr), "%s:%d", url.host_text, t->port);

        snprintf(prefix, sizeof(prefix), "%s", url.path);
        plen = strlen(prefix);
        while (plen && prefix[plen - 1] == '/')
                prefix[--plen] = '\0';
        /* Given the endpoint itself, poll it; given a base, poll base/stats. */
        if (plen >= 6 && !strcmp(prefix + plen - 6, "/stats"))
                prefix[plen -= 6] = '\0';
        snprintf(t->path, sizeof(t->path), "%s/stats%s%s", prefix, url.query ? "?" : "",
                 url.query ? url.query : "");
        snprintf(t->url, sizeof(t->url), "http://%s:%d%s", url.host_text, t->port, prefix);
        rc = 0;
out:
        fg_url_free(&url);
        return rc;
}

static int add_signal(top_t *t, int sig) {
        struct event *ev = evsignal_new(t->base, sig, on_signal, t);

        if (!ev || evsignal_add(ev, NULL)) {
                event_free(ev);
                return -1;
        }
        t->sigs[t->nsigs++] = ev;
        return 0;
}

static int top_start(top_t *t) {
        static const int quit_sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
        static const int screen_sigs[] = {SIGWINCH, SIGTSTP, SIGCONT};
        int64_t timeout_s = t->interval_ns / FG_NS_PER_S;
        struct timeval tv;

        t->base = event_base_new();
        if (!t->base)
                return -1;
        t->evcon = evhttp_connection_base_new(t->base, NULL, t->host, (unsigned short)t->port);
        if (!t->evcon)
                return -1;
        /* Long enough for a busy daemon, short enough that the screen says so. */
        timeout_s = t->mode == TOP_ONCE ? TOP_ONCE_TIMEOUT
                    : timeout_s < 2     ? 2
                    : timeout_s > 10    ? 10
                                        : timeout_s;
        t->timeout_ns = timeout_s * FG_NS_PER_S;
        tv.tv_sec = (time_t)timeout_s;
        tv.tv_usec = 0;
        evhttp_connection_set_timeout_tv(t->evcon, &tv);
        evhttp_connection_set_retries(t->evcon, 0);
        evhttp_connection_set_max_body_size(t->evcon, TOP_MAX_BODY);
        evhttp_connection_set_max_headers_size(t->evcon, TOP_MAX_HEADERS);
        if (t->mode == TOP_ONCE)
                return 0;

        for (size_t i = 0; i < sizeof(quit_sigs) / sizeof(quit_sigs[0]); i++)
                if (add_signal(t, quit_sigs[i]))
                        return -1;
        if (t->mode == TOP_SCREEN) {
                for (size_t i = 0; i < sizeof(screen_sigs) / sizeof(screen_sigs[0]); i++)
                        if (add_signal(t, screen_sigs[i]))
                                return -1;
                if (isatty(STDIN_FILENO)) {
                        t->key = event_new(t->base, STDIN_FILENO, EV_READ | EV_PERSIST, on_key, t);
                        if (!t->key || event_add(t->key, NULL))
                                return -1;
                }
        }
        t->timer = event_new(t->base, -1, EV_PERSIST, on_tick, t);
        tv.tv_sec = (time_t)(t->interval_ns / FG_NS_PER_S);
        tv.tv_usec = (suseconds_t)(t->interval_ns % FG_NS_PER_S / 1000);
        if (!t->timer || event_add(t->timer, &tv))
                return -1;
        return 0;
}

static void top_free(top_t *t) {
        for (int i = 0; i < t->nsigs; i++)
                event_free(t->sigs[i]);
        if (t->key)
                event_free(t->key);
        if (t->timer)
                event_free(t->timer);
        if (t->evcon)
                evhttp_connection_free(t->evcon);
        if (t->base)
                event_base_free(t->base);
        json_decref(t->stats);
        fg_buf_free(&t->frame);
        fg_buf_free(&t->out);
}

int fg_cmd_top(int argc, char **argv) {
        static const struct option longopts[] = {
            {"interval", required_argument, NULL, 'd'},
            {"once", no_argument, NULL, '1'},
            {"no-color", no_argument, NULL, 'C'},
            {"help", no_argument, NULL, 'h'},
            {NULL, 0, NULL, 0},
        };
        top_t t = {.interval_ns = FG_NS_PER_S, .rc = FG_EXIT_OK};
        bool once = false, no_color = false;
        const char *url = TOP_DEFAULT_URL, *term = getenv("TERM");
        char errstr[512];
        int c;

        optind = 1;
        while ((c = getopt_long(argc, argv, "d:1h", longopts, NULL)) != -1) {
                switch (c) {
                case 'd':
                        if (fg_parse_duration(optarg, &t.interval_ns, errstr, sizeof(errstr))) {
                                char why[600];
                                snprintf(why, sizeof(why), "--interval '%s': %s", optarg, errstr);
                                return usage(why);
                        }
                        if (t.interval_ns < TOP_MIN_INTERVAL)
                                return usage("--interval must be at least 100ms");
                        break;
                case '1': once = true; break;
                case 'C': no_color = true; break;
                case 'h': return usage(NULL);
                default: return usage("unknown option");
                }
        }
        if (argc - optind > 1)
                return usage("at most one URL");
        if (optind < argc)
                url = argv[optind];
        if (parse_url(&t, url, errstr, sizeof(errstr)))
                return usage(errstr);

        t.mode = once ? TOP_ONCE : isatty(STDOUT_FILENO) ? TOP_SCREEN : TOP_STREAM;
        t.color = t.mode == TOP_SCREEN && !no_color && !getenv("NO_COLOR") &&
                  !(term && !strcmp(term, "dumb"));
        t.unicode = t.mode == TOP_SCREEN && locale_is_utf8();

        /* A daemon that closes the socket must not kill us with SIGPIPE. */
        signal(SIGPIPE, SIG_IGN);
        event_set_log_callback(on_event_log);
        if (top_start(&t)) {
                fprintf(stderr, "floodgate top: cannot set up the event loop\n");
                t.rc = FG_EXIT_FAILURE;
                goto done;
        }
        if (t.mode == TOP_SCREEN) {
                fatal_handlers(true);
                top_enter_screen(&t);
        }
        /* The first draw and poll run inside the loop, so a failure there
         * can end it like any other. */
        if (event_base_once(t.base, -1, EV_TIMEOUT, on_start, &t, NULL)) {
                fprintf(stderr, "floodgate top: cannot set up the event loop\n");
                t.rc = FG_EXIT_FAILURE;
        } else {
                event_base_dispatch(t.base);
        }
        if (t.mode == TOP_SCREEN) {
                top_leave_screen();
                fatal_handlers(false);
        }
done:
        top_free(&t);
        event_set_log_callback(NULL);
        return t.rc;
}
