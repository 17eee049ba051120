/*
 * short_struct: a test plugin whose struct_size ends before fini — what a
 * descriptor that forgot struct_size, or one from an incompatible header,
 * looks like. floodgate must refuse it before reading any callback.
 */
#include <stddef.h>

#include "floodgate_plugin.h"

static void *short_struct_init(const fg_plugin_host_t *host, const char *const *keys,
                               const char *const *values, size_t n, char *errstr,
                               size_t errstr_size) {
        static int state;
        return &state;
}

static void *short_struct_open(void *plugin, char *errstr, size_t errstr_size) { return plugin; }
static void short_struct_send(void *conn, const fg_plugin_event_t *evs, size_t n,
                              fg_plugin_result_t *result) {}
static void short_struct_close(void *conn) {}
static void short_struct_fini(void *plugin) {}

static const fg_plugin_t short_struct_plugin = {
    .abi_version = FG_PLUGIN_ABI_VERSION,
    .struct_size = offsetof(fg_plugin_t, fini),
    .name = "short_struct",
    .init = short_struct_init,
    .open = short_struct_open,
    .send = short_struct_send,
    .close = short_struct_close,
    .fini = short_struct_fini,
};

const fg_plugin_t *floodgate_plugin_v1(void) { return &short_struct_plugin; }
