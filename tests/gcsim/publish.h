/*
 * Fan-out of notifications to connected channels, in the platform's envelope.
 *
 * Contract: a notification on topic T goes to every channel whose socket is connected and
 * that is subscribed to T (the stream is not durable: an unconnected channel misses it).
 * Every frame queued is written to the truth log with its kind. Envelope:
 * {"topicName","version":"2","eventBody",...,"metadata":{"CorrelationId"}}.
 */
#ifndef GCSIM_PUBLISH_H
#define GCSIM_PUBLISH_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "tests/gcsim/gcsim.h"
#include "util/strbuf.h"

void publish_envelope(struct strbuf *out, const char *topic, const char *body_json,
                      const char *correlation_id);
void publish_correlation_id(struct gcsim *sim, char out[PRNG_UUID_LEN]);

/* Queues text on ch's socket (if connected) and logs truth_fields (consumed; may be NULL)
 * with "channel" added. Returns 1 when queued. */
int publish_frame(struct gcsim *sim, struct channel *ch, const char *text, size_t len,
                  int fragments, cJSON *truth_fields);

void publish_campaign(struct gcsim *sim, struct campaign *c);
void publish_progress(struct gcsim *sim, const struct campaign *c);
void publish_stats(struct gcsim *sim, const struct campaign *c);
void publish_import(struct gcsim *sim, const struct contact_list *l);
/* A v2.system.* message (SystemMessage body) to one channel. */
void publish_system(struct gcsim *sim, struct channel *ch, const char *topic,
                    const char *type, const char *reason, const char *message);
/* {"topicName":"channel.metadata","eventBody":{"message":...}} to one channel. */
void publish_metadata(struct gcsim *sim, struct channel *ch, const char *message);

#endif
