/* history.h - a service's deploy history (docs/deploy.md, History).
 *
 * ROOT/services/NAME/history holds one JSON object per line, compact with
 * sorted keys, appended with O_APPEND and fsync()ed before the step it
 * announces goes on.  A deploy writes a "started" line, then a line with
 * the same seq and its result.  ROOT/services/NAME/lock is flock()ed by
 * whoever changes what the service runs (a deploy, a rollback, a repair).
 *
 * Only kiln writes these files, but they are read back strictly: a line
 * that is not what kiln writes is an error naming FILE:LINE, except a
 * last line without its newline, which a crash cut short before its
 * fsync returned: it was never acknowledged, and is ignored.
 */
#ifndef KILN_HISTORY_H
#define KILN_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define KILN_HISTORY_MAX (16u << 20)

struct kiln_history_entry {
	unsigned seq;               /* 1, 2, … one per deploy */
	int64_t time;               /* unix seconds */
	char *action;               /* deploy | rollback | auto-rollback | recover */
	char *result;               /* started | serving | failed | rolled-back | interrupted */
	char *commit;               /* 40 hex, "" when not known */
	char *digest;               /* the image manifest digest, "" when not known */
	char *manifest;             /* the manifest's path in the commit's tree */
	char *store;                /* the store's directory */
	char *container;            /* the container's name */
	char *trigger;              /* who or what: "root: kiln deploy web --rev v2" */
	char *message;              /* why, for failed/interrupted/rolled-back; NULL */
};
void kiln_history_entry_release(struct kiln_history_entry *e);

/* One deploy: its started line folded with its last line. */
struct kiln_history_deploy {
	struct kiln_history_entry e; /* the last line's fields, the start's time in started */
	int64_t started;
	bool finished;               /* false: no result line (running, or killed) */
};

struct kiln_history;

/* Open (creating ROOT/services/NAME, mode 0700) the history of service
 * name under root.  Takes no lock. */
struct kiln_history *kiln_history_open(const char *root, const char *name, struct kiln_error *err);
void kiln_history_free(struct kiln_history *h);
const char *kiln_history_path(const struct kiln_history *h);

/* Take the service's lock: 0, KILN_LOCKFILE_BUSY with try, -1 error.
 * Held until kiln_history_free. */
int kiln_history_lock(struct kiln_history *h, bool try, struct kiln_error *err);

/* Append e as one line and fsync it. */
int kiln_history_append(struct kiln_history *h, const struct kiln_history_entry *e, struct kiln_error *err);

/* Every deploy, oldest first (free with kiln_history_deploys_free).  A
 * missing file is an empty history. */
int kiln_history_load(const struct kiln_history *h, struct kiln_history_deploy **out, size_t *n,
		      struct kiln_error *err);
void kiln_history_deploys_free(struct kiln_history_deploy *v, size_t n);

/* The index in v of the deploy that serves now (the last one whose
 * result is serving), or -1. */
ssize_t kiln_history_current(const struct kiln_history_deploy *v, size_t n);
/* The index of the newest deploy that served another image than the
 * current one (what a plain rollback puts back), or -1. */
ssize_t kiln_history_previous(const struct kiln_history_deploy *v, size_t n);

/* Every image digest named in any service's history under root (for
 * gc); a root without services gives none. */
int kiln_history_all_digests(const char *root, char ***digests, size_t *n, struct kiln_error *err);

#endif
