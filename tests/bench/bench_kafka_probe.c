/*
 * bench_kafka_probe: the benchmark's eyes on Kafka and on the webhook receiver.
 *
 *   bench_kafka_probe count   --bootstrap B [--interval-ms MS] [--seconds S] TOPIC...
 *   bench_kafka_probe latency --bootstrap B [--seconds S] [--idle-ms MS]
 *                             [--samples FILE] TOPIC
 *   bench_kafka_probe webhook-latency FILE
 *
 * count: every interval (default 500 ms) prints "T_MS N" where N is the number of
 *   messages Kafka holds in the topics (the sum of the partitions' high watermarks).
 *   A message is there only once the broker acknowledged it, so the growth of N is
 *   the end-to-end acknowledged rate. Stops after --seconds (default 60).
 * latency: consumes TOPIC from the beginning and, for every message whose value
 *   holds "gcsimSentUs":N (gcsim's load mode stamps it into each notification; the
 *   relay carries the notification inside audit.notification), records the time
 *   from that stamp to the moment this consumer received the message. Consumer
 *   receipt comes after the broker acknowledged the produce request, so this is an
 *   upper bound of "sent by gcsim -> delivery confirmed". Stops after --seconds or
 *   after --idle-ms (default 3000) without a message once messages started.
 *   --samples FILE also writes one line per message, "SENT_US LATENCY_US PARTITION",
 *   to look for a pattern in the tail.
 * webhook-latency: reads webhook_receiver's --out file and does the same with each
 *   line's t_ms (the receiver's clock when it answered) and the stamp in its body.
 *
 * latency modes print one line:
 *   latency: N samples p50 A ms p99 B ms p999 C ms max D ms
 * Exit status 0, 1 on a Kafka or file error, 2 on bad arguments.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "util/timeutil.h"

#define PROBE_MAX_TOPICS 8
#define PROBE_STAMP "\"gcsimSentUs\":"

struct probe_options {
    const char *mode;
    const char *bootstrap;
    const char *topics[PROBE_MAX_TOPICS];
    int topic_count;
    long interval_ms;
    long seconds;
    long idle_ms;
    const char *samples_path;
};

/* Latency samples in microseconds, grown as needed. */
struct samples {
    int64_t *values;
    size_t count, capacity;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: bench_kafka_probe count --bootstrap B [--interval-ms MS] "
                 "[--seconds S] TOPIC...\n"
                 "       bench_kafka_probe latency --bootstrap B [--seconds S] "
                 "[--idle-ms MS] [--samples FILE] TOPIC\n"
                 "       bench_kafka_probe webhook-latency FILE\n");
}

static int64_t now_epoch_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void samples_add(struct samples *s, int64_t value)
{
    if (s->count == s->capacity) {
        s->capacity = s->capacity ? s->capacity * 2 : 4096;
        s->values = realloc(s->values, s->capacity * sizeof *s->values);
        if (!s->values)
            abort();
    }
    s->values[s->count++] = value;
}

static int compare_int64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double percentile_ms(const struct samples *s, double p)
{
    size_t index = (size_t)(p * (double)(s->count - 1) + 0.5);
    return (double)s->values[index] / 1000.0;
}

static void samples_report(struct samples *s)
{
    if (s->count == 0) {
        printf("latency: 0 samples\n");
        return;
    }
    qsort(s->values, s->count, sizeof *s->values, compare_int64);
    printf("latency: %zu samples p50 %.2f ms p99 %.2f ms p999 %.2f ms max %.2f ms\n", s->count,
           percentile_ms(s, 0.50), percentile_ms(s, 0.99), percentile_ms(s, 0.999),
           (double)s->values[s->count - 1] / 1000.0);
}

/* The stamp inside a value that is not NUL-terminated; -1 when absent. The relay
 * re-serializes the notification with cJSON, which may print the stamp in exponent
 * form (1.79535945308452e+15), so the number is read as a double (exact below 2^53). */
static int64_t find_stamp(const char *text, size_t len)
{
    const char *end = text + len;
    size_t mark_len = strlen(PROBE_STAMP);
    for (const char *p = text; p + mark_len < end; p++) {
        p = memchr(p, '"', (size_t)(end - p));
        if (!p || p + mark_len >= end)
            break;
        if (memcmp(p, PROBE_STAMP, mark_len) != 0)
            continue;
        char number[32];
        size_t n = 0;
        for (const char *q = p + mark_len; q < end && n + 1 < sizeof number &&
                                           strchr("0123456789.eE+-", *q); q++)
            number[n++] = *q;
        number[n] = '\0';
        char *parsed_end;
        double value = strtod(number, &parsed_end);
        return n > 0 && *parsed_end == '\0' && value > 0 ? (int64_t)value : -1;
    }
    return -1;
}

static int parse_args(int argc, char **argv, struct probe_options *opts)
{
    if (argc < 2)
        return -1;
    opts->mode = argv[1];
    opts->interval_ms = 500;
    opts->seconds = 60;
    opts->idle_ms = 3000;
    for (int i = 2; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        long *number = NULL;
        if (strcmp(arg, "--bootstrap") == 0 && value && value[0] != '-') {
            opts->bootstrap = value;
            i++;
            continue;
        }
        if (strcmp(arg, "--samples") == 0 && value) {
            opts->samples_path = value;
            i++;
            continue;
        }
        if (strcmp(arg, "--interval-ms") == 0)
            number = &opts->interval_ms;
        else if (strcmp(arg, "--seconds") == 0)
            number = &opts->seconds;
        else if (strcmp(arg, "--idle-ms") == 0)
            number = &opts->idle_ms;
        if (number) {
            char *end;
            if (!value || (*number = strtol(value, &end, 10)) <= 0 || *end) {
                fprintf(stderr, "bench_kafka_probe: %s needs a positive number\n", arg);
                return -1;
            }
            i++;
            continue;
        }
        if (arg[0] == '-' || opts->topic_count == PROBE_MAX_TOPICS) {
            fprintf(stderr, "bench_kafka_probe: unexpected argument '%s'\n", arg);
            return -1;
        }
        opts->topics[opts->topic_count++] = arg;
    }
    return 0;
}

static rd_kafka_t *client_create(const struct probe_options *opts, bool consumer)
{
    char errstr[512], group[64];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    snprintf(group, sizeof group, "bench-probe-%d", (int)getpid());
    /* A consumer that asks again at once: its own fetch wait would otherwise add
     * up to the broker's default of 500 ms to every latency sample; without Nagle,
     * a fetch request is not held back 40 ms behind a delayed ACK. */
    const char *settings[][2] = {
        {"bootstrap.servers", opts->bootstrap}, {"group.id", group},
        {"enable.auto.commit", "false"}, {"auto.offset.reset", "earliest"},
        {"fetch.wait.max.ms", "1"}, {"fetch.error.backoff.ms", "5"},
        {"socket.nagle.disable", "true"},
        {"log_level", "3"},
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        if (rd_kafka_conf_set(conf, settings[i][0], settings[i][1], errstr, sizeof errstr) !=
            RD_KAFKA_CONF_OK) {
            fprintf(stderr, "bench_kafka_probe: %s\n", errstr);
            rd_kafka_conf_destroy(conf);
            return NULL;
        }
    }
    rd_kafka_t *rk = rd_kafka_new(consumer ? RD_KAFKA_CONSUMER : RD_KAFKA_PRODUCER, conf, errstr,
                                  sizeof errstr);
    if (!rk) {
        fprintf(stderr, "bench_kafka_probe: %s\n", errstr);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    if (consumer)
        rd_kafka_poll_set_consumer(rk);
    return rk;
}

/* Appends every partition of topic to list; returns the number or -1. */
static int add_partitions(rd_kafka_t *rk, const char *name, rd_kafka_topic_partition_list_t *list)
{
    rd_kafka_topic_t *topic = rd_kafka_topic_new(rk, name, NULL);
    const struct rd_kafka_metadata *metadata = NULL;
    rd_kafka_resp_err_t err =
        topic ? rd_kafka_metadata(rk, 0, topic, &metadata, 10000) : rd_kafka_last_error();
    int count = -1;
    if (err == RD_KAFKA_RESP_ERR_NO_ERROR && metadata->topic_cnt == 1 &&
        metadata->topics[0].err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        count = metadata->topics[0].partition_cnt;
        for (int p = 0; p < count; p++)
            rd_kafka_topic_partition_list_add(list, name, metadata->topics[0].partitions[p].id);
    } else {
        fprintf(stderr, "bench_kafka_probe: no metadata for topic %s: %s\n", name,
                rd_kafka_err2str(err ? err : metadata->topics[0].err));
    }
    if (metadata)
        rd_kafka_metadata_destroy(metadata);
    if (topic)
        rd_kafka_topic_destroy(topic);
    return count;
}

static int run_count(const struct probe_options *opts)
{
    rd_kafka_t *rk = client_create(opts, false);
    if (!rk)
        return 1;
    rd_kafka_topic_partition_list_t *partitions = rd_kafka_topic_partition_list_new(16);
    int rc = 0;
    for (int t = 0; t < opts->topic_count && rc == 0; t++)
        if (add_partitions(rk, opts->topics[t], partitions) < 0)
            rc = 1;
    int64_t deadline = time_mono_ms() + opts->seconds * 1000;
    while (rc == 0 && !stop_requested && time_mono_ms() < deadline) {
        int64_t total = 0;
        for (int i = 0; i < partitions->cnt; i++) {
            int64_t low = 0, high = 0;
            rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(
                rk, partitions->elems[i].topic, partitions->elems[i].partition, &low, &high,
                5000);
            if (err) {
                fprintf(stderr, "bench_kafka_probe: watermarks of %s: %s\n",
                        partitions->elems[i].topic, rd_kafka_err2str(err));
                rc = 1;
                break;
            }
            total += high;
        }
        if (rc == 0) {
            printf("%lld %lld\n", (long long)time_now_ms(), (long long)total);
            fflush(stdout);
            usleep((useconds_t)opts->interval_ms * 1000);
        }
    }
    rd_kafka_topic_partition_list_destroy(partitions);
    rd_kafka_destroy(rk);
    return rc;
}

static int run_latency(const struct probe_options *opts)
{
    if (opts->topic_count != 1) {
        usage(stderr);
        return 2;
    }
    rd_kafka_t *rk = client_create(opts, true);
    if (!rk)
        return 1;
    rd_kafka_topic_partition_list_t *partitions = rd_kafka_topic_partition_list_new(4);
    int rc = add_partitions(rk, opts->topics[0], partitions) < 0 ? 1 : 0;
    if (rc == 0 && rd_kafka_assign(rk, partitions) != RD_KAFKA_RESP_ERR_NO_ERROR)
        rc = 1;
    FILE *dump = NULL;
    if (rc == 0 && opts->samples_path && !(dump = fopen(opts->samples_path, "w"))) {
        fprintf(stderr, "bench_kafka_probe: %s: %s\n", opts->samples_path, strerror(errno));
        rc = 1;
    }
    printf("latency: consuming %s\n", opts->topics[0]);
    fflush(stdout);
    struct samples samples = {0};
    int64_t deadline = time_mono_ms() + opts->seconds * 1000;
    int64_t last_message = 0;
    while (rc == 0 && !stop_requested && time_mono_ms() < deadline) {
        rd_kafka_message_t *message = rd_kafka_consumer_poll(rk, 100);
        if (!message) {
            if (last_message && time_mono_ms() - last_message > opts->idle_ms)
                break;
            continue;
        }
        if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            int64_t received = now_epoch_us();
            last_message = time_mono_ms();
            int64_t sent = find_stamp(message->payload, message->len);
            if (sent > 0) {
                samples_add(&samples, received - sent);
                if (dump)
                    fprintf(dump, "%lld %lld %d\n", (long long)sent,
                            (long long)(received - sent), (int)message->partition);
            }
        } else if (message->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            fprintf(stderr, "bench_kafka_probe: %s\n", rd_kafka_message_errstr(message));
        }
        rd_kafka_message_destroy(message);
    }
    if (dump && fclose(dump) != 0) {
        fprintf(stderr, "bench_kafka_probe: %s: %s\n", opts->samples_path, strerror(errno));
        rc = 1;
    }
    if (rc == 0)
        samples_report(&samples);
    free(samples.values);
    rd_kafka_topic_partition_list_destroy(partitions);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}

static int run_webhook_latency(const char *path)
{
    FILE *in = fopen(path, "r");
    if (!in) {
        fprintf(stderr, "bench_kafka_probe: %s: %s\n", path, strerror(errno));
        return 1;
    }
    struct samples samples = {0};
    char *line = NULL;
    size_t capacity = 0;
    ssize_t len;
    while ((len = getline(&line, &capacity, in)) > 0) {
        const char *t = strstr(line, "\"t_ms\":");
        int64_t sent = find_stamp(line, (size_t)len);
        if (t && sent > 0)
            samples_add(&samples, (int64_t)(strtod(t + 7, NULL) * 1000.0) - sent);
    }
    free(line);
    fclose(in);
    samples_report(&samples);
    free(samples.values);
    return 0;
}

int main(int argc, char **argv)
{
    struct probe_options opts = {0};
    if (parse_args(argc, argv, &opts) != 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    if (strcmp(opts.mode, "webhook-latency") == 0) {
        if (opts.topic_count != 1) {
            usage(stderr);
            return 2;
        }
        return run_webhook_latency(opts.topics[0]);
    }
    if (!opts.bootstrap || opts.topic_count == 0) {
        usage(stderr);
        return 2;
    }
    if (strcmp(opts.mode, "count") == 0)
        return run_count(&opts);
    if (strcmp(opts.mode, "latency") == 0)
        return run_latency(&opts);
    usage(stderr);
    return 2;
}
