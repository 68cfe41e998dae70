/*
 * enrich_pipeline.h - what examples/enrich.c offers the programs that
 * compile it with -DENRICH_NO_MAIN (tests/integration/app_enrich.c runs
 * the topology on a broker, tests/integration/joins_it.c computes with the
 * test driver what it must write): the topology and its configuration.
 * A program of your own needs none of this: copy enrich.c, drop the demo.
 */
#ifndef ENRICH_PIPELINE_H
#define ENRICH_PIPELINE_H

#include <stddef.h>

#include <sluice.h>

/* The example's topology (see enrich.c) over the topics <prefix>customers,
 * <prefix>customer-tiers, <prefix>orders, <prefix>shipments and
 * <prefix>orders-enriched (@prefix NULL or "": the example's own names).
 * NULL: out of memory; a builder mistake is reported when a driver or app
 * is made from it. */
sluice_topology_t *enrich_topology(const char *prefix);

/* The settings the example runs with on a cluster (what is not JSON, or
 * has no order id, is logged and skipped; (c)'s emit interval 0). 0, or
 * -1 with the message in @err. */
int enrich_configure(sluice_conf_t *conf, char *err, size_t err_size);

#endif /* ENRICH_PIPELINE_H */
