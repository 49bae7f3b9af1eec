/*
 * The simulator's whole state, shared by its modules.
 *
 * Contract: one struct gcsim per process, owned by main and touched only from the
 * libwebsockets service thread (there is no other thread), so nothing here is locked.
 * Monotonic time (time_mono_ms) drives every timer; wall-clock time only appears in
 * rendered dates.
 */
#ifndef GCSIM_GCSIM_H
#define GCSIM_GCSIM_H

#include <libwebsockets.h>
#include <stdint.h>

#include "tests/gcsim/campaign.h"
#include "tests/gcsim/channel.h"
#include "tests/gcsim/oauth.h"
#include "tests/gcsim/options.h"
#include "tests/gcsim/prng.h"
#include "tests/gcsim/truth.h"

struct faults;
struct scenario;
struct load;

struct gcsim {
    struct gcsim_options opts;
    struct lws_context *context;
    struct lws_vhost *vhost;
    int port;
    char base_url[80];
    int64_t start_mono_ms;
    struct prng rng;    /* seeded: ids, names, traffic */
    struct prng noise;  /* per run: tokens, channel ids, correlation ids */
    struct truth *truth;
    struct oauth *oauth;
    struct campaign_store *store;
    struct channel_registry *channels;
    struct faults *faults;
    struct scenario *scenario;
    struct load *load;
    lws_sorted_usec_list_t tick_sul;
    int started_scenario;
};

/* Scenario clock hooks: the first subscribed socket starts "connect" scenarios and load. */
void gcsim_on_socket_ready(struct gcsim *sim);

#endif
