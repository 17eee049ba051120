/*
 * floodgate_plugin.h — the C ABI of floodgate sink plugins. Version 1.
 *
 * A plugin is a shared object (built with -fPIC -shared) that defines
 *
 *     FG_PLUGIN_EXPORT const fg_plugin_t *floodgate_plugin_v1(void);
 *
 * returning a pointer to a static fg_plugin_t with abi_version set to
 * FG_PLUGIN_ABI_VERSION and struct_size to sizeof(fg_plugin_t). floodgate
 * refuses a plugin whose entry point is missing or whose abi_version
 * differs.
 *
 * Compatibility: within version 1, fg_plugin_t and fg_plugin_host_t only
 * grow at the end; each side reads a newer field only when struct_size says
 * the other side has it. fg_plugin_event_t and fg_plugin_result_t are
 * passed as arrays and are frozen for version 1. An incompatible change
 * gets a new entry point name (floodgate_plugin_v2), so one .so may offer
 * several versions.
 *
 * Lifecycle and threads:
 *   init    once, on floodgate's main thread, before any worker starts. Gets
 *           sink.plugin.config as parallel key/value arrays and the host's
 *           services (both valid only during the call: copy what you keep,
 *           except host, which lives until fini). Returns the plugin's shared
 *           state, or NULL with a message in errstr (floodgate exits 1).
 *   open    once per worker, on floodgate's main thread — while workers
 *           opened earlier may already be sending, so guard shared state.
 *           The connection it returns is then used by that one worker only.
 *           NULL with errstr fails start-up.
 *   send    on a worker thread, many times; workers call it concurrently
 *           with their own connections, so shared state needs the plugin's
 *           own locking. Deliver n events and fill result[i] for every i.
 *           Return only when every event's fate is known: floodgate commits
 *           the Kafka offset of an event reported OK right after send
 *           returns. Keep each call bounded in time (floodgate's health check
 *           reports a worker stuck in one call for longer than
 *           metrics.stall_timeout).
 *   reopen  optional (may be NULL): on SIGHUP, on the main thread, while
 *           workers send (e.g. reopen files after log rotation).
 *   close   once per connection, after its worker stopped.
 *   fini    once, on the main thread, after every connection is closed;
 *           must stop and join any thread the plugin started (dlclose
 *           follows).
 * All callbacks but reopen are required; a NULL name is shown as the path.
 *
 * Ownership: events, their bytes and the result array belong to floodgate
 * and are valid only during send; a result's reason must stay valid until
 * the next send on that connection. Nothing a plugin allocates is freed by
 * floodgate.
 *
 * Status values (what floodgate does with the event):
 *   FG_PLUGIN_OK            delivered: its offset may be committed.
 *   FG_PLUGIN_RETRY         transient failure: retried with backoff; counts
 *                           as a failure for the circuit breaker.
 *   FG_PLUGIN_BACKPRESSURE  the downstream asked to slow down: retried no
 *                           sooner than retry_after_ns (if > 0); counts as a
 *                           failure for the breaker.
 *   FG_PLUGIN_REJECT        permanent for this event: dead-lettered (or
 *                           counted and dropped without a dead-letter topic).
 * Any other value, or a result left unset, is treated as RETRY.
 */
#ifndef FLOODGATE_PLUGIN_H
#define FLOODGATE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FG_PLUGIN_ABI_VERSION 1
#define FG_PLUGIN_ENTRY "floodgate_plugin_v1"
#define FG_PLUGIN_EXPORT __attribute__((visibility("default")))

enum {
        FG_PLUGIN_OK = 0,
        FG_PLUGIN_RETRY = 1,
        FG_PLUGIN_BACKPRESSURE = 2,
        FG_PLUGIN_REJECT = 3,
};

/* Log levels for fg_plugin_host_t.log (syslog's). */
enum {
        FG_PLUGIN_LOG_ERROR = 3,
        FG_PLUGIN_LOG_WARN = 4,
        FG_PLUGIN_LOG_INFO = 6,
        FG_PLUGIN_LOG_DEBUG = 7,
};

typedef struct fg_plugin_event {
        const char *topic;      /* source topic, NUL-terminated */
        int32_t partition;
        int64_t offset;
        int64_t timestamp_ms;   /* Kafka timestamp, -1 if none */
        const void *key;        /* may be NULL */
        size_t key_len;
        const void *value;      /* the handled event (JSON in json mode) */
        size_t value_len;
} fg_plugin_event_t;

typedef struct fg_plugin_result {
        int32_t status;         /* FG_PLUGIN_* */
        int64_t retry_after_ns; /* with BACKPRESSURE: the downstream's hint */
        const char *reason;     /* why, for logs and dead letters; may be NULL */
} fg_plugin_result_t;

/* What floodgate offers a plugin. */
typedef struct fg_plugin_host {
        uint32_t struct_size;   /* sizeof(fg_plugin_host_t) of the host */
        const char *version;    /* floodgate's version string */
        /* Logs through floodgate's logger (journald-aware); any thread. */
        void (*log)(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
} fg_plugin_host_t;

typedef struct fg_plugin {
        uint32_t abi_version;   /* FG_PLUGIN_ABI_VERSION */
        uint32_t struct_size;   /* sizeof(fg_plugin_t) the plugin was built with */
        const char *name;       /* for logs */
        void *(*init)(const fg_plugin_host_t *host, const char *const *keys,
                      const char *const *values, size_t n, char *errstr, size_t errstr_size);
        void *(*open)(void *plugin, char *errstr, size_t errstr_size);
        void (*send)(void *conn, const fg_plugin_event_t *events, size_t n,
                     fg_plugin_result_t *result);
        void (*close)(void *conn);
        void (*fini)(void *plugin);
        void (*reopen)(void *plugin); /* optional */
} fg_plugin_t;

/* The entry point a plugin defines. */
FG_PLUGIN_EXPORT const fg_plugin_t *floodgate_plugin_v1(void);

typedef const fg_plugin_t *(*fg_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif
