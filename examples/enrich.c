/*
 * enrich.c - orders enriched by three joins, written as JSON: the
 * customer's current row, the customer's tier as it was when the order was
 * placed, and the shipment that left within an hour of the order.
 *
 *   customers       (key: customer id; value {"name":"Ada","city":"Berlin"})
 *                   -> a table (store "customers")
 *   customer-tiers  (key: customer id; value "gold" / "silver" / "bronze")
 *                   -> a versioned table (store "customer-tiers": every
 *                      version of the last day)
 *   orders          (key: customer id; value {"order":"o1","customer":"c1",
 *                    "amount_cents":2500,"ts":...}; event time: the
 *                    record's timestamp)
 *     -> (a) left join customers: + "name", "city" (null: unknown customer)
 *     -> (b) left join customer-tiers as of the order's time, with a grace
 *            period of 5 minutes: + "tier" (null: none at that time)
 *     -> select_key: the order id (a repartition topic)
 *     -> (c) left join shipments within [order, order + 1 hour], grace 10
 *            minutes: + "carrier", "shipped_ts" (null: none in the hour)
 *     -> orders-enriched (key: order id; value: the enriched order)
 *   shipments       (key: customer id; value {"order":"o1","carrier":"UPS",
 *                    "ts":...}) -> select_key: the order id (a repartition
 *                    topic) -> the right side of (c)
 *
 *   {"order":"o1","customer":"c1","amount_cents":2500,"ts":...,
 *    "name":"Ada","city":"Berlin","tier":"silver","carrier":"UPS",
 *    "shipped_ts":...}
 *
 * (a) and (b) differ in time. A plain table join reads the row the table
 * holds when the order is processed, whatever the order's timestamp: an
 * order placed before the customer moved but processed after it gets the
 * new city. A versioned table keeps the history, and the join reads the
 * version valid at the order's timestamp: an order placed before a tier
 * upgrade keeps the old tier even if the upgrade was processed first. The
 * grace period makes (b) wait: orders are held (in a changelogged buffer)
 * until the orders' stream time is 5 minutes past them, so a tier change
 * that arrives up to 5 minutes late is still seen.
 *
 * (c) is a stream-stream left join: an order comes out joined as soon as
 * its shipment arrives (with the later of the two timestamps), or alone
 * ("carrier":null) once its window has closed - stream time past order +
 * 1 hour + 10 minutes - with the order's own timestamp. An order with two
 * shipments in its hour would come out twice.
 *
 * Stream time moves per partition, with records: an order waits in (b)
 * until later orders of its partition arrive, and in (c) until later
 * records of its order-id partition close its window. On a live topic
 * traffic moves it; the demo ends with a closing order and shipment.
 *
 * Joins need co-partitioned inputs: key every input topic by customer id
 * and give them the same partition count (the producer's partitioner puts
 * one customer in the same partition number everywhere). The orders and
 * shipments are re-keyed by order id for (c); Sluice repartitions both
 * sides through internal topics itself, and places partition n of every
 * input of a join in one task on one instance, so the app runs as any
 * number of instances.
 *
 * Run it:
 *   enrich --demo      the topology under the test driver (no Kafka): a
 *        fixed set of customers, tier changes, orders and shipments
 *        (including a late tier change, a customer moving, an unknown
 *        customer and a shipment too late to count), each enriched order
 *        printed, then checked against what this program computes from
 *        the same input by plain arithmetic (exit 1 on a difference);
 *        what `make demo-enrich` runs
 *   enrich --bootstrap HOST:PORT [--app-id ID]   on a Kafka cluster
 *        (topics customers, customer-tiers, orders, shipments and
 *        orders-enriched must exist; the four inputs keyed by customer id
 *        with the same partition count), until SIGINT/SIGTERM
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sluice.h>

#include "enrich_pipeline.h"

#define MINUTE (60 * 1000)
#define HOUR (60 * MINUTE)
#define TIER_GRACE (5 * MINUTE)      /* (b): tier changes this late count */
#define TIER_HISTORY (24 * HOUR)     /* (b): versions kept this long */
#define SHIPMENT_GRACE (10 * MINUTE) /* (c): shipments this late count */

/* ---- the joiners ---- */

/* A JSON field of @o (NULL: no object) as a new reference, or JSON null. */
static json_t *field_or_null(const sluice_value_t *o, const char *name) {
        json_t *f = o && o->type == SLUICE_VALUE_JSON
                        ? json_object_get(o->u.json, name)
                        : NULL;
        return f ? json_incref(f) : json_null();
}

/* A copy of the order (the left side) to add fields to: the joiner's
 * output is a new value, the input stays as it was. */
static json_t *copy_order(const sluice_value_t *order) {
        return order->type == SLUICE_VALUE_JSON ? json_copy(order->u.json)
                                                : NULL;
}

/* (a) order + the customer's current row (@customer NULL: no row). */
static int add_customer(const sluice_value_t *key, const sluice_value_t *order,
                        const sluice_value_t *customer, sluice_value_t *out,
                        void *opaque) {
        json_t *o = copy_order(order);
        (void)key;
        (void)opaque;
        if (!o || json_object_set_new(o, "name",
                                      field_or_null(customer, "name")) ||
            json_object_set_new(o, "city", field_or_null(customer, "city"))) {
                json_decref(o);
                return -1;
        }
        *out = sluice_json_new(o);
        return 0;
}

/* (b) + the tier valid at the order's time (@tier NULL: none then). */
static int add_tier(const sluice_value_t *key, const sluice_value_t *order,
                    const sluice_value_t *tier, sluice_value_t *out,
                    void *opaque) {
        json_t *o = copy_order(order);
        (void)key;
        (void)opaque;
        if (!o ||
            json_object_set_new(o, "tier",
                                tier && tier->type == SLUICE_VALUE_STRING
                                    ? json_stringn(tier->u.bytes.data,
                                                   tier->u.bytes.len)
                                    : json_null())) {
                json_decref(o);
                return -1;
        }
        *out = sluice_json_new(o);
        return 0;
}

/* (c) + the shipment of the order's hour (@shipment NULL: none). */
static int add_shipment(const sluice_value_t *key, const sluice_value_t *order,
                        const sluice_value_t *shipment, sluice_value_t *out,
                        void *opaque) {
        json_t *o = copy_order(order);
        (void)key;
        (void)opaque;
        if (!o ||
            json_object_set_new(o, "carrier",
                                field_or_null(shipment, "carrier")) ||
            json_object_set_new(o, "shipped_ts",
                                field_or_null(shipment, "ts"))) {
                json_decref(o);
                return -1;
        }
        *out = sluice_json_new(o);
        return 0;
}

/* The new key of an order or a shipment: its "order" field. A record
 * without one fails (the processing handler decides what happens). */
static int key_by_order(sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        const char *id          = NULL;
        (void)opaque;
        if (v->type == SLUICE_VALUE_JSON)
                id = json_string_value(json_object_get(v->u.json, "order"));
        if (!id)
                return -1;
        return sluice_record_set_key(rec, sluice_str(id)); /* copied */
}

/* ---- the topology ---- */

/* The topology (see the top; enrich_pipeline.h). A builder mistake is
 * recorded in it and reported when a driver or app is made from it. */
sluice_topology_t *enrich_topology(const char *prefix) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_table_t *customers, *tiers;
        sluice_stream_t *orders, *shipments;
        char n_cust[256], n_tier[256], n_ord[256], n_ship[256], n_out[256];
        const char *p = prefix ? prefix : "";

        if (!t)
                return NULL;
        snprintf(n_cust, sizeof(n_cust), "%scustomers", p);
        snprintf(n_tier, sizeof(n_tier), "%scustomer-tiers", p);
        snprintf(n_ord, sizeof(n_ord), "%sorders", p);
        snprintf(n_ship, sizeof(n_ship), "%sshipments", p);
        snprintf(n_out, sizeof(n_out), "%sorders-enriched", p);
        customers = sluice_table_from(t, n_cust, sluice_serde_string(),
                                      sluice_serde_json(), "customers");
        tiers     = sluice_table_from(t, n_tier, sluice_serde_string(),
                                      sluice_serde_string(), "customer-tiers");
        sluice_table_set_versioned(tiers, TIER_HISTORY);

        orders = sluice_stream_from(t, n_ord, sluice_serde_string(),
                                    sluice_serde_json());
        /* (a) the current row */
        orders = sluice_stream_left_join_table(orders, customers, add_customer,
                                               NULL, sluice_serde_json());
        /* (b) the version as of the order's timestamp, 5 minutes' grace */
        orders = sluice_stream_left_join_table(orders, tiers, add_tier, NULL,
                                               sluice_serde_json());
        sluice_stream_join_set_grace(orders, TIER_GRACE);

        /* (c) shipments from the order's time to an hour after it */
        orders    = sluice_stream_select_key(orders, key_by_order, NULL);
        shipments = sluice_stream_select_key(
            sluice_stream_from(t, n_ship, sluice_serde_string(),
                               sluice_serde_json()),
            key_by_order, NULL);
        orders = sluice_stream_left_join(
            orders, shipments,
            sluice_join_windows_asym(0, HOUR, SHIPMENT_GRACE), add_shipment,
            NULL, sluice_serde_json(), "shipments-join");

        sluice_stream_to(orders, n_out, sluice_serde_string(),
                         sluice_serde_json());
        return t;
}

/* What is not JSON, or an order or shipment without an "order" id, is
 * logged, counted and skipped. The emit interval 0: (c) looks for closed
 * orders without a shipment at every record that reaches the stream time,
 * not at most once a second (Kafka Streams' default, which throttles a
 * busy topic's scans), so on a small input an order whose window closed
 * is written at the record that closes it. */
int enrich_configure(sluice_conf_t *conf, char *err, size_t err_size) {
        return sluice_conf_set(conf,
                               "default.deserialization.exception.handler",
                               "log_and_continue", err, err_size) ||
                       sluice_conf_set(conf, "processing.exception.handler",
                                       "log_and_continue", err, err_size) ||
                       sluice_conf_set(conf,
                                       "__emit.interval.ms.kstreams.outer."
                                       "join.spurious.results.fix__",
                                       "0", err, err_size)
                   ? -1
                   : 0;
}

/* Compiled into the integration tests' programs without what follows
 * (tests/integration/app_enrich.c, joins_it.c). */
#ifndef ENRICH_NO_MAIN

/* ---- the demo: a fixed input, piped through the test driver ---- */

/* One input record. Times are minutes after T0 (09:00 UTC on a fixed
 * day). */
typedef enum { CUSTOMER, TIER, ORDER, SHIPMENT } demo_topic_t;

typedef struct demo_event_s {
        demo_topic_t topic;
        const char *key; /* the customer id */
        int minute;      /* the record's timestamp */
        const char *a;   /* customer: name; tier: the tier; order, shipment:
                            the order id */
        const char *b;   /* customer: city; shipment: carrier */
        int amount_cents;
        int closing; /* not an order: moves stream time (see below) */
} demo_event_t;

#define T0 1796115600000LL /* 2026-12-01 09:00:00 UTC */

/* In the order they are piped. The last two only move stream time: the
 * closing order releases the orders (b) holds, the closing shipment closes
 * (c)'s windows (so that the orders without a shipment come out). Tier
 * changes arrive at most TIER_GRACE late, so every one of them is seen. */
static const demo_event_t demo_input[] = {
    {CUSTOMER, "c1", -60, "Ada", "Berlin", 0, 0},
    {CUSTOMER, "c2", -60, "Bo", "Lyon", 0, 0},
    {CUSTOMER, "c3", -60, "Cy", "Oslo", 0, 0},
    {TIER, "c1", -60, "silver", NULL, 0, 0},
    {TIER, "c2", -60, "bronze", NULL, 0, 0},
    {TIER, "c3", -60, "bronze", NULL, 0, 0},
    {ORDER, "c1", 5, "o1", NULL, 2500, 0},
    {ORDER, "c2", 10, "o2", NULL, 1200, 0},
    {ORDER, "c3", 25, "o3", NULL, 900, 0},
    /* late (placed at :20, arrives after o3 of :25): o3 still sees it */
    {TIER, "c3", 20, "silver", NULL, 0, 0},
    /* c1 is upgraded at :30: o1 (:05) keeps silver, o4 (:32) is gold */
    {TIER, "c1", 30, "gold", NULL, 0, 0},
    {ORDER, "c1", 32, "o4", NULL, 4000, 0},
    {SHIPMENT, "c1", 40, "o1", "UPS", 0, 0},
    /* c2 moves at :45; o5, placed at :42 but processed after the move,
     * gets the current row, Paris (its tier is still as of :42) */
    {CUSTOMER, "c2", 45, "Bo", "Paris", 0, 0},
    {ORDER, "c2", 42, "o5", NULL, 300, 0},
    /* c4 is nobody: no row, no tier */
    {ORDER, "c4", 50, "o6", NULL, 700, 0},
    {SHIPMENT, "c2", 55, "o2", "DHL", 0, 0},
    {SHIPMENT, "c1", 80, "o4", "DHL", 0, 0},
    /* 2 h 05 after o3: outside its hour, so o3 has no shipment */
    {SHIPMENT, "c3", 150, "o3", "UPS", 0, 0},
    {ORDER, "c1", 300, "closing", NULL, 0, 1},
    {SHIPMENT, "c1", 300, "closing", "-", 0, 1},
};
#define DEMO_EVENTS (sizeof(demo_input) / sizeof(demo_input[0]))

static const char *const topic_names[] = {"customers", "customer-tiers",
                                          "orders", "shipments"};

static int64_t ts_of(const demo_event_t *e) {
        return T0 + (int64_t)e->minute * MINUTE;
}

/* The record's value as it would be produced to its topic. @returns a
 * string to free(), or NULL (out of memory). */
static char *demo_value(const demo_event_t *e) {
        json_t *j;
        char *s;
        if (e->topic == TIER)
                return strdup(e->a); /* a plain string, not JSON */
        if (e->topic == CUSTOMER)
                j = json_pack("{s:s,s:s}", "name", e->a, "city", e->b);
        else if (e->topic == ORDER)
                j = json_pack("{s:s,s:s,s:i,s:I}", "order", e->a, "customer",
                              e->key, "amount_cents", e->amount_cents, "ts",
                              (json_int_t)ts_of(e));
        else
                j = json_pack("{s:s,s:s,s:I}", "order", e->a, "carrier", e->b,
                              "ts", (json_int_t)ts_of(e));
        s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        return s;
}

/* What the topology should write for order @o, by plain arithmetic over
 * the input: the customer's last row piped before the order, the tier
 * with the latest time <= the order's time, the shipment of the order in
 * [order time, order time + 1 h]. @ts: the output record's timestamp.
 * @returns a new JSON value (NULL: out of memory). */
static json_t *demo_expected(size_t o, int64_t *ts) {
        const demo_event_t *order = &demo_input[o], *row = NULL,
                           *tier = NULL, *ship = NULL;
        json_t *j;
        size_t i;
        for (i = 0; i < o; i++)
                if (demo_input[i].topic == CUSTOMER &&
                    !strcmp(demo_input[i].key, order->key))
                        row = &demo_input[i];
        for (i = 0; i < DEMO_EVENTS; i++) {
                const demo_event_t *e = &demo_input[i];
                if (e->topic == TIER && !strcmp(e->key, order->key) &&
                    e->minute <= order->minute &&
                    (!tier || e->minute >= tier->minute))
                        tier = e;
                if (e->topic == SHIPMENT && !ship && !strcmp(e->a, order->a) &&
                    e->minute >= order->minute &&
                    e->minute <= order->minute + 60)
                        ship = e;
        }
        *ts = ship && ts_of(ship) > ts_of(order) ? ts_of(ship) : ts_of(order);
        j = json_pack("{s:s,s:s,s:i,s:I,s:o,s:o,s:o,s:o,s:o}", "order",
                      order->a, "customer", order->key, "amount_cents",
                      order->amount_cents, "ts", (json_int_t)ts_of(order),
                      "name", row ? json_string(row->a) : json_null(), "city",
                      row ? json_string(row->b) : json_null(), "tier",
                      tier ? json_string(tier->a) : json_null(), "carrier",
                      ship ? json_string(ship->b) : json_null(), "shipped_ts",
                      ship ? json_integer((json_int_t)ts_of(ship))
                           : json_null());
        return j;
}

/* "09:05" for a timestamp. */
static void hhmm(int64_t ts, char *buf, size_t size) {
        time_t s = (time_t)(ts / 1000);
        struct tm tm;
        gmtime_r(&s, &tm);
        strftime(buf, size, "%H:%M", &tm);
}

/* A string field of @j, or "-" (absent or null). */
static const char *str_or_dash(const json_t *j, const char *name) {
        const char *s = json_string_value(json_object_get(j, name));
        return s ? s : "-";
}

/* Print an enriched order the way a person reads it, then as written. */
static void print_enriched(const sluice_output_t *r) {
        json_t *j = json_loadb(r->value, r->value_len, 0, NULL);
        json_int_t amount, ts, shipped;
        char placed[8], at[8];
        if (!json_is_object(j)) {
                printf("  %.*s\n", (int)r->value_len, (const char *)r->value);
                json_decref(j);
                return;
        }
        amount  = json_integer_value(json_object_get(j, "amount_cents"));
        ts      = json_integer_value(json_object_get(j, "ts"));
        shipped = json_integer_value(json_object_get(j, "shipped_ts"));
        hhmm(ts, placed, sizeof(placed));
        printf("  %.*s  placed %s %7.2f  %-4s %-7s tier %-7s", (int)r->key_len,
               (const char *)r->key, placed, (double)amount / 100.0,
               str_or_dash(j, "name"), str_or_dash(j, "city"),
               str_or_dash(j, "tier"));
        if (json_is_string(json_object_get(j, "carrier"))) {
                hhmm(shipped, at, sizeof(at));
                printf("  shipped %s by %s\n", at, str_or_dash(j, "carrier"));
        } else {
                printf("  not shipped within the hour\n");
        }
        printf("      %.*s\n", (int)r->value_len, (const char *)r->value);
        json_decref(j);
}

/* The enriched orders the driver wrote, kept to compare. */
typedef struct demo_output_s {
        char key[16];
        json_t *value;
        int64_t ts;
        int matched;
} demo_output_t;

static int demo(void) {
        demo_output_t got[DEMO_EVENTS];
        size_t n_got = 0, n_orders = 0, equal = 0, i, k;
        const sluice_output_t *r;
        sluice_topology_t *t = enrich_topology(NULL);
        sluice_driver_t *drv;
        char err[512], *desc;
        int rc = 1;

        if (!t || !(drv = sluice_driver_new(t, NULL, err, sizeof(err)))) {
                fprintf(stderr, "enrich: %s\n", t ? err : "out of memory");
                sluice_topology_destroy(t);
                return 1;
        }
        desc = sluice_topology_describe(t);
        printf("%s", desc ? desc : "");
        free(desc);

        for (i = 0; i < DEMO_EVENTS; i++) {
                const demo_event_t *e = &demo_input[i];
                char *v               = demo_value(e);
                if (!v || sluice_driver_pipe_str(drv, topic_names[e->topic],
                                                 e->key, v, ts_of(e))) {
                        fprintf(stderr, "enrich: %s\n",
                                v ? sluice_driver_last_error(drv)
                                  : "out of memory");
                        free(v);
                        goto out;
                }
                free(v);
                n_orders += e->topic == ORDER && !e->closing;
        }
        printf("piped %zu records (%zu orders); orders-enriched:\n",
               DEMO_EVENTS, n_orders);
        while ((r = sluice_driver_read(drv, "orders-enriched"))) {
                print_enriched(r);
                if (n_got < DEMO_EVENTS && r->key && r->value &&
                    r->key_len < sizeof(got[0].key)) {
                        demo_output_t *g = &got[n_got++];
                        memcpy(g->key, r->key, r->key_len);
                        g->key[r->key_len] = '\0';
                        g->value   = json_loadb(r->value, r->value_len, 0, NULL);
                        g->ts      = r->timestamp;
                        g->matched = 0;
                }
        }

        /* Each order exactly once, equal to the arithmetic's result, and
         * nothing else. */
        for (i = 0; i < DEMO_EVENTS; i++) {
                const demo_event_t *e = &demo_input[i];
                int64_t ts;
                json_t *want;
                size_t seen = 0, ok = 0;
                if (e->topic != ORDER || e->closing)
                        continue;
                if (!(want = demo_expected(i, &ts)))
                        goto check_out;
                for (k = 0; k < n_got; k++) {
                        if (strcmp(got[k].key, e->a))
                                continue;
                        seen++;
                        got[k].matched = 1;
                        if (got[k].ts == ts && json_equal(got[k].value, want))
                                ok++;
                }
                if (seen == 1 && ok == 1) {
                        equal++;
                } else {
                        char *w = json_dumps(want, JSON_COMPACT);
                        printf("order %s: written %zu time(s); expected at "
                               "%lld: %s\n",
                               e->a, seen, (long long)ts, w ? w : "?");
                        free(w);
                }
                json_decref(want);
        }
        for (k = 0; k < n_got; k++)
                if (!got[k].matched)
                        printf("unexpected record for %s\n", got[k].key);
        if (equal == n_orders && n_got == n_orders) {
                printf("%zu enriched orders, each equal to what the example "
                       "computed from its input\n",
                       n_got);
                rc = 0;
        } else {
                printf("FAILED: %zu of %zu enriched orders as computed, %zu "
                       "records written\n",
                       equal, n_orders, n_got);
        }
check_out:
        for (k = 0; k < n_got; k++)
                json_decref(got[k].value);
out:
        sluice_driver_destroy(drv);
        sluice_topology_destroy(t);
        return rc;
}

/* ---- on a Kafka cluster ---- */

static volatile sig_atomic_t stop;

static void on_signal(int sig) {
        (void)sig;
        stop = 1;
}

static int run(const char *bootstrap, const char *app_id) {
        char err[512];
        sluice_topology_t *t = enrich_topology(NULL);
        sluice_conf_t *conf  = sluice_conf_new();
        sluice_app_t *app    = NULL;
        int rc;

        if (!t || !conf ||
            sluice_conf_set(conf, "application.id", app_id, err,
                            sizeof(err)) ||
            sluice_conf_set(conf, "bootstrap.servers", bootstrap, err,
                            sizeof(err)) ||
            sluice_conf_set(conf, "num.stream.threads", "1", err,
                            sizeof(err)) ||
            enrich_configure(conf, err, sizeof(err)) ||
            !(app = sluice_app_new(t, conf, err, sizeof(err)))) {
                fprintf(stderr, "enrich: %s\n",
                        t && conf ? err : "out of memory");
                sluice_conf_destroy(conf); /* not taken over */
                sluice_topology_destroy(t);
                return 1;
        }
        if (sluice_app_start(app, err, sizeof(err))) {
                fprintf(stderr, "enrich: %s\n", err);
                sluice_app_destroy(app);
                sluice_topology_destroy(t);
                return 1;
        }
        fprintf(stderr, "enrich: running; SIGINT or SIGTERM stops it\n");
        while (!stop && sluice_app_state(app) != SLUICE_APP_ERROR) {
                struct timespec tick = {0, 100 * 1000 * 1000};
                nanosleep(&tick, NULL);
        }
        rc = sluice_app_state(app) == SLUICE_APP_ERROR;
        if (rc)
                fprintf(stderr, "enrich: %s\n", sluice_app_error(app));
        sluice_app_close(app);
        fprintf(stderr, "enrich: processed %llu records\n",
                (unsigned long long)sluice_app_processed(app));
        sluice_app_destroy(app);
        sluice_topology_destroy(t);
        return rc;
}

int main(int argc, char **argv) {
        const char *bootstrap = NULL, *app_id = "enrich";
        int i;
        signal(SIGINT, on_signal);
        signal(SIGTERM, on_signal);
        for (i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--demo"))
                        return demo();
                if (!strcmp(argv[i], "--bootstrap") && i + 1 < argc)
                        bootstrap = argv[++i];
                else if (!strcmp(argv[i], "--app-id") && i + 1 < argc)
                        app_id = argv[++i];
        }
        if (!bootstrap) {
                fprintf(stderr, "usage: enrich --demo | --bootstrap "
                                "HOST:PORT [--app-id ID]\n");
                return 2;
        }
        return run(bootstrap, app_id);
}

#endif /* ENRICH_NO_MAIN */
