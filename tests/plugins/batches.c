/*
 * batches: a test plugin that records what each send carried, to check
 * how the workers batch for a sink that is not prefix-ordered.
 * sink.plugin.config:
 *   out     file each send appends one line to:
 *           "<n> <partition>:<offset>:<key> ..." (one triple per event,
 *           in the batch's order)
 * Every event is acknowledged.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "floodgate_plugin.h"

typedef struct batches {
        pthread_mutex_t lock;
        FILE *out;
} batches_t;

static void batches_fini(void *plugin) {
        batches_t *b = plugin;

        if (b->out)
                fclose(b->out);
        pthread_mutex_destroy(&b->lock);
        free(b);
}

static void *batches_init(const fg_plugin_host_t *host, const char *const *keys,
                          const char *const *values, size_t n, char *errstr, size_t errstr_size) {
        const char *out = NULL;
        batches_t *b;

        for (size_t i = 0; i < n; i++)
                if (!strcmp(keys[i], "out"))
                        out = values[i];
        if (!out) {
                snprintf(errstr, errstr_size, "batches: needs out");
                return NULL;
        }
        b = calloc(1, sizeof(*b));
        if (!b) {
                snprintf(errstr, errstr_size, "batches: out of memory");
                return NULL;
        }
        pthread_mutex_init(&b->lock, NULL);
        b->out = fopen(out, "a");
        if (!b->out) {
                snprintf(errstr, errstr_size, "batches: cannot open %s", out);
                batches_fini(b);
                return NULL;
        }
        return b;
}

static void *batches_open(void *plugin, char *errstr, size_t errstr_size) { return plugin; }

static void batches_send(void *conn, const fg_plugin_event_t *evs, size_t n,
                         fg_plugin_result_t *result) {
        batches_t *b = conn;

        pthread_mutex_lock(&b->lock);
        fprintf(b->out, "%zu", n);
        for (size_t i = 0; i < n; i++) {
                fprintf(b->out, " %d:%lld:%.*s", (int)evs[i].partition, (long long)evs[i].offset,
                        (int)evs[i].key_len, evs[i].key ? (const char *)evs[i].key : "");
                result[i] = (fg_plugin_result_t){.status = FG_PLUGIN_OK};
        }
        fputc('\n', b->out);
        fflush(b->out);
        pthread_mutex_unlock(&b->lock);
}

static void batches_close(void *conn) {}

static const fg_plugin_t batches_plugin = {
    .abi_version = FG_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(fg_plugin_t),
    .name = "batches",
    .init = batches_init,
    .open = batches_open,
    .send = batches_send,
    .close = batches_close,
    .fini = batches_fini,
};

const fg_plugin_t *floodgate_plugin_v1(void) { return &batches_plugin; }
