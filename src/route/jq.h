/*
 * jq.h - user programs over events, with libjq.
 *
 * An hr_jq is one compiled jq program. It is NOT thread-safe: each thread
 * compiles its own (the store writer for route filters, the delivery
 * thread for bodies and templates). The input of every program is the
 * event's normalised JSON (docs/events.md) with one more key, "raw": the
 * raw body parsed as JSON (null when it was not JSON).
 *
 * What a program sees: its input, nothing of the process. It is compiled
 * inside a prelude (jq_sandbox.c) where `env` and `$ENV` are empty objects,
 * `input` and `inputs` are errors, `stderr` writes nothing, and `import`,
 * `include` and `module` do not compile (the library path is empty too).
 * `debug` prints nothing; `$__loc__` names "<top-level>". libjq loads
 * ~/.jq into every program: hr_jq_process_init takes HOME away first.
 * `error(null)` is not an error in jq 1.6: it ends the program with no
 * output.
 *
 * Every run has a budget (src/core/limits.h): a watchdog thread stops it
 * after HR_MAX_JQ_RUN_MS of the running thread's CPU time, and the run
 * fails with HR_ETOOBIG; strings and arrays built by +, *, add and join
 * are at most HR_MAX_JQ_VALUE long, an array index set at most
 * HR_MAX_JQ_INDEX; an output or error message is written only when its
 * JSON text stays bounded, and is at most HR_JQ_MAX_OUTPUT bytes. Only the first output is ever computed (jq
 * produces outputs lazily), so `repeat(1)` ends after one.
 *
 * What the budget cannot bound: one builtin runs to its end before the
 * watchdog's stop takes effect. tojson, tostring, string interpolation and
 * @formats of a value that repeats one part many times (`[., .]` in a
 * loop) write all of it in one step; so do comparisons and sorts of such
 * values. Memory grows with what a program builds within its time (an
 * array of a few million elements at most). Regular expressions are
 * bounded by Oniguruma's own retry limit.
 */
#ifndef HR_ROUTE_JQ_H
#define HR_ROUTE_JQ_H

#include "core/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define HR_JQ_MAX_OUTPUT (1024u * 1024u)

/* Call once, in main before any thread starts, in the commands that run
 * jq programs (serve, check-config): takes HOME out of
 * the environment (libjq 1.6 would load $HOME/.jq into every program) and
 * gives threads created from then on a stack deep enough for libjq's
 * recursion over deeply nested values. */
void hr_jq_process_init(void);

typedef struct hr_jq hr_jq;

/* Compiles program. On failure returns HR_EINVAL with jq's messages on
 * one line ("jq: error: ... at <top-level>, line 1: <the line>"). *out is
 * new. */
int hr_jq_compile(const char *program, hr_jq **out, hr_error *err);
void hr_jq_free(hr_jq *q);

/* Runs q on input (borrowed); *out is a new reference to the FIRST output.
 * A run past its budget gives HR_ETOOBIG ("... ran past its budget of
 * 100 ms and was stopped"), as does one that builds a value past the
 * limits above. A program with no output (or one that runs `halt`) gives
 * HR_ENOTFOUND;
 * a jq runtime error or `halt_error` HR_EINVAL with its message, such as
 * "jq: error: boom"; a first output whose JSON text is longer than
 * HR_JQ_MAX_OUTPUT bytes HR_ETOOBIG ("jq output is larger than 1048576
 * bytes"). jq's numbers are doubles: an integral output that does not fit
 * a json_int_t becomes a real. */
int hr_jq_run(hr_jq *q, const json_t *input, json_t **out, hr_error *err);

/* Runs q and reports whether its first output is true (jq's truthiness:
 * anything but false and null). No output counts as false (HR_OK). A
 * runtime error is HR_EINVAL as in hr_jq_run; the output is not written
 * out, so it has no size bound here. */
int hr_jq_test(hr_jq *q, const json_t *input, bool *out, hr_error *err);

/* Runs q once on an empty event ({}) and reports only what the budget
 * stops, as HR_ETOOBIG with its message: a program that runs away, or
 * builds too much, whatever its event. Other outcomes are no finding
 * (HR_OK): a real event has the fields that {} lacks. Costs at most one
 * budget; runs on a thread of its own. */
int hr_jq_probe(hr_jq *q, hr_error *err);

/*
 * A string with {{ jq }} parts, such as "https://x/{{ .pipeline.name }}".
 * Each part is its own jq program; its first output is inserted as text:
 * strings without quotes, null (or no output) as nothing, other values as
 * compact JSON. Text with no "{{" renders as itself.
 *
 * A part ends at the first "}}" after its "{{": parts do not nest, and a
 * "}}" or "{{" inside a jq string or object literal is not supported
 * (write `{ a: { b: 1 } }` with spaces). "{{" without a closing "}}" and
 * an empty part are compile errors; jq's errors name the part's byte
 * offset ("template: the part at byte 12: jq: error: ...").
 */
typedef struct hr_template hr_template;
int hr_template_compile(const char *text, hr_template **out, hr_error *err);
void hr_template_free(hr_template *t);
/* *out is a new NUL-terminated string of at most HR_JQ_MAX_OUTPUT bytes
 * (longer is HR_ETOOBIG). With url_encode each inserted part is
 * percent-encoded: every byte but RFC 3986's unreserved characters
 * (A-Z a-z 0-9 - . _ ~) becomes %XX. Without it, an inserted part holding
 * a CR, LF or NUL byte is an error (HR_EINVAL): the text becomes a header
 * value, and event data must not add header lines. The literal text is
 * inserted as it is. A part's runtime error is HR_EINVAL naming the part. */
int hr_template_render(hr_template *t, const json_t *input, bool url_encode, char **out,
                       hr_error *err);
/* hr_jq_probe for a template: renders it once on {}. */
int hr_template_probe(hr_template *t, hr_error *err);

#endif
