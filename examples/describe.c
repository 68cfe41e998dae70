/*
 * describe.c - print a topology as Kafka Streams-style text and write it as
 * Graphviz DOT to topology.dot; when `dot` is installed, render
 * topology.png from it.
 *
 *   build/examples/describe [output-dir]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

static bool non_empty(const sluice_record_t *rec, void *opaque) {
        (void)opaque;
        return sluice_record_value(rec)->u.bytes.len > 0;
}

static int split(const sluice_record_t *rec, sluice_emitter_t *out,
                 void *opaque) {
        (void)rec;
        (void)out;
        (void)opaque;
        return 0;
}

int main(int argc, char **argv) {
        const char *dir      = argc > 1 ? argv[1] : ".";
        const char *logs[2]  = {"logs-web", "logs-api"};
        sluice_predicate_cb *preds[2] = {non_empty, NULL};
        sluice_stream_t *br[2];
        char path[1024], cmd[2200], *text, *dot;
        sluice_topology_t *t = sluice_topology_new();
        FILE *f;

        sluice_stream_t *s = sluice_stream_merge(
            sluice_stream_from_topics(t, logs, 2, NULL, NULL),
            sluice_stream_from_pattern(t, "audit-.*", NULL, NULL));
        sluice_stream_branch(s, 2, preds, NULL, br);
        sluice_stream_to(sluice_stream_flat_map(br[0], split, NULL), "events",
                         NULL, NULL);
        sluice_stream_to(br[1], "empty-lines", NULL, NULL);

        text = sluice_topology_describe(t);
        dot  = sluice_topology_describe_dot(t);
        if (!text || !dot)
                return 1;
        printf("%s", text);
        snprintf(path, sizeof(path), "%s/topology.dot", dir);
        f = fopen(path, "w");
        if (!f) {
                perror(path);
                return 1;
        }
        fputs(dot, f);
        fclose(f);
        printf("wrote %s\n", path);
        if (system("command -v dot >/dev/null 2>&1") == 0) {
                snprintf(cmd, sizeof(cmd), "dot -Tpng '%s' -o '%s/topology.png'",
                         path, dir);
                if (system(cmd) == 0)
                        printf("wrote %s/topology.png\n", dir);
        } else {
                printf("install graphviz to render it: dot -Tpng %s -o "
                       "topology.png\n",
                       path);
        }
        free(text);
        free(dot);
        sluice_topology_destroy(t);
        return 0;
}
