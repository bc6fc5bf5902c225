/*
 * config_values.c - typed values read from scalars: durations, sizes, numbers,
 * booleans, CIDRs and lists, each checked with its path.
 *
 * Included by config.c (as config_target.c is): it uses the parser, the
 * sink and the helpers config.c defines, which stay private to it.
 */
/* ---- typed values -------------------------------------------------------- */

/* Reads a string that must be there; null is reported as "expected WHAT". */
static bool read_required(parser *p, const char *path, const char *what, bool secret, scalar *v)
{
    if (!read_scalar(p, path, what, secret, v))
        return false;
    if (v->s == NULL) {
        report(&p->out, &v->mark, path, "expected %s; got nothing", what);
        return false;
    }
    return true;
}

/* Digits only, at most max. */
static bool parse_uint(const char *s, size_t n, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!hr_is_digit(s[i]))
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > max)
            return false;
    }
    *out = v;
    return true;
}

static void read_int(parser *p, const char *path, int min, int max, int *out)
{
    char brief[BRIEF_LEN];
    uint64_t v;
    scalar sc;
    if (!read_required(p, path, "a whole number", false, &sc))
        return;
    if (parse_uint(sc.s, sc.len, (uint64_t)max, &v) && v >= (uint64_t)min)
        *out = (int)v;
    else
        report(&p->out, &sc.mark, path, "expected a whole number from %d to %d; got %s", min, max,
               quote(sc.s, sc.len, brief, sizeof(brief)));
    free(sc.s);
}

/* "500ms", "10s", "2m", "1h" or a number of seconds; with days, "90d"
 * too (the table's last unit: without days it is left out). */
static bool parse_duration(const char *s, size_t n, bool days, int64_t *ms)
{
    static const hr_unit units[] = {{"", 1000},       {"s", 1000},    {"ms", 1},
                                    {"m", 60 * 1000}, {"h", 3600000}, {"d", DAY_MS}};
    uint64_t v;
    if (!hr_unit_parse(s, n, units, sizeof(units) / sizeof(units[0]) - !days, &v))
        return false;
    *ms = (int64_t)v;
    return true;
}

static void read_duration(parser *p, const char *path, int64_t *out, yaml_mark_t *mark)
{
    char brief[BRIEF_LEN];
    int64_t ms = 0;
    scalar sc;
    if (!read_required(p, path, "a duration", false, &sc))
        return;
    *mark = sc.mark;
    if (parse_duration(sc.s, sc.len, false, &ms) && ms >= 1 && ms <= MAX_DURATION_MS)
        *out = ms;
    else
        report(&p->out, &sc.mark, path,
               "expected a duration from 1ms to 24h, such as 500ms, 10s, 2m or 1h; got %s",
               quote(sc.s, sc.len, brief, sizeof(brief)));
    free(sc.s);
}

/*
 * A retention duration: 1s to 3650d, days allowed; with forever, also
 * "forever" or 0, which give 0 (keep forever).
 */
static void read_retention(parser *p, const char *path, bool forever, int64_t *out)
{
    char brief[BRIEF_LEN];
    int64_t ms = 0;
    scalar sc;
    if (!read_required(p, path, "a duration", false, &sc))
        return;
    if (forever && (eqn(sc.s, sc.len, "forever") || eqn(sc.s, sc.len, "0")))
        *out = 0;
    else if (parse_duration(sc.s, sc.len, true, &ms) && ms >= MIN_RETENTION_MS &&
             ms <= MAX_RETENTION_MS)
        *out = ms;
    else
        report(&p->out, &sc.mark, path,
               "expected a duration from 1s to 3650d, such as 90d, 12h or 10m%s; got %s",
               forever ? ", or forever" : "", quote(sc.s, sc.len, brief, sizeof(brief)));
    free(sc.s);
}

static void read_size(parser *p, const char *path, size_t max, size_t *out)
{
    char brief[BRIEF_LEN];
    uint64_t v;
    scalar sc;
    if (!read_required(p, path, "a size", false, &sc))
        return;
    if (hr_size_parse(sc.s, sc.len, &v) && v <= max)
        *out = (size_t)v;
    else
        report(&p->out, &sc.mark, path,
               "expected a size from 0 to %zu bytes, such as 4096, 4KiB or 1MiB; got %s", max,
               quote(sc.s, sc.len, brief, sizeof(brief)));
    free(sc.s);
}

static void read_bool(parser *p, const char *path, bool *out)
{
    char brief[BRIEF_LEN];
    scalar sc;
    if (!read_required(p, path, "true or false", false, &sc))
        return;
    if (eqn(sc.s, sc.len, "true") || eqn(sc.s, sc.len, "True") || eqn(sc.s, sc.len, "TRUE"))
        *out = true;
    else if (eqn(sc.s, sc.len, "false") || eqn(sc.s, sc.len, "False") || eqn(sc.s, sc.len, "FALSE"))
        *out = false;
    else
        report(&p->out, &sc.mark, path, "expected true or false; got %s",
               quote(sc.s, sc.len, brief, sizeof(brief)));
    free(sc.s);
}

/* Checks one item of a string list; true keeps it. */
typedef bool (*item_fn)(parser *p, const char *path, const scalar *item);

/*
 * Reads a string or a list of strings, appending to out the items that
 * check accepts. Null is an empty list. Each item is named "PATH[i]" in
 * messages, or PATH when the value is a single string.
 */
static void read_list(parser *p, const char *path, hr_strlist *out, item_fn check, bool secret)
{
    char ipath[PATH_LEN];
    yaml_mark_t start;
    scalar sc;
    size_t n = 0;

    if (!peek(p))
        return;
    if (p->ev.type == YAML_SCALAR_EVENT) {
        if (read_scalar(p, path, "a string", secret, &sc) && sc.s != NULL) {
            if (check(p, path, &sc))
                strlist_add(out, sc.s);
            else
                free(sc.s);
        }
        return;
    }
    if (begin(p, YAML_SEQUENCE_START_EVENT, path, "a string or a list of strings", secret,
              &start) != 1)
        return;
    while (next_item(p, path, &n, HR_CONFIG_MAX_ITEMS, "items")) {
        snprintf(ipath, sizeof(ipath), "%s[%zu]", path, n - 1);
        if (!read_scalar(p, ipath, "a string", secret, &sc))
            continue;
        if (sc.s == NULL) {
            report(&p->out, &sc.mark, ipath, "expected a string; got nothing");
            continue;
        }
        if (check(p, ipath, &sc))
            strlist_add(out, sc.s);
        else
            free(sc.s);
    }
}

/* read_list for values that are not secret (they may be quoted). */
static void read_strlist(parser *p, const char *path, hr_strlist *out, item_fn check)
{
    read_list(p, path, out, check, false);
}
