/*
 * The client-side REST rate budget: at most N calls in any rolling minute, plus a
 * pause that a 429's Retry-After imposes on every call.
 *
 * The platform allows 300 requests per minute per client-credentials token and
 * answers 429 beyond that; the relay keeps its own budget below that limit so it
 * normally never sees a 429. The budget is a sliding-window log of the last N
 * reservations rather than a refilling bucket: a bucket that starts full lets up to
 * 2N calls through in one rolling minute (a full burst, then a minute of refill),
 * which would break the very limit the budget exists to respect.
 *
 * Contract: the caller passes the time (monotonic milliseconds), so tests inject
 * any clock. rest_budget_reserve() either takes a slot and returns 0, or takes
 * nothing and returns how long to wait before asking again. Thread-safe: one budget
 * may be shared by every client that uses the same token.
 */
#ifndef CRELAY_CONSUMER_REST_BUDGET_H
#define CRELAY_CONSUMER_REST_BUDGET_H

#include <stddef.h>
#include <stdint.h>

#define REST_BUDGET_WINDOW_MS 60000

struct rest_budget;

/* per_minute: calls allowed in any rolling minute, 1..100000. */
struct rest_budget *rest_budget_create(int per_minute, char *errstr, size_t errstr_size);
void rest_budget_destroy(struct rest_budget *budget);

/* 0: a call may go now (and is counted); > 0: milliseconds to wait, nothing counted. */
int64_t rest_budget_reserve(struct rest_budget *budget, int64_t now_ms);

/* Holds every reservation until until_ms (a 429's Retry-After); an earlier pause
 * never shortens a later one. */
void rest_budget_pause_until(struct rest_budget *budget, int64_t until_ms);
/* End of the current pause, or 0 when none was ever set. */
int64_t rest_budget_paused_until(struct rest_budget *budget);

/* Calls counted in the minute that ends at now_ms. */
int rest_budget_used(struct rest_budget *budget, int64_t now_ms);
int rest_budget_limit(const struct rest_budget *budget);

#endif
