/*
 * lag: consumer lag from librdkafka statistics (see lag.h).
 */
#include "ingest/lag.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"

void fg_lag_init(fg_lag_t *lag) {
        memset(lag, 0, sizeof(*lag));
        pthread_mutex_init(&lag->lock, NULL);
}

void fg_lag_clear(fg_lag_t *lag) {
        free(lag->v);
        lag->v = NULL;
        lag->n = 0;
        pthread_mutex_destroy(&lag->lock);
}

static int64_t int_field(json_t *obj, const char *key) {
        json_t *v = json_object_get(obj, key);
        return json_is_integer(v) ? (int64_t)json_integer_value(v) : -1;
}

int fg_lag_update(fg_lag_t *lag, const char *json, size_t len) {
        json_t *root = json_loadb(json, len, 0, NULL), *topics, *t;
        const char *tname;
        fg_lag_entry_t *v = NULL;
        size_t n = 0, cap = 0;

        if (!root)
                return -1;
        topics = json_object_get(root, "topics");
        json_object_foreach(topics, tname, t) {
                json_t *parts = json_object_get(t, "partitions"), *p;
                const char *pname;
                json_object_foreach(parts, pname, p) {
                        const char *state = json_string_value(json_object_get(p, "fetch_state"));
                        int32_t partition = (int32_t)atoi(pname);
                        int64_t lag_stored, lag_committed;
                        fg_lag_entry_t *e;

                        /* -1 is librdkafka's UA pseudo-partition; "none" is
                         * a partition we do not fetch. */
                        if (partition < 0 || !state || !strcmp(state, "none"))
                                continue;
                        if (n == cap) {
                                cap = cap ? cap * 2 : 16;
                                v = realloc(v, cap * sizeof(*v));
                                if (!v)
                                        abort();
                        }
                        e = &v[n++];
                        memset(e, 0, sizeof(*e));
                        snprintf(e->topic, sizeof(e->topic), "%s", tname);
                        e->partition = partition;
                        e->end_offset = int_field(p, "hi_offset");
                        e->committed = int_field(p, "committed_offset");
                        if (e->committed < 0)
                                e->committed = -1;
                        lag_stored = int_field(p, "consumer_lag_stored");
                        lag_committed = int_field(p, "consumer_lag");
                        e->lag = lag_stored >= 0 ? lag_stored : lag_committed;
                }
        }
        json_decref(root);

        pthread_mutex_lock(&lag->lock);
        free(lag->v);
        lag->v = v;
        lag->n = n;
        lag->updated_ms = fg_wall_ms();
        pthread_mutex_unlock(&lag->lock);
        return 0;
}

size_t fg_lag_get(fg_lag_t *lag, fg_lag_entry_t **out, int64_t *total, int64_t *updated_ms) {
        size_t n;

        pthread_mutex_lock(&lag->lock);
        n = lag->n;
        *out = NULL;
        *total = -1;
        if (n) {
                *out = malloc(n * sizeof(**out));
                if (!*out)
                        abort();
                memcpy(*out, lag->v, n * sizeof(**out));
        }
        for (size_t i = 0; i < n; i++) {
                if (lag->v[i].lag < 0)
                        continue;
                *total = (*total < 0 ? 0 : *total) + lag->v[i].lag;
        }
        if (updated_ms)
                *updated_ms = lag->updated_ms;
        pthread_mutex_unlock(&lag->lock);
        return n;
}
