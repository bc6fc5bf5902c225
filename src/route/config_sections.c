/*
 * config_sections.c - the jenkins:, packages: and retention: sections.
 *
 * Included by config.c (as config_target.c is): it uses the parser, the
 * sink and the helpers config.c defines, which stay private to it.
 */
static void parse_jenkins(parser *p)
{
    static const char *const keys[] = {"token", "tcp", "udp", "redact", "keep", NULL};
    hr_jenkins_settings *j = &p->c->jenkins;
    char path[PATH_LEN];
    yaml_mark_t start;
    key_mask seen = 0;
    scalar key;

    if (begin(p, YAML_MAPPING_START_EVENT, "jenkins", "a mapping", false, &start) != 1)
        return;
    while (next_key(p, "jenkins", &key)) {
        int i = known_key(p, "jenkins", &key, keys, &seen);
        sub_path(path, sizeof(path), "jenkins", i >= 0 ? keys[i] : "");
        switch (i) {
        case 0:
            read_token(p, path, &j->token);
            break;
        case 1:
            read_listen(p, path, &j->tcp);
            break;
        case 2:
            read_listen(p, path, &j->udp);
            break;
        case 3:
            j->redact_set = true;
            read_strlist(p, path, &j->redact, item_glob);
            break;
        case 4:
            read_strlist(p, path, &j->keep, item_glob);
            break;
        default:
            break;
        }
        free(key.s);
    }
}

/* A repository or package name: a name that is not "." or "..", since it
 * is a part of the API's paths. */
static bool read_package_name(parser *p, const char *path, char **out)
{
    scalar v;
    if (!read_required(p, path, "a name", false, &v))
        return false;
    if (!check_name(&p->out, &v.mark, path, v.s, v.len)) {
        free(v.s);
        return false;
    }
    if (strcmp(v.s, ".") == 0 || strcmp(v.s, "..") == 0) {
        report(&p->out, &v.mark, path, "\".\" and \"..\" are not names");
        free(v.s);
        return false;
    }
    *out = v.s;
    return true;
}

static void parse_package_decl(parser *p, const char *path, hr_repository_decl *r, size_t idx)
{
    static const char *const keys[] = {"name", "token", NULL};
    hr_package_decl *d = &r->packages[idx];
    char kpath[PATH_LEN];
    yaml_mark_t start;
    key_mask seen = 0;
    scalar key;

    if (begin(p, YAML_MAPPING_START_EVENT, path, "a mapping", false, &start) != 1)
        return;
    while (next_key(p, path, &key)) {
        int i = known_key(p, path, &key, keys, &seen);
        sub_path(kpath, sizeof(kpath), path, i >= 0 ? keys[i] : "");
        if (i == 0 && read_package_name(p, kpath, &d->name)) {
            for (size_t k = 0; k < idx; k++)
                if (r->packages[k].name != NULL && strcmp(r->packages[k].name, d->name) == 0)
                    report(&p->out, &key.mark, kpath, "\"%s\" is already declared", d->name);
        } else if (i == 1) {
            read_token(p, kpath, &d->token);
        }
        free(key.s);
    }
    missing_keys(p, &start, path, keys, 1u, seen);
}

static void parse_repository_decl(parser *p, const char *path, size_t idx)
{
    static const char *const keys[] = {"name", "token", "packages", NULL};
    hr_packages_settings *ps = &p->c->packages;
    hr_repository_decl *r = &ps->repositories[idx];
    char kpath[PATH_LEN], ipath[PATH_LEN + 24];
    yaml_mark_t start, lstart;
    key_mask seen = 0;
    scalar key;

    if (begin(p, YAML_MAPPING_START_EVENT, path, "a mapping", false, &start) != 1)
        return;
    while (next_key(p, path, &key)) {
        int i = known_key(p, path, &key, keys, &seen);
        sub_path(kpath, sizeof(kpath), path, i >= 0 ? keys[i] : "");
        if (i == 0 && read_package_name(p, kpath, &r->name)) {
            for (size_t k = 0; k < idx; k++)
                if (ps->repositories[k].name != NULL &&
                    strcmp(ps->repositories[k].name, r->name) == 0)
                    report(&p->out, &key.mark, kpath, "\"%s\" is already declared", r->name);
        } else if (i == 1) {
            read_token(p, kpath, &r->token);
        } else if (i == 2 && begin(p, YAML_SEQUENCE_START_EVENT, kpath, "a list of packages", false,
                                   &lstart) == 1) {
            size_t n = 0;
            while (next_item(p, kpath, &n, HR_CONFIG_MAX_ITEMS, "packages")) {
                r->packages = hr_realloc(r->packages, n * sizeof(*r->packages));
                memset(&r->packages[n - 1], 0, sizeof(*r->packages));
                r->npackages = n;
                snprintf(ipath, sizeof(ipath), "%s[%zu]", kpath, n - 1);
                parse_package_decl(p, ipath, r, n - 1);
            }
        }
        free(key.s);
    }
    missing_keys(p, &start, path, keys, 1u, seen);
}

static void parse_packages(parser *p)
{
    static const char *const keys[] = {"token", "create", "repositories", NULL};
    hr_packages_settings *ps = &p->c->packages;
    char path[PATH_LEN], ipath[PATH_LEN + 24];
    yaml_mark_t start, lstart;
    key_mask seen = 0;
    scalar key;

    if (begin(p, YAML_MAPPING_START_EVENT, "packages", "a mapping", false, &start) != 1)
        return;
    while (next_key(p, "packages", &key)) {
        int i = known_key(p, "packages", &key, keys, &seen);
        sub_path(path, sizeof(path), "packages", i >= 0 ? keys[i] : "");
        if (i == 0) {
            read_token(p, path, &ps->token);
        } else if (i == 1) {
            read_bool(p, path, &ps->create);
        } else if (i == 2 && begin(p, YAML_SEQUENCE_START_EVENT, path, "a list of repositories",
                                   false, &lstart) == 1) {
            size_t n = 0;
            while (next_item(p, path, &n, HR_CONFIG_MAX_ITEMS, "repositories")) {
                ps->repositories = hr_realloc(ps->repositories, n * sizeof(*ps->repositories));
                memset(&ps->repositories[n - 1], 0, sizeof(*ps->repositories));
                ps->nrepositories = n;
                snprintf(ipath, sizeof(ipath), "%s[%zu]", path, n - 1);
                parse_repository_decl(p, ipath, n - 1);
            }
        }
        free(key.s);
    }
}

static void parse_retention(parser *p)
{
    static const char *const keys[] = {"events", "attempts", "interval", NULL};
    hr_retention_settings *r = &p->c->retention;
    char path[PATH_LEN];
    yaml_mark_t start;
    key_mask seen = 0;
    scalar key;

    if (begin(p, YAML_MAPPING_START_EVENT, "retention", "a mapping", false, &start) != 1)
        return;
    while (next_key(p, "retention", &key)) {
        int i = known_key(p, "retention", &key, keys, &seen);
        sub_path(path, sizeof(path), "retention", i >= 0 ? keys[i] : "");
        if (i == 0)
            read_retention(p, path, true, &r->events_ms);
        else if (i == 1)
            read_retention(p, path, true, &r->attempts_ms);
        else if (i == 2)
            read_retention(p, path, false, &r->interval_ms);
        free(key.s);
    }
}
