#include "tests/gcsim/oauth.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "tests/gcsim/prng.h"

#define TOKEN_LEN 40

struct token {
    char value[TOKEN_LEN + 1];
    int64_t expires_ms;
    int revoked;
    int64_t *window; /* ring of request times, rate_limit entries */
    int window_len, window_head;
};

struct oauth {
    char *client_id;
    char *client_secret;
    int64_t lifetime_s;
    int rate_limit;
    struct prng rng;
    struct token *tokens;
    size_t count, cap;
};

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

struct oauth *oauth_create(const char *client_id, const char *client_secret,
                           int64_t lifetime_s, int rate_limit_per_minute, uint64_t noise)
{
    struct oauth *oauth = calloc(1, sizeof(*oauth));
    if (!oauth)
        abort();
    oauth->client_id = xstrdup(client_id);
    oauth->client_secret = xstrdup(client_secret);
    oauth->lifetime_s = lifetime_s;
    oauth->rate_limit = rate_limit_per_minute;
    prng_seed(&oauth->rng, noise);
    return oauth;
}

void oauth_destroy(struct oauth *oauth)
{
    if (!oauth)
        return;
    for (size_t i = 0; i < oauth->count; i++)
        free(oauth->tokens[i].window);
    free(oauth->tokens);
    free(oauth->client_id);
    free(oauth->client_secret);
    free(oauth);
}

static void error_json(struct strbuf *out, const char *error, const char *description)
{
    strbuf_append(out, "{\"error\":");
    strbuf_append_json_string(out, error);
    strbuf_append(out, ",\"description\":");
    strbuf_append_json_string(out, description);
    strbuf_append(out, ",\"error_description\":");
    strbuf_append_json_string(out, description);
    strbuf_append(out, "}");
}

/* Checks "Basic base64(id:secret)" against the configured client. */
static int basic_matches(const struct oauth *oauth, const char *authorization)
{
    char decoded[512];
    if (!authorization || strncasecmp(authorization, "Basic ", 6) != 0)
        return 0;
    int n = lws_b64_decode_string(authorization + 6, decoded, sizeof(decoded) - 1);
    if (n <= 0)
        return 0;
    decoded[n] = '\0';
    char *colon = strchr(decoded, ':');
    if (!colon)
        return 0;
    *colon = '\0';
    return !strcmp(decoded, oauth->client_id) && !strcmp(colon + 1, oauth->client_secret);
}

static int body_has_client_credentials(const char *body)
{
    /* Form-encoded pairs separated by '&'; look for an exact grant_type pair. */
    const char *p = body;
    while (p && *p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == strlen("grant_type=client_credentials") &&
            !strncmp(p, "grant_type=client_credentials", len))
            return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

int oauth_issue(struct oauth *oauth, const char *authorization, const char *body,
                int64_t now_ms, struct strbuf *response)
{
    if (!basic_matches(oauth, authorization)) {
        error_json(response, "invalid_client", "client authentication failed");
        return 401;
    }
    if (!body_has_client_credentials(body ? body : "")) {
        error_json(response, "unsupported_grant_type",
                   "grant_type must be client_credentials");
        return 400;
    }
    if (oauth->count == oauth->cap) {
        oauth->cap = oauth->cap ? oauth->cap * 2 : 8;
        oauth->tokens = realloc(oauth->tokens, oauth->cap * sizeof(*oauth->tokens));
        if (!oauth->tokens)
            abort();
    }
    struct token *t = &oauth->tokens[oauth->count++];
    memset(t, 0, sizeof(*t));
    prng_alnum(&oauth->rng, t->value, TOKEN_LEN);
    t->expires_ms = now_ms + oauth->lifetime_s * 1000;
    if (oauth->rate_limit > 0) {
        t->window = calloc((size_t)oauth->rate_limit, sizeof(*t->window));
        if (!t->window)
            abort();
    }
    strbuf_appendf(response,
                   "{\"access_token\":\"%s\",\"token_type\":\"bearer\",\"expires_in\":%lld}",
                   t->value, (long long)oauth->lifetime_s);
    return 200;
}

enum oauth_verdict oauth_check(struct oauth *oauth, const char *authorization, int64_t now_ms,
                               const char **why, int *retry_after_s)
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0) {
        *why = "missing bearer token";
        return OAUTH_UNAUTHORIZED;
    }
    const char *value = authorization + 7;
    struct token *t = NULL;
    for (size_t i = 0; i < oauth->count; i++)
        if (!strcmp(oauth->tokens[i].value, value))
            t = &oauth->tokens[i];
    if (!t) {
        *why = "unknown token";
        return OAUTH_UNAUTHORIZED;
    }
    if (t->revoked) {
        *why = "token revoked";
        return OAUTH_UNAUTHORIZED;
    }
    if (now_ms >= t->expires_ms) {
        *why = "token expired";
        return OAUTH_UNAUTHORIZED;
    }
    if (oauth->rate_limit <= 0)
        return OAUTH_OK;
    if (t->window_len == oauth->rate_limit) {
        int64_t oldest = t->window[t->window_head];
        if (now_ms - oldest < 60000) {
            *retry_after_s = (int)((oldest + 60000 - now_ms + 999) / 1000);
            return OAUTH_RATE_LIMITED;
        }
        t->window[t->window_head] = now_ms;
        t->window_head = (t->window_head + 1) % oauth->rate_limit;
    } else {
        t->window[(t->window_head + t->window_len) % oauth->rate_limit] = now_ms;
        t->window_len++;
    }
    return OAUTH_OK;
}

void oauth_revoke_all(struct oauth *oauth)
{
    for (size_t i = 0; i < oauth->count; i++)
        oauth->tokens[i].revoked = 1;
}

size_t oauth_token_count(const struct oauth *oauth)
{
    return oauth->count;
}

int oauth_rate_limit(const struct oauth *oauth)
{
    return oauth->rate_limit;
}
