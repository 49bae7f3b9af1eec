/*
 * OAuth client-credentials tokens and the per-token REST rate limit.
 *
 * Contract: one OAuth client (id and secret) is accepted. oauth_issue() answers the
 * token endpoint: it returns the HTTP status and fills body with the platform's JSON
 * (success or the {"error","description","error_description"} shape). oauth_check()
 * validates an "Authorization: Bearer" header and counts the request against the
 * token's sliding 60 s window. Times are monotonic ms passed in by the caller.
 */
#ifndef GCSIM_OAUTH_H
#define GCSIM_OAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

struct oauth;

enum oauth_verdict {
    OAUTH_OK = 0,
    OAUTH_UNAUTHORIZED,  /* missing, unknown, expired or revoked token */
    OAUTH_RATE_LIMITED,
};

struct oauth *oauth_create(const char *client_id, const char *client_secret,
                           int64_t lifetime_s, int rate_limit_per_minute, uint64_t noise);
void oauth_destroy(struct oauth *oauth);

int oauth_issue(struct oauth *oauth, const char *authorization, const char *body,
                int64_t now_ms, struct strbuf *response);

/* why (for 401) names the reason; retry_after_s is set for 429. */
enum oauth_verdict oauth_check(struct oauth *oauth, const char *authorization, int64_t now_ms,
                               const char **why, int *retry_after_s);
void oauth_revoke_all(struct oauth *oauth);
size_t oauth_token_count(const struct oauth *oauth);
int oauth_rate_limit(const struct oauth *oauth);

#endif
