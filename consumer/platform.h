/*
 * The platform client: HTTP calls to Genesys Cloud's REST API with client-credentials
 * OAuth, the client-side rate budget, and retries.
 *
 * What one call does (platform_request and every helper):
 *  - Gets a token when it has none or when the one it has is due for refresh:
 *    POST {login_url}/oauth/token with Basic auth and grant_type=client_credentials.
 *    A token is refreshed at expiry - refresh margin (the margin shrinks to half the
 *    lifetime for short-lived tokens) and never used past its expiry.
 *  - Waits for a slot in the REST budget (consumer/rest_budget), then sends the call
 *    with "Authorization: Bearer".
 *  - 401: refreshes the token once and sends the call once more.
 *  - 429: pauses the whole budget until Retry-After (integer seconds or HTTP-date;
 *    without the header, for a backoff delay) and retries the call.
 *  - 500, 502, 503, 504 and transport errors (refused, reset, timeout): retries
 *    after a full-jitter backoff delay.
 *    429s and transient errors together retry at most max_retries times per call.
 *  - Any other status returns to the caller. 2xx is success; otherwise errstr
 *    summarises the platform's error body (message, code, status, contextId) and
 *    the inin-correlation-id header, and the response holds the status and body.
 *
 * Secrets: neither the client secret nor a token ever appears in errstr or a log.
 *
 * Threads: a client is used by one thread at a time (it keeps one libcurl easy
 * handle, so consecutive calls reuse the connection). platform_client_cancel() and
 * platform_client_counters() are the exceptions: any thread may call them.
 */
#ifndef CRELAY_CONSUMER_PLATFORM_H
#define CRELAY_CONSUMER_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "consumer/backoff.h"
#include "consumer/rest_budget.h"
#include "util/strbuf.h"

#define PLATFORM_DEFAULT_TIMEOUT_MS        10000
#define PLATFORM_DEFAULT_REFRESH_MARGIN_S  60
#define PLATFORM_DEFAULT_BUDGET_PER_MINUTE 240
#define PLATFORM_MAX_BUDGET_PER_MINUTE     299 /* the platform allows 300 per token */
#define PLATFORM_DEFAULT_MAX_RETRIES       5
#define PLATFORM_DEFAULT_BACKOFF_MIN_MS    500
#define PLATFORM_DEFAULT_BACKOFF_MAX_MS    30000
#define PLATFORM_DEFAULT_MAX_RETRY_AFTER_S 180
#define PLATFORM_DEFAULT_USER_AGENT        "campaign-relay/1"
#define PLATFORM_CAMPAIGN_PAGE_SIZE        100
/* A listing that claims more pages than this is treated as broken. */
#define PLATFORM_MAX_CAMPAIGN_PAGES        10000

/* Zero or NULL fields take the defaults above. Strings are copied at create. */
struct platform_options {
    const char *api_url;        /* "https://api.mypurecloud.com", no trailing path */
    const char *login_url;      /* "https://login.mypurecloud.com" */
    const char *client_id;
    const char *client_secret;
    int request_timeout_ms;     /* whole request, connect included */
    int token_refresh_margin_s;
    int budget_per_minute;      /* 1..PLATFORM_MAX_BUDGET_PER_MINUTE */
    int max_retries;            /* per call; -1 means none */
    int backoff_min_ms;
    int backoff_max_ms;
    int max_retry_after_s;      /* a longer Retry-After returns the 429 to the caller */
    const char *user_agent;
    /* Optional: a budget shared with other clients of the same token (borrowed;
     * must outlive the client). NULL: the client makes its own. */
    struct rest_budget *shared_budget;
    /* Optional: random source of the retry backoff (tests). */
    backoff_random_fn backoff_random;
    void *backoff_random_opaque;
};

enum platform_result {
    PLATFORM_OK = 0,               /* a 2xx answer */
    PLATFORM_ERR_HTTP = -1,        /* a final non-2xx answer; the response holds it */
    PLATFORM_ERR_TRANSPORT = -2,   /* no answer after the retries (refused, timeout…) */
    PLATFORM_ERR_AUTH = -3,        /* the token endpoint refused the credentials */
    PLATFORM_ERR_CANCELLED = -4,   /* platform_client_cancel() interrupted the call */
    PLATFORM_ERR_INVALID = -5,     /* bad arguments (an id that is not an id…) */
};

/* The final answer of a call. Initialise with platform_response_init(); reusable. */
struct platform_response {
    long status;                 /* 0 when no answer arrived */
    struct strbuf body;
    char correlation_id[128];    /* inin-correlation-id */
    char content_type[128];
    int64_t retry_after_ms;      /* -1 when absent */
};

void platform_response_init(struct platform_response *response);
void platform_response_free(struct platform_response *response);

struct platform_counters {
    uint64_t calls;            /* API calls started by callers (not counting retries) */
    uint64_t calls_ok;         /* ended with 2xx */
    uint64_t calls_http_error; /* ended with another status */
    uint64_t calls_transport_error;
    uint64_t calls_auth_error; /* no token could be obtained for the call */
    uint64_t calls_cancelled;
    uint64_t requests_sent;    /* HTTP requests on the wire, API and token */
    uint64_t connections_opened; /* new connections; far below requests_sent when kept alive */
    uint64_t rate_limited;     /* 429 answers received */
    uint64_t retries;          /* resends after 429, 5xx, transport errors or 401 */
    uint64_t server_errors;    /* 5xx answers received */
    uint64_t unauthorized;     /* 401 answers to API calls */
    uint64_t token_refreshes;  /* tokens obtained */
    uint64_t token_failures;
    uint64_t budget_waits;     /* times a call waited for the budget */
    uint64_t budget_wait_ms;
};

struct platform_client;

struct platform_client *platform_client_create(const struct platform_options *options,
                                               char *errstr, size_t errstr_size);
void platform_client_destroy(struct platform_client *client);

/* Fetches a token now (startup checks); calls fetch one on demand anyway. */
enum platform_result platform_client_authenticate(struct platform_client *client, char *errstr,
                                                  size_t errstr_size);

/* Interrupts a call in progress on another thread (a transfer, a backoff or a budget
 * wait) and makes every later call return PLATFORM_ERR_CANCELLED. */
void platform_client_cancel(struct platform_client *client);
bool platform_client_cancelled(struct platform_client *client);

void platform_client_counters(struct platform_client *client, struct platform_counters *out);

/*
 * One API call. method: "GET", "PUT", "POST", "DELETE", "HEAD", "PATCH". path starts
 * with "/api/v2/" and may carry a query. body: JSON text or NULL (POST and PUT send an
 * empty body then). response may be NULL when the caller only needs the outcome.
 */
enum platform_result platform_request(struct platform_client *client, const char *method,
                                      const char *path, const char *body,
                                      struct platform_response *response, char *errstr,
                                      size_t errstr_size);

/*
 * Helpers. Each returns the raw JSON text of the answer in response->body; ids must
 * be platform ids (letters, digits, '-', '_', '.'), anything else is
 * PLATFORM_ERR_INVALID.
 */

/* Every campaign: walks GET /api/v2/outbound/campaigns?pageSize=100&pageNumber=K up to
 * pageCount (or while nextUri is present when pageCount is missing) and sets
 * response->body to one JSON array of all the pages' entities, in page order.
 * *pages (optional) receives the number of pages read. */
enum platform_result platform_list_campaigns(struct platform_client *client,
                                             struct platform_response *response, int *pages,
                                             char *errstr, size_t errstr_size);
enum platform_result platform_get_campaign(struct platform_client *client,
                                           const char *campaign_id,
                                           struct platform_response *response, char *errstr,
                                           size_t errstr_size);
/* campaign_json: a full Campaign with the current version (409 when it is stale). */
enum platform_result platform_put_campaign(struct platform_client *client,
                                           const char *campaign_id, const char *campaign_json,
                                           struct platform_response *response, char *errstr,
                                           size_t errstr_size);
enum platform_result platform_start_campaign(struct platform_client *client,
                                             const char *campaign_id,
                                             struct platform_response *response, char *errstr,
                                             size_t errstr_size);
enum platform_result platform_stop_campaign(struct platform_client *client,
                                            const char *campaign_id,
                                            struct platform_response *response, char *errstr,
                                            size_t errstr_size);
enum platform_result platform_get_import_status(struct platform_client *client,
                                                const char *contact_list_id,
                                                struct platform_response *response,
                                                char *errstr, size_t errstr_size);
enum platform_result platform_create_channel(struct platform_client *client,
                                             struct platform_response *response, char *errstr,
                                             size_t errstr_size);
/* topics_json: a JSON array [{"id":"topic"}…]; sent with ?ignoreErrors=true so one
 * rejected topic does not fail the rest (per-topic states come back in the body). */
enum platform_result platform_put_subscriptions(struct platform_client *client,
                                                const char *channel_id, const char *topics_json,
                                                struct platform_response *response,
                                                char *errstr, size_t errstr_size);
enum platform_result platform_get_subscriptions(struct platform_client *client,
                                                const char *channel_id,
                                                struct platform_response *response,
                                                char *errstr, size_t errstr_size);
/* *exists: true on 200, false on 404 (both return PLATFORM_OK). */
enum platform_result platform_head_channel(struct platform_client *client,
                                           const char *channel_id, bool *exists, char *errstr,
                                           size_t errstr_size);

const char *platform_result_name(enum platform_result result);

#endif
