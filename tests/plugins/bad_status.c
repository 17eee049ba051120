/*
 * bad_status: a test plugin with buggy statuses. For events whose value is
 * "ok" it reports FG_PLUGIN_OK; "unset" leaves the result alone; any
 * other value is parsed as the integer status to report (e.g. "7", "-5").
 * floodgate must turn the invalid ones into RETRY, never trust them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "floodgate_plugin.h"

static void *bad_status_init(const fg_plugin_host_t *host, const char *const *keys,
                             const char *const *values, size_t n, char *errstr,
                             size_t errstr_size) {
        static int state;
        return &state;
}

static void *bad_status_open(void *plugin, char *errstr, size_t errstr_size) { return plugin; }

static void bad_status_send(void *conn, const fg_plugin_event_t *evs, size_t n,
                            fg_plugin_result_t *result) {
        for (size_t i = 0; i < n; i++) {
                char v[32] = "";
                size_t len = evs[i].value_len < sizeof(v) - 1 ? evs[i].value_len : sizeof(v) - 1;

                memcpy(v, evs[i].value, len);
                if (!strcmp(v, "ok"))
                        result[i].status = FG_PLUGIN_OK;
                else if (strcmp(v, "unset"))
                        result[i].status = (int32_t)atoi(v);
        }
}

static void bad_status_close(void *conn) {}
static void bad_status_fini(void *plugin) {}

static const fg_plugin_t bad_status_plugin = {
    .abi_version = FG_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(fg_plugin_t),
    .name = "bad_status",
    .init = bad_status_init,
    .open = bad_status_open,
    .send = bad_status_send,
    .close = bad_status_close,
    .fini = bad_status_fini,
};

const fg_plugin_t *floodgate_plugin_v1(void) { return &bad_status_plugin; }
