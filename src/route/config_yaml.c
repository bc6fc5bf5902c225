/*
 * config_yaml.c - the YAML reader: libyaml's events walked with positions, mappings
 * and sequences opened and closed, scalars read with ${VAR} replaced, and
 * unknown or duplicate keys reported.
 *
 * Included by config.c (as config_target.c is): it uses the parser, the
 * sink and the helpers config.c defines, which stay private to it.
 */
/* ---- the YAML reader ---------------------------------------------------- */

/* A route's target name, checked once every target is known. */
typedef struct ref {
    char *path; /* "routes[0].targets[1]" */
    char *name;
    yaml_mark_t mark;
} ref;

typedef struct parser {
    sink out;
    yaml_parser_t yp;
    yaml_event_t ev;
    bool have;    /* ev holds an event not consumed yet */
    bool stopped; /* a syntax error or a bound: no more events */
    int depth;
    const char *text;
    size_t len;
    hr_config *c;
    ref *refs;
    size_t nrefs;
} parser;

/* One scalar, after ${VAR} substitution. */
typedef struct scalar {
    char *s; /* new, NUL-terminated; NULL for null (an empty plain scalar, ~ or null) */
    size_t len;
    yaml_mark_t mark;
} scalar;

/* The line and column of byte offset in the input (libyaml gives reader
 * errors, such as invalid UTF-8, as an offset only). */
static yaml_mark_t mark_at(const parser *p, size_t offset)
{
    yaml_mark_t m = {offset, 0, 0};
    size_t line_start = 0;
    if (offset > p->len)
        offset = p->len;
    for (size_t i = 0; i < offset; i++)
        if (p->text[i] == '\n') {
            m.line++;
            line_start = i + 1;
        }
    m.column = offset - line_start;
    return m;
}

static void report_syntax_error(parser *p, const yaml_parser_t *y)
{
    const char *problem = y->problem != NULL ? y->problem : "invalid YAML";

    if (y->error == YAML_MEMORY_ERROR) {
        report(&p->out, NULL, NULL, "out of memory reading YAML");
    } else if (y->error == YAML_READER_ERROR) {
        yaml_mark_t m = mark_at(p, y->problem_offset);
        if (y->problem_value != -1)
            report(&p->out, &m, NULL, "%s (0x%X)", problem, (unsigned)y->problem_value);
        else
            report(&p->out, &m, NULL, "%s", problem);
    } else if (y->context != NULL) {
        report(&p->out, &y->problem_mark, NULL, "%s (%s at line %zu, column %zu)", problem,
               y->context, y->context_mark.line + 1, y->context_mark.column + 1);
    } else {
        report(&p->out, &y->problem_mark, NULL, "%s", problem);
    }
}

static void stop(parser *p)
{
    if (p->have)
        yaml_event_delete(&p->ev);
    p->have = false;
    p->stopped = true;
}

/*
 * Makes p->ev the next event, unless it already holds one. Refuses
 * anchors and aliases, and stops at a syntax error or too deep a nesting.
 * Returns false once stopped. (check_syntax has already looked for both;
 * they are checked again so that this reader's own recursion, skip_node,
 * is bounded by this function alone.)
 */
static bool peek(parser *p)
{
    const yaml_char_t *anchor = NULL;

    if (p->have)
        return true;
    if (p->stopped)
        return false;
    if (!yaml_parser_parse(&p->yp, &p->ev)) {
        report_syntax_error(p, &p->yp);
        stop(p);
        return false;
    }
    p->have = true;
    switch (p->ev.type) {
    case YAML_SCALAR_EVENT:
        anchor = p->ev.data.scalar.anchor;
        break;
    case YAML_SEQUENCE_START_EVENT:
        anchor = p->ev.data.sequence_start.anchor;
        p->depth++;
        break;
    case YAML_MAPPING_START_EVENT:
        anchor = p->ev.data.mapping_start.anchor;
        p->depth++;
        break;
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        p->depth--;
        break;
    default:
        break;
    }
    if (anchor != NULL || p->ev.type == YAML_ALIAS_EVENT)
        report(&p->out, &p->ev.start_mark, NULL,
               "YAML anchors (&) and aliases (*) are not allowed");
    if (p->depth > HR_CONFIG_MAX_DEPTH) {
        report(&p->out, &p->ev.start_mark, NULL, "nested deeper than %d levels",
               HR_CONFIG_MAX_DEPTH);
        stop(p);
        return false;
    }
    return true;
}

static void consume(parser *p)
{
    if (p->have)
        yaml_event_delete(&p->ev);
    p->have = false;
}

/* Consumes the whole node that starts at the next event. */
static void skip_node(parser *p)
{
    yaml_event_type_t t;
    if (!peek(p))
        return;
    t = p->ev.type;
    consume(p);
    if (t != YAML_SEQUENCE_START_EVENT && t != YAML_MAPPING_START_EVENT)
        return;
    while (peek(p) && p->ev.type != YAML_SEQUENCE_END_EVENT && p->ev.type != YAML_MAPPING_END_EVENT)
        skip_node(p);
    consume(p);
}

static bool is_null_event(const yaml_event_t *ev)
{
    const char *v;
    size_t n;
    if (ev->type != YAML_SCALAR_EVENT || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    v = (const char *)ev->data.scalar.value;
    n = ev->data.scalar.length;
    return n == 0 || eqn(v, n, "~") || eqn(v, n, "null") || eqn(v, n, "Null") || eqn(v, n, "NULL");
}

/* Describes the node at the next event for "expected X; got Y". The file's
 * own text is quoted (before substitution) unless secret. */
static const char *got(const parser *p, bool secret, char *buf, size_t size)
{
    const yaml_event_t *ev = &p->ev;
    switch (ev->type) {
    case YAML_MAPPING_START_EVENT:
        return "a mapping";
    case YAML_SEQUENCE_START_EVENT:
        return "a list";
    case YAML_ALIAS_EVENT:
        return "an alias";
    case YAML_SCALAR_EVENT:
        if (is_null_event(ev))
            return ev->data.scalar.length == 0 ? "nothing" : "null";
        if (secret)
            return "a string";
        return quote((const char *)ev->data.scalar.value, ev->data.scalar.length, buf, size);
    default:
        return "nothing";
    }
}

/* A growing string bounded by HR_CONFIG_MAX_BYTES. */
typedef struct buf {
    char *s;
    size_t n, cap;
} buf;

static bool buf_add(buf *b, const char *s, size_t n)
{
    if (n > HR_CONFIG_MAX_BYTES - b->n)
        return false;
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->s = hr_realloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
    return true;
}

/*
 * Replaces each ${VAR} in (s, n) by the environment variable VAR, and
 * "$${" by "${". Returns a new string of *out_len bytes, or NULL after
 * reporting the first problem (at m: a variable that is not set, a "${"
 * that is not a variable).
 */
static char *substitute(const parser *p, const yaml_mark_t *m, const char *s, size_t n,
                        size_t *out_len)
{
    buf b = {NULL, 0, 0};
    size_t i = 0, plain = 0;

    buf_add(&b, "", 0);
    while (i < n) {
        size_t name_start, name_end;
        char name[256];
        const char *value;

        if (s[i] == '$' && i + 2 < n && s[i + 1] == '$' && s[i + 2] == '{') {
            if (!buf_add(&b, s + plain, i - plain) || !buf_add(&b, "${", 2))
                goto too_long;
            i += 3;
            plain = i;
            continue;
        }
        if (!(s[i] == '$' && i + 1 < n && s[i + 1] == '{')) {
            i++;
            continue;
        }
        name_start = i + 2;
        for (name_end = name_start;
             name_end < n && (hr_is_alpha(s[name_end]) || s[name_end] == '_' ||
                              (name_end > name_start && hr_is_digit(s[name_end])));
             name_end++)
            ;
        if (name_end == name_start || name_end >= n || s[name_end] != '}' ||
            name_end - name_start >= sizeof(name)) {
            report(&p->out, m, NULL,
                   "\"${\" must start a variable such as ${NAME} (write \"$${\" for a literal "
                   "\"${\")");
            free(b.s);
            return NULL;
        }
        memcpy(name, s + name_start, name_end - name_start);
        name[name_end - name_start] = '\0';
        value = getenv(name);
        if (value == NULL) {
            report(&p->out, m, NULL, "environment variable %s is not set", name);
            free(b.s);
            return NULL;
        }
        if (!buf_add(&b, s + plain, i - plain) || !buf_add(&b, value, strlen(value)))
            goto too_long;
        i = name_end + 1;
        plain = i;
    }
    if (!buf_add(&b, s + plain, n - plain))
        goto too_long;
    *out_len = b.n;
    return b.s;
too_long:
    report(&p->out, m, NULL, "the value is longer than %u bytes once ${VAR} are replaced",
           HR_CONFIG_MAX_BYTES);
    free(b.s);
    return NULL;
}

/*
 * Reads a scalar into *out (null gives out->s == NULL). Another kind of
 * node is reported as "PATH: expected WHAT; got ..." and skipped. Returns
 * false when the value was not read (the problem is already reported).
 */
static bool read_scalar(parser *p, const char *path, const char *what, bool secret, scalar *out)
{
    char brief[BRIEF_LEN];
    char *s;
    size_t n;

    out->s = NULL;
    out->len = 0;
    if (!peek(p))
        return false;
    out->mark = p->ev.start_mark;
    if (p->ev.type == YAML_ALIAS_EVENT) {
        consume(p); /* peek reported it */
        return false;
    }
    if (p->ev.type != YAML_SCALAR_EVENT) {
        report(&p->out, &p->ev.start_mark, path, "expected %s; got %s", what,
               got(p, secret, brief, sizeof(brief)));
        skip_node(p);
        return false;
    }
    if (is_null_event(&p->ev)) {
        consume(p);
        return true;
    }
    s = substitute(p, &out->mark, (const char *)p->ev.data.scalar.value, p->ev.data.scalar.length,
                   &n);
    consume(p);
    if (s == NULL)
        return false;
    if (memchr(s, '\0', n) != NULL) {
        report(&p->out, &out->mark, path, "NUL bytes are not allowed");
        free(s);
        return false;
    }
    if (!is_utf8(s, n)) {
        report(&p->out, &out->mark, path,
               "not valid UTF-8 once environment variables are replaced");
        free(s);
        return false;
    }
    out->s = s;
    out->len = n;
    return true;
}

/*
 * Opens a mapping (start == YAML_MAPPING_START_EVENT) or a list. Returns
 * 1 when one was opened (read it with next_key or next_item), 0 for null
 * (an empty one, consumed), -1 for another node (reported as "PATH:
 * expected WHAT; got ..." and skipped). *mark is where the node starts.
 * secret: a string found instead is not quoted (a target written as its
 * URL, headers written as "Authorization: Bearer ...").
 */
static int begin(parser *p, yaml_event_type_t start, const char *path, const char *what,
                 bool secret, yaml_mark_t *mark)
{
    char brief[BRIEF_LEN];
    if (!peek(p))
        return -1;
    *mark = p->ev.start_mark;
    if (p->ev.type == start) {
        consume(p);
        return 1;
    }
    if (p->ev.type == YAML_SCALAR_EVENT && is_null_event(&p->ev)) {
        consume(p);
        return 0;
    }
    if (p->ev.type != YAML_ALIAS_EVENT)
        report(&p->out, &p->ev.start_mark, path, "expected %s; got %s", what,
               got(p, secret, brief, sizeof(brief)));
    skip_node(p);
    return -1;
}

/* Reads the next key of an open mapping into *key (new). Returns false at
 * the mapping's end (consumed). Keys that are not strings are reported and
 * skipped with their values. */
static bool next_key(parser *p, const char *path, scalar *key)
{
    char brief[BRIEF_LEN];
    for (;;) {
        if (!peek(p))
            return false;
        if (p->ev.type == YAML_MAPPING_END_EVENT) {
            consume(p);
            return false;
        }
        if (p->ev.type == YAML_SCALAR_EVENT && is_null_event(&p->ev)) {
            report(&p->out, &p->ev.start_mark, path, "expected a key; got %s",
                   got(p, false, brief, sizeof(brief)));
            skip_node(p);
            skip_node(p);
            continue;
        }
        if (!read_scalar(p, path, "a key", false, key)) {
            skip_node(p);
            continue;
        }
        return true;
    }
}

/*
 * Whether an open list has another item (false at its end, consumed).
 * *n counts the items: past max, the rest of the list is reported once
 * ("PATH: at most MAX WHAT") and skipped.
 */
static bool next_item(parser *p, const char *path, size_t *n, size_t max, const char *what)
{
    if (!peek(p))
        return false;
    if (p->ev.type == YAML_SEQUENCE_END_EVENT) {
        consume(p);
        return false;
    }
    if (*n < max) {
        (*n)++;
        return true;
    }
    report(&p->out, &p->ev.start_mark, path, "at most %zu %s are allowed", max, what);
    while (peek(p) && p->ev.type != YAML_SEQUENCE_END_EVENT)
        skip_node(p);
    consume(p);
    return false;
}

/*
 * Finds key in keys (NULL-terminated, at most 32). Returns its index, or
 * -1 for an unknown or repeated key, which is reported and whose value is
 * skipped. seen records the keys read so far.
 */
static int known_key(parser *p, const char *path, const scalar *key, const char *const *keys,
                     key_mask *seen)
{
    char brief[BRIEF_LEN], list[512];
    for (int i = 0; keys[i] != NULL; i++) {
        if (!eqn(key->s, key->len, keys[i]))
            continue;
        if (*seen & ((key_mask)1 << i)) {
            report(&p->out, &key->mark, path, "duplicate key \"%s\"", keys[i]);
            skip_node(p);
            return -1;
        }
        *seen |= (key_mask)1 << i;
        return i;
    }
    report(&p->out, &key->mark, path, "unknown key %s (expected %s)",
           quote(key->s, key->len, brief, sizeof(brief)), join(keys, list, sizeof(list)));
    skip_node(p);
    return -1;
}

static void missing_keys(parser *p, const yaml_mark_t *m, const char *path, const char *const *keys,
                         key_mask required, key_mask seen)
{
    for (int i = 0; keys[i] != NULL; i++)
        if ((required & ((key_mask)1 << i)) && !(seen & ((key_mask)1 << i)))
            report(&p->out, m, path, "missing required key \"%s\"", keys[i]);
}

/* Joins path and a key into out ("targets[0]" and "url" give
 * "targets[0].url"); a path too long for out is cut. */
static const char *sub_path(char *out, size_t size, const char *path, const char *key)
{
    if (snprintf(out, size, "%s%s%s", path != NULL ? path : "",
                 path != NULL && path[0] != '\0' ? "." : "", key) < 0)
        out[0] = '\0';
    return out;
}
