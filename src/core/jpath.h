/*
 * jpath.h - the JSON paths that validation messages name, such as
 * pipeline.stage.jobs[2].name or data["DATA-THREE"], built into a caller's
 * buffer of HR_JPATH_LEN bytes. A path too long for it is cut short: a cut
 * path still tells the reader where to look.
 */
#ifndef HR_CORE_JPATH_H
#define HR_CORE_JPATH_H

#include <stddef.h>

#define HR_JPATH_LEN 256

/* "at.key", or "key" at the root. Returns buf. */
const char *hr_jpath_key(char *buf, const char *at, const char *key);
/* "at[i]". Returns buf. */
const char *hr_jpath_index(char *buf, const char *at, size_t i);
/* A step for a key the sender chose (len bytes, any bytes): like
 * hr_jpath_key when it is a plain word ([A-Za-z0-9_-], at most 64), else
 * at["key"] as JSON with every non-ASCII character escaped and cut at 40
 * characters, so a message stays short and a cut never splits an escape.
 * Returns buf. */
const char *hr_jpath_name(char *buf, const char *at, const char *key, size_t len);

#endif
