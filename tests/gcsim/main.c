/* gcsim: the local Genesys Cloud stand-in. See tests/gcsim/README.md. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/gcsim/behaviour.h"
#include "tests/gcsim/faults.h"
#include "tests/gcsim/gcsim.h"
#include "tests/gcsim/load.h"
#include "tests/gcsim/scenario.h"
#include "tests/gcsim/server.h"
#include "util/log.h"
#include "util/timeutil.h"

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void gcsim_teardown(struct gcsim *sim)
{
    server_destroy(sim);
    load_destroy(sim->load);
    scenario_destroy(sim->scenario);
    faults_destroy(sim->faults);
    channel_registry_destroy(sim->channels);
    campaign_store_destroy(sim->store);
    oauth_destroy(sim->oauth);
    truth_close(sim->truth);
}

int main(int argc, char **argv)
{
    static struct gcsim sim;
    char errstr[512];
    int rc;

    rc = options_parse(&sim.opts, argc, argv, errstr, sizeof(errstr));
    if (rc == 1)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "gcsim: %s\n", errstr);
        return 2;
    }
    int level = log_level_parse(sim.opts.log_level);
    if (level < 0) {
        fprintf(stderr, "gcsim: --log-level: unknown level \"%s\"\n", sim.opts.log_level);
        return 2;
    }
    log_set_level((enum log_level)level);

    sim.start_mono_ms = time_mono_ms();
    prng_seed(&sim.rng, sim.opts.seed);
    prng_seed(&sim.noise, (uint64_t)time_now_ms() ^ ((uint64_t)getpid() << 32));
    sim.truth = truth_open(sim.opts.truth_path, sim.start_mono_ms, errstr, sizeof(errstr));
    if (!sim.truth) {
        log_error("gcsim", "%s", errstr);
        return 2;
    }
    sim.oauth = oauth_create(sim.opts.client_id, sim.opts.client_secret,
                             sim.opts.token_lifetime_s, sim.opts.rate_limit, prng_next(&sim.noise));
    sim.store = campaign_store_create();
    sim.channels = channel_registry_create(sim.opts.max_channels, sim.opts.max_topics,
                                           sim.opts.channel_lifetime_s * 1000);
    sim.faults = faults_create();
    sim.scenario = scenario_create();
    sim.load = load_create(&sim);
    scenario_seed_campaigns(&sim);
    if (sim.opts.scenario_path &&
        scenario_load(&sim, sim.opts.scenario_path, errstr, sizeof(errstr))) {
        log_error("gcsim", "scenario: %s", errstr);
        gcsim_teardown(&sim);
        return 2;
    }
    if (sim.opts.traffic)
        scenario_enable_traffic(&sim);

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (server_create(&sim, errstr, sizeof(errstr))) {
        log_error("gcsim", "%s", errstr);
        gcsim_teardown(&sim);
        return 1;
    }
    printf("gcsim listening on http://127.0.0.1:%d\n", sim.port);
    fflush(stdout);
    log_info("gcsim", "%zu campaigns, %zu contact lists", sim.store->campaign_count,
             sim.store->list_count);

    server_run(&sim, &stop_requested);
    log_info("gcsim", "stopping");
    behaviour_write_final(&sim);
    gcsim_teardown(&sim);
    return 0;
}
