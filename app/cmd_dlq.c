/* campaign-relay dlq list|replay: inspects and re-queues the outbox's dead letters. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "app/commands.h"
#include "config/config.h"
#include "publishers/outbox.h"
#include "util/timeutil.h"

static void dlq_usage(FILE *out)
{
    fprintf(out,
            "usage: campaign-relay dlq list   (-c CONFIG | --outbox PATH)\n"
            "       campaign-relay dlq replay (-c CONFIG | --outbox PATH) [--sink NAME]\n"
            "                                 (--id EVENT_ID | --all)\n"
            "\n"
            "Dead letters are events a sink gave up on (attempts exhausted, endpoint gone).\n"
            "list shows them; replay queues them again for their sink only, in one\n"
            "transaction that also removes them from the dead-letter table. A running relay\n"
            "picks replayed events up within a second.\n"
            "\n"
            "  -c, --config FILE  the relay's configuration (for outbox.path)\n"
            "      --outbox PATH  the outbox database directly\n"
            "      --sink NAME    only this sink's dead letters\n"
            "      --id EVENT_ID  only this event\n"
            "      --all          every dead letter (of --sink, if given)\n");
}

static void print_letter(void *opaque, const struct outbox_dead_letter *letter)
{
    int *count = opaque;
    char when[RFC3339_MS_LEN];
    time_format_rfc3339(letter->dead_at_ms, when);
    if ((*count)++ == 0)
        printf("%-12s %-34s %-40s %-24s %-24s %s\n", "SINK", "EVENT_ID", "TYPE", "SUBJECT",
               "WHEN", "REASON");
    printf("%-12s %-34s %-40s %-24s %-24s %s\n", letter->sink, letter->event_id, letter->type,
           letter->subject[0] ? letter->subject : "-", when, letter->reason);
}

int cmd_dlq(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        dlq_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *action = argv[1];
    bool list = strcmp(action, "list") == 0, replay = strcmp(action, "replay") == 0;
    if (!list && !replay) {
        fprintf(stderr, "campaign-relay dlq: unknown action '%s'\n\n", action);
        dlq_usage(stderr);
        return 2;
    }
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'}, {"outbox", required_argument, NULL, 'o'},
        {"sink", required_argument, NULL, 's'},   {"id", required_argument, NULL, 'i'},
        {"all", no_argument, NULL, 'a'},          {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *outbox_path = NULL, *sink = NULL, *event_id = NULL;
    bool all = false;
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc - 1, argv + 1, "c:h", options, NULL)) != -1) {
        switch (opt) {
        case 'c': config_path = optarg; break;
        case 'o': outbox_path = optarg; break;
        case 's': sink = optarg; break;
        case 'i': event_id = optarg; break;
        case 'a': all = true; break;
        case 'h': dlq_usage(stdout); return 0;
        default: dlq_usage(stderr); return 2;
        }
    }
    if (optind < argc - 1) {
        fprintf(stderr, "campaign-relay dlq: unexpected argument '%s'\n", argv[optind + 1]);
        return 2;
    }
    if (!config_path == !outbox_path) {
        fprintf(stderr, "campaign-relay dlq: give either -c CONFIG or --outbox PATH\n");
        return 2;
    }
    if (replay && !all == !event_id) {
        fprintf(stderr, "campaign-relay dlq replay: give either --id EVENT_ID or --all\n");
        return 2;
    }
    if (list && (event_id || all || sink)) {
        fprintf(stderr, "campaign-relay dlq list: --sink, --id and --all are for replay\n");
        return 2;
    }

    char err[2048] = "";
    struct relay_config *config = NULL;
    if (config_path) {
        config = config_load_file(config_path, err, sizeof err);
        if (!config) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        outbox_path = config->outbox.path;
    }
    struct outbox_options opts = {.path = outbox_path, .maintain_interval_ms = -1};
    struct outbox *ob = outbox_create(&opts, err, sizeof err);
    int status = 0;
    if (!ob) {
        fprintf(stderr, "campaign-relay dlq: %s\n", err);
        status = 1;
    } else if (list) {
        int count = 0;
        if (outbox_dead_letter_list(ob, print_letter, &count, err, sizeof err) != OUTBOX_OK) {
            fprintf(stderr, "campaign-relay dlq list: %s\n", err);
            status = 1;
        } else if (count == 0) {
            printf("no dead letters\n");
        }
    } else {
        int64_t replayed = 0;
        if (outbox_dead_letter_replay(ob, sink, event_id, &replayed, err, sizeof err) !=
            OUTBOX_OK) {
            fprintf(stderr, "campaign-relay dlq replay: %s\n", err);
            status = 1;
        } else if (replayed == 0) {
            fprintf(stderr, "campaign-relay dlq replay: no matching dead letter\n");
            status = 1;
        } else {
            printf("replayed %lld dead letter%s\n", (long long)replayed,
                   replayed == 1 ? "" : "s");
        }
    }
    outbox_destroy(ob);
    config_destroy(config);
    return status;
}
