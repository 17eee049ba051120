/*
 * admit: per-partition admission for ordered queues (workers.ordering
 * partition or key).
 *
 * In an ordered queue a hot key (one key = 90% of a burst) runs one event
 * at a time, and the events queued behind it count against the queue's
 * bounds like any others. Left alone they would fill the queue to its high
 * watermark, and ingest would then stop taking messages for every
 * partition: the other keys would crawl at the hot key's pace. So every
 * tick, each partition whose events wait behind earlier events of their
 * keys (in flight or not yet taken: sched.h's blocked items) beyond a fair
 * share of the queue (capacity / 2 per assigned partition, in messages or
 * bytes), and beyond twice what the other partitions hold on average (a
 * hog, not a pipeline that is slow for everyone), is held: paused alone (librdkafka drops its prefetch and refetches
 * on resume, as for backpressure), while the others keep flowing. It is
 * resumed once what waits that way falls to half that share.
 * The check runs after every push (a burst would otherwise fill the queue
 * between two ticks) and every tick (to resume).
 * Keys of the held partition wait with it — they are behind the hot key in
 * that partition's log — but every other partition runs at full speed.
 *
 * With one partition assigned there is no one to protect: nothing is held.
 * A partition held when the pipeline's own backpressure pauses everything
 * stays paused; that backpressure's resume resumes it and clears the hold
 * (fg_ingest_mark_paused), and the next tick holds it again if it must.
 *
 * Threading: ingest thread (flush and tick), except fg_ingest_held.
 */
#include "common/log.h"
#include "ingest/ingest_int.h"
#include "pipeline/offsets.h"

/* Pauses (holds) or resumes the one partition @p topic [pr]. */
static void set_held(fg_ingest_t *in, const char *topic, fg_ingest_prec_t *pr, bool held) {
        rd_kafka_topic_partition_list_t *one = rd_kafka_topic_partition_list_new(1);
        rd_kafka_resp_err_t err;

        rd_kafka_topic_partition_list_add(one, topic, pr->partition);
        err = held ? rd_kafka_pause_partitions(in->rk, one) : rd_kafka_resume_partitions(in->rk, one);
        rd_kafka_topic_partition_list_destroy(one);
        if (err) {
                fg_warn("%s %s [%d]: %s", held ? "holding" : "releasing", topic, (int)pr->partition,
                        rd_kafka_err2str(err));
                return;
        }
        pr->held = held;
        fg_debug("ordering: %s %s [%d] (events behind earlier ones of their keys %s their share)",
                 held ? "held" : "resumed", topic, (int)pr->partition, held ? "over" : "back under");
}

/* Is @p msgs (of one partition) a hog: over its share of the queue and
 * more than twice the mean of the other partitions? When every partition
 * waits alike (many keys, a slow sink) there is no one to protect: that is
 * the watermarks' business. */
static bool hogs(size_t msgs, size_t total, size_t share, unsigned nparts) {
        return msgs > share && msgs > 2 * ((total - msgs) / (nparts - 1));
}

void fg_ingest_admit(fg_ingest_t *in) {
        size_t share_msgs, share_bytes, total_msgs = 0, total_bytes = 0;
        unsigned held = 0, n = in->nassigned;

        if (n < 2) {
                atomic_store(&in->held_pub, 0);
                return;
        }
        share_msgs = fg_queue_capacity(in->q) / (2 * (size_t)n);
        share_bytes = fg_queue_max_bytes(in->q) / (2 * (size_t)n);
        if (share_msgs < 2)
                share_msgs = 2;
        for (size_t i = 0; i < in->ntab; i++)
                for (int32_t p = 0; p < in->tab[i].nparts; p++) {
                        size_t msgs, bytes;
                        if (!in->tab[i].parts[p])
                                continue;
                        fg_part_blocked(in->tab[i].parts[p]->part, &msgs, &bytes);
                        total_msgs += msgs;
                        total_bytes += bytes;
                }
        for (size_t i = 0; i < in->ntab; i++) {
                fg_ingest_topic_t *t = &in->tab[i];
                for (int32_t p = 0; p < t->nparts; p++) {
                        fg_ingest_prec_t *pr = t->parts[p];
                        size_t msgs, bytes;

                        if (!pr)
                                continue;
                        fg_part_blocked(pr->part, &msgs, &bytes);
                        if (!pr->held && !pr->paused && !in->draining &&
                            (hogs(msgs, total_msgs, share_msgs, n) ||
                             hogs(bytes, total_bytes, share_bytes, n)))
                                set_held(in, t->name, pr, true);
                        else if (pr->held && !pr->paused && msgs <= share_msgs / 2 &&
                                 bytes <= share_bytes / 2)
                                set_held(in, t->name, pr, false);
                        held += pr->held;
                }
        }
        atomic_store(&in->held_pub, held);
}

unsigned fg_ingest_held(const fg_ingest_t *in) { return atomic_load(&in->held_pub); }
