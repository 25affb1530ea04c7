/* service.h - a manifest's `service:` section as typed values
 * (docs/manifest.md, "service"), for `kiln run` and `kiln deploy`.
 *
 * The manifest keeps every scalar as the string it was written as, checked
 * by the grammars of lib/base/values (the command line's own); here they
 * become numbers, ports and kinds, with the defaults docs/manifest.md
 * lists filled in, so every user of a service sees the same values.
 */
#ifndef KILN_SERVICE_H
#define KILN_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "gitrepo.h"
#include "manifest.h"
#include "net.h"
#include "snapref.h"
#include "store.h"

enum kiln_health_kind { KILN_HEALTH_NONE, KILN_HEALTH_HTTP, KILN_HEALTH_TCP, KILN_HEALTH_CMD };
enum kiln_update_failure { KILN_UPDATE_ROLLBACK, KILN_UPDATE_PAUSE, KILN_UPDATE_CONTINUE };

/* The defaults of docs/manifest.md. */
#define KILN_SERVICE_HEALTH_INTERVAL_MS 1000
#define KILN_SERVICE_HEALTH_TIMEOUT_MS 5000
#define KILN_SERVICE_HEALTH_START_PERIOD_MS 30000
#define KILN_SERVICE_HEALTH_RETRIES 3
#define KILN_SERVICE_UPDATE_DRAIN_MS 5000
#define KILN_SERVICE_UPDATE_GRACE_MS 10000
#define KILN_SERVICE_UPDATE_MONITOR_MS 0

struct kiln_service_spec {
	char *name;                       /* the manifest's name */
	char *network;                    /* "bridge" (default), "host", "none", "container:NAME" */
	char **publish; size_t n_publish; /* as written, for kiln_container_options.ports */
	struct kiln_net_port *ports;      /* the same, parsed (n_publish of them) */
	char **volumes; size_t n_volumes; /* "NAME:/path[:ro]" */
	int64_t memory;                   /* bytes; 0: none */
	int64_t pids;                     /* 0: default */
	double cpus;                      /* 0: none */
	bool init;                        /* service.init: true */
	char **after; size_t n_after;     /* service.after: names of other services */
	struct {
		enum kiln_health_kind kind;
		char *path;                   /* HTTP: "/up" */
		uint16_t port;                /* HTTP and TCP: the container port */
		char **cmd; size_t n_cmd;     /* CMD */
		int64_t interval_ms;          /* default 1000 */
		int64_t timeout_ms;           /* default 5000 */
		int64_t start_period_ms;      /* default 30000 */
		int retries;                  /* default 3 */
	} health;
	struct {
		bool stop_first;              /* order: stop-first */
		int64_t drain_ms;             /* default 5000 */
		int64_t grace_ms;             /* update.grace: stop signal → SIGKILL; default 10000 */
		int64_t monitor_ms;           /* update.monitor: watch window after the switch; default 0 */
		enum kiln_update_failure on_failure; /* default rollback */
	} update;
};

/* The service of manifest m, every value typed and every default filled.
 * m->service.present must be true (else an error saying the manifest has
 * no service:).  Without health:, the check is TCP on the container port
 * of the first TCP entry of publish, else none.  health.http without port
 * takes that port too, else the image's first exposed TCP port
 * (config.ports), else it is an error.  The service name (the manifest's)
 * must be a container name, at most 64 characters.  out is filled only on
 * success; release it with kiln_service_spec_release. */
int kiln_service_spec_from_manifest(const struct kiln_manifest *m, struct kiln_service_spec *out,
				    struct kiln_error *err);
void kiln_service_spec_release(struct kiln_service_spec *s);

/* The manifest snapshot ref (resolved by kiln_snapref_resolve) was built
 * from, read from git at its commit: at the path its provenance statement
 * names (the envelope its record names; the record was checked by
 * kiln_snapref_resolve unless --insecure, and the envelope is read by its
 * digest).  A record without an envelope (an unsigned build), or none (an
 * --insecure index.json lookup), names no path: fallback_path (the -f
 * manifest, relative to the current directory or absolute; may be NULL) is
 * read at the commit then, and used only when its name is the snapshot's.
 * *out is NULL (and 0 returned) for a sha256: reference, or when no
 * manifest is known (no fallback of that name).  git may be NULL only for
 * a sha256: reference. */
int kiln_service_snapshot_manifest(struct kiln_git *git, const struct kiln_store *store,
				   const struct kiln_snapref *ref, const char *fallback_path,
				   struct kiln_manifest **out, struct kiln_error *err);

#endif
