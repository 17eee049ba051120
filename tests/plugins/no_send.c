/*
 * no_send: a test plugin with the right ABI version but no send callback,
 * which floodgate must refuse before calling init.
 */
#include <stddef.h>

#include "floodgate_plugin.h"

static void *no_send_init(const fg_plugin_host_t *host, const char *const *keys,
                          const char *const *values, size_t n, char *errstr, size_t errstr_size) {
        static int state;
        return &state;
}

static void *no_send_open(void *plugin, char *errstr, size_t errstr_size) { return plugin; }
static void no_send_close(void *conn) {}
static void no_send_fini(void *plugin) {}

static const fg_plugin_t no_send_plugin = {
    .abi_version = FG_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(fg_plugin_t),
    .name = "no_send",
    .init = no_send_init,
    .open = no_send_open,
    .close = no_send_close,
    .fini = no_send_fini,
};

const fg_plugin_t *floodgate_plugin_v1(void) { return &no_send_plugin; }
