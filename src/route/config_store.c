/*
 * config_store.c - the store: key of herald.yaml: the PostgreSQL database
 * herald keeps its store in, with the meaning of herald serve --store
 * (which wins over it, as --data does).
 *
 * Included by config.c, as config_target.c is, not compiled on its own: it
 * reads with config.c's YAML reader and reports through its sink. The URI
 * may hold a password (better ${VAR}, PGPASSWORD or ~/.pgpass), so no
 * message quotes it, nor anything libpq said about it that holds a part
 * of it.
 */

#include <libpq-fe.h>

#define STORE_EXPECTED "a PostgreSQL connection URI (postgresql://USER@HOST/DATABASE)"

/* Whether libpq's message about uri shows a part of its user and password
 * (the text between "://" and the last '@' before the host). */
static bool store_msg_shows_secret(const char *msg, const char *uri)
{
    const char *start = strstr(uri, "://");
    const char *at, *end;

    if (start == NULL)
        return false;
    start += 3;
    end = start + strcspn(start, "/?");
    at = NULL;
    for (const char *c = start; c < end; c++)
        if (*c == '@')
            at = c;
    if (at == NULL || at == start)
        return false;
    /* Any run of four characters of it found in the message is too many. */
    for (const char *c = start; c + 4 <= at; c++)
        for (const char *m = msg; *m != '\0'; m++)
            if (strncmp(m, c, 4) == 0)
                return true;
    return at - start < 4 && strstr(msg, "@") != NULL;
}

/* Checks uri as libpq will read it when the store opens. */
static bool check_store(const sink *s, const yaml_mark_t *m, const char *uri, size_t len)
{
    char *why = NULL;
    PQconninfoOption *opts;

    if (len == 0 ||
        (strncmp(uri, "postgresql://", 13) != 0 && strncmp(uri, "postgres://", 11) != 0)) {
        report(s, m, "store",
               "expected " STORE_EXPECTED "; a data folder is given with --data instead");
        return false;
    }
    opts = PQconninfoParse(uri, &why);
    if (opts == NULL) {
        char clean[200];
        size_t n = 0;
        /* One line, as every message of the file. */
        for (const char *c = why != NULL ? why : ""; *c != '\0' && n + 1 < sizeof(clean); c++)
            clean[n++] = *c == '\n' || *c == '\r' ? ' ' : *c;
        while (n > 0 && clean[n - 1] == ' ')
            n--;
        clean[n] = '\0';
        if (n == 0 || store_msg_shows_secret(clean, uri))
            report(s, m, "store", "libpq cannot read this connection URI");
        else
            report(s, m, "store", "libpq cannot read this connection URI: %s", clean);
        PQfreemem(why);
        return false;
    }
    PQconninfoFree(opts);
    return true;
}

static void parse_store(parser *p)
{
    scalar v;

    if (!read_scalar(p, "store", STORE_EXPECTED, true, &v) || v.s == NULL)
        return;
    if (check_store(&p->out, &v.mark, v.s, v.len)) {
        free(p->c->store);
        p->c->store = v.s;
        return;
    }
    free(v.s);
}
