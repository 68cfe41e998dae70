/*
 * bench/peers/json_workload.h - the peers' json workload's two callbacks,
 * shared by Sluice's peer (sluice_peer.c) and bench/json.c, which runs the
 * same pipeline through the test driver: keep the records whose "ok" is
 * true, then add "tier" ("gold" for an "amount" of 500 or more, else
 * "std"). Include after "sluice.h" and <jansson.h>.
 */
#ifndef SLUICE_PEERS_JSON_WORKLOAD_H
#define SLUICE_PEERS_JSON_WORKLOAD_H

static bool json_ok(const sluice_record_t *rec, void *opaque) {
        const sluice_value_t *v = sluice_record_value(rec);
        (void)opaque;
        return v->type == SLUICE_VALUE_JSON &&
               json_is_true(json_object_get(v->u.json, "ok"));
}

static int add_tier(sluice_record_t *rec, void *opaque) {
        json_t *v = sluice_record_json_edit(rec);
        (void)opaque;
        if (!v)
                return 1;
        return json_object_set_new(
            v, "tier",
            json_string(json_number_value(json_object_get(v, "amount")) >= 500
                            ? "gold"
                            : "std"));
}

#endif
