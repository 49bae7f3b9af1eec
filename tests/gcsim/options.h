/*
 * gcsim's command line: every option with its default, parsed into one struct.
 *
 * Contract: options_parse() fills opts from argv (defaults first); it returns 0, 1 when
 * --help was asked (the help text is then already printed to stdout), or -1 with a
 * message in errstr naming the bad option.
 */
#ifndef GCSIM_OPTIONS_H
#define GCSIM_OPTIONS_H

#include <stddef.h>
#include <stdint.h>

struct gcsim_options {
    char listen_host[64];
    int listen_port;
    const char *client_id;
    const char *client_secret;
    int64_t token_lifetime_s;
    int rate_limit;
    int64_t channel_lifetime_s;
    int max_channels;
    int max_topics;
    int64_t heartbeat_ms;
    int64_t closing_grace_ms;
    int campaigns;
    uint64_t seed;
    int dialing_modes;
    int64_t stopping_ms;
    int64_t tick_ms;
    int contacts;
    int calls_per_tick;
    const char *scenario_path;
    int traffic;
    int64_t traffic_interval_ms;
    const char *truth_path;
    int load_rate;
    int load_seconds;
    int load_campaigns;
    int load_config_percent;
    const char *log_level;
};

int options_parse(struct gcsim_options *opts, int argc, char **argv, char *errstr,
                  size_t errstr_size);
void options_print_help(const char *argv0);

#endif
