/*
 * Notification channels and their topic subscriptions, with the platform's limits.
 *
 * Contract: pure bookkeeping, no sockets. The registry owns its channels. A channel's
 * socket is an opaque pointer the WebSocket layer sets and clears. Limits: at most
 * max_channels channels (creating one more evicts the oldest, unconnected ones first, and
 * hands it back to the caller to close and free), at most max_topics topics per channel.
 * Times are monotonic ms passed in by the caller.
 */
#ifndef GCSIM_CHANNEL_H
#define GCSIM_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "tests/gcsim/prng.h"

#define CHANNEL_ID_MAX 48

struct wsconn;

struct channel {
    char id[CHANNEL_ID_MAX];
    int64_t created_ms;
    int64_t expires_ms;
    int64_t last_used_ms;
    char **topics;
    size_t topic_count, topic_cap;
    struct wsconn *conn;          /* the connected socket, or NULL */
    int64_t next_heartbeat_ms;
    int64_t stall_until_ms;       /* heartbeats and pongs withheld until then */
    int64_t close_at_ms;          /* socket_closing grace end; 0 = none */
};

struct channel_registry {
    struct channel **items;
    size_t count, cap;
    int max_channels;
    int max_topics;
    int64_t lifetime_ms;
};

struct channel_registry *channel_registry_create(int max_channels, int max_topics,
                                                 int64_t lifetime_ms);
void channel_registry_destroy(struct channel_registry *reg);

/* Creates a channel; when the registry was full, *evicted is the removed channel. */
struct channel *channel_create(struct channel_registry *reg, struct prng *rng, int64_t now_ms,
                               struct channel **evicted);
struct channel *channel_find(const struct channel_registry *reg, const char *id);
/* Takes the channel out of the registry (does not free it). */
void channel_remove(struct channel_registry *reg, struct channel *ch);
void channel_free(struct channel *ch);

int channel_is_subscribed(const struct channel *ch, const char *topic);
/* Returns 1 when topic may be subscribed; otherwise 0 and *reason says why. */
int channel_topic_permitted(const char *topic, const char **reason);
/* Adds topics (replace = drop the old ones first); -1 if the result exceeds max_topics
 * (the channel is then unchanged). Duplicates are kept once. */
int channel_subscribe(struct channel_registry *reg, struct channel *ch, const char **topics,
                      size_t n, int replace);
void channel_unsubscribe_all(struct channel *ch);
void channel_extend(struct channel_registry *reg, struct channel *ch, int64_t now_ms);

#endif
