/*
 * keys.c - order keys rendered on the accepting thread (keys.h): each
 * plain order_by compiled once into its literal text and paths, then
 * walked over the event's document. Only reads after hr_key_plan_new.
 */
#include "route/keys.h"

#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The longest key the router keeps (route.c's MAX_ORDER_KEY_BYTES): a
 * longer one is left to it, which logs it. */
#define PLAIN_KEY_MAX 1024
/* Integers jq prints as their digits (it holds numbers as doubles). */
#define PLAIN_INT_MAX 1000000000000000LL

/* One step of a path: .name, or [index] when name is NULL. */
typedef struct step {
    char *name;
    size_t index;
} step;

/* Literal text (steps NULL), or a {{ path }} part. */
typedef struct part {
    char *text;
    size_t len;
    step *steps;
    size_t nsteps;
} part;

typedef struct tkey {
    part *parts;
    size_t n;
} tkey;

struct hr_key_plan {
    const hr_config *config; /* borrowed; only compared after hr_key_plan_new */
    size_t ntargets;
    tkey **targets; /* per target; NULL: no order_by, or not plain */
};

static void tkey_free(tkey *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++) {
        free(t->parts[i].text);
        for (size_t k = 0; k < t->parts[i].nsteps; k++)
            free(t->parts[i].steps[k].name);
        free(t->parts[i].steps);
    }
    free(t->parts);
    free(t);
}

static int ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int ident_char(char c)
{
    return ident_start(c) || (c >= '0' && c <= '9');
}

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* A part's text (s, n) as a plain path: ".a.b[0].c", blanks around; the
 * first name none of the fields the writer decides or adds (id,
 * transition, raw). 0 when it is anything else. */
static int parse_path(const char *s, size_t n, part *out)
{
    size_t i = 0;
    while (i < n && blank(s[i]))
        i++;
    while (n > i && blank(s[n - 1]))
        n--;
    while (i < n) {
        step st = {NULL, 0};
        if (s[i] == '.' && i + 1 < n && ident_start(s[i + 1])) {
            size_t b = ++i;
            while (i < n && ident_char(s[i]))
                i++;
            st.name = hr_strndup(s + b, i - b);
        } else if (s[i] == '[' && out->nsteps > 0) {
            size_t b = ++i;
            while (i < n && s[i] >= '0' && s[i] <= '9' && i - b < 9)
                st.index = st.index * 10 + (size_t)(s[i++] - '0');
            if (i == b || i >= n || s[i] != ']')
                return 0;
            i++;
        } else {
            return 0;
        }
        out->steps = hr_realloc(out->steps, (out->nsteps + 1) * sizeof(*out->steps));
        out->steps[out->nsteps++] = st;
    }
    if (out->nsteps == 0 || out->steps[0].name == NULL)
        return 0;
    return strcmp(out->steps[0].name, "id") != 0 && strcmp(out->steps[0].name, "transition") != 0 &&
           strcmp(out->steps[0].name, "raw") != 0;
}

static part *add_part(tkey *t)
{
    t->parts = hr_realloc(t->parts, (t->n + 1) * sizeof(*t->parts));
    memset(&t->parts[t->n], 0, sizeof(t->parts[0]));
    return &t->parts[t->n++];
}

/* The template as hr_template_compile splits it (a part ends at the first
 * "}}" after its "{{"), when every part is a plain path; else NULL. */
static tkey *parse_template(const char *text)
{
    tkey *t = hr_calloc(1, sizeof(*t));
    const char *p = text;
    while (*p != '\0') {
        const char *open = strstr(p, "{{");
        const char *close = open != NULL ? strstr(open + 2, "}}") : NULL;
        size_t lit = open != NULL ? (size_t)(open - p) : strlen(p);
        if (lit > 0) {
            part *l = add_part(t);
            l->text = hr_strndup(p, lit);
            l->len = lit;
        }
        if (open == NULL)
            break;
        if (close == NULL || !parse_path(open + 2, (size_t)(close - open - 2), add_part(t))) {
            tkey_free(t);
            return NULL;
        }
        p = close + 2;
    }
    return t;
}

hr_key_plan *hr_key_plan_new(const hr_config *c)
{
    hr_key_plan *p = hr_calloc(1, sizeof(*p));
    size_t plain = 0;
    p->config = c;
    p->ntargets = c->ntargets;
    p->targets = hr_calloc(c->ntargets + 1, sizeof(*p->targets));
    for (size_t i = 0; i < c->ntargets; i++) {
        if (c->targets[i].order_by != NULL)
            p->targets[i] = parse_template(c->targets[i].order_by);
        plain += p->targets[i] != NULL;
    }
    if (plain == 0) {
        hr_key_plan_free(p);
        return NULL;
    }
    return p;
}

void hr_key_plan_free(hr_key_plan *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->ntargets; i++)
        tkey_free(p->targets[i]);
    free(p->targets);
    free(p);
}

/* Appends what jq would print for the path's value (a string as is,
 * null as nothing, true, false, a small integer). 0 when it cannot tell,
 * or the text must not be a key (a line break or NUL: jq's template
 * refuses it, and the router logs that). */
static int append_value(const part *pt, const json_t *doc, char *buf, size_t *len)
{
    const json_t *v = doc;
    char num[32];
    const char *s = "";
    size_t n = 0;

    for (size_t i = 0; i < pt->nsteps && v != NULL && !json_is_null(v); i++) {
        if (pt->steps[i].name != NULL) {
            if (!json_is_object(v))
                return 0;
            v = json_object_get(v, pt->steps[i].name);
        } else {
            if (!json_is_array(v))
                return 0;
            v = json_array_get(v, pt->steps[i].index);
        }
    }
    if (json_is_string(v)) {
        s = json_string_value(v);
        n = json_string_length(v);
        if (memchr(s, '\0', n) != NULL || memchr(s, '\r', n) != NULL || memchr(s, '\n', n) != NULL)
            return 0;
    } else if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x >= PLAIN_INT_MAX || x <= -PLAIN_INT_MAX)
            return 0;
        n = (size_t)snprintf(num, sizeof(num), "%lld", (long long)x);
        s = num;
    } else if (json_is_boolean(v)) {
        s = json_is_true(v) ? "true" : "false";
        n = strlen(s);
    } else if (v != NULL && !json_is_null(v)) {
        return 0; /* a real, an object, an array: jq's own printing */
    }
    if (*len + n > PLAIN_KEY_MAX)
        return 0;
    memcpy(buf + *len, s, n);
    *len += n;
    return 1;
}

/* Target t's key over doc into *key (new; NULL when it is empty). 0 when
 * it is left to the writer. */
static int render(const tkey *t, const json_t *doc, char **key)
{
    char buf[PLAIN_KEY_MAX + 1];
    size_t len = 0;
    for (size_t i = 0; i < t->n; i++) {
        const part *pt = &t->parts[i];
        if (pt->steps == NULL) {
            if (len + pt->len > PLAIN_KEY_MAX)
                return 0;
            memcpy(buf + len, pt->text, pt->len);
            len += pt->len;
        } else if (!append_value(pt, doc, buf, &len)) {
            return 0;
        }
    }
    *key = len > 0 ? hr_strndup(buf, len) : NULL;
    return 1;
}

hr_route_keys *hr_key_plan_render(const hr_key_plan *p, const json_t *doc)
{
    hr_route_keys *k = hr_calloc(1, sizeof(*k));
    k->config = p->config;
    k->n = p->ntargets;
    k->decided = hr_calloc(p->ntargets + 1, sizeof(*k->decided));
    k->keys = hr_calloc(p->ntargets + 1, sizeof(*k->keys));
    for (size_t i = 0; i < p->ntargets; i++)
        if (p->targets[i] != NULL)
            k->decided[i] = render(p->targets[i], doc, &k->keys[i]);
    return k;
}

void hr_route_keys_free(hr_route_keys *k)
{
    if (k == NULL)
        return;
    for (size_t i = 0; i < k->n; i++)
        free(k->keys[i]);
    free(k->keys);
    free(k->decided);
    free(k);
}

bool hr_route_keys_get(const hr_route_keys *k, const hr_config *c, size_t ti, const char **key)
{
    if (k == NULL || k->config != c || ti >= k->n || !k->decided[ti])
        return false;
    *key = k->keys[ti];
    return true;
}
