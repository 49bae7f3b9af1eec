/*
 * Load mode: notifications at a target rate to every connected channel, for the benchmark.
 *
 * Contract: starts when the first subscribed socket connects and runs --load-seconds. Each
 * notification goes to every connected channel; a channel whose unsent queue is over a
 * bound holds generation back (so the reported rate is what readers really took).
 * At the end it prints "gcsim load: sent N notifications in S s (R/s)" to stderr.
 */
#ifndef GCSIM_LOAD_H
#define GCSIM_LOAD_H

#include <stdint.h>

#include "tests/gcsim/gcsim.h"

struct load *load_create(struct gcsim *sim);
void load_destroy(struct load *load);
int load_active(const struct load *load);
void load_on_socket_ready(struct gcsim *sim, int64_t now_ms);
void load_tick(struct gcsim *sim, int64_t now_ms);

#endif
