/* campaign-relay run: the daemon, in the foreground. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app/commands.h"
#include "app/relay.h"
#include "config/config.h"
#include "util/log.h"

static struct relay *running_relay;

static void on_signal(int signo)
{
    (void)signo;
    if (running_relay)
        relay_request_stop(running_relay);
}

static void print_run_help(FILE *out)
{
    fprintf(out,
            "usage: campaign-relay run -c FILE\n"
            "\n"
            "Runs the relay in the foreground: discovers every outbound campaign, holds the\n"
            "platform's notification stream, and delivers state changes, alerts and audit\n"
            "events through the durable outbox to the configured sinks. Logs go to stderr\n"
            "(log.format: logfmt or json).\n"
            "\n"
            "  -c, --config FILE   configuration file (see config/relay.example.yaml);\n"
            "                      'campaign-relay check-config FILE' validates it\n"
            "  -h, --help          this text\n"
            "\n"
            "Signals: SIGTERM or SIGINT stops reading the stream, commits the outbox and\n"
            "lets the sinks deliver for up to shutdown.grace, then exits 0. A second signal\n"
            "exits at once; undelivered events stay in the outbox and are delivered after\n"
            "the next start.\n");
}

int cmd_run(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            print_run_help(stdout);
            return 0;
        }
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc) {
            path = argv[++i];
            continue;
        }
        fprintf(stderr, "campaign-relay run: unexpected argument '%s'\n\n", argv[i]);
        print_run_help(stderr);
        return 2;
    }
    if (!path) {
        print_run_help(stderr);
        return 2;
    }

    char errstr[8192];
    struct relay_config *config = config_load_file(path, errstr, sizeof errstr);
    if (!config) {
        fprintf(stderr, "campaign-relay: invalid configuration:\n%s\n", errstr);
        return 1;
    }
    log_set_level(config->log.level);
    log_set_format(config->log.format);

    struct relay *relay = relay_create(config, errstr, sizeof errstr);
    if (!relay) {
        log_error("relay", "cannot start: %s", errstr);
        config_destroy(config);
        return 1;
    }
    running_relay = relay;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int status = relay_run(relay);
    running_relay = NULL;
    relay_destroy(relay);
    config_destroy(config);
    return status;
}
