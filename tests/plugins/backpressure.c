/*
 * backpressure: a test plugin that answers like a downstream asking to slow
 * down. An event whose value is "bp:<N>" gets FG_PLUGIN_BACKPRESSURE with
 * retry_after_ns N (any int64, negative and huge ones included) and the
 * reason "slow down"; any other value is OK. floodgate must pass the hint
 * through, capped, and ignore a negative one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "floodgate_plugin.h"

static void *backpressure_init(const fg_plugin_host_t *host, const char *const *keys,
                               const char *const *values, size_t n, char *errstr,
                               size_t errstr_size) {
        static int state;
        return &state;
}

static void *backpressure_open(void *plugin, char *errstr, size_t errstr_size) { return plugin; }

static void backpressure_send(void *conn, const fg_plugin_event_t *evs, size_t n,
                              fg_plugin_result_t *result) {
        for (size_t i = 0; i < n; i++) {
                char v[32] = "";
                size_t len = evs[i].value_len < sizeof(v) - 1 ? evs[i].value_len : sizeof(v) - 1;

                memcpy(v, evs[i].value, len);
                if (!strncmp(v, "bp:", 3))
                        result[i] = (fg_plugin_result_t){.status = FG_PLUGIN_BACKPRESSURE,
                                                         .retry_after_ns = strtoll(v + 3, NULL, 10),
                                                         .reason = "slow down"};
                else
                        result[i] = (fg_plugin_result_t){.status = FG_PLUGIN_OK};
        }
}

static void backpressure_close(void *conn) {}
static void backpressure_fini(void *plugin) {}

static const fg_plugin_t backpressure_plugin = {
    .abi_version = FG_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(fg_plugin_t),
    .name = "backpressure",
    .init = backpressure_init,
    .open = backpressure_open,
    .send = backpressure_send,
    .close = backpressure_close,
    .fini = backpressure_fini,
};

const fg_plugin_t *floodgate_plugin_v1(void) { return &backpressure_plugin; }
