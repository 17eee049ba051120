#define _GNU_SOURCE /* memmem, strdup */
/*
 * gate: a test plugin that plays a downstream refusing one poison event
 * until an operator fixes it. sink.plugin.config:
 *   out     file every accepted event is appended to, one line each:
 *           "<topic> <partition> <offset> <key> <value>"
 *   poison  an event whose value contains one of these '|'-separated
 *           strings is rejected (FG_PLUGIN_REJECT, reason "poison") ...
 *   gate    ... while this file does not exist (the "fix").
 * The redrive tests park a key on the poison, create the gate file, and
 * replay the dead letters through this same sink.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "floodgate_plugin.h"

typedef struct gate {
        pthread_mutex_t lock;
        FILE *out;
        char *poison;
        char *gate;
} gate_t;

static const char *value_of(const char *const *keys, const char *const *values, size_t n,
                            const char *key) {
        for (size_t i = 0; i < n; i++)
                if (!strcmp(keys[i], key))
                        return values[i];
        return NULL;
}

static void gate_fini(void *plugin) {
        gate_t *g = plugin;

        if (g->out)
                fclose(g->out);
        free(g->poison);
        free(g->gate);
        pthread_mutex_destroy(&g->lock);
        free(g);
}

static void *gate_init(const fg_plugin_host_t *host, const char *const *keys,
                       const char *const *values, size_t n, char *errstr, size_t errstr_size) {
        const char *out = value_of(keys, values, n, "out");
        const char *poison = value_of(keys, values, n, "poison");
        const char *gate = value_of(keys, values, n, "gate");
        gate_t *g = calloc(1, sizeof(*g));

        if (!g || !out || !poison || !gate) {
                snprintf(errstr, errstr_size, "gate: needs out, poison and gate");
                free(g);
                return NULL;
        }
        pthread_mutex_init(&g->lock, NULL);
        g->out = fopen(out, "a");
        g->poison = strdup(poison);
        g->gate = strdup(gate);
        if (!g->out || !g->poison || !g->gate) {
                snprintf(errstr, errstr_size, "gate: cannot open %s", out);
                gate_fini(g);
                return NULL;
        }
        return g;
}

static void *gate_open(void *plugin, char *errstr, size_t errstr_size) { return plugin; }

static bool is_poison(const gate_t *g, const fg_plugin_event_t *ev) {
        for (const char *p = g->poison; *p;) {
                size_t len = strcspn(p, "|");
                if (len && memmem(ev->value, ev->value_len, p, len))
                        return true;
                p += len + (p[len] == '|');
        }
        return false;
}

static void gate_send(void *conn, const fg_plugin_event_t *evs, size_t n,
                      fg_plugin_result_t *result) {
        gate_t *g = conn;
        bool open_gate = access(g->gate, F_OK) == 0;

        pthread_mutex_lock(&g->lock);
        for (size_t i = 0; i < n; i++) {
                if (!open_gate && is_poison(g, &evs[i])) {
                        result[i] = (fg_plugin_result_t){.status = FG_PLUGIN_REJECT,
                                                         .reason = "poison"};
                        continue;
                }
                fprintf(g->out, "%s %d %lld %.*s %.*s\n", evs[i].topic, (int)evs[i].partition,
                        (long long)evs[i].offset, (int)evs[i].key_len,
                        evs[i].key ? (const char *)evs[i].key : "", (int)evs[i].value_len,
                        (const char *)evs[i].value);
                result[i] = (fg_plugin_result_t){.status = FG_PLUGIN_OK};
        }
        fflush(g->out);
        pthread_mutex_unlock(&g->lock);
}

static void gate_close(void *conn) {}

static const fg_plugin_t gate_plugin = {
    .abi_version = FG_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(fg_plugin_t),
    .name = "gate",
    .init = gate_init,
    .open = gate_open,
    .send = gate_send,
    .close = gate_close,
    .fini = gate_fini,
};

const fg_plugin_t *floodgate_plugin_v1(void) { return &gate_plugin; }
