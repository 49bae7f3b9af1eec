#include <stdio.h>

#include "app/commands.h"

int cmd_check_config(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "campaign-relay check-config: configuration loading is not built yet\n");
    return 1;
}
