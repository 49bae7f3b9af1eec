#include "tests/kafka_mock/mock_commands.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MOCK_MAX_WORDS 5
#define MOCK_MAX_LINE  512

struct api_name {
    const char *name;
    int key;
};

/* The Kafka protocol's ApiKeys that the mock cluster serves. */
static const struct api_name api_names[] = {
    {"Produce", 0},          {"Fetch", 1},           {"ListOffsets", 2},
    {"Metadata", 3},         {"OffsetCommit", 8},    {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},      {"Heartbeat", 12},
    {"LeaveGroup", 13},      {"SyncGroup", 14},      {"DescribeGroups", 15},
    {"ListGroups", 16},      {"ApiVersions", 18},    {"InitProducerId", 22},
    {"AddPartitionsToTxn", 24}, {"AddOffsetsToTxn", 25}, {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
};

static int parse_int(const char *text, long min, long max, long *out)
{
    if (!text || !*text)
        return -1;
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno || *end || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

int mock_command_api_key(const char *name)
{
    long number;
    if (parse_int(name, 0, 1000, &number) == 0)
        return (int)number;
    for (size_t i = 0; i < sizeof api_names / sizeof api_names[0]; i++)
        if (strcasecmp(name, api_names[i].name) == 0)
            return api_names[i].key;
    return -1;
}

int mock_command_error_code(const char *name, rd_kafka_resp_err_t *err)
{
    long number;
    if (parse_int(name, INT_MIN, INT_MAX, &number) == 0) {
        *err = (rd_kafka_resp_err_t)number;
        return 0;
    }
    const char *prefix = "RD_KAFKA_RESP_ERR_";
    if (strncasecmp(name, prefix, strlen(prefix)) == 0)
        name += strlen(prefix);
    const struct rd_kafka_err_desc *descs;
    size_t count;
    rd_kafka_get_err_descs(&descs, &count);
    for (size_t i = 0; i < count; i++) {
        if (descs[i].name && strcasecmp(descs[i].name, name) == 0) {
            *err = descs[i].code;
            return 0;
        }
    }
    return -1;
}

/* "all" -> -1, else a broker id in 1..broker_count. */
static int parse_broker(const char *text, int broker_count, int32_t *broker_id)
{
    long id;
    if (text && strcmp(text, "all") == 0) {
        *broker_id = -1;
        return 0;
    }
    if (parse_int(text, 1, broker_count, &id) != 0)
        return -1;
    *broker_id = (int32_t)id;
    return 0;
}

static int split_words(char *line, char *words[MOCK_MAX_WORDS])
{
    int count = 0;
    char *save = NULL;
    for (char *word = strtok_r(line, " \t\r\n", &save); word;
         word = strtok_r(NULL, " \t\r\n", &save)) {
        if (count == MOCK_MAX_WORDS)
            return -1;
        words[count++] = word;
    }
    return count;
}

static void reply_result(rd_kafka_resp_err_t err, char *reply, size_t reply_size)
{
    if (err)
        snprintf(reply, reply_size, "error: %s", rd_kafka_err2str(err));
    else
        snprintf(reply, reply_size, "ok");
}

static void run_broker_command(rd_kafka_mock_cluster_t *cluster, int broker_count, char **words,
                               int count, char *reply, size_t reply_size)
{
    const char *verb = words[0];
    bool is_rtt = strcmp(verb, "rtt") == 0;
    int32_t broker_id;
    long rtt_ms = 0;
    if (count != (is_rtt ? 3 : 2)) {
        snprintf(reply, reply_size, "error: usage: %s <broker-id|all>%s", verb,
                 is_rtt ? " <ms>" : "");
        return;
    }
    if (parse_broker(words[1], broker_count, &broker_id) != 0) {
        snprintf(reply, reply_size, "error: %s: broker '%s' is not 'all' or an id in 1..%d",
                 verb, words[1], broker_count);
        return;
    }
    if (is_rtt && parse_int(words[2], 0, 3600000, &rtt_ms) != 0) {
        snprintf(reply, reply_size, "error: rtt: '%s' is not a delay in ms (0..3600000)",
                 words[2]);
        return;
    }
    rd_kafka_resp_err_t err;
    if (is_rtt)
        err = rd_kafka_mock_broker_set_rtt(cluster, broker_id, (int)rtt_ms);
    else if (strcmp(verb, "down") == 0)
        err = rd_kafka_mock_broker_set_down(cluster, broker_id);
    else
        err = rd_kafka_mock_broker_set_up(cluster, broker_id);
    reply_result(err, reply, reply_size);
}

static void run_error_command(rd_kafka_mock_cluster_t *cluster, char **words, int count,
                              char *reply, size_t reply_size)
{
    if (count != 4) {
        snprintf(reply, reply_size, "error: usage: error <ApiName> <ERROR_NAME> <count>");
        return;
    }
    int api_key = mock_command_api_key(words[1]);
    if (api_key < 0) {
        snprintf(reply, reply_size, "error: unknown Kafka API '%s' (e.g. Produce)",
                 words[1]);
        return;
    }
    rd_kafka_resp_err_t code;
    if (mock_command_error_code(words[2], &code) != 0) {
        snprintf(reply, reply_size,
                 "error: unknown error name '%s' (e.g. NOT_ENOUGH_REPLICAS)", words[2]);
        return;
    }
    long repeat;
    if (parse_int(words[3], 1, 100000, &repeat) != 0) {
        snprintf(reply, reply_size, "error: count '%s' is not in 1..100000", words[3]);
        return;
    }
    rd_kafka_resp_err_t *errors = malloc((size_t)repeat * sizeof *errors);
    if (!errors) {
        snprintf(reply, reply_size, "error: out of memory");
        return;
    }
    for (long i = 0; i < repeat; i++)
        errors[i] = code;
    rd_kafka_mock_push_request_errors_array(cluster, (int16_t)api_key, (size_t)repeat, errors);
    free(errors);
    snprintf(reply, reply_size, "ok");
}

static void run_leader_command(rd_kafka_mock_cluster_t *cluster, int broker_count, char **words,
                               int count, char *reply, size_t reply_size)
{
    long partition, broker_id;
    if (count != 4) {
        snprintf(reply, reply_size, "error: usage: leader <topic> <partition> <broker-id>");
        return;
    }
    if (parse_int(words[2], 0, 100000, &partition) != 0) {
        snprintf(reply, reply_size, "error: leader: partition '%s' is not a number", words[2]);
        return;
    }
    if (parse_int(words[3], -1, broker_count, &broker_id) != 0 || broker_id == 0) {
        snprintf(reply, reply_size, "error: leader: broker '%s' is not -1 or an id in 1..%d",
                 words[3], broker_count);
        return;
    }
    reply_result(rd_kafka_mock_partition_set_leader(cluster, words[1], (int32_t)partition,
                                                    (int32_t)broker_id),
                 reply, reply_size);
}

enum mock_command_result mock_command_execute(rd_kafka_mock_cluster_t *cluster, int broker_count,
                                              const char *line, char *reply, size_t reply_size)
{
    char copy[MOCK_MAX_LINE];
    char *words[MOCK_MAX_WORDS];
    reply[0] = '\0';
    if (strlen(line) >= sizeof copy) {
        snprintf(reply, reply_size, "error: command longer than %d bytes", MOCK_MAX_LINE - 1);
        return MOCK_COMMAND_DONE;
    }
    strcpy(copy, line);
    int count = split_words(copy, words);
    if (count == 0 || (count > 0 && words[0][0] == '#'))
        return MOCK_COMMAND_IGNORED;
    if (count < 0) {
        snprintf(reply, reply_size, "error: too many words in command");
        return MOCK_COMMAND_DONE;
    }
    const char *verb = words[0];
    if (strcmp(verb, "down") == 0 || strcmp(verb, "up") == 0 || strcmp(verb, "rtt") == 0) {
        run_broker_command(cluster, broker_count, words, count, reply, reply_size);
    } else if (strcmp(verb, "error") == 0) {
        run_error_command(cluster, words, count, reply, reply_size);
    } else if (strcmp(verb, "leader") == 0) {
        run_leader_command(cluster, broker_count, words, count, reply, reply_size);
    } else if (strcmp(verb, "quit") == 0) {
        if (count != 1) {
            snprintf(reply, reply_size, "error: usage: quit");
            return MOCK_COMMAND_DONE;
        }
        snprintf(reply, reply_size, "ok");
        return MOCK_COMMAND_QUIT;
    } else {
        snprintf(reply, reply_size,
                 "error: unknown command '%s' (down, up, rtt, error, leader, quit)", verb);
    }
    return MOCK_COMMAND_DONE;
}
