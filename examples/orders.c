/*
 * orders.c - an order-routing topology run through the in-process test
 * driver, no Kafka needed: how to unit-test a topology.
 *
 *   orders (string key, JSON value)
 *     -> filter: drop orders with amount <= 0
 *     -> branch: country "DE"  -> orders-de    (unchanged: written as the
 *                                               bytes that arrived)
 *                everything else -> map_values: add "amount_eur" (x0.92)
 *                                -> orders-intl
 *
 * Prints the topology, then every record that reached each output topic.
 * Build and run: make examples && build/examples/orders
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

static bool positive_amount(const sluice_record_t *rec, void *opaque) {
        json_t *v = sluice_record_value(rec)->u.json;
        (void)opaque;
        return json_number_value(json_object_get(v, "amount")) > 0;
}

static bool is_german(const sluice_record_t *rec, void *opaque) {
        json_t *v       = sluice_record_value(rec)->u.json;
        const char *cty = json_string_value(json_object_get(v, "country"));
        (void)opaque;
        return cty && !strcmp(cty, "DE");
}

static int add_eur(sluice_record_t *rec, void *opaque) {
        const double *rate = opaque;
        json_t *v          = sluice_record_json_edit(rec);
        double amount      = json_number_value(json_object_get(v, "amount"));
        return json_object_set_new(v, "amount_eur", json_real(amount * *rate));
}

static void print_topic(sluice_driver_t *drv, const char *topic) {
        const sluice_output_t *o;
        printf("%s:\n", topic);
        while ((o = sluice_driver_read(drv, topic)))
                printf("  ts=%lld key=%.*s value=%.*s\n", (long long)o->timestamp,
                       (int)o->key_len, (const char *)o->key,
                       (int)o->value_len, (const char *)o->value);
}

int main(void) {
        static const char *const orders[][2] = {
            {"o-1", "{\"country\":\"DE\",\"amount\":19.99,\"item\":\"kettle\"}"},
            {"o-2", "{\"country\":\"FR\",\"amount\":120.0,\"item\":\"bike\"}"},
            {"o-3", "{\"country\":\"DE\",\"amount\":0,\"item\":\"refund\"}"},
            {"o-4", "{\"country\":\"US\",\"amount\":5.5,\"item\":\"pen\"}"},
            {"o-5", "{\"amount\":42,  \"country\":\"DE\",\"item\":\"lamp\"}"},
        };
        static double rate = 0.92;
        sluice_predicate_cb *preds[2] = {is_german, NULL};
        sluice_stream_t *branches[2];
        char errstr[512];
        sluice_topology_t *t = sluice_topology_new();
        sluice_driver_t *drv;
        char *desc;
        size_t i;

        sluice_stream_t *s = sluice_stream_from(t, "orders", sluice_serde_string(),
                                                sluice_serde_json());
        s = sluice_stream_filter(s, positive_amount, NULL);
        sluice_stream_branch(s, 2, preds, NULL, branches);
        sluice_stream_to(branches[0], "orders-de", NULL, NULL);
        sluice_stream_to(sluice_stream_map_values(branches[1], add_eur, &rate),
                         "orders-intl", NULL, NULL);

        drv = sluice_driver_new(t, NULL, errstr, sizeof(errstr));
        if (!drv) {
                fprintf(stderr, "orders: %s\n", errstr);
                sluice_topology_destroy(t);
                return 1;
        }
        desc = sluice_topology_describe(t);
        printf("%s", desc);
        free(desc);

        for (i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
                if (sluice_driver_pipe_str(drv, "orders", orders[i][0],
                                           orders[i][1],
                                           1700000000000 + (int64_t)i * 1000)) {
                        fprintf(stderr, "orders: %s\n",
                                sluice_driver_last_error(drv));
                        return 1;
                }
        }
        printf("piped %zu orders\n", sizeof(orders) / sizeof(orders[0]));
        print_topic(drv, "orders-de");
        print_topic(drv, "orders-intl");

        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        return 0;
}
