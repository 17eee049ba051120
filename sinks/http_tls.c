/*
 * http_tls: the http sink's TLS context, its reloads, and each worker's
 * SSL connections (see http_tls.h).
 */
#include "sinks/http_tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/clock.h"
#include "common/log.h"

/* A trust, certificate or key file larger than this is not one (Debian's
 * whole system bundle is about 200 KiB). */
#define TLS_FILE_MAX (16 * 1024 * 1024)
#define FAILURE_LOG_EVERY_NS (10 * FG_NS_PER_S)

struct fg_http_tls {
        pthread_mutex_t lock;
        SSL_CTX *ctx;           /* under lock */
        atomic_uint gen;        /* bumped by every reload that took */
        char *ca_file, *cert_file, *key_file;
        bool verify;
        fg_tls_version_t min_version;
        char *name;             /* verified, and sent in SNI unless an IP address */
        bool name_is_ip;
        char *addr;
        atomic_uint_fast64_t handshakes, resumed, errors;
        atomic_uint_fast64_t unlogged; /* failures since the last one logged */
        _Atomic int64_t logged_ns;     /* when the last one was logged; 0 = never */
};

struct fg_http_tls_conn {
        fg_http_tls_t *tls;
        SSL_SESSION *sess;      /* the last session the server gave us, or NULL */
        unsigned sess_gen;      /* the context generation it came from */
        unsigned ssl_gen;       /* the generation of the latest SSL made */
        bool connected;         /* the latest SSL finished its handshake */
};

/* ---- files (any thread) ---- */

/* The first OpenSSL error of this thread, as text; clears the queue. */
static const char *ossl_reason(void) {
        unsigned long e = ERR_peek_error();
        const char *r = e ? ERR_reason_error_string(e) : NULL;

        ERR_clear_error();
        return r ? r : "unknown error";
}

/* Encrypted keys fail to load rather than prompt on a terminal. */
static int no_passphrase(char *buf, int size, int rwflag, void *u) { return 0; }

/* The whole of @p path, read once and bounded, as a memory BIO (NULL with
 * the reason): the parsers below never open the file themselves, so a
 * FIFO, a device or a file that grows cannot stall or flood them. */
static BIO *read_file(const char *path, char *msg, size_t msg_size) {
        struct stat st;
        BIO *bio = NULL;
        char *buf = NULL;
        size_t len = 0;
        ssize_t n;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

        if (fd < 0) {
                snprintf(msg, msg_size, "cannot read: %s", strerror(errno));
                return NULL;
        }
        if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
                snprintf(msg, msg_size, "not a regular file");
                goto out;
        }
        if (!(buf = malloc(TLS_FILE_MAX + 1))) {
                snprintf(msg, msg_size, "out of memory");
                goto out;
        }
        while (len <= TLS_FILE_MAX && (n = read(fd, buf + len, TLS_FILE_MAX + 1 - len)) != 0) {
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        snprintf(msg, msg_size, "cannot read: %s", strerror(errno));
                        goto out;
                }
                len += (size_t)n;
        }
        if (len > TLS_FILE_MAX) {
                snprintf(msg, msg_size, "larger than %d MiB", TLS_FILE_MAX >> 20);
                goto out;
        }
        /* A copy: BIO_new_mem_buf would only borrow buf. */
        bio = BIO_new(BIO_s_mem());
        if (!bio || BIO_write(bio, buf, (int)len) != (int)len) {
                BIO_free(bio);
                bio = NULL;
                snprintf(msg, msg_size, "out of memory");
        }
out:
        free(buf);
        close(fd);
        return bio;
}

static int load_ca(SSL_CTX *ctx, const char *path, char *msg, size_t msg_size) {
        X509_STORE *store = SSL_CTX_get_cert_store(ctx);
        STACK_OF(X509_INFO) *infos;
        BIO *bio = read_file(path, msg, msg_size);
        int certs = 0, rc = 0;

        if (!bio)
                return -1;
        infos = PEM_X509_INFO_read_bio(bio, NULL, no_passphrase, NULL);
        for (int i = 0; infos && i < sk_X509_INFO_num(infos); i++) {
                X509 *x = sk_X509_INFO_value(infos, i)->x509;

                if (x && X509_STORE_add_cert(store, x) != 1) {
                        snprintf(msg, msg_size, "cannot load it: %s", ossl_reason());
                        rc = -1;
                        break;
                }
                certs += x != NULL;
        }
        sk_X509_INFO_pop_free(infos, X509_INFO_free);
        BIO_free(bio);
        ERR_clear_error();
        if (rc == 0 && !certs) {
                snprintf(msg, msg_size, "no PEM certificate in it");
                rc = -1;
        }
        return rc;
}

/* The certificate and the chain after it, as
 * SSL_CTX_use_certificate_chain_file reads them. */
static int load_cert(SSL_CTX *ctx, const char *path, char *msg, size_t msg_size) {
        BIO *bio = read_file(path, msg, msg_size);
        X509 *x = bio ? PEM_read_bio_X509_AUX(bio, NULL, no_passphrase, NULL) : NULL;
        int rc = -1;

        if (!bio)
                return -1;
        if (!x || SSL_CTX_use_certificate(ctx, x) != 1) {
                snprintf(msg, msg_size, "no PEM certificate in it");
                goto out;
        }
        SSL_CTX_clear_chain_certs(ctx);
        for (X509 *ca; (ca = PEM_read_bio_X509(bio, NULL, no_passphrase, NULL)) != NULL;)
                if (SSL_CTX_add0_chain_cert(ctx, ca) != 1) {
                        X509_free(ca);
                        snprintf(msg, msg_size, "cannot load its chain: %s", ossl_reason());
                        goto out;
                }
        rc = 0;
out:
        X509_free(x); /* SSL_CTX_use_certificate took its own reference */
        BIO_free(bio);
        ERR_clear_error(); /* the loop ends on "no start line" */
        return rc;
}

/* After load_cert: the key, and that it belongs to the certificate. */
static int load_key(SSL_CTX *ctx, const char *path, char *msg, size_t msg_size) {
        BIO *bio = read_file(path, msg, msg_size);
        EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL) : NULL;
        int rc = -1;

        if (!bio)
                return -1;
        if (!key)
                snprintf(msg, msg_size, "no usable PEM private key in it (encrypted keys are not "
                                        "supported)");
        else if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1)
                snprintf(msg, msg_size, "does not match sink.tls.cert_file");
        else
                rc = 0;
        EVP_PKEY_free(key);
        BIO_free(bio);
        ERR_clear_error();
        return rc;
}

static SSL_CTX *scratch_ctx(char *msg, size_t msg_size) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

        if (!ctx)
                snprintf(msg, msg_size, "cannot create a TLS context: %s", ossl_reason());
        else
                SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
        return ctx;
}

/* Any thread. */
int fg_http_tls_check_ca(const char *path, char *msg, size_t msg_size) {
        SSL_CTX *ctx = scratch_ctx(msg, msg_size);
        int rc = ctx ? load_ca(ctx, path, msg, msg_size) : -1;

        SSL_CTX_free(ctx);
        return rc;
}

/* Any thread. */
int fg_http_tls_check_cert(const char *path, char *msg, size_t msg_size) {
        SSL_CTX *ctx = scratch_ctx(msg, msg_size);
        int rc = ctx ? load_cert(ctx, path, msg, msg_size) : -1;

        SSL_CTX_free(ctx);
        return rc;
}

/* Any thread. A certificate that does not load is fg_http_tls_check_cert's
 * to report: 0 then. */
int fg_http_tls_check_key(const char *cert_file, const char *key_file, char *msg,
                          size_t msg_size) {
        SSL_CTX *ctx = scratch_ctx(msg, msg_size);
        int rc = -1;

        if (ctx && load_cert(ctx, cert_file, msg, msg_size) != 0)
                rc = 0;
        else if (ctx)
                rc = load_key(ctx, key_file, msg, msg_size);
        SSL_CTX_free(ctx);
        return rc;
}

/* ---- the context (main thread) ---- */

/* TLS 1.3 hands out session tickets after the handshake: keep the latest
 * for the worker whose connection received it. A copy: OpenSSL marks an
 * SSL's own session unresumable when that connection later ends without a
 * TLS shutdown, which is how HTTP connections end (the server closes,
 * evhttp closes the socket); a ticket from a completed handshake is still
 * good. A connection that fails in TLS drops it (fg_http_tls_failure). */
static int on_new_session(SSL *ssl, SSL_SESSION *sess) {
        fg_http_tls_conn_t *tc = SSL_get_app_data(ssl);
        SSL_SESSION *copy = tc ? SSL_SESSION_dup(sess) : NULL;

        if (!copy)
                return 0;
        if (tc->sess)
                SSL_SESSION_free(tc->sess);
        tc->sess = copy;
        tc->sess_gen = tc->ssl_gen;
        return 0; /* OpenSSL keeps its own reference to sess */
}

/* OpenSSL computes a certificate's extension cache (key identifiers,
 * purposes) on first use, under the certificate's lock but read outside it
 * elsewhere: workers verifying at once against the same CA certificates
 * race on it (ThreadSanitizer shows it). Computing it here, before any
 * worker sees the context, leaves them only reading. */
static void warm_store(SSL_CTX *ctx) {
        STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));

        for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
                X509 *x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objs, i));
                if (x)
                        (void)X509_check_purpose(x, -1, 0);
        }
}

static SSL_CTX *build_ctx(const fg_http_tls_t *tls, char *errstr, size_t errstr_size) {
        SSL_CTX *ctx = scratch_ctx(errstr, errstr_size);
        char why[256];
        const char *opt = NULL, *path = NULL;
        X509 *mine;

        if (!ctx)
                return NULL;
        SSL_CTX_set_min_proto_version(ctx, tls->min_version == FG_TLS_1_3 ? TLS1_3_VERSION
                                                                         : TLS1_2_VERSION);
        /* A peer that closes without close_notify is an EOF like any other:
         * HTTP frames its own messages (Content-Length), so a cut-short
         * response is still seen as one, and the keep-alive race (the
         * server closed an idle connection) stays recognisable. */
        SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
        SSL_CTX_set_verify(ctx, tls->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
        if (tls->verify && tls->ca_file && load_ca(ctx, tls->ca_file, why, sizeof(why)))
                opt = "ca_file", path = tls->ca_file;
        else if (tls->verify && !tls->ca_file && SSL_CTX_set_default_verify_paths(ctx) != 1)
                snprintf(why, sizeof(why), "cannot load the system's CA certificates: %s",
                         ossl_reason());
        else if (tls->cert_file && load_cert(ctx, tls->cert_file, why, sizeof(why)))
                opt = "cert_file", path = tls->cert_file;
        else if (tls->cert_file && load_key(ctx, tls->key_file, why, sizeof(why)))
                opt = "key_file", path = tls->key_file;
        else
                why[0] = '\0';
        if (why[0]) {
                if (opt)
                        snprintf(errstr, errstr_size, "sink.tls.%s %s: %s", opt, path, why);
                else
                        snprintf(errstr, errstr_size, "%s", why);
                SSL_CTX_free(ctx);
                return NULL;
        }
        warm_store(ctx);
        mine = tls->cert_file ? SSL_CTX_get0_certificate(ctx) : NULL;
        if (mine && X509_cmp_current_time(X509_get0_notAfter(mine)) < 0)
                fg_warn("http sink: sink.tls.cert_file %s has expired: servers that check client "
                        "certificates will refuse it", tls->cert_file);
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
        SSL_CTX_sess_set_new_cb(ctx, on_new_session);
        return ctx;
}

/* Main thread. */
void fg_http_tls_free(fg_http_tls_t *tls) {
        if (!tls)
                return;
        SSL_CTX_free(tls->ctx);
        pthread_mutex_destroy(&tls->lock);
        free(tls->ca_file);
        free(tls->cert_file);
        free(tls->key_file);
        free(tls->name);
        free(tls->addr);
        free(tls);
}

static bool dup_or_null(char **dst, const char *src) {
        *dst = src ? strdup(src) : NULL;
        return !src || *dst;
}

/* Main thread. */
fg_http_tls_t *fg_http_tls_new(const fg_tls_cfg_t *cfg, const char *host, const char *addr,
                               char *errstr, size_t errstr_size) {
        fg_http_tls_t *tls = calloc(1, sizeof(*tls));
        unsigned char ip[sizeof(struct in6_addr)];

        if (!tls) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        pthread_mutex_init(&tls->lock, NULL);
        tls->verify = cfg->verify;
        tls->min_version = cfg->min_version;
        if (!dup_or_null(&tls->ca_file, cfg->ca_file) ||
            !dup_or_null(&tls->cert_file, cfg->cert_file) ||
            !dup_or_null(&tls->key_file, cfg->key_file) ||
            !dup_or_null(&tls->name, cfg->server_name ? cfg->server_name : host) ||
            !dup_or_null(&tls->addr, addr)) {
                snprintf(errstr, errstr_size, "out of memory");
                goto init_error;
        }
        tls->name_is_ip = inet_pton(AF_INET, tls->name, ip) == 1 ||
                          inet_pton(AF_INET6, tls->name, ip) == 1;
        tls->ctx = build_ctx(tls, errstr, errstr_size);
        if (!tls->ctx)
                goto init_error;
        if (!tls->verify)
                fg_warn("http sink: TLS verification is off (sink.tls.insecure_skip_verify): the "
                        "certificate and name of %s are not checked", tls->addr);
        return tls;

init_error:
        fg_http_tls_free(tls);
        return NULL;
}

/* Main thread. */
void fg_http_tls_reload(fg_http_tls_t *tls) {
        char err[512];
        SSL_CTX *ctx = build_ctx(tls, err, sizeof(err)), *old;

        if (!ctx) {
                fg_error("http sink: TLS files not reloaded: %s; keeping the previous ones", err);
                return;
        }
        pthread_mutex_lock(&tls->lock);
        old = tls->ctx;
        tls->ctx = ctx;
        atomic_fetch_add(&tls->gen, 1);
        pthread_mutex_unlock(&tls->lock);
        SSL_CTX_free(old); /* open connections keep their own reference */
        fg_info("http sink: TLS context rebuilt from %s%s; connections renew before their next "
                "request", tls->ca_file ? "sink.tls.ca_file" : "the system's CA certificates",
                tls->cert_file ? ", sink.tls.cert_file and sink.tls.key_file" : "");
}

/* Any thread. */
void fg_http_tls_stats(const fg_http_tls_t *tls, fg_sink_stats_t *out) {
        out->tls_handshakes += atomic_load_explicit(&tls->handshakes, memory_order_relaxed);
        out->tls_resumed += atomic_load_explicit(&tls->resumed, memory_order_relaxed);
        out->tls_errors += atomic_load_explicit(&tls->errors, memory_order_relaxed);
}

/* ---- a worker's connections ---- */

/* Worker. */
fg_http_tls_conn_t *fg_http_tls_conn_new(fg_http_tls_t *tls) {
        fg_http_tls_conn_t *tc = calloc(1, sizeof(*tc));

        if (tc)
                tc->tls = tls;
        return tc;
}

/* Worker. */
void fg_http_tls_conn_free(fg_http_tls_conn_t *tc) {
        if (!tc)
                return;
        if (tc->sess)
                SSL_SESSION_free(tc->sess);
        free(tc);
}

/* Name checks and SNI for one connection. */
static bool name_ssl(const fg_http_tls_t *tls, SSL *ssl) {
        if (tls->verify) {
                X509_VERIFY_PARAM *param = SSL_get0_param(ssl);

                X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
                if (tls->name_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, tls->name) != 1
                                    : SSL_set1_host(ssl, tls->name) != 1)
                        return false;
        }
        return tls->name_is_ip || SSL_set_tlsext_host_name(ssl, tls->name) == 1;
}

/* Worker. */
struct bufferevent *fg_http_tls_bufferevent(fg_http_tls_conn_t *tc, struct event_base *base) {
        fg_http_tls_t *tls = tc->tls;
        struct bufferevent *bev;
        unsigned gen;
        SSL *ssl;

        pthread_mutex_lock(&tls->lock);
        ssl = SSL_new(tls->ctx); /* takes its own reference to the context */
        gen = atomic_load(&tls->gen);
        pthread_mutex_unlock(&tls->lock);
        if (!ssl || !name_ssl(tls, ssl)) {
                SSL_free(ssl);
                ERR_clear_error();
                return NULL;
        }
        if (tc->sess && tc->sess_gen != gen) {
                SSL_SESSION_free(tc->sess); /* from before a reload: trust may have changed */
                tc->sess = NULL;
        }
        if (tc->sess)
                SSL_set_session(ssl, tc->sess);
        SSL_set_app_data(ssl, tc);
        tc->ssl_gen = gen;
        tc->connected = false;
        /* CLOSE_ON_FREE: freeing the bufferevent (with its evhttp
         * connection) frees the SSL and closes the socket. */
        bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE);
        /* On failure libevent has freed the SSL, unless it could not even
         * allocate: a leak then, never a double free. */
        if (!bev)
                return NULL;
        /* See SSL_OP_IGNORE_UNEXPECTED_EOF in build_ctx. */
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
        return bev;
}

/* Worker. */
bool fg_http_tls_reusable(fg_http_tls_conn_t *tc, struct bufferevent *bev) {
        if (tc->ssl_gen != atomic_load(&tc->tls->gen))
                return false;
        return !tc->connected || bufferevent_getfd(bev) >= 0;
}

/* Worker. */
void fg_http_tls_connected(fg_http_tls_conn_t *tc, struct bufferevent *bev) {
        SSL *ssl = bufferevent_openssl_get_ssl(bev);

        tc->connected = true;
        if (ssl && SSL_session_reused(ssl))
                atomic_fetch_add_explicit(&tc->tls->resumed, 1, memory_order_relaxed);
        else
                atomic_fetch_add_explicit(&tc->tls->handshakes, 1, memory_order_relaxed);
}

/* One line per FAILURE_LOG_EVERY_NS per sink, however many workers fail:
 * the reasons also travel with each failed event (the worker logs those). */
static void log_failure(fg_http_tls_t *tls, const char *reason) {
        int64_t now = fg_mono_ns();
        int64_t last = atomic_load(&tls->logged_ns);
        uint64_t more;

        if ((last && now - last < FAILURE_LOG_EVERY_NS) ||
            !atomic_compare_exchange_strong(&tls->logged_ns, &last, now)) {
                atomic_fetch_add(&tls->unlogged, 1);
                return;
        }
        more = atomic_exchange(&tls->unlogged, 0);
        if (more)
                fg_warn("http sink: %s (and %llu more TLS failures since the last report)", reason,
                        (unsigned long long)more);
        else
                fg_warn("http sink: %s", reason);
}

/* The text of one error libevent kept: OpenSSL's reason, or the system
 * error's; NULL for what is neither (libevent also keeps the SSL_ERROR_*
 * code of a protocol error, which has no text). */
static const char *error_text(unsigned long err) {
        if (ERR_SYSTEM_ERROR(err))
                return strerror(ERR_GET_REASON(err));
        return ERR_GET_LIB(err) ? ERR_reason_error_string(err) : NULL;
}

/* Worker. */
bool fg_http_tls_failure(fg_http_tls_conn_t *tc, struct bufferevent *bev,
                         fg_http_tls_stage_t stage, bool closed, char *buf, size_t size) {
        fg_http_tls_t *tls = tc->tls;
        SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
        long verified = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
        const char *why = NULL, *text;
        unsigned long err;

        /* libevent hands its (up to three) errors back newest first; the
         * oldest with a text is the cause. */
        while (bev && (err = bufferevent_get_openssl_error(bev)) != 0)
                if ((text = error_text(err)) != NULL)
                        why = text;
        ERR_clear_error();
        if (stage == FG_HTTP_TLS_HANDSHAKE && tls->verify && verified != X509_V_OK)
                snprintf(buf, size, "TLS handshake with %s failed: certificate verify failed: %s",
                         tls->addr, X509_verify_cert_error_string(verified));
        else if (why)
                snprintf(buf, size, "TLS %s with %s failed: %s",
                         stage == FG_HTTP_TLS_HANDSHAKE ? "handshake" : "connection", tls->addr,
                         why);
        /* TLS 1.3 clients finish their handshake before the server has
         * checked their certificate; a server that refuses it sends an
         * alert and closes, and when the close overtakes the alert (the
         * request then fails on a reset socket) the alert goes unread. */
        else if (stage == FG_HTTP_TLS_FRESH && closed)
                snprintf(buf, size, "TLS connection with %s closed by the server right after the "
                         "handshake (%s)", tls->addr,
                         tls->cert_file ? "did it refuse the client certificate?"
                                        : "does it require a client certificate?");
        else
                return false;
        if (tc->sess) {
                SSL_SESSION_free(tc->sess); /* start afresh next time */
                tc->sess = NULL;
        }
        atomic_fetch_add_explicit(&tls->errors, 1, memory_order_relaxed);
        log_failure(tls, buf);
        return true;
}
