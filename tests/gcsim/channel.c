#include "tests/gcsim/channel.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct channel_registry *channel_registry_create(int max_channels, int max_topics,
                                                 int64_t lifetime_ms)
{
    struct channel_registry *reg = calloc(1, sizeof(*reg));
    if (!reg)
        abort();
    reg->max_channels = max_channels;
    reg->max_topics = max_topics;
    reg->lifetime_ms = lifetime_ms;
    return reg;
}

void channel_registry_destroy(struct channel_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->count; i++)
        channel_free(reg->items[i]);
    free(reg->items);
    free(reg);
}

void channel_free(struct channel *ch)
{
    if (!ch)
        return;
    channel_unsubscribe_all(ch);
    free(ch->topics);
    free(ch);
}

/* Unconnected channels go first; among equals the least recently used. */
static struct channel *pick_victim(const struct channel_registry *reg)
{
    struct channel *best = NULL;
    for (size_t i = 0; i < reg->count; i++) {
        struct channel *ch = reg->items[i];
        if (!best || (!ch->conn && best->conn) ||
            (!ch->conn == !best->conn && ch->last_used_ms < best->last_used_ms))
            best = ch;
    }
    return best;
}

struct channel *channel_create(struct channel_registry *reg, struct prng *rng, int64_t now_ms,
                               struct channel **evicted)
{
    char suffix[27];
    *evicted = NULL;
    if (reg->count >= (size_t)reg->max_channels) {
        *evicted = pick_victim(reg);
        channel_remove(reg, *evicted);
    }
    struct channel *ch = calloc(1, sizeof(*ch));
    if (!ch)
        abort();
    do {
        prng_alnum(rng, suffix, 26);
        snprintf(ch->id, sizeof(ch->id), "streaming-0-%s", suffix);
    } while (channel_find(reg, ch->id));
    ch->created_ms = ch->last_used_ms = now_ms;
    ch->expires_ms = now_ms + reg->lifetime_ms;
    if (reg->count == reg->cap) {
        reg->cap = reg->cap ? reg->cap * 2 : 32;
        reg->items = realloc(reg->items, reg->cap * sizeof(*reg->items));
        if (!reg->items)
            abort();
    }
    reg->items[reg->count++] = ch;
    return ch;
}

struct channel *channel_find(const struct channel_registry *reg, const char *id)
{
    for (size_t i = 0; i < reg->count; i++)
        if (!strcmp(reg->items[i]->id, id))
            return reg->items[i];
    return NULL;
}

void channel_remove(struct channel_registry *reg, struct channel *ch)
{
    for (size_t i = 0; i < reg->count; i++) {
        if (reg->items[i] == ch) {
            memmove(&reg->items[i], &reg->items[i + 1], (reg->count - i - 1) * sizeof(ch));
            reg->count--;
            return;
        }
    }
}

int channel_is_subscribed(const struct channel *ch, const char *topic)
{
    for (size_t i = 0; i < ch->topic_count; i++)
        if (!strcmp(ch->topics[i], topic))
            return 1;
    return 0;
}

/* A lower-case UUID of exactly 36 characters, followed by end or '.'. */
static const char *skip_uuid(const char *p)
{
    for (int i = 0; i < 36; i++, p++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (*p != '-')
                return NULL;
        } else if (!isxdigit((unsigned char)*p)) {
            return NULL;
        }
    }
    return p;
}

int channel_topic_permitted(const char *topic, const char **reason)
{
    static const char campaigns[] = "v2.outbound.campaigns.";
    static const char lists[] = "v2.outbound.contactlists.";
    const char *rest;

    if (strlen(topic) > 200) {
        *reason = "topic name longer than 200 characters";
        return 0;
    }
    if (!strncmp(topic, "channel.metadata", 16) || !strncmp(topic, "v2.system.", 10)) {
        *reason = "system topics are delivered without a subscription";
        return 0;
    }
    if (!strncmp(topic, campaigns, sizeof(campaigns) - 1)) {
        rest = skip_uuid(topic + sizeof(campaigns) - 1);
        if (rest && (!*rest || !strcmp(rest, ".progress") || !strcmp(rest, ".stats")))
            return 1;
    } else if (!strncmp(topic, lists, sizeof(lists) - 1)) {
        rest = skip_uuid(topic + sizeof(lists) - 1);
        if (rest && !strcmp(rest, ".importstatus"))
            return 1;
    }
    *reason = "topic not found or not available";
    return 0;
}

int channel_subscribe(struct channel_registry *reg, struct channel *ch, const char **topics,
                      size_t n, int replace)
{
    size_t fresh = 0;
    /* Count what the result would hold before changing anything. */
    for (size_t i = 0; i < n; i++) {
        int seen = !replace && channel_is_subscribed(ch, topics[i]);
        for (size_t j = 0; j < i && !seen; j++)
            seen = !strcmp(topics[i], topics[j]);
        fresh += !seen;
    }
    if ((replace ? 0 : ch->topic_count) + fresh > (size_t)reg->max_topics)
        return -1;
    if (replace)
        channel_unsubscribe_all(ch);
    for (size_t i = 0; i < n; i++) {
        if (channel_is_subscribed(ch, topics[i]))
            continue;
        if (ch->topic_count == ch->topic_cap) {
            ch->topic_cap = ch->topic_cap ? ch->topic_cap * 2 : 16;
            ch->topics = realloc(ch->topics, ch->topic_cap * sizeof(*ch->topics));
            if (!ch->topics)
                abort();
        }
        ch->topics[ch->topic_count] = strdup(topics[i]);
        if (!ch->topics[ch->topic_count])
            abort();
        ch->topic_count++;
    }
    return 0;
}

void channel_unsubscribe_all(struct channel *ch)
{
    for (size_t i = 0; i < ch->topic_count; i++)
        free(ch->topics[i]);
    ch->topic_count = 0;
}

void channel_extend(struct channel_registry *reg, struct channel *ch, int64_t now_ms)
{
    ch->expires_ms = now_ms + reg->lifetime_ms;
    ch->last_used_ms = now_ms;
}
