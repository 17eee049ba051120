/*
 * burst: load generator (see burst.h).
 */
#include "tools/burst.h"

#include <librdkafka/rdkafka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "kafka/kconf.h"

struct fg_burst {
        rd_kafka_t *rk;
        rd_kafka_topic_t *rkt;
        fg_burst_cfg_t bc;
        char prefix[64];
        _Atomic int64_t produced;
        _Atomic int64_t delivered;
        _Atomic int64_t failed;
        _Atomic bool stop;
        _Atomic bool finished;
};

static const char *const brands[] = {"acme", "globex", "initech", "umbrella", "hooli"};
#define NBRANDS (sizeof(brands) / sizeof(brands[0]))

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque) {
        fg_burst_t *b = opaque;
        if (rkm->err) {
                if (atomic_fetch_add(&b->failed, 1) < 5)
                        fg_warn("burst: delivery failed: %s", rd_kafka_err2str(rkm->err));
        } else {
                atomic_fetch_add_explicit(&b->delivered, 1, memory_order_relaxed);
        }
}

fg_burst_t *fg_burst_new(const char *bootstrap, const char *topic, const fg_burst_cfg_t *bc,
                         const char *id_prefix, char *errstr, size_t errstr_size) {
        fg_burst_t *b = calloc(1, sizeof(*b));
        rd_kafka_conf_t *conf;
        char reason[256];

        if (!b) {
                snprintf(errstr, errstr_size, "out of memory");
                return NULL;
        }
        b->bc = *bc;
        if (id_prefix && *id_prefix)
                snprintf(b->prefix, sizeof(b->prefix), "%s", id_prefix);
        else
                snprintf(b->prefix, sizeof(b->prefix), "%08llx",
                         (unsigned long long)(((uint64_t)fg_mono_ns() ^ (uint64_t)getpid() * 2654435761u) &
                                              0xffffffffu));
        conf = fg_kconf_producer(bootstrap, NULL, errstr, errstr_size);
        /* linger.ms: batches of tens of ms, as a busy producer sends them.
         * librdkafka's 5 ms makes message sets of a few events at 50k/s
         * over dozens of partitions, and the mock cluster (one thread,
         * which walks a partition's message sets on every fetch) then
         * cannot keep up with the spike it is meant to deliver. */
        if (!conf ||
            fg_kconf_set(conf, "queue.buffering.max.messages", "200000", errstr, errstr_size) ||
            fg_kconf_set(conf, "linger.ms", "20", errstr, errstr_size)) {
                if (conf)
                        rd_kafka_conf_destroy(conf);
                free(b);
                return NULL;
        }
        rd_kafka_conf_set_opaque(conf, b);
        rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
        b->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, reason, sizeof(reason));
        if (!b->rk) {
                rd_kafka_conf_destroy(conf);
                snprintf(errstr, errstr_size, "cannot create producer: %s", reason);
                free(b);
                return NULL;
        }
        b->rkt = rd_kafka_topic_new(b->rk, topic, NULL);
        return b;
}

void fg_burst_destroy(fg_burst_t *b) {
        if (!b)
                return;
        rd_kafka_topic_destroy(b->rkt);
        rd_kafka_destroy(b->rk);
        free(b);
}

size_t fg_burst_format(char *buf, size_t size, const char *id_prefix, int64_t seq, int64_t ts_ms,
                       int64_t keys, int64_t target_size, char *key, size_t key_size,
                       size_t *key_len) {
        static const char filler[] =
            "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
            "incididunt ut labore et dolore magna aliqua ut enim ad minim veniam quis nostrud ";
        /* keys 0: no message key, but "user" still varies. */
        int64_t k = seq % (keys > 0 ? keys : 10000);
        const char *brand = brands[(uint64_t)seq % NBRANDS];
        int n, klen;
        size_t len, pad;

        klen = keys > 0 ? snprintf(key, key_size, "k%lld", (long long)k) : 0;
        *key_len = klen > 0 ? (size_t)klen : 0;
        n = snprintf(buf, size,
                     "{\"id\":\"%s-%lld\",\"ts\":%lld,\"seq\":%lld,\"user\":\"u%lld\","
                     "\"brand\":\"%s\",\"text\":\"%s is trending",
                     id_prefix, (long long)seq, (long long)ts_ms, (long long)seq, (long long)k,
                     brand, brand);
        if (n < 0 || (size_t)n >= size)
                return size ? size - 1 : 0;
        len = (size_t)n;
        /* Pad the text so the event is about target_size bytes. */
        pad = target_size > (int64_t)(len + 2) ? (size_t)target_size - len - 2 : 0;
        if (pad > 0 && len + pad + 3 < size) {
                buf[len++] = ' ';
                pad--;
                while (pad > 0) {
                        size_t chunk = pad < sizeof(filler) - 1 ? pad : sizeof(filler) - 1;
                        memcpy(buf + len, filler, chunk);
                        len += chunk;
                        pad -= chunk;
                }
        }
        if (len + 3 > size)
                return len;
        buf[len++] = '"';
        buf[len++] = '}';
        buf[len] = '\0';
        return len;
}

/* Events due by @p t_ns after the start, per the profile. */
static double due_at(const fg_burst_cfg_t *bc, int64_t t_ns) {
        double base = (double)bc->rate, spike = (double)bc->spike_rate;
        double s0 = (double)bc->spike_at_ns, s1 = (double)(bc->spike_at_ns + bc->spike_for_ns);
        double t = (double)t_ns, in_spike = 0, outside;

        if (bc->spike_for_ns > 0 && t > s0)
                in_spike = (t < s1 ? t : s1) - s0;
        outside = t - in_spike;
        return (base * outside + spike * in_spike) / 1e9;
}

static bool unlimited_at(const fg_burst_cfg_t *bc, int64_t t_ns) {
        bool in_spike = bc->spike_for_ns > 0 && t_ns >= bc->spike_at_ns &&
                        t_ns < bc->spike_at_ns + bc->spike_for_ns;
        return in_spike ? bc->spike_rate == 0 : bc->rate == 0;
}

int fg_burst_run(fg_burst_t *b, int flush_timeout_ms) {
        int64_t t0 = fg_mono_ns(), seq = 0;
        int64_t spike_end = b->bc.spike_at_ns + b->bc.spike_for_ns;
        bool open_spike = b->bc.spike_for_ns > 0 && b->bc.spike_rate == 0;
        double credit = 0; /* events an unlimited spike produced off the schedule */
        size_t bufsize = (size_t)b->bc.size + 512;
        char *payload = malloc(bufsize), key[32];

        if (!payload)
                abort();
        while (seq < b->bc.count && !atomic_load(&b->stop)) {
                int64_t t = fg_mono_ns() - t0;
                size_t len, klen;
                bool sent = true;

                /* An unlimited spike has no schedule to integrate: the
                 * baseline after it resumes from what it produced, rather
                 * than waiting until the baseline alone would have caught
                 * up with it. */
                if (open_spike && t >= spike_end) {
                        credit = (double)seq - due_at(&b->bc, spike_end);
                        open_spike = false;
                }
                if (!unlimited_at(&b->bc, t) && (double)seq >= due_at(&b->bc, t) + credit) {
                        rd_kafka_poll(b->rk, 1);
                        continue;
                }
                len = fg_burst_format(payload, bufsize, b->prefix, seq, fg_wall_ms(),
                                      b->bc.keys, b->bc.size, key, sizeof(key), &klen);
                while (rd_kafka_produce(b->rkt, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, payload,
                                        len, klen ? key : NULL, klen, NULL) == -1) {
                        rd_kafka_resp_err_t err = rd_kafka_last_error();
                        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                                fg_error("burst: produce failed: %s", rd_kafka_err2str(err));
                                atomic_store(&b->stop, true);
                                sent = false;
                                break;
                        }
                        rd_kafka_poll(b->rk, 10);
                }
                /* A stop that lands after the produce still counts the
                 * event: its delivery report will. */
                if (!sent)
                        break;
                seq++;
                atomic_store_explicit(&b->produced, seq, memory_order_relaxed);
                rd_kafka_poll(b->rk, 0);
        }
        free(payload);
        rd_kafka_flush(b->rk, flush_timeout_ms);
        atomic_store(&b->finished, true);
        return atomic_load(&b->delivered) == seq && atomic_load(&b->failed) == 0 ? 0 : -1;
}

void fg_burst_stop(fg_burst_t *b) { atomic_store(&b->stop, true); }

int64_t fg_burst_produced(const fg_burst_t *b) { return atomic_load(&b->produced); }

int64_t fg_burst_delivered(const fg_burst_t *b) { return atomic_load(&b->delivered); }

int64_t fg_burst_failed(const fg_burst_t *b) { return atomic_load(&b->failed); }

const char *fg_burst_id_prefix(const fg_burst_t *b) { return b->prefix; }

bool fg_burst_finished(const fg_burst_t *b) { return atomic_load(&b->finished); }
