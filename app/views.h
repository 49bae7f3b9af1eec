/*
 * The bodies of the admin endpoints, built from the relay's parts: the Prometheus
 * exposition of /metrics and the campaign cache as JSON for /v1/campaigns.
 *
 * Contract: called on the loop thread (which owns the consumer and its cache); the
 * other sources are read through their thread-safe accessors. Nothing is changed.
 */
#ifndef CRELAY_APP_VIEWS_H
#define CRELAY_APP_VIEWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app/sinks.h"
#include "consumer/cache.h"
#include "consumer/consumer.h"
#include "consumer/platform_worker.h"
#include "publishers/outbox.h"
#include "util/strbuf.h"

struct views_sources {
    const struct consumer *consumer;
    struct platform_worker *worker;
    struct outbox *outbox;
    int64_t outbox_max_bytes;
    struct relay_sinks *sinks;
    bool ready;
    uint64_t alerts_raised; /* alerts the relay itself raised (outbox pressure, 410) */
    uint64_t reloads_ok;
    uint64_t reloads_failed;
    int64_t started_wall_ms;
};

void views_metrics(const struct views_sources *sources, struct strbuf *out);

/* {"count":N,"campaigns":[…]} sorted by id, or one campaign object when id is given.
 * Returns false (and writes an error object) when id names no cached campaign. */
bool views_campaigns(const struct cache *cache, const char *id, struct strbuf *out);

#endif
