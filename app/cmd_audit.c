/* campaign-relay audit verify FILE: checks the audit hash chain in a JSONL file. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "app/commands.h"
#include "publishers/audit.h"

static void audit_usage(FILE *out)
{
    fprintf(out,
            "usage: campaign-relay audit verify [--from-genesis] FILE\n"
            "\n"
            "Verifies the SHA-256 hash chain of the audit events (audit.notification,\n"
            "audit.action) in FILE, one event per line: the file sink's CloudEvents, a Kafka\n"
            "dump ({\"topic\",\"key\",\"headers\",\"value\"} per line) or bare data objects.\n"
            "Other events are skipped; repeated deliveries of an event are tolerated.\n"
            "Use - for standard input.\n"
            "\n"
            "  --from-genesis   the first audit event must start the chain\n"
            "\n"
            "Exit status: 0 the chain holds, 1 a link is broken (the line is named),\n"
            "2 bad usage or unreadable file.\n");
}

int cmd_audit(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        audit_usage(stdout);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "verify") != 0) {
        audit_usage(stderr);
        return 2;
    }
    bool from_genesis = false;
    const char *path = NULL;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            audit_usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--from-genesis") == 0) {
            from_genesis = true;
        } else if (!path && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0)) {
            path = argv[i];
        } else {
            fprintf(stderr, "campaign-relay audit verify: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!path) {
        audit_usage(stderr);
        return 2;
    }
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!in) {
        fprintf(stderr, "campaign-relay audit verify: %s: cannot open: ", path);
        perror(NULL);
        return 2;
    }
    struct audit_verify_result result;
    char err[1024] = "";
    int status = audit_verify_stream(in, strcmp(path, "-") == 0 ? "<stdin>" : path,
                                     from_genesis, &result, err, sizeof err);
    if (in != stdin)
        fclose(in);
    if (status < 0) {
        fprintf(stderr, "campaign-relay audit verify: %s\n", err);
        return 2;
    }
    if (status > 0) {
        printf("%s\n", err);
        return 1;
    }
    printf("audit chain OK: %lld events, head %s\n", (long long)result.events, result.head);
    if (result.events > 0 && strcmp(result.first_prev, AUDIT_GENESIS_HASH) != 0)
        printf("  starts after %s (earlier events are not in this file)\n", result.first_prev);
    if (result.duplicates > 0)
        printf("  %lld repeated deliveries skipped\n", (long long)result.duplicates);
    return 0;
}
