/*
 * both.c - a program that uses librdkafka directly (its own, here
 * Debian's librdkafka-dev) and Sluice, whose librdkafka is linked into
 * libsluice with its symbols hidden: each call reaches its own copy.
 * tests/installcheck.sh builds it against the installed Sluice, shared and
 * static, and passes the version libsluice was built with.
 */
#include <librdkafka/rdkafka.h>
#include <sluice.h>

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
        char errstr[512];
        rd_kafka_conf_t *rc = rd_kafka_conf_new();
        sluice_conf_t *sc   = sluice_conf_new();
        rd_kafka_t *rk;
        if (argc != 2) {
                fprintf(stderr, "usage: both SLUICE_RDKAFKA_VERSION\n");
                return 2;
        }
        /* the program's own librdkafka: the header it was compiled with */
        if (rd_kafka_version() != RD_KAFKA_VERSION) {
                fprintf(stderr, "both: rd_kafka_version() 0x%x, header 0x%x\n",
                        rd_kafka_version(), RD_KAFKA_VERSION);
                return 1;
        }
        if (strcmp(sluice_rdkafka_version_str(), argv[1])) {
                fprintf(stderr, "both: Sluice runs on librdkafka %s, not %s\n",
                        sluice_rdkafka_version_str(), argv[1]);
                return 1;
        }
        /* both work: a client of the program's own, a conf of Sluice's
         * (validated by Sluice's librdkafka) */
        rd_kafka_conf_set(rc, "log_level", "3", NULL, 0);
        if (!(rk = rd_kafka_new(RD_KAFKA_PRODUCER, rc, errstr, sizeof(errstr)))) {
                fprintf(stderr, "both: rd_kafka_new: %s\n", errstr);
                return 1;
        }
        if (sluice_conf_set(sc, "group.protocol", "consumer", errstr,
                            sizeof(errstr))) {
                fprintf(stderr, "both: sluice_conf_set: %s\n", errstr);
                return 1;
        }
        printf("both: the program's librdkafka %s, Sluice's %s\n",
               rd_kafka_version_str(), sluice_rdkafka_version_str());
        sluice_conf_destroy(sc);
        rd_kafka_destroy(rk);
        return 0;
}
