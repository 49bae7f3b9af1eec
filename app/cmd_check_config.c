/*
 * campaign-relay check-config FILE: loads and validates a configuration file and
 * prints the effective configuration (secrets masked), or every error found.
 * Exit status: 0 valid, 1 invalid, 2 usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/commands.h"
#include "config/config.h"

#define ERRSTR_SIZE (64 * 1024)

static void print_check_config_usage(FILE *out)
{
    fprintf(out,
            "usage: campaign-relay check-config FILE\n"
            "\n"
            "Loads FILE as the relay would at start-up: expands ${VAR} and\n"
            "${VAR:-default} from the environment, reads *_file secrets, fills in\n"
            "defaults and checks every value.\n"
            "\n"
            "On success prints the effective configuration as YAML to stdout, with\n"
            "every secret shown as \"" CONFIG_SECRET_MASK "\", and exits 0. Otherwise prints\n"
            "each problem as FILE:LINE:COLUMN: key.path: message to stderr and exits 1.\n"
            "Exits 2 on a usage error.\n"
            "\n"
            "options:\n"
            "  -h, --help     show this help\n");
}

int cmd_check_config(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_check_config_usage(stdout);
            return 0;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            fprintf(stderr, "campaign-relay check-config: unknown option '%s'\n\n", argv[i]);
            print_check_config_usage(stderr);
            return 2;
        }
        if (path != NULL) {
            fprintf(stderr, "campaign-relay check-config: expected one FILE\n\n");
            print_check_config_usage(stderr);
            return 2;
        }
        path = argv[i];
    }
    if (path == NULL) {
        print_check_config_usage(stderr);
        return 2;
    }
    char *errstr = malloc(ERRSTR_SIZE);
    if (errstr == NULL)
        return 1;
    struct relay_config *config = config_load_file(path, errstr, ERRSTR_SIZE);
    if (config == NULL) {
        fprintf(stderr, "%s\n", errstr);
        fprintf(stderr, "campaign-relay check-config: %s is not valid\n", path);
        free(errstr);
        return 1;
    }
    free(errstr);
    config_print_effective(config, stdout);
    config_destroy(config);
    return fflush(stdout) == 0 ? 0 : 1;
}
