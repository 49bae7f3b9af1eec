/*
 * Fault commands of the Kafka mock process: one text line in, one reply line out.
 *
 *   down <broker-id|all>             close the broker's connections and refuse new ones
 *   up <broker-id|all>               accept connections again
 *   rtt <broker-id|all> <ms>         delay every response of the broker
 *   error <ApiName> <ERROR_NAME> <count>
 *                                    the next <count> requests of that API fail with
 *                                    the error (ApiName as in the Kafka protocol:
 *                                    Produce, Metadata, InitProducerId…; the error as
 *                                    librdkafka names it without the RD_KAFKA_RESP_ERR_
 *                                    prefix: NOT_ENOUGH_REPLICAS, _TRANSPORT…)
 *   leader <topic> <partition> <broker-id>
 *                                    move the partition's leadership (-1: leaderless)
 *   quit                             ask the process to exit
 *
 * Contract: mock_command_execute() never fails on malformed input: it writes "ok" or
 * "error: <what was wrong>" into the reply buffer (no newline) and returns
 * MOCK_COMMAND_QUIT only for a well-formed quit. Blank lines and lines starting with
 * '#' are answered with an empty reply and MOCK_COMMAND_IGNORED.
 */
#ifndef CRELAY_TESTS_KAFKA_MOCK_COMMANDS_H
#define CRELAY_TESTS_KAFKA_MOCK_COMMANDS_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

enum mock_command_result {
    MOCK_COMMAND_DONE = 0, /* reply holds "ok" or "error: …" */
    MOCK_COMMAND_IGNORED,  /* blank or comment line: send no reply */
    MOCK_COMMAND_QUIT      /* reply holds "ok"; the caller should exit */
};

enum mock_command_result mock_command_execute(rd_kafka_mock_cluster_t *cluster, int broker_count,
                                              const char *line, char *reply, size_t reply_size);

/* Protocol ApiKey of a Kafka API name (case-insensitive) or decimal number; -1 if unknown. */
int mock_command_api_key(const char *name);

/* librdkafka error code of an error name ("NOT_ENOUGH_REPLICAS", "_TRANSPORT", with or
 * without the RD_KAFKA_RESP_ERR_ prefix, case-insensitive) or decimal number.
 * Returns 0 and sets *err, or -1 when the name is unknown. */
int mock_command_error_code(const char *name, rd_kafka_resp_err_t *err);

#endif
