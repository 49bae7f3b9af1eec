/*
 * campaign-relay: holds the Genesys Cloud notification stream for outbound
 * campaigns and republishes their state changes, alerts and audit events to
 * Kafka, webhooks and files. This file only dispatches to the subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "app/commands.h"
#include "util/allocator.h"
#include "util/json_arena.h"

#ifndef CRELAY_VERSION
#define CRELAY_VERSION "0.1.0"
#endif

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"run", cmd_run, "run the relay in the foreground (-c FILE)"},
    {"check-config", cmd_check_config,
     "validate a configuration file and print the effective configuration"},
    {"audit", cmd_audit, "verify the audit hash chain in a JSONL file (audit verify FILE)"},
    {"dlq", cmd_dlq, "list or replay dead letters (dlq list|replay -c FILE)"},
    {"campaign", cmd_campaign,
     "start or stop a campaign through the relay (campaign start|stop ID)"},
};

static void print_usage(FILE *out)
{
    fprintf(out,
            "usage: campaign-relay <command> [options]\n"
            "\n"
            "campaign-relay keeps a live picture of every Genesys Cloud outbound campaign\n"
            "from the platform's notification stream and republishes state changes, alerts\n"
            "and audit events to Kafka, webhooks and files.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "Run 'campaign-relay <command> --help' for a command's options.\n"
            "  --version      print the version\n");
}

int main(int argc, char **argv)
{
    /* Before any thread exists: cJSON's hooks are process-wide. */
    json_arena_install();
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        print_usage(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0) {
        char allocator[64];
        printf("campaign-relay %s\nallocator: %s\n", CRELAY_VERSION,
               allocator_describe(allocator, sizeof allocator));
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "campaign-relay: unknown command '%s'\n\n", name);
    print_usage(stderr);
    return 2;
}
