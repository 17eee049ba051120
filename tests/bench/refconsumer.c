/*
 * refconsumer: the raw ceiling floodgate is measured against — a plain
 * librdkafka group consumer that only polls and frees messages until every
 * assigned partition reports EOF. Same group-join path, no pipeline.
 *
 *   refconsumer BOOTSTRAP TOPIC GROUP EXPECTED
 *
 * Prints: ref_msgs=N ref_secs=S ref_rate=R ref_peak_rss_mib=M
 * ref_cpu_us=U, where the time runs from the first message to the last
 * (group join excluded, as for floodgate's own "from first message"
 * figure) and U is the whole process's CPU time (user + system, every
 * thread, from its start, as floodgate's summary counts it) per message.
 *
 * Threading: single-threaded program (librdkafka runs its own threads).
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_topic_partition_list_t *topics;
        char errstr[256];
        rd_kafka_t *rk;
        long long got = 0, expected;
        double first = 0, last = 0;
        struct rusage ru;

        if (argc != 5) {
                fprintf(stderr, "usage: refconsumer BOOTSTRAP TOPIC GROUP EXPECTED\n");
                return 64;
        }
        expected = atoll(argv[4]);
        rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], NULL, 0);
        rd_kafka_conf_set(conf, "group.id", argv[3], NULL, 0);
        rd_kafka_conf_set(conf, "auto.offset.reset", "earliest", NULL, 0);
        rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
        if (!rk) {
                fprintf(stderr, "%s\n", errstr);
                return 1;
        }
        rd_kafka_poll_set_consumer(rk);
        topics = rd_kafka_topic_partition_list_new(1);
        rd_kafka_topic_partition_list_add(topics, argv[2], RD_KAFKA_PARTITION_UA);
        rd_kafka_subscribe(rk, topics);
        rd_kafka_topic_partition_list_destroy(topics);

        while (got < expected) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 1000);
                if (!m)
                        continue;
                if (!m->err && !got++)
                        first = now_s();
                rd_kafka_message_destroy(m);
        }
        /* Once, after the last message: a clock read per message would
         * be CPU the reference spends and floodgate does not. */
        last = now_s();
        getrusage(RUSAGE_SELF, &ru);
        printf("ref_msgs=%lld ref_secs=%.3f ref_rate=%.0f ref_peak_rss_mib=%.1f ref_cpu_us=%.3f\n",
               got, last - first, (double)got / (last - first), (double)ru.ru_maxrss / 1024.0,
               ((double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6) *
                   1e6 / (double)got);
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
        return 0;
}
