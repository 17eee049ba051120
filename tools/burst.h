/*
 * burst: the load generator — keyed JSON events at a steady rate or a
 * baseline-then-spike profile, produced to Kafka.
 *
 * Each event is one compact JSON object:
 *   {"id":"<prefix>-<seq>","ts":<ms since epoch>,"seq":<n>,"user":"u<k>",
 *    "brand":"<name>","text":"..."}
 * padded with text to roughly burst.size bytes. ids are unique per run
 * (prefix defaults to a random tag), keys ("k<seq % keys>") spread events
 * over partitions (keys 0: no key, so librdkafka's sticky partitioner
 * fills one partition's batch at a time, as a keyless firehose does), and
 * "brand" cycles through a few names so that filters have something to
 * match.
 *
 * Rate: the target count at time t is the integral of the profile (baseline
 * rate, spike rate inside [spike.at, spike.at + spike.duration)); the
 * generator produces up to that count and otherwise waits in the producer's
 * poll, so it follows the profile without drift. A rate of 0 means as fast
 * as the producer accepts; after such a spike the baseline resumes from
 * what the spike produced.
 *
 * Threading: fg_burst_run blocks its calling thread (the CLI's main thread,
 * or the daemon's burst thread); fg_burst_stop and the progress getters are
 * for any thread.
 * Ownership: fg_burst_t owns its producer; the config it was made from must
 * outlive it.
 */
#ifndef FG_BURST_H
#define FG_BURST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The load generator's profile (the burst section of the configuration, or
 * `floodgate burst`'s options). */
typedef struct fg_burst_cfg {
        bool enabled;          /* section present in the file */
        char *topic;           /* NULL: first of kafka.topics */
        int64_t count;         /* events to produce */
        int64_t rate;          /* events/s at baseline; 0 = as fast as possible */
        int64_t size;          /* approximate JSON event size in bytes */
        int64_t keys;          /* distinct message keys */
        int64_t spike_at_ns;   /* spike starts this long after the first event */
        int64_t spike_for_ns;  /* spike length; 0 = no spike */
        int64_t spike_rate;    /* events/s during the spike; 0 = as fast as possible */
} fg_burst_cfg_t;

typedef struct fg_burst fg_burst_t;

fg_burst_t *fg_burst_new(const char *bootstrap, const char *topic, const fg_burst_cfg_t *bc,
                         const char *id_prefix, char *errstr, size_t errstr_size);
void fg_burst_destroy(fg_burst_t *b);

/* Produces the whole profile and waits for every delivery report (up to
 * @p flush_timeout_ms after the last event). Returns 0 when every event was
 * delivered, -1 otherwise (see the counters). */
int fg_burst_run(fg_burst_t *b, int flush_timeout_ms);
/* Ends fg_burst_run early (it still flushes what was produced). */
void fg_burst_stop(fg_burst_t *b);

int64_t fg_burst_produced(const fg_burst_t *b);
int64_t fg_burst_delivered(const fg_burst_t *b);
int64_t fg_burst_failed(const fg_burst_t *b);
const char *fg_burst_id_prefix(const fg_burst_t *b);
bool fg_burst_finished(const fg_burst_t *b);

/* The event with sequence @p seq, for tests that check what arrived.
 * Returns its length (written into buf, truncated to size). */
size_t fg_burst_format(char *buf, size_t size, const char *id_prefix, int64_t seq, int64_t ts_ms,
                       int64_t keys, int64_t target_size, char *key, size_t key_size,
                       size_t *key_len);

#endif
