/*
 * kafka_dump: prints every message of the given topics as one JSON line, so tests can
 * check what a producer really delivered.
 *
 *   kafka_dump --bootstrap HOST:PORT[,…] [--idle-ms MS] [--count N] TOPIC...
 *
 * Reads every partition of each topic from the beginning (a consumer with a group id
 * of its own, committing nothing) and prints
 *   {"topic":…,"partition":…,"offset":…,"key":…|null,"headers":{name:value…},"value":…}
 * with the messages of one partition in offset order (partitions interleave). It stops after
 * --idle-ms (default 3000) without a new message, or once --count messages are
 * printed. Exit status 0 on success, 1 on a consumer error, 2 on bad arguments.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "util/strbuf.h"
#include "util/timeutil.h"

#define DUMP_MAX_TOPICS 16

struct dump_options {
    const char *bootstrap;
    const char *topics[DUMP_MAX_TOPICS];
    int topic_count;
    long idle_ms;
    long count; /* 0: no limit */
};

static void usage(FILE *out)
{
    fprintf(out, "usage: kafka_dump --bootstrap HOST:PORT[,...] [--idle-ms MS] [--count N] "
                 "TOPIC...\n");
}

static int parse_long(const char *text, long min, long *out)
{
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (!*text || *end || errno || value < min)
        return -1;
    *out = value;
    return 0;
}

static bool has_topic(const struct dump_options *opts, const char *topic)
{
    for (int i = 0; i < opts->topic_count; i++)
        if (strcmp(opts->topics[i], topic) == 0)
            return true;
    return false;
}

static int parse_options(int argc, char **argv, struct dump_options *opts)
{
    opts->idle_ms = 3000;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        bool has_value = i + 1 < argc;
        if (strcmp(arg, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(arg, "--bootstrap") == 0 && has_value) {
            opts->bootstrap = argv[++i];
        } else if (strcmp(arg, "--idle-ms") == 0 && has_value) {
            if (parse_long(argv[++i], 1, &opts->idle_ms) != 0) {
                fprintf(stderr, "kafka_dump: --idle-ms '%s' is not a positive number\n",
                        argv[i]);
                return -1;
            }
        } else if (strcmp(arg, "--count") == 0 && has_value) {
            if (parse_long(argv[++i], 1, &opts->count) != 0) {
                fprintf(stderr, "kafka_dump: --count '%s' is not a positive number\n", argv[i]);
                return -1;
            }
        } else if (arg[0] == '-') {
            fprintf(stderr, "kafka_dump: unknown option or missing value: '%s'\n", arg);
            return -1;
        } else if (opts->topic_count == DUMP_MAX_TOPICS) {
            fprintf(stderr, "kafka_dump: at most %d topics\n", DUMP_MAX_TOPICS);
            return -1;
        } else if (!has_topic(opts, arg)) {
            opts->topics[opts->topic_count++] = arg; /* a topic named twice is read once */
        }
    }
    if (!opts->bootstrap || opts->topic_count == 0) {
        fprintf(stderr, "kafka_dump: --bootstrap and at least one topic are required\n");
        return -1;
    }
    return 0;
}

static void append_json_bytes(struct strbuf *out, const void *data, size_t len)
{
    if (!data) {
        strbuf_append(out, "null");
        return;
    }
    /* Payloads are text; a NUL inside would end the string early, so copy first. */
    char *text = malloc(len + 1);
    if (!text)
        abort();
    memcpy(text, data, len);
    text[len] = '\0';
    strbuf_append_json_string(out, text);
    free(text);
}

static void print_message(const rd_kafka_message_t *message, struct strbuf *line)
{
    strbuf_reset(line);
    strbuf_append(line, "{\"topic\":");
    strbuf_append_json_string(line, rd_kafka_topic_name(message->rkt));
    strbuf_appendf(line, ",\"partition\":%" PRId32 ",\"offset\":%" PRId64 ",\"key\":",
                   message->partition, message->offset);
    append_json_bytes(line, message->key, message->key_len);
    strbuf_append(line, ",\"headers\":{");
    rd_kafka_headers_t *headers = NULL;
    if (rd_kafka_message_headers(message, &headers) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *value;
        size_t size;
        for (size_t i = 0; rd_kafka_header_get_all(headers, i, &name, &value, &size) ==
                           RD_KAFKA_RESP_ERR_NO_ERROR;
             i++) {
            if (i > 0)
                strbuf_append_char(line, ',');
            strbuf_append_json_string(line, name);
            strbuf_append_char(line, ':');
            append_json_bytes(line, value, size);
        }
    }
    strbuf_append(line, "},\"value\":");
    append_json_bytes(line, message->payload, message->len);
    strbuf_append(line, "}\n");
    fputs(strbuf_cstr(line), stdout);
}

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kafka_dump: %s=%s: %s\n", name, value, errstr);
        return -1;
    }
    return 0;
}

static rd_kafka_t *consumer_create(const struct dump_options *opts)
{
    char group[96], errstr[512];
    snprintf(group, sizeof group, "kafka-dump-%d-%" PRId64, (int)getpid(), time_mono_us());
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (conf_set(conf, "bootstrap.servers", opts->bootstrap) != 0 ||
        conf_set(conf, "group.id", group) != 0 ||
        conf_set(conf, "enable.auto.commit", "false") != 0 ||
        conf_set(conf, "auto.offset.reset", "earliest") != 0 ||
        conf_set(conf, "log_level", "4") != 0) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!consumer) {
        fprintf(stderr, "kafka_dump: consumer: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_poll_set_consumer(consumer);
    return consumer;
}

/* Assigns every partition of every topic from its beginning. Direct assignment rather
 * than a group subscription: nothing to wait for before the first fetch. */
static int assign_all(rd_kafka_t *consumer, const struct dump_options *opts)
{
    rd_kafka_topic_partition_list_t *assignment = rd_kafka_topic_partition_list_new(16);
    int rc = -1;
    for (int t = 0; t < opts->topic_count; t++) {
        rd_kafka_topic_t *topic = rd_kafka_topic_new(consumer, opts->topics[t], NULL);
        const struct rd_kafka_metadata *metadata = NULL;
        rd_kafka_resp_err_t err = topic ? rd_kafka_metadata(consumer, 0, topic, &metadata, 10000)
                                        : rd_kafka_last_error();
        if (!err && (metadata->topic_cnt != 1 || metadata->topics[0].err))
            err = metadata->topic_cnt == 1 ? metadata->topics[0].err
                                           : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        if (err) {
            fprintf(stderr, "kafka_dump: topic '%s': %s\n", opts->topics[t],
                    rd_kafka_err2str(err));
        } else {
            for (int p = 0; p < metadata->topics[0].partition_cnt; p++)
                rd_kafka_topic_partition_list_add(assignment, opts->topics[t],
                                                  metadata->topics[0].partitions[p].id)
                    ->offset = RD_KAFKA_OFFSET_BEGINNING;
        }
        if (metadata)
            rd_kafka_metadata_destroy(metadata);
        if (topic)
            rd_kafka_topic_destroy(topic);
        if (err)
            goto out;
    }
    rd_kafka_resp_err_t err = rd_kafka_assign(consumer, assignment);
    if (err) {
        fprintf(stderr, "kafka_dump: assign: %s\n", rd_kafka_err2str(err));
        goto out;
    }
    rc = 0;
out:
    rd_kafka_topic_partition_list_destroy(assignment);
    return rc;
}

int main(int argc, char **argv)
{
    struct dump_options opts = {0};
    if (parse_options(argc, argv, &opts) != 0) {
        usage(stderr);
        return 2;
    }
    rd_kafka_t *consumer = consumer_create(&opts);
    if (!consumer)
        return 1;
    int status = 0;
    if (assign_all(consumer, &opts) != 0) {
        status = 1;
    } else {
        struct strbuf line;
        strbuf_init(&line);
        long printed = 0;
        int64_t last_message_ms = time_mono_ms();
        while (time_mono_ms() - last_message_ms < opts.idle_ms &&
               (opts.count == 0 || printed < opts.count)) {
            rd_kafka_message_t *message = rd_kafka_consumer_poll(consumer, 100);
            if (!message)
                continue;
            if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                print_message(message, &line);
                printed++;
                last_message_ms = time_mono_ms();
            } else if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                fprintf(stderr, "kafka_dump: %s\n", rd_kafka_message_errstr(message));
            }
            rd_kafka_message_destroy(message);
        }
        fflush(stdout);
        strbuf_free(&line);
    }
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    return status;
}
