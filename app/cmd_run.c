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
static volatile sig_atomic_t stop_signals;

static void on_stop_signal(int signo)
{
    (void)signo;
    if (++stop_signals > 1) {
        static const char message[] =
            "campaign-relay: second signal, exiting now; undelivered events stay in the "
            "outbox and are delivered after the next start\n";
        ssize_t ignored = write(STDERR_FILENO, message, sizeof message - 1);
        (void)ignored;
        _exit(1);
    }
    if (running_relay)
        relay_request_stop(running_relay);
}

static void on_reload_signal(int signo)
{
    (void)signo;
    if (running_relay)
        relay_request_reload(running_relay);
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
            "  -c, --config FILE   configuration file (every key: config/relay.example.yaml;\n"
            "                      'campaign-relay check-config FILE' validates it)\n"
            "  -h, --help          this text\n"
            "\n"
            "Admin HTTP on admin.listen (default 127.0.0.1:9464; the log says where):\n"
            "  /healthz            200 while the process runs\n"
            "  /readyz             200 when every channel is connected and reconciled, every\n"
            "                      sink delivers and the outbox is below its high-water mark;\n"
            "                      503 otherwise, the body names the failing check\n"
            "  /metrics            Prometheus text format\n"
            "  /v1/campaigns[/ID]  the live campaign cache as JSON\n"
            "With admin.bearer_token set, /metrics and /v1 need 'Authorization: Bearer TOKEN'.\n"
            "\n"
            "Signals:\n"
            "  SIGTERM, SIGINT     stop reading the stream, commit the outbox, let the sinks\n"
            "                      deliver for up to shutdown.grace, exit 0. A second signal\n"
            "                      exits at once; undelivered events stay in the outbox and\n"
            "                      are delivered after the next start.\n"
            "  SIGHUP              reload FILE: log level and format, shutdown.grace and the\n"
            "                      sinks (webhooks added, removed or changed, event filters,\n"
            "                      Kafka and file settings) apply at once; other changed keys\n"
            "                      are named in the log and need a restart. A file with\n"
            "                      errors changes nothing.\n"
            "\n"
            "Exit status: 0 after a clean shutdown, 1 when the relay cannot start or stops\n"
            "on a second signal, 2 on bad usage. docs/reference.md has the whole reference.\n");
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

    struct relay *relay = relay_create(config, path, errstr, sizeof errstr);
    if (!relay) {
        log_error("relay", "cannot start: %s", errstr);
        config_destroy(config);
        return 1;
    }
    running_relay = relay;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_reload_signal;
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    int status = relay_run(relay);
    running_relay = NULL;
    relay_destroy(relay);
    config_destroy(config);
    return status;
}
