/*
 * The subcommands of the campaign-relay binary. Each takes the arguments after
 * its own name (argv[0] is the subcommand) and returns the process exit status:
 * 0 success, 1 the operation failed, 2 bad usage.
 */
#ifndef CRELAY_APP_COMMANDS_H
#define CRELAY_APP_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_check_config(int argc, char **argv);
int cmd_campaign(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_dlq(int argc, char **argv);

#endif
