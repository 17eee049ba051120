/*
 * tlsd: an HTTPS endpoint floodgate does not implement itself, for the TLS
 * tests — tests/support/tls_server.py (Python's ssl module, OpenSSL
 * underneath) run as a child process — and the throwaway PKI it serves,
 * made by tests/support/mkcerts.sh with the openssl command line.
 *
 * The server writes what it saw to files in a directory of its own: the
 * decoded body of every request it answered 2xx (one after another, so
 * fg_test_seen_scan() reads the ids), and one JSON object per connection,
 * handshake failure, request and reload (fg_test_tlsd_events()).
 *
 * Threading: the test thread.
 * Ownership: fg_test_tlsd_start() returns a server the caller stops with
 * fg_test_tlsd_stop(); strings returned by fg_test_pki() are the caller's.
 */
#ifndef FG_TEST_TLSD_H
#define FG_TEST_TLSD_H

#include <jansson.h>
#include <sys/types.h>

typedef struct fg_test_tlsd {
        pid_t pid;
        int port;       /* the first listener (TLS unless --plain) */
        char *dir;      /* its files */
        char *bodies;   /* decoded bodies of 2xx answers */
        char *events;   /* JSON lines */
} fg_test_tlsd_t;

/* A new directory with the PKI of mkcerts.sh (ca.pem, server.pem, ...). */
char *fg_test_pki(void);
/* The path of @p name in @p pki (caller frees). */
char *fg_test_pki_file(const char *pki, const char *name);
/* Copies @p from over @p to (a certificate rotation). */
void fg_test_copy_file(const char *from, const char *to);

/* Starts the server with @p args (NULL-terminated: tls_server.py options
 * but --bodies and --events, which it adds) and waits until it listens;
 * fails the test otherwise. */
fg_test_tlsd_t *fg_test_tlsd_start(const char *const *args);
void fg_test_tlsd_signal(fg_test_tlsd_t *t, int sig);
/* SIGHUP and wait until the server has swapped in its new certificate. */
void fg_test_tlsd_reload(fg_test_tlsd_t *t);
/* Stops it (SIGTERM, then SIGKILL after 10 s), removes its files, frees. */
void fg_test_tlsd_stop(fg_test_tlsd_t *t);
/* Its events whose "kind" is @p kind (NULL: all), as a new JSON array. */
json_t *fg_test_tlsd_events(const fg_test_tlsd_t *t, const char *kind);
/* How many events of @p kind have @p key equal to the integer @p value
 * (key NULL: all of that kind). */
size_t fg_test_tlsd_count(const fg_test_tlsd_t *t, const char *kind, const char *key,
                          json_int_t value);

#endif
