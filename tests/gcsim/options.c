#include "tests/gcsim/options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help_text[] =
    "Usage: %s [options]\n"
    "A local stand-in for Genesys Cloud: OAuth, notifications (REST and WebSocket) and\n"
    "outbound REST on one loopback port, scripted and random campaign traffic, faults on\n"
    "command, a ground-truth log and a load mode. See tests/gcsim/README.md.\n"
    "\n"
    "  --listen HOST:PORT          loopback address (default 127.0.0.1:0, port 0 = any)\n"
    "  --client-id ID              accepted OAuth client id (default relay-client)\n"
    "  --client-secret S           its secret (default relay-secret)\n"
    "  --token-lifetime SECONDS    expires_in of issued tokens (default 86400)\n"
    "  --rate-limit N              REST requests per minute per token (default 300, 0 = off)\n"
    "  --channel-lifetime SECONDS  channel expiry, extended by resubscribing (default 86400)\n"
    "  --max-channels N            channels per client before eviction (default 20)\n"
    "  --max-topics N              topics per channel (default 1000)\n"
    "  --heartbeat-ms MS           channel.metadata heartbeat interval (default 30000, 0 = off)\n"
    "  --closing-grace-ms MS       socket_closing to close delay (default 60000)\n"
    "  --campaigns N               create N seeded campaigns (default 0)\n"
    "  --seed S                    seed for ids, names and traffic (default 1)\n"
    "  --dialing-modes M           seeded campaigns use the first M dialing modes (default 6)\n"
    "  --stopping-ms MS            how long stopping lasts (default 2000)\n"
    "  --tick-ms MS                progress/stats tick of running campaigns (default 1000)\n"
    "  --contacts N                contacts per seeded contact list (default 1000)\n"
    "  --calls-per-tick N          contacts called per tick while on (default 10)\n"
    "  --scenario FILE             play a scripted JSON scenario\n"
    "  --traffic                   play seeded-random campaign transitions\n"
    "  --traffic-interval-ms MS    mean time between random transitions (default 500)\n"
    "  --truth FILE                write the ground-truth JSONL log\n"
    "  --load-rate N               load mode: notifications per second per channel\n"
    "  --load-seconds S            load mode duration (default 10)\n"
    "  --load-campaigns C          synthetic campaigns in load mode (default 100)\n"
    "  --load-config-percent P     share of ~1.5 KB config bodies (default 20)\n"
    "  --log-level L               error, warn, info, debug (default info)\n"
    "  --help                      this text\n"
    "\n"
    "When ready it prints \"gcsim listening on http://127.0.0.1:PORT\" on stdout.\n";

void options_print_help(const char *argv0)
{
    printf(help_text, argv0);
}

static void options_defaults(struct gcsim_options *opts)
{
    memset(opts, 0, sizeof(*opts));
    snprintf(opts->listen_host, sizeof(opts->listen_host), "127.0.0.1");
    opts->client_id = "relay-client";
    opts->client_secret = "relay-secret";
    opts->token_lifetime_s = 86400;
    opts->rate_limit = 300;
    opts->channel_lifetime_s = 86400;
    opts->max_channels = 20;
    opts->max_topics = 1000;
    opts->heartbeat_ms = 30000;
    opts->closing_grace_ms = 60000;
    opts->seed = 1;
    opts->dialing_modes = 6;
    opts->stopping_ms = 2000;
    opts->tick_ms = 1000;
    opts->contacts = 1000;
    opts->calls_per_tick = 10;
    opts->traffic_interval_ms = 500;
    opts->load_seconds = 10;
    opts->load_campaigns = 100;
    opts->load_config_percent = 20;
    opts->log_level = "info";
}

static int parse_int(const char *name, const char *text, int64_t min, int64_t max,
                     int64_t *out, char *errstr, size_t errstr_size)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (errno || end == text || *end != '\0' || v < min || v > max) {
        snprintf(errstr, errstr_size, "%s: expected an integer from %lld to %lld, got \"%s\"",
                 name, (long long)min, (long long)max, text);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_listen(struct gcsim_options *opts, const char *text, char *errstr,
                        size_t errstr_size)
{
    const char *colon = strrchr(text, ':');
    int64_t port;
    if (!colon || colon == text || (size_t)(colon - text) >= sizeof(opts->listen_host)) {
        snprintf(errstr, errstr_size, "--listen: expected HOST:PORT, got \"%s\"", text);
        return -1;
    }
    if (parse_int("--listen port", colon + 1, 0, 65535, &port, errstr, errstr_size))
        return -1;
    memcpy(opts->listen_host, text, (size_t)(colon - text));
    opts->listen_host[colon - text] = '\0';
    opts->listen_port = (int)port;
    return 0;
}

struct int_option {
    const char *name;
    int64_t min, max;
    size_t offset;
    int is_int; /* int field rather than int64_t */
};

#define OPT64(n, f, lo, hi) { n, lo, hi, offsetof(struct gcsim_options, f), 0 }
#define OPT32(n, f, lo, hi) { n, lo, hi, offsetof(struct gcsim_options, f), 1 }

static const struct int_option int_options[] = {
    OPT64("--token-lifetime", token_lifetime_s, 1, 172800),
    OPT32("--rate-limit", rate_limit, 0, 1000000),
    OPT64("--channel-lifetime", channel_lifetime_s, 1, 864000),
    OPT32("--max-channels", max_channels, 1, 10000),
    OPT32("--max-topics", max_topics, 1, 100000),
    OPT64("--heartbeat-ms", heartbeat_ms, 0, 86400000),
    OPT64("--closing-grace-ms", closing_grace_ms, 0, 86400000),
    OPT32("--campaigns", campaigns, 0, 100000),
    OPT32("--dialing-modes", dialing_modes, 1, 6),
    OPT64("--stopping-ms", stopping_ms, 0, 86400000),
    OPT64("--tick-ms", tick_ms, 10, 86400000),
    OPT32("--contacts", contacts, 1, 100000000),
    OPT32("--calls-per-tick", calls_per_tick, 0, 100000000),
    OPT64("--traffic-interval-ms", traffic_interval_ms, 1, 86400000),
    OPT32("--load-rate", load_rate, 1, 10000000),
    OPT32("--load-seconds", load_seconds, 1, 86400),
    OPT32("--load-campaigns", load_campaigns, 1, 100000),
    OPT32("--load-config-percent", load_config_percent, 0, 100),
};

int options_parse(struct gcsim_options *opts, int argc, char **argv, char *errstr,
                  size_t errstr_size)
{
    options_defaults(opts);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        int64_t v;

        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            options_print_help(argv[0]);
            return 1;
        }
        if (!strcmp(arg, "--traffic")) {
            opts->traffic = 1;
            continue;
        }
        if (!val) {
            snprintf(errstr, errstr_size, "%s: unknown option or missing value", arg);
            return -1;
        }
        i++;
        if (!strcmp(arg, "--listen")) {
            if (parse_listen(opts, val, errstr, errstr_size))
                return -1;
        } else if (!strcmp(arg, "--client-id")) {
            opts->client_id = val;
        } else if (!strcmp(arg, "--client-secret")) {
            opts->client_secret = val;
        } else if (!strcmp(arg, "--scenario")) {
            opts->scenario_path = val;
        } else if (!strcmp(arg, "--truth")) {
            opts->truth_path = val;
        } else if (!strcmp(arg, "--log-level")) {
            opts->log_level = val;
        } else if (!strcmp(arg, "--seed")) {
            if (parse_int("--seed", val, 0, INT64_MAX, &v, errstr, errstr_size))
                return -1;
            opts->seed = (uint64_t)v;
        } else {
            size_t n = sizeof(int_options) / sizeof(int_options[0]), k;
            for (k = 0; k < n; k++)
                if (!strcmp(arg, int_options[k].name))
                    break;
            if (k == n) {
                snprintf(errstr, errstr_size, "%s: unknown option (see --help)", arg);
                return -1;
            }
            if (parse_int(arg, val, int_options[k].min, int_options[k].max, &v, errstr,
                          errstr_size))
                return -1;
            char *field = (char *)opts + int_options[k].offset;
            if (int_options[k].is_int)
                *(int *)field = (int)v;
            else
                *(int64_t *)field = v;
        }
    }
    return 0;
}
