/*
 * sink_null: acknowledges every event and keeps nothing — for measuring
 * the pipeline itself and for dry runs.
 *
 * Threading: stateless; any worker. Ownership: nothing to own.
 */
#include "sinks/sink.h"

static int null_shared;

static void *null_create(const fg_sink_cfg_t *sc, const fg_sink_env_t *env, char *errstr,
                         size_t errstr_size) {
        return &null_shared;
}

static void null_destroy(void *shared) {}

static void *null_open(void *shared, char *errstr, size_t errstr_size) { return shared; }

static void null_close(void *conn) {}

static void null_send(void *conn, const fg_event_t *evs, size_t n, fg_sink_result_t *res) {
        for (size_t i = 0; i < n; i++)
                res[i] = (fg_sink_result_t){.status = FG_SINK_OK};
}

const fg_sink_class_t fg_sink_null_class = {
    .name = "null",
    .create = null_create,
    .destroy = null_destroy,
    .open = null_open,
    .close = null_close,
    .send = null_send,
    .prefix_ordered = true,
};
