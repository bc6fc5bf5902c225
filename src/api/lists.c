/*
 * lists.c - the lists paged by key rather than by id:
 *
 *   GET /api/v1/stages     ?last_result= ?limit= ?cursor=
 *   GET /api/v1/jobs       ?last_result= ?limit= ?cursor=
 *   GET /api/v1/packages   ?repository=  ?limit= ?cursor=
 *
 * Each answers {<list>: [...], "next_cursor": "..." or null}, in key order,
 * limit rows at most (default HR_DEFAULT_API_PAGE, at most
 * HR_MAX_API_PAGE), so that its cost does not grow with the rows stored;
 * next_cursor (api/cursor.h) is the page's last key.
 */
#include "api/api.h"

#include "api/cursor.h"
#include "core/limits.h"
#include "store/json.h"

#include <stdlib.h>
#include <string.h>

/* One list: its name in the answer, the fields of its key, and the filter
 * parameter it takes beside limit and cursor. */
typedef struct key_list {
    const char *name;
    const char *key[3];
    size_t nkey;
    const char *filter; /* "last_result" or "repository" */
    int (*page)(hr_store *s, const hr_key_query *q, json_t **out, int *more, hr_error *err);
} key_list;

static const key_list stages = {
    "stages", {"pipeline", "stage"}, 2, "last_result", hr_store_list_stages};
static const key_list jobs = {
    "jobs", {"source", "job", "branch"}, 3, "last_result", hr_store_list_jobs};
static const key_list packages = {
    "packages", {"repository", "package"}, 2, "repository", hr_store_page_packages};

static void list(hr_http_req *req, hr_api *api, const key_list *l)
{
    hr_key_query q = {0};
    long long limit = HR_DEFAULT_API_PAGE;
    char buf[HR_MAX_API_CURSOR / 2 + 1];
    const char *cursor = hr_http_query(req, "cursor");
    const char *filter = hr_http_query(req, l->filter);
    json_t *items = NULL, *out;
    int more = 0;
    hr_error err;

    if (hr_api_query_int(req, "limit", 1, HR_MAX_API_PAGE, &limit) < 0)
        return;
    if (cursor != NULL) {
        if (hr_api_cursor_decode(cursor, strlen(cursor), buf, sizeof(buf), q.after, l->nkey) < 0) {
            hr_http_reply_error(req, 400,
                                "query parameter cursor: expected the next_cursor of an earlier "
                                "page of this list");
            return;
        }
        q.nafter = l->nkey;
    }
    if (filter != NULL && strcmp(l->filter, "last_result") == 0)
        q.last_result = filter;
    else
        q.repository = filter;
    q.limit = (size_t)limit;
    if (l->page(api->store, &q, &items, &more, &err) != HR_OK) {
        hr_http_reply_error(req, err.code == HR_EINVAL ? 400 : 500, err.msg);
        return;
    }
    out = json_pack("{s:o}", l->name, items);
    json_object_set_new(out, "next_cursor", json_null());
    if (more && json_array_size(items) > 0) {
        const json_t *last = json_array_get(items, json_array_size(items) - 1);
        const char *parts[3];
        char *next;
        /* A null field (a job without a branch) is stored as "". */
        for (size_t i = 0; i < l->nkey; i++) {
            const char *v = json_string_value(json_object_get(last, l->key[i]));
            parts[i] = v != NULL ? v : "";
        }
        next = hr_api_cursor_encode(parts, l->nkey);
        if (next != NULL)
            json_object_set_new(out, "next_cursor", json_string(next));
        free(next);
    }
    hr_http_reply_json(req, 200, out);
}

void hr_api_list_stages(hr_http_req *req, void *ctx)
{
    list(req, ctx, &stages);
}

void hr_api_list_jobs(hr_http_req *req, void *ctx)
{
    list(req, ctx, &jobs);
}

void hr_api_list_packages(hr_http_req *req, void *ctx)
{
    list(req, ctx, &packages);
}
