/* POST /oauth/token: client-credentials grant (reference §1.3). */
#include "tests/gcsim/http.h"
#include "util/timeutil.h"

void rest_oauth_token(struct gcsim *sim, const struct http_request *req,
                      struct http_response *resp)
{
    strbuf_reset(&resp->body);
    resp->status = oauth_issue(sim->oauth, req->authorization, strbuf_cstr(&req->body),
                               time_mono_ms(), &resp->body);
    resp->content_type = "application/json";
}
