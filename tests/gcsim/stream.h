/*
 * The life of a channel's socket: attach (a second socket kicks the first), heartbeats,
 * ping/pong, socket_closing with a grace period, eviction and expiry.
 *
 * Contract: called on the service thread with monotonic ms. Removing a channel here also
 * frees it; its socket (if any) is closed and forgets the channel first.
 */
#ifndef GCSIM_STREAM_H
#define GCSIM_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "tests/gcsim/gcsim.h"
#include "tests/gcsim/wsconn.h"

void stream_attach(struct gcsim *sim, struct channel *ch, struct wsconn *conn, int64_t now_ms);
void stream_detach(struct gcsim *sim, struct wsconn *conn);
void stream_on_text(struct gcsim *sim, struct wsconn *conn, const char *text, size_t len,
                    int64_t now_ms);
/* Sends v2.system.no_longer_subscribed.{id}, closes the socket, removes the channel. */
void stream_evict(struct gcsim *sim, struct channel *ch);
/* Closes the socket with 1001 and removes the channel (HEAD then answers 404). */
void stream_expire(struct gcsim *sim, struct channel *ch);
void stream_socket_closing(struct gcsim *sim, struct channel *ch, int64_t grace_ms,
                           int64_t now_ms);
void stream_tick(struct gcsim *sim, int64_t now_ms);

#endif
