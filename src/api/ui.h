/*
 * ui.h - the dashboard herald serves at /ui/ (ui.c): its files, built into
 * herald from ui/ by scripts/embed_ui.py.
 *
 *   GET /ui/ (and /ui)           the page (ui/index.html)
 *   GET /ui/<file>               its script and style sheet
 *
 * The page talks to herald only through /api/v1, as any client does, with
 * the API token the user types in; its overview's per-target counts come
 * from GET /api/v1/targets/health (api.c). docs/dashboard.md tells more.
 */
#ifndef HR_API_UI_H
#define HR_API_UI_H

#include "http/server.h"

#include <stddef.h>

/* One file of ui/ as the build embedded it. */
typedef struct hr_ui_file {
    const char *name;         /* the file's name under /ui/, such as "app.js" */
    const char *content_type; /* from its extension */
    const unsigned char *data;
    size_t len;
} hr_ui_file;

/* Generated (scripts/embed_ui.py): every file of ui/, sorted by name. */
extern const hr_ui_file hr_ui_files[];
extern const size_t hr_ui_nfiles;

/* The embedded file named name ("" is index.html), or NULL. */
const hr_ui_file *hr_ui_find(const char *name);

/* GET /ui and /ui/<file>: ctx is unused. */
void hr_api_ui(hr_http_req *req, void *ctx);

#endif
