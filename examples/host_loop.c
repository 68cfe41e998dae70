/*
 * host_loop.c - Sluice inside a program's own event loop: no thread of
 * Sluice's own (num.stream.threads=0); one poll() waits on both stdin and
 * the app's file descriptor.
 *
 * Each line typed on stdin is produced to topic "in" of the embedded
 * cluster; the topology uppercases it and prints it (foreach). At end of
 * input the loop drains what is in flight, closes the app and exits.
 *
 *   printf 'hello\nworld\n' | build/examples/host_loop
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>
#include <sluice.h>

static void print_upper(const sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        size_t i;
        (void)opaque;
        for (i = 0; i < v->u.bytes.len; i++) {
                char c = ((const char *)v->u.bytes.data)[i];
                putchar(c >= 'a' && c <= 'z' ? c - 32 : c);
        }
        printf("   (partition %d, offset %lld)\n", (int)sluice_record_partition(rec),
               (long long)sluice_record_offset(rec));
        fflush(stdout);
}

int main(void) {
        char err[512], line[1024];
        sluice_topology_t *t = sluice_topology_new();
        sluice_conf_t *conf  = sluice_conf_new();
        sluice_app_t *app;
        rd_kafka_conf_t *pc;
        rd_kafka_t *producer;
        struct pollfd fds[2];
        unsigned long long sent = 0;
        int eof = 0;

        sluice_stream_foreach(sluice_stream_from(t, "in", sluice_serde_string(),
                                                 sluice_serde_string()),
                              print_upper, NULL);
        if (sluice_conf_set(conf, "application.id", "host-loop", err, sizeof(err)) ||
            sluice_conf_set(conf, "sluice.embedded", "true", err, sizeof(err)) ||
            sluice_conf_set(conf, "num.stream.threads", "0", err, sizeof(err)) ||
            !(app = sluice_app_new(t, conf, err, sizeof(err))) ||
            sluice_app_start(app, err, sizeof(err))) {
                fprintf(stderr, "host_loop: %s\n", err);
                return 1;
        }
        pc = rd_kafka_conf_new();
        rd_kafka_conf_set(pc, "bootstrap.servers",
                          sluice_app_bootstrap_servers(app), NULL, 0);
        producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, err, sizeof(err));
        if (!producer) {
                fprintf(stderr, "host_loop: %s\n", err);
                return 1;
        }

        fds[0].fd     = STDIN_FILENO;
        fds[0].events = POLLIN;
        fds[1].fd     = sluice_app_fd(app);
        fds[1].events = POLLIN;
        for (;;) {
                int more = sluice_app_step(app, 100);
                if (more < 0) {
                        fprintf(stderr, "host_loop: %s\n", sluice_app_error(app));
                        break;
                }
                rd_kafka_poll(producer, 0);
                if (eof && sluice_app_processed(app) >= sent)
                        break; /* everything typed has been processed */
                if (more)
                        continue; /* work remains: no waiting */
                if (poll(fds, eof ? 1 : 2, sluice_app_timeout_ms(app)) < 0)
                        break;
                if (!eof && (fds[0].revents & (POLLIN | POLLHUP))) {
                        if (!fgets(line, sizeof(line), stdin)) {
                                eof = 1;
                                fds[0] = fds[1]; /* wait on the app only */
                                rd_kafka_flush(producer, 5000);
                                continue;
                        }
                        line[strcspn(line, "\n")] = '\0';
                        if (!rd_kafka_producev(producer, RD_KAFKA_V_TOPIC("in"),
                                               RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                               RD_KAFKA_V_VALUE(line, strlen(line)),
                                               RD_KAFKA_V_END))
                                sent++;
                }
        }
        printf("processed %llu of %llu lines on the host's thread\n",
               (unsigned long long)sluice_app_processed(app), sent);
        rd_kafka_destroy(producer);
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        return 0;
}
