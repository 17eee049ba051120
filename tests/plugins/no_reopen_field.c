/*
 * no_reopen_field: a version 1 plugin built before fg_plugin_t grew reopen.
 * Its descriptor really ends after fini (struct_size says so), so reading
 * reopen would read past it — which ASan reports as a global buffer
 * overflow. floodgate must load it, use it, and treat SIGHUP as a no-op.
 */
#include <stddef.h>
#include <stdint.h>

#include "floodgate_plugin.h"

/* fg_plugin_t as it was before reopen was added. */
typedef struct plugin_v1_0 {
        uint32_t abi_version;
        uint32_t struct_size;
        const char *name;
        void *(*init)(const fg_plugin_host_t *host, const char *const *keys,
                      const char *const *values, size_t n, char *errstr, size_t errstr_size);
        void *(*open)(void *plugin, char *errstr, size_t errstr_size);
        void (*send)(void *conn, const fg_plugin_event_t *events, size_t n,
                     fg_plugin_result_t *result);
        void (*close)(void *conn);
        void (*fini)(void *plugin);
} plugin_v1_0_t;

_Static_assert(sizeof(plugin_v1_0_t) == offsetof(fg_plugin_t, reopen),
               "plugin_v1_0_t must be fg_plugin_t up to and including fini");

static void *no_reopen_field_init(const fg_plugin_host_t *host, const char *const *keys,
                                  const char *const *values, size_t n, char *errstr,
                                  size_t errstr_size) {
        static int state;
        return &state;
}

static void *no_reopen_field_open(void *plugin, char *errstr, size_t errstr_size) {
        return plugin;
}

static void no_reopen_field_send(void *conn, const fg_plugin_event_t *evs, size_t n,
                                 fg_plugin_result_t *result) {
        for (size_t i = 0; i < n; i++)
                result[i].status = FG_PLUGIN_OK;
}

static void no_reopen_field_close(void *conn) {}
static void no_reopen_field_fini(void *plugin) {}

static const plugin_v1_0_t no_reopen_field_plugin = {
    .abi_version = FG_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(plugin_v1_0_t),
    .name = "no_reopen_field",
    .init = no_reopen_field_init,
    .open = no_reopen_field_open,
    .send = no_reopen_field_send,
    .close = no_reopen_field_close,
    .fini = no_reopen_field_fini,
};

const fg_plugin_t *floodgate_plugin_v1(void) {
        return (const fg_plugin_t *)(const void *)&no_reopen_field_plugin;
}
