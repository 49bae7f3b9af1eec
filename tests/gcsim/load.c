#include "tests/gcsim/load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/gcsim/wsconn.h"
#include "util/log.h"
#include "util/strbuf.h"
#include "util/timeutil.h"

/* Stop generating while any reader has this much unsent. */
#define LOAD_MAX_QUEUED_BYTES (8u << 20)
#define VERSION_MARK "987654321"

struct load_campaign {
    char id[PRNG_UUID_LEN];
    char *config_head, *config_tail; /* the config body split around its version */
    char *progress_head, *progress_tail;
    size_t config_head_len, config_tail_len, progress_head_len, progress_tail_len;
    int64_t version;
};

struct load {
    int enabled;
    int64_t started_ms, ended_ms;
    uint64_t generated;  /* notifications generated */
    uint64_t frames;     /* frames queued over all channels */
    uint64_t owed_base;  /* generation the schedule forgave while readers were behind */
    struct load_campaign *campaigns;
    int campaign_count;
    uint64_t corr;
};

static void split_template(const char *text, char **head, size_t *head_len, char **tail,
                           size_t *tail_len)
{
    const char *mark = strstr(text, VERSION_MARK);
    if (!mark)
        abort();
    *head = strndup(text, (size_t)(mark - text));
    *tail = strdup(mark + strlen(VERSION_MARK));
    if (!*head || !*tail)
        abort();
    *head_len = strlen(*head);
    *tail_len = strlen(*tail);
}

struct load *load_create(struct gcsim *sim)
{
    struct load *load = calloc(1, sizeof(*load));
    if (!load)
        abort();
    if (!sim->opts.load_rate)
        return load;
    load->enabled = 1;
    load->campaign_count = sim->opts.load_campaigns;
    load->campaigns = calloc((size_t)load->campaign_count, sizeof(*load->campaigns));
    if (!load->campaigns)
        abort();
    struct prng rng;
    prng_seed(&rng, sim->opts.seed + 1000003);
    for (int i = 0; i < load->campaign_count; i++) {
        char name[64];
        struct load_campaign *lc = &load->campaigns[i];
        snprintf(name, sizeof(name), "Load campaign %04d", i + 1);
        struct campaign *c = campaign_new(&rng, name, campaign_dialing_modes[i % 6],
                                          time_now_ms());
        snprintf(lc->id, sizeof(lc->id), "%s", c->id);
        snprintf(c->status, sizeof(c->status), "on");
        c->version = atoll(VERSION_MARK);
        cJSON *json = campaign_event_json(c);
        char *text = cJSON_PrintUnformatted(json);
        split_template(text, &lc->config_head, &lc->config_head_len, &lc->config_tail,
                       &lc->config_tail_len);
        free(text);
        cJSON_Delete(json);
        c->called = atoi(VERSION_MARK);
        c->total_contacts = 2000000000;
        json = campaign_progress_event_json(c);
        text = cJSON_PrintUnformatted(json);
        split_template(text, &lc->progress_head, &lc->progress_head_len, &lc->progress_tail,
                       &lc->progress_tail_len);
        free(text);
        cJSON_Delete(json);
        campaign_free(c);
    }
    return load;
}

void load_destroy(struct load *load)
{
    if (!load)
        return;
    for (int i = 0; i < load->campaign_count; i++) {
        free(load->campaigns[i].config_head);
        free(load->campaigns[i].config_tail);
        free(load->campaigns[i].progress_head);
        free(load->campaigns[i].progress_tail);
    }
    free(load->campaigns);
    free(load);
}

int load_active(const struct load *load)
{
    return load && load->enabled && load->started_ms && !load->ended_ms;
}

void load_on_socket_ready(struct gcsim *sim, int64_t now_ms)
{
    struct load *load = sim->load;
    if (!load->enabled || load->started_ms)
        return;
    load->started_ms = now_ms;
    log_info("gcsim", "load: %d notifications/s for %d s", sim->opts.load_rate,
             sim->opts.load_seconds);
}

/* Wall-clock microseconds: the benchmark compares it with the time a Kafka consumer
 * or a webhook receiver saw the event, in other processes of the same machine. */
static long long now_epoch_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* Pieces are appended, not printed: at the ceiling's rate a printf-family call per
 * frame was over a third of gcsim's CPU, taken from the machine the relay runs on. */
static void build_one(struct gcsim *sim, struct load *load, struct strbuf *out)
{
    struct load_campaign *lc = &load->campaigns[load->generated % (uint64_t)load->campaign_count];
    int config = (int)(load->generated % 100) < sim->opts.load_config_percent;
    lc->version++;
    strbuf_reset(out);
    strbuf_append(out, "{\"topicName\":\"v2.outbound.campaigns.");
    strbuf_append(out, lc->id);
    if (!config)
        strbuf_append(out, ".progress");
    strbuf_append(out, "\",\"version\":\"2\",\"eventBody\":");
    if (config)
        strbuf_append_len(out, lc->config_head, lc->config_head_len);
    else
        strbuf_append_len(out, lc->progress_head, lc->progress_head_len);
    strbuf_append_int64(out, lc->version);
    if (config)
        strbuf_append_len(out, lc->config_tail, lc->config_tail_len);
    else
        strbuf_append_len(out, lc->progress_tail, lc->progress_tail_len);
    strbuf_append(out, ",\"metadata\":{\"CorrelationId\":\"00000000-0000-4000-8000-");
    strbuf_append_hex(out, ++load->corr, 12);
    strbuf_append(out, "\",\"gcsimSentUs\":");
    strbuf_append_int64(out, now_epoch_us());
    strbuf_append(out, "}}");
}

static int readers_behind(const struct gcsim *sim)
{
    for (size_t i = 0; i < sim->channels->count; i++) {
        const struct wsconn *conn = sim->channels->items[i]->conn;
        if (conn && conn->queued_bytes > LOAD_MAX_QUEUED_BYTES)
            return 1;
    }
    return 0;
}

void load_tick(struct gcsim *sim, int64_t now_ms)
{
    struct load *load = sim->load;
    if (!load_active(load))
        return;
    int64_t elapsed = now_ms - load->started_ms;
    if (elapsed >= (int64_t)sim->opts.load_seconds * 1000) {
        double secs = (double)elapsed / 1000.0;
        load->ended_ms = now_ms;
        fprintf(stderr, "gcsim load: sent %llu notifications in %.1f s (%.0f/s)\n",
                (unsigned long long)load->generated, secs, (double)load->generated / secs);
        fflush(stderr);
        return;
    }
    uint64_t due = (uint64_t)((double)sim->opts.load_rate * (double)elapsed / 1000.0);
    uint64_t owed = due - load->owed_base > load->generated ? due - load->owed_base - load->generated : 0;
    /* Never burst more than 50 ms of traffic to catch up; forgive the rest. */
    uint64_t burst = (uint64_t)sim->opts.load_rate / 20 + 1;
    if (owed > burst) {
        load->owed_base += owed - burst;
        owed = burst;
    }
    struct strbuf frame = {0};
    /* Checked per frame: at an offered rate far above what the reader takes, a check
     * per tick let a whole burst queue past the bound at once. */
    for (uint64_t k = 0; k < owed && !readers_behind(sim); k++) {
        build_one(sim, load, &frame);
        for (size_t i = 0; i < sim->channels->count; i++) {
            struct wsconn *conn = sim->channels->items[i]->conn;
            if (conn) {
                wsconn_enqueue(conn, frame.data, frame.len, 1);
                load->frames++;
            }
        }
        load->generated++;
    }
    strbuf_free(&frame);
}
