/*
 * config_health.c - the circuit: mapping of herald.yaml, under delivery
 * (every target's) and in a target (its own), and how the two combine.
 *
 * Included by config.c (as config_target.c is), not compiled on its own:
 * it reads with config.c's YAML reader and reports through its sink.
 *
 *   circuit:
 *     failures: 10        # in a row, to open the circuit (0: never)
 *     probe_initial: 30s  # the first wait before a probe
 *     probe_max: 10m      # the longest wait between probes (doubling)
 *     disable_after: 3d   # failing this long disables the target (0: never)
 */

#define DEFAULT_CIRCUIT_FAILURES 10
#define DEFAULT_PROBE_INITIAL_MS (30 * 1000LL)
#define DEFAULT_PROBE_MAX_MS (10 * 60 * 1000LL)
#define DEFAULT_DISABLE_AFTER_MS (3 * DAY_MS)

static void circuit_defaults(hr_circuit_settings *c)
{
    c->failures = DEFAULT_CIRCUIT_FAILURES;
    c->probe_initial_ms = DEFAULT_PROBE_INITIAL_MS;
    c->probe_max_ms = DEFAULT_PROBE_MAX_MS;
    c->disable_after_ms = DEFAULT_DISABLE_AFTER_MS;
    c->set = 0;
}

static void parse_circuit(parser *p, const char *path, hr_circuit_settings *c)
{
    static const char *const keys[] = {"failures", "probe_initial", "probe_max", "disable_after",
                                       NULL};
    static const unsigned bits[] = {HR_CIRCUIT_FAILURES, HR_CIRCUIT_PROBE_INITIAL,
                                    HR_CIRCUIT_PROBE_MAX, HR_CIRCUIT_DISABLE_AFTER};
    char kpath[PATH_LEN];
    yaml_mark_t start, initial_mark = {0, 0, 0}, max_mark = {0, 0, 0};
    key_mask seen = 0;
    scalar key;

    if (begin(p, YAML_MAPPING_START_EVENT, path, "a mapping", false, &start) != 1)
        return;
    while (next_key(p, path, &key)) {
        int i = known_key(p, path, &key, keys, &seen);
        sub_path(kpath, sizeof(kpath), path, i >= 0 ? keys[i] : "");
        switch (i) {
        case 0:
            read_int(p, kpath, 0, 1000000, &c->failures);
            break;
        case 1:
            read_duration(p, kpath, &c->probe_initial_ms, &initial_mark);
            break;
        case 2:
            read_duration(p, kpath, &c->probe_max_ms, &max_mark);
            break;
        case 3:
            read_retention(p, kpath, true, &c->disable_after_ms);
            break;
        default:
            break;
        }
        if (i >= 0)
            c->set |= bits[i];
        free(key.s);
    }
    /* Only where both are written here: a target's probe_max shorter than
     * delivery's probe_initial is raised to it (hr_config_circuit). */
    sub_path(kpath, sizeof(kpath), path, "probe_max");
    if ((c->set & HR_CIRCUIT_PROBE_INITIAL) && (c->set & HR_CIRCUIT_PROBE_MAX) &&
        c->probe_initial_ms > c->probe_max_ms)
        report(&p->out, &max_mark, kpath, "must not be shorter than probe_initial");
}

void hr_config_circuit(const hr_config *c, const hr_target *t, hr_circuit_settings *out)
{
    *out = c->delivery.circuit;
    if (t != NULL) {
        const hr_circuit_settings *o = &t->circuit;
        if (o->set & HR_CIRCUIT_FAILURES)
            out->failures = o->failures;
        if (o->set & HR_CIRCUIT_PROBE_INITIAL)
            out->probe_initial_ms = o->probe_initial_ms;
        if (o->set & HR_CIRCUIT_PROBE_MAX)
            out->probe_max_ms = o->probe_max_ms;
        if (o->set & HR_CIRCUIT_DISABLE_AFTER)
            out->disable_after_ms = o->disable_after_ms;
    }
    if (out->probe_max_ms < out->probe_initial_ms)
        out->probe_max_ms = out->probe_initial_ms;
}
