/* deploy.h - putting a commit's snapshot in service by replacing its
 * container: `kiln deploy`, `kiln rollback`, and the repair of a deploy
 * that was killed half-way (docs/deploy.md).
 *
 * The order of the steps is what makes a kill at any moment harmless: the
 * new container starts without traffic; the published ports move in one
 * step (the service's port record, lib/net); the history says "started"
 * before anything changes and the result once it has; and the repair
 * decides from the host (which container the ports point at, which
 * containers run), not from what the killed process meant to do.
 */
#ifndef KILN_DEPLOY_H
#define KILN_DEPLOY_H

#include <stdbool.h>

#include "build.h"
#include "container.h"
#include "error.h"
#include "gitrepo.h"

enum kiln_deploy_action {
	KILN_DEPLOY_DEPLOY,
	KILN_DEPLOY_ROLLBACK,
};

struct kiln_deploy_options {
	struct kiln_git *git;
	struct kiln_container_root *root;
	const char *store_dir;      /* NULL: the work tree's snapshots/ */
	/* Which service: the manifest named name in the commit's tree
	 * (kiln.yaml, then the *.yaml files of manifests/), or the manifest at
	 * manifest_path (relative to the top of the work tree); with neither,
	 * kiln.yaml. */
	const char *name;
	const char *manifest_path;
	const char *rev;            /* NULL: HEAD (deploy); rollback: NULL means the previous one */
	enum kiln_deploy_action action;
	bool insecure;              /* take an unsigned or untrusted record */
	bool force;                 /* replace even when the digest already serves */
	/* How to build a snapshot the store lacks (its manifest_path and rev
	 * are set by deploy). */
	const struct kiln_build_options *build;
	const char *runtime;        /* NULL: kiln's */
	const char *self_exe;       /* for cmd health checks: a kiln binary */
	const char *trigger;        /* who or what, for the history */
	void (*say)(void *ctx, const char *line); /* progress lines */
	void *ctx;
};

/* Deploy (or roll back) one service.  Returns 0 when the snapshot serves
 * (or already served), 1 when the new version failed and the one before
 * serves on (err says why), -1 on any other error (nothing changed, or
 * what changed is in the history and the next command repairs it). */
int kiln_deploy_run(const struct kiln_deploy_options *o, struct kiln_error *err);

/* Deploy every service of the commit (kiln.yaml and the manifests/ files with
 * a service: section), in `after:` order.  Same returns; stops at the
 * first failure of a service whose on_failure is not continue. */
int kiln_deploy_all(const struct kiln_deploy_options *o, struct kiln_error *err);

/* Under the service's lock: finish or undo a deploy that was killed, and
 * make sure exactly one container of the service runs (docs/deploy.md,
 * Interrupted deploys).  *repaired (may be NULL) says whether anything was
 * done. */
int kiln_deploy_repair(const struct kiln_deploy_options *o, const char *name, bool *repaired,
		       struct kiln_error *err);

#endif
