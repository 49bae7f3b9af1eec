#include "publishers/webhook_sink.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "publishers/webhook_sign.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

#define LOG_COMPONENT     "webhook"
#define LANE_BUCKETS      1024
#define REASON_SIZE       640
#define LAST_ERROR_SIZE   512
#define GONE_REASON       "endpoint gone (410)"
#define NO_DEADLINE       INT64_MAX

enum record_state {
    RECORD_QUEUED,    /* waiting for its turn in the lane or for a free request slot */
    RECORD_IN_FLIGHT,
    RECORD_BACKOFF,   /* failed, waiting until ready_at_ms */
    RECORD_DONE,      /* delivered or dead-lettered; kept until the done prefix passes it */
};

struct lane;

struct record {
    int64_t seq;
    struct relay_event *event;
    struct strbuf body;
    struct lane *lane;
    struct record *next_in_seq;
    struct record *next_in_lane;
    enum record_state state;
    int attempts;
    int64_t submitted_ms;
    int64_t ready_at_ms;
    CURL *easy;
    struct curl_slist *request_headers;
    char curl_error[CURL_ERROR_SIZE];
    char last_error[LAST_ERROR_SIZE];
};

/* The not-done records of one subject, in seq order; only the head may be sent. */
struct lane {
    char *subject;
    struct record *head;
    struct record *tail;
    struct lane *next_in_bucket;
    struct lane *prev_active;
    struct lane *next_active;
};

struct webhook_sink {
    char *name;
    char *url;
    struct webhook_keyring *keyring;
    struct curl_slist *extra_headers;
    int request_timeout_ms;
    int concurrency;
    int max_attempts;
    int backoff_min_ms;
    int backoff_max_ms;
    size_t max_pending;
    sink_dead_letter_fn dead_letter;
    void *dead_letter_opaque;
    webhook_latency_fn on_latency;
    void *latency_opaque;

    CURLM *multi;
    uint64_t random_state;

    struct record *seq_head;
    struct record *seq_tail;
    size_t held;
    int64_t last_submitted_seq;
    int64_t done_seq;
    int in_flight;

    struct lane *buckets[LANE_BUCKETS];
    struct lane *active_head; /* lanes in creation order: older subjects are served first */
    struct lane *active_tail;

    bool disabled;
    atomic_bool gone_alert;

    pthread_mutex_t stats_lock;
    struct webhook_sink_stats stats;
};

static pthread_once_t curl_init_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void init_curl(void)
{
    curl_init_result = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static char *copy_string(const char *text)
{
    char *copy = strdup(text);
    if (!copy)
        abort();
    return copy;
}

/* ------------------------------------------------------------------------------------ */
/* Options */

void webhook_sink_options_init(struct webhook_sink_options *options)
{
    memset(options, 0, sizeof *options);
    options->request_timeout_ms = WEBHOOK_SINK_DEFAULT_TIMEOUT_MS;
    options->concurrency = WEBHOOK_SINK_DEFAULT_CONCURRENCY;
    options->max_attempts = WEBHOOK_SINK_DEFAULT_MAX_ATTEMPTS;
    options->backoff_min_ms = WEBHOOK_SINK_DEFAULT_BACKOFF_MIN_MS;
    options->backoff_max_ms = WEBHOOK_SINK_DEFAULT_BACKOFF_MAX_MS;
    options->max_pending = WEBHOOK_SINK_DEFAULT_MAX_PENDING;
}

static int validate_url(const char *url, char *errstr, size_t errstr_size)
{
    if (!url || !url[0]) {
        snprintf(errstr, errstr_size, "url is required");
        return -1;
    }
    if (strncasecmp(url, "http://", 7) != 0 && strncasecmp(url, "https://", 8) != 0) {
        snprintf(errstr, errstr_size, "url \"%s\": only http:// and https:// are supported",
                 url);
        return -1;
    }
    CURLU *parsed = curl_url();
    if (!parsed)
        abort();
    CURLUcode rc = curl_url_set(parsed, CURLUPART_URL, url, 0);
    curl_url_cleanup(parsed);
    if (rc != CURLUE_OK) {
        snprintf(errstr, errstr_size, "url \"%s\": %s", url, curl_url_strerror(rc));
        return -1;
    }
    return 0;
}

static bool is_header_name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Headers the engine writes itself; letting configuration override them would break
 * signatures or the content type receivers rely on. */
static bool is_reserved_header(const char *name, size_t len)
{
    static const char *const reserved[] = {"content-type", "content-length", "webhook-id",
                                           "webhook-timestamp", "webhook-signature", "host"};
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++)
        if (strlen(reserved[i]) == len && strncasecmp(name, reserved[i], len) == 0)
            return true;
    return false;
}

static int validate_header(const char *header, size_t index, char *errstr, size_t errstr_size)
{
    const char *colon = header ? strchr(header, ':') : NULL;
    if (!colon || colon == header) {
        snprintf(errstr, errstr_size, "header #%zu: expected \"Name: value\"", index + 1);
        return -1;
    }
    for (const char *p = header; p < colon; p++) {
        if (!is_header_name_char((unsigned char)*p)) {
            snprintf(errstr, errstr_size, "header #%zu: invalid character in the name",
                     index + 1);
            return -1;
        }
    }
    for (const char *p = colon + 1; *p; p++) {
        if ((unsigned char)*p < 0x20 && *p != '\t') {
            snprintf(errstr, errstr_size, "header #%zu: control character in the value",
                     index + 1);
            return -1;
        }
    }
    if (is_reserved_header(header, (size_t)(colon - header))) {
        snprintf(errstr, errstr_size, "header #%zu: \"%.*s\" is set by the webhook sink",
                 index + 1, (int)(colon - header), header);
        return -1;
    }
    return 0;
}

static int validate_options(const struct webhook_sink_options *o, char *errstr,
                            size_t errstr_size)
{
    if (validate_url(o->url, errstr, errstr_size) != 0)
        return -1;
    if (o->request_timeout_ms <= 0) {
        snprintf(errstr, errstr_size, "timeout must be positive (got %d ms)",
                 o->request_timeout_ms);
        return -1;
    }
    if (o->concurrency <= 0) {
        snprintf(errstr, errstr_size, "concurrency must be at least 1 (got %d)",
                 o->concurrency);
        return -1;
    }
    if (o->max_attempts <= 0) {
        snprintf(errstr, errstr_size, "max_attempts must be at least 1 (got %d)",
                 o->max_attempts);
        return -1;
    }
    if (o->backoff_min_ms <= 0 || o->backoff_max_ms < o->backoff_min_ms) {
        snprintf(errstr, errstr_size,
                 "backoff must satisfy 0 < backoff_min <= backoff_max (got %d and %d ms)",
                 o->backoff_min_ms, o->backoff_max_ms);
        return -1;
    }
    if (o->max_pending == 0) {
        snprintf(errstr, errstr_size, "max_pending must be at least 1");
        return -1;
    }
    if (!o->dead_letter) {
        snprintf(errstr, errstr_size, "a dead-letter callback is required");
        return -1;
    }
    for (size_t i = 0; i < o->header_count; i++)
        if (validate_header(o->headers[i], i, errstr, errstr_size) != 0)
            return -1;
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Create / destroy */

struct webhook_sink *webhook_sink_create(const struct webhook_sink_options *options,
                                         char *errstr, size_t errstr_size)
{
    pthread_once(&curl_init_once, init_curl);
    if (curl_init_result != CURLE_OK) {
        snprintf(errstr, errstr_size, "libcurl initialisation failed: %s",
                 curl_easy_strerror(curl_init_result));
        return NULL;
    }
    if (!options) {
        snprintf(errstr, errstr_size, "no options given");
        return NULL;
    }
    const char *name = options->name && options->name[0] ? options->name : "webhook";
    char detail[REASON_SIZE];
    if (validate_options(options, detail, sizeof detail) != 0) {
        snprintf(errstr, errstr_size, "webhook sink \"%s\": %s", name, detail);
        return NULL;
    }

    struct webhook_sink *sink = calloc(1, sizeof *sink);
    if (!sink)
        abort();
    pthread_mutex_init(&sink->stats_lock, NULL);
    atomic_init(&sink->gone_alert, false);
    sink->name = copy_string(name);
    sink->url = copy_string(options->url);
    sink->request_timeout_ms = options->request_timeout_ms;
    sink->concurrency = options->concurrency;
    sink->max_attempts = options->max_attempts;
    sink->backoff_min_ms = options->backoff_min_ms;
    sink->backoff_max_ms = options->backoff_max_ms;
    sink->max_pending = options->max_pending;
    sink->dead_letter = options->dead_letter;
    sink->dead_letter_opaque = options->dead_letter_opaque;
    sink->on_latency = options->on_latency;
    sink->latency_opaque = options->latency_opaque;
    sink->last_submitted_seq = -1;
    sink->done_seq = -1;
    sink->random_state = (uint64_t)time_mono_us() ^ ((uint64_t)(uintptr_t)sink << 16) ^
                         0x9e3779b97f4a7c15ull;

    sink->keyring = webhook_keyring_create(options->secrets, options->secret_count, detail,
                                           sizeof detail);
    if (!sink->keyring) {
        snprintf(errstr, errstr_size, "webhook sink \"%s\": %s", name, detail);
        webhook_sink_destroy(sink);
        return NULL;
    }
    for (size_t i = 0; i < options->header_count; i++) {
        struct curl_slist *grown = curl_slist_append(sink->extra_headers, options->headers[i]);
        if (!grown)
            abort();
        sink->extra_headers = grown;
    }
    sink->multi = curl_multi_init();
    if (!sink->multi) {
        snprintf(errstr, errstr_size, "webhook sink \"%s\": curl_multi_init failed", name);
        webhook_sink_destroy(sink);
        return NULL;
    }
    return sink;
}

static void release_request(struct webhook_sink *sink, struct record *record)
{
    if (record->easy) {
        curl_multi_remove_handle(sink->multi, record->easy);
        curl_easy_cleanup(record->easy);
        record->easy = NULL;
        sink->in_flight--;
    }
    curl_slist_free_all(record->request_headers);
    record->request_headers = NULL;
}

static void free_record(struct record *record)
{
    relay_event_free(record->event);
    strbuf_free(&record->body);
    free(record);
}

void webhook_sink_destroy(struct webhook_sink *sink)
{
    if (!sink)
        return;
    struct record *record = sink->seq_head;
    while (record) {
        struct record *next = record->next_in_seq;
        release_request(sink, record);
        free_record(record);
        record = next;
    }
    struct lane *lane = sink->active_head;
    while (lane) {
        struct lane *next = lane->next_active;
        free(lane->subject);
        free(lane);
        lane = next;
    }
    if (sink->multi)
        curl_multi_cleanup(sink->multi);
    curl_slist_free_all(sink->extra_headers);
    webhook_keyring_destroy(sink->keyring);
    pthread_mutex_destroy(&sink->stats_lock);
    free(sink->name);
    free(sink->url);
    free(sink);
}

/* ------------------------------------------------------------------------------------ */
/* Lanes */

static size_t subject_bucket(const char *subject)
{
    uint64_t hash = 1469598103934665603ull; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)subject; *p; p++)
        hash = (hash ^ *p) * 1099511628211ull;
    return (size_t)(hash % LANE_BUCKETS);
}

static struct lane *lane_for_subject(struct webhook_sink *sink, const char *subject)
{
    size_t bucket = subject_bucket(subject);
    for (struct lane *lane = sink->buckets[bucket]; lane; lane = lane->next_in_bucket)
        if (strcmp(lane->subject, subject) == 0)
            return lane;
    struct lane *lane = calloc(1, sizeof *lane);
    if (!lane)
        abort();
    lane->subject = copy_string(subject);
    lane->next_in_bucket = sink->buckets[bucket];
    sink->buckets[bucket] = lane;
    lane->prev_active = sink->active_tail;
    if (sink->active_tail)
        sink->active_tail->next_active = lane;
    else
        sink->active_head = lane;
    sink->active_tail = lane;
    return lane;
}

static void lane_free(struct webhook_sink *sink, struct lane *lane)
{
    struct lane **link = &sink->buckets[subject_bucket(lane->subject)];
    while (*link != lane)
        link = &(*link)->next_in_bucket;
    *link = lane->next_in_bucket;
    if (lane->prev_active)
        lane->prev_active->next_active = lane->next_active;
    else
        sink->active_head = lane->next_active;
    if (lane->next_active)
        lane->next_active->prev_active = lane->prev_active;
    else
        sink->active_tail = lane->prev_active;
    free(lane->subject);
    free(lane);
}

/* Takes a finished record out of its lane (it can be anywhere in it when the whole
 * endpoint is being dead-lettered), freeing the lane once it is empty. */
static void lane_remove(struct webhook_sink *sink, struct record *record)
{
    struct lane *lane = record->lane;
    if (!lane)
        return;
    struct record **link = &lane->head;
    struct record *previous = NULL;
    while (*link && *link != record) {
        previous = *link;
        link = &(*link)->next_in_lane;
    }
    if (*link) {
        *link = record->next_in_lane;
        if (lane->tail == record)
            lane->tail = previous;
    }
    record->lane = NULL;
    record->next_in_lane = NULL;
    if (!lane->head)
        lane_free(sink, lane);
}

/* ------------------------------------------------------------------------------------ */
/* Outcomes */

static void finish_record(struct webhook_sink *sink, struct record *record)
{
    release_request(sink, record);
    lane_remove(sink, record);
    record->state = RECORD_DONE;
}

static void dead_letter_record(struct webhook_sink *sink, struct record *record,
                               const char *reason)
{
    finish_record(sink, record);
    pthread_mutex_lock(&sink->stats_lock);
    sink->stats.dead_lettered++;
    pthread_mutex_unlock(&sink->stats_lock);
    sink->dead_letter(sink->dead_letter_opaque, record->seq, record->event, reason);
}

static void dead_letter_everything(struct webhook_sink *sink, const char *reason)
{
    for (struct record *record = sink->seq_head; record; record = record->next_in_seq)
        if (record->state != RECORD_DONE)
            dead_letter_record(sink, record, reason);
}

static uint64_t next_random(struct webhook_sink *sink)
{
    uint64_t x = sink->random_state; /* xorshift64*: jitter only, not security */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    sink->random_state = x;
    return x * 0x2545f4914f6cdd1dull;
}

static int64_t backoff_delay_ms(struct webhook_sink *sink, int failures, int64_t retry_after_s)
{
    int64_t cap = sink->backoff_min_ms;
    for (int i = 1; i < failures && cap < sink->backoff_max_ms; i++)
        cap *= 2;
    if (cap > sink->backoff_max_ms)
        cap = sink->backoff_max_ms;
    int64_t delay = (int64_t)(next_random(sink) % (uint64_t)(cap + 1));
    if (retry_after_s > 0 && delay < retry_after_s * 1000)
        delay = retry_after_s * 1000;
    return delay;
}

static void retry_or_give_up(struct webhook_sink *sink, struct record *record,
                             int64_t retry_after_s, int64_t now_ms)
{
    release_request(sink, record);
    if (record->attempts >= sink->max_attempts) {
        char reason[REASON_SIZE];
        snprintf(reason, sizeof reason, "gave up after %d attempts: %s", record->attempts,
                 record->last_error);
        dead_letter_record(sink, record, reason);
        return;
    }
    int64_t delay = backoff_delay_ms(sink, record->attempts, retry_after_s);
    record->state = RECORD_BACKOFF;
    record->ready_at_ms = now_ms + delay;
    pthread_mutex_lock(&sink->stats_lock);
    sink->stats.retried++;
    pthread_mutex_unlock(&sink->stats_lock);
    log_debug(LOG_COMPONENT, "%s: seq %lld attempt %d failed (%s), retry in %lld ms",
              sink->name, (long long)record->seq, record->attempts, record->last_error,
              (long long)delay);
}

static void handle_completion(struct webhook_sink *sink, struct record *record,
                              CURLcode result, int64_t now_ms)
{
    long status = 0;
    curl_off_t retry_after_s = 0;
    if (result == CURLE_OK) {
        curl_easy_getinfo(record->easy, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(record->easy, CURLINFO_RETRY_AFTER, &retry_after_s);
    }
    pthread_mutex_lock(&sink->stats_lock);
    sink->stats.last_status = (int)status;
    if (status < 200 || status > 299)
        sink->stats.failed_attempts++;
    pthread_mutex_unlock(&sink->stats_lock);

    if (result != CURLE_OK) {
        snprintf(record->last_error, sizeof record->last_error, "%s%s%s",
                 curl_easy_strerror(result), record->curl_error[0] ? ": " : "",
                 record->curl_error);
        retry_or_give_up(sink, record, 0, now_ms);
        return;
    }
    if (status >= 200 && status <= 299) {
        int64_t latency = now_ms - record->submitted_ms;
        finish_record(sink, record);
        pthread_mutex_lock(&sink->stats_lock);
        sink->stats.delivered++;
        sink->stats.last_latency_ms = latency;
        if (latency > sink->stats.max_latency_ms)
            sink->stats.max_latency_ms = latency;
        pthread_mutex_unlock(&sink->stats_lock);
        if (sink->on_latency)
            sink->on_latency(sink->latency_opaque, record->seq, latency);
        return;
    }
    snprintf(record->last_error, sizeof record->last_error, "HTTP %ld", status);
    if (status == 410) {
        release_request(sink, record);
        if (!sink->disabled) {
            sink->disabled = true;
            pthread_mutex_lock(&sink->stats_lock);
            sink->stats.disabled = true;
            pthread_mutex_unlock(&sink->stats_lock);
            atomic_store(&sink->gone_alert, true);
        }
        return; /* dead-lettered with everything else once the completions are read */
    }
    if (status >= 400 && status <= 499 && status != 408 && status != 429) {
        char reason[REASON_SIZE];
        snprintf(reason, sizeof reason, "HTTP %ld: the endpoint rejected the event", status);
        dead_letter_record(sink, record, reason);
        return;
    }
    retry_or_give_up(sink, record, (int64_t)retry_after_s, now_ms);
}

/* ------------------------------------------------------------------------------------ */
/* Requests */

static size_t discard_body(char *data, size_t size, size_t count, void *opaque)
{
    (void)data;
    (void)opaque;
    return size * count;
}

static bool is_header_safe(const char *value)
{
    for (const unsigned char *p = (const unsigned char *)value; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return value[0] != '\0';
}

static struct curl_slist *append_header(struct curl_slist *list, const char *header)
{
    struct curl_slist *grown = curl_slist_append(list, header);
    if (!grown)
        abort();
    return grown;
}

static int build_request_headers(struct webhook_sink *sink, struct record *record,
                                 char *errstr, size_t errstr_size)
{
    int64_t timestamp_s = time_now_ms() / 1000;
    struct strbuf line;
    strbuf_init(&line);
    strbuf_append(&line, "webhook-signature: ");
    if (webhook_sign(sink->keyring, record->event->id, timestamp_s, record->body.data,
                     record->body.len, &line, errstr, errstr_size) != 0) {
        strbuf_free(&line);
        return -1;
    }
    struct curl_slist *list = NULL;
    list = append_header(list, "Content-Type: application/cloudevents+json");
    /* Without this, curl waits for a 100 Continue on large bodies. */
    list = append_header(list, "Expect:");
    list = append_header(list, strbuf_cstr(&line));
    strbuf_reset(&line);
    strbuf_appendf(&line, "webhook-id: %s", record->event->id);
    list = append_header(list, strbuf_cstr(&line));
    strbuf_reset(&line);
    strbuf_appendf(&line, "webhook-timestamp: %lld", (long long)timestamp_s);
    list = append_header(list, strbuf_cstr(&line));
    for (struct curl_slist *h = sink->extra_headers; h; h = h->next)
        list = append_header(list, h->data);
    strbuf_free(&line);
    record->request_headers = list;
    return 0;
}

static void start_attempt(struct webhook_sink *sink, struct record *record, int64_t now_ms)
{
    record->attempts++;
    record->curl_error[0] = '\0';
    char err[256];
    if (build_request_headers(sink, record, err, sizeof err) != 0) {
        snprintf(record->last_error, sizeof record->last_error, "signing failed: %s", err);
        retry_or_give_up(sink, record, 0, now_ms);
        return;
    }
    CURL *easy = curl_easy_init();
    if (!easy)
        abort();
    curl_easy_setopt(easy, CURLOPT_URL, sink->url);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)record->body.len);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, strbuf_cstr(&record->body));
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, record->request_headers);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "campaign-relay");
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)sink->request_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)sink->request_timeout_ms);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, discard_body);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, record->curl_error);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, record);
    CURLMcode rc = curl_multi_add_handle(sink->multi, easy);
    if (rc != CURLM_OK) {
        curl_easy_cleanup(easy);
        snprintf(record->last_error, sizeof record->last_error, "curl_multi_add_handle: %s",
                 curl_multi_strerror(rc));
        retry_or_give_up(sink, record, 0, now_ms);
        return;
    }
    record->easy = easy;
    record->state = RECORD_IN_FLIGHT;
    sink->in_flight++;
}

/* Starts every lane head that may go now, oldest lanes first, up to the concurrency limit.
 * Returns the earliest time a waiting head becomes ready, NO_DEADLINE when none waits. */
static int64_t schedule(struct webhook_sink *sink, int64_t now_ms)
{
    int64_t next_ready = NO_DEADLINE;
    struct lane *lane = sink->active_head;
    while (lane && sink->in_flight < sink->concurrency) {
        struct lane *next = lane->next_active; /* the lane may be freed below */
        struct record *head = lane->head;
        if (head->state == RECORD_QUEUED ||
            (head->state == RECORD_BACKOFF && head->ready_at_ms <= now_ms)) {
            if (!is_header_safe(head->event->id))
                dead_letter_record(sink, head, "event id is not a valid header value");
            else
                start_attempt(sink, head, now_ms);
        }
        lane = next;
    }
    for (lane = sink->active_head; lane; lane = lane->next_active)
        if (lane->head->state == RECORD_BACKOFF && lane->head->ready_at_ms < next_ready)
            next_ready = lane->head->ready_at_ms;
    return next_ready;
}

/* Returns the number of requests that completed. */
static int collect_completions(struct webhook_sink *sink)
{
    int completed = 0;
    int queued = 0;
    CURLMsg *message;
    while ((message = curl_multi_info_read(sink->multi, &queued)) != NULL) {
        if (message->msg != CURLMSG_DONE)
            continue;
        struct record *record = NULL;
        curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, (char **)&record);
        CURLcode result = message->data.result;
        handle_completion(sink, record, result, time_mono_ms());
        completed++;
    }
    return completed;
}

static void advance_done_prefix(struct webhook_sink *sink)
{
    while (sink->seq_head && sink->seq_head->state == RECORD_DONE) {
        struct record *record = sink->seq_head;
        sink->seq_head = record->next_in_seq;
        if (!sink->seq_head)
            sink->seq_tail = NULL;
        sink->done_seq = record->seq;
        sink->held--;
        free_record(record);
    }
}

static void publish_gauges(struct webhook_sink *sink)
{
    pthread_mutex_lock(&sink->stats_lock);
    sink->stats.in_flight = (uint64_t)sink->in_flight;
    sink->stats.pending = (uint64_t)sink->held;
    pthread_mutex_unlock(&sink->stats_lock);
}

/* ------------------------------------------------------------------------------------ */
/* Engine interface */

enum sink_submit_result webhook_sink_submit(struct webhook_sink *sink, int64_t seq,
                                            const struct relay_event *event, char *errstr,
                                            size_t errstr_size)
{
    if (!sink || !event) {
        snprintf(errstr, errstr_size, "webhook sink: no event to submit");
        return SINK_FAILED;
    }
    if (seq <= sink->last_submitted_seq) {
        snprintf(errstr, errstr_size,
                 "webhook sink \"%s\": seq %lld submitted after seq %lld; sequence must grow",
                 sink->name, (long long)seq, (long long)sink->last_submitted_seq);
        return SINK_FAILED;
    }
    if (sink->held >= sink->max_pending)
        return SINK_BUSY;

    struct record *record = calloc(1, sizeof *record);
    if (!record)
        abort();
    record->seq = seq;
    record->event = relay_event_create(event->id, event->type, event->source, event->subject,
                                       event->time_ms, event->family, event->data);
    if (!record->event) {
        free(record);
        snprintf(errstr, errstr_size, "webhook sink \"%s\": seq %lld has no id, type or data",
                 sink->name, (long long)seq);
        return SINK_FAILED;
    }
    strbuf_init(&record->body);
    relay_event_to_structured_json(record->event, &record->body);
    record->state = RECORD_QUEUED;
    record->submitted_ms = time_mono_ms();

    struct lane *lane = lane_for_subject(sink, record->event->subject);
    record->lane = lane;
    if (lane->tail)
        lane->tail->next_in_lane = record;
    else
        lane->head = record;
    lane->tail = record;

    if (sink->seq_tail)
        sink->seq_tail->next_in_seq = record;
    else
        sink->seq_head = record;
    sink->seq_tail = record;
    sink->held++;
    sink->last_submitted_seq = seq;
    publish_gauges(sink);
    return SINK_ACCEPTED;
}

int64_t webhook_sink_poll(struct webhook_sink *sink, int timeout_ms)
{
    int64_t deadline = time_mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
    int64_t done_at_entry = sink->done_seq;
    for (;;) {
        if (sink->disabled)
            dead_letter_everything(sink, GONE_REASON);
        int64_t now = time_mono_ms();
        int64_t next_ready = schedule(sink, now);
        int running = 0;
        curl_multi_perform(sink->multi, &running);
        int completed = collect_completions(sink);
        if (sink->disabled)
            dead_letter_everything(sink, GONE_REASON);
        advance_done_prefix(sink);
        publish_gauges(sink);

        if (sink->done_seq != done_at_entry)
            break;
        now = time_mono_ms();
        if (now >= deadline)
            break;
        if (completed > 0)
            continue; /* freed slots or new backoffs: schedule again before sleeping */
        int64_t wait = deadline - now;
        if (next_ready != NO_DEADLINE && next_ready - now < wait)
            wait = next_ready > now ? next_ready - now : 0;
        curl_multi_poll(sink->multi, NULL, 0, (int)wait, NULL);
    }
    return sink->done_seq;
}

void webhook_sink_get_stats(struct webhook_sink *sink, struct webhook_sink_stats *out)
{
    pthread_mutex_lock(&sink->stats_lock);
    *out = sink->stats;
    pthread_mutex_unlock(&sink->stats_lock);
}

bool webhook_sink_take_gone_alert(struct webhook_sink *sink)
{
    return atomic_exchange(&sink->gone_alert, false);
}

static enum sink_submit_result ops_submit(void *engine, int64_t seq,
                                          const struct relay_event *event, char *errstr,
                                          size_t errstr_size)
{
    return webhook_sink_submit(engine, seq, event, errstr, errstr_size);
}

static int64_t ops_poll(void *engine, int timeout_ms)
{
    return webhook_sink_poll(engine, timeout_ms);
}

static bool ops_needs_replay(void *engine)
{
    (void)engine; /* the engine never drops what it accepted */
    return false;
}

static void ops_destroy(void *engine)
{
    webhook_sink_destroy(engine);
}

const struct sink_ops webhook_sink_ops = {
    .kind = "webhook",
    .submit = ops_submit,
    .poll = ops_poll,
    .needs_replay = ops_needs_replay,
    .destroy = ops_destroy,
};
