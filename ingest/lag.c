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
        lag->arrival_per_s = -1;
        pthread_mutex_init(&lag->lock, NULL);
}

/* The entry of @p old for @p e's partition; documents list partitions in
 * the same order, so index @p hint is tried first. */
static const fg_lag_entry_t *find_entry(const fg_lag_entry_t *old, size_t n, size_t hint,
                                        const fg_lag_entry_t *e) {
        if (hint < n && old[hint].partition == e->partition && !strcmp(old[hint].topic, e->topic))
                return &old[hint];
        for (size_t i = 0; i < n; i++)
                if (old[i].partition == e->partition && !strcmp(old[i].topic, e->topic))
                        return &old[i];
        return NULL;
}

/* Lock held. Growth of the end offsets from the current table to @p v,
 * per second; partitions that came or went in between do not count. */
static double arrival_rate(const fg_lag_t *lag, const fg_lag_entry_t *v, size_t n, int64_t now_ns) {
        double dt = (double)(now_ns - lag->updated_ns) / 1e9;
        int64_t grown = 0;

        if (!lag->updated_ns || dt <= 0)
                return -1;
        for (size_t i = 0; i < n; i++) {
                const fg_lag_entry_t *o = find_entry(lag->v, lag->n, i, &v[i]);
                if (o && o->end_offset >= 0 && v[i].end_offset > o->end_offset)
                        grown += v[i].end_offset - o->end_offset;
        }
        return (double)grown / dt;
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
        int64_t now_ns;

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

        now_ns = fg_mono_ns();
        pthread_mutex_lock(&lag->lock);
        lag->arrival_per_s = arrival_rate(lag, v, n, now_ns);
        free(lag->v);
        lag->v = v;
        lag->n = n;
        lag->updated_ms = fg_wall_ms();
        lag->updated_ns = now_ns;
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

double fg_lag_arrival(fg_lag_t *lag) {
        double r;

        pthread_mutex_lock(&lag->lock);
        r = lag->arrival_per_s;
        pthread_mutex_unlock(&lag->lock);
        return r;
}
