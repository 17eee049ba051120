/*
 * cmd_mock: `floodgate mock` — a mock Kafka cluster on loopback for demos,
 * tests and benchmarks. Prints BOOTSTRAP=... on stdout, then serves until
 * SIGTERM or SIGINT.
 *
 * Threading: main thread; the signals are blocked and taken with sigwait so
 * librdkafka's threads never see them.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/exit.h"
#include "common/log.h"
#include "tools/tools.h"
#include "kafka/mock.h"

#define MAX_TOPICS 64

int fg_cmd_mock(int argc, char **argv) {
        static const struct option longopts[] = {
            {"brokers", required_argument, NULL, 'b'},
            {"topic", required_argument, NULL, 't'},
            {NULL, 0, NULL, 0},
        };
        char *names[MAX_TOPICS];
        int parts[MAX_TOPICS], ntopics = 0, brokers = 1, c, sig, rc = FG_EXIT_OK;
        char errstr[256];
        fg_mock_t *mock;
        sigset_t set;

        optind = 1;
        while ((c = getopt_long(argc, argv, "b:t:", longopts, NULL)) != -1) {
                char *colon;
                switch (c) {
                case 'b':
                        brokers = atoi(optarg);
                        if (brokers < 1 || brokers > 16) {
                                fprintf(stderr, "floodgate mock: --brokers takes 1..16\n");
                                return FG_EXIT_USAGE;
                        }
                        break;
                case 't':
                        colon = strrchr(optarg, ':');
                        if (ntopics == MAX_TOPICS || !colon || colon == optarg ||
                            atoi(colon + 1) < 1) {
                                fprintf(stderr, "floodgate mock: --topic takes NAME:PARTITIONS\n");
                                return FG_EXIT_USAGE;
                        }
                        *colon = '\0';
                        names[ntopics] = optarg;
                        parts[ntopics++] = atoi(colon + 1);
                        break;
                default:
                        fprintf(stderr, "usage: floodgate mock [--brokers N] [--topic NAME:PARTITIONS]...\n");
                        return FG_EXIT_USAGE;
                }
        }

        sigemptyset(&set);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGINT);
        pthread_sigmask(SIG_BLOCK, &set, NULL);

        mock = fg_mock_new(brokers, errstr, sizeof(errstr));
        if (!mock) {
                fg_error("%s", errstr);
                return FG_EXIT_FAILURE;
        }
        for (int i = 0; i < ntopics; i++) {
                if (fg_mock_create_topic(mock, names[i], parts[i], errstr, sizeof(errstr))) {
                        fg_error("%s", errstr);
                        rc = FG_EXIT_FAILURE;
                        goto done;
                }
        }
        printf("BOOTSTRAP=%s\n", fg_mock_bootstrap(mock));
        fflush(stdout);
        fg_info("mock cluster with %d broker%s serving; SIGTERM stops it", brokers,
                brokers == 1 ? "" : "s");
        sigwait(&set, &sig);
        fg_info("mock cluster stopping");
done:
        fg_mock_destroy(mock);
        return rc;
}
