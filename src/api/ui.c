/*
 * ui.c - serves the dashboard's files.
 *
 * The files are the same for everyone and hold no data: the page reads
 * everything through /api/v1 with the user's token, under the same rules
 * as any client. So /ui/ needs no token, and it answers a link opened
 * from another site (a chat, a ticket) as well.
 */
#include "api/ui.h"

#include <string.h>

const hr_ui_file *hr_ui_find(const char *name)
{
    if (*name == '\0')
        name = "index.html";
    for (size_t i = 0; i < hr_ui_nfiles; i++)
        if (strcmp(hr_ui_files[i].name, name) == 0)
            return &hr_ui_files[i];
    return NULL;
}

void hr_api_ui(hr_http_req *req, void *ctx)
{
    /* "/ui" and "/ui/" have no rest: both are the page, which names its
     * files by absolute paths. */
    const hr_ui_file *f = hr_ui_find(hr_http_path_rest(req));

    if (f == NULL) {
        hr_http_reply_error(req, 404, "no such file of the dashboard (see /ui/)");
        return;
    }
    hr_http_reply(req, 200, f->content_type, (const char *)f->data, f->len);
}
