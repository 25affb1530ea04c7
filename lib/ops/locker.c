#include "locker.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aptrepo.h"
#include "fsutil.h"
#include "lock.h"
#include "manifest.h"
#include "mirror.h"
#include "resolve.h"
#include "util.h"

/* The existing lock: what unpinned packages prefer, and what the changes
 * are counted against.  With --update alone it only serves the count, so a
 * lock that cannot be read is then set aside (the re-resolve replaces it)
 * instead of failing. */
static struct kiln_lock *load_previous(const char *path, bool update_all, struct kiln_error *err,
				       bool *failed)
{
	struct stat st;
	struct kiln_lock *lock;

	*failed = false;
	if (stat(path, &st) < 0)
		return NULL;
	lock = kiln_lock_load(path, update_all ? NULL : err);
	if (!lock && !update_all) {
		kiln_error_prefix(err, "the existing lock cannot be read (fix it, or re-resolve "
				  "everything with `kiln lock --update`)");
		*failed = true;
	}
	return lock;
}

static bool in_list(char *const *list, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0)
			return true;
	return false;
}

static char *keyring_path(const char *manifest_path, const char *keyring)
{
	_cleanup_free_ char *dir = NULL;

	if (keyring[0] == '/')
		return kiln_xstrdup(keyring);
	dir = kiln_path_dirname(manifest_path);
	return kiln_path_join(dir, keyring);
}

static void add_change(struct kiln_locker_result *res, size_t *alloc, char *line)
{
	kiln_xgrow(&res->changes, alloc, res->n_changes + 1, sizeof(*res->changes));
	res->changes[res->n_changes++] = line;
}

/* What moved between two locks, in name order. */
static void diff_locks(const struct kiln_lock *old, const struct kiln_lock *new,
		       struct kiln_locker_result *res)
{
	size_t i = 0, j = 0, alloc = 0;
	size_t n_old = old ? old->n_packages : 0;

	while (i < n_old || j < new->n_packages) {
		const struct kiln_lock_package *a = i < n_old ? &old->packages[i] : NULL;
		const struct kiln_lock_package *b = j < new->n_packages ? &new->packages[j] : NULL;
		int cmp = !a ? 1 : !b ? -1 : strcmp(a->name, b->name);

		if (cmp < 0) {
			add_change(res, &alloc, kiln_xasprintf("- %s %s", a->name, a->version));
			i++;
		} else if (cmp > 0) {
			add_change(res, &alloc, kiln_xasprintf("+ %s %s", b->name, b->version));
			j++;
		} else {
			if (strcmp(a->version, b->version) != 0 || strcmp(a->sha256, b->sha256) != 0)
				add_change(res, &alloc, kiln_xasprintf("~ %s %s -> %s", a->name, a->version,
								       b->version));
			i++;
			j++;
		}
	}
}

static bool same_packages(const struct kiln_lock *a, const struct kiln_lock *b)
{
	if (!a || a->n_packages != b->n_packages || strcmp(a->inputs, b->inputs) != 0)
		return false;
	for (size_t i = 0; i < a->n_packages; i++) {
		const struct kiln_lock_package *x = &a->packages[i], *y = &b->packages[i];
		if (strcmp(x->name, y->name) || strcmp(x->version, y->version) ||
		    strcmp(x->sha256, y->sha256) || strcmp(x->filename, y->filename) ||
		    strcmp(x->source, y->source) || x->n_depends != y->n_depends)
			return false;
		for (size_t k = 0; k < x->n_depends; k++)
			if (strcmp(x->depends[k], y->depends[k]))
				return false;
	}
	return true;
}

int kiln_locker_run(const struct kiln_locker_options *opt, struct kiln_locker_result *res,
		    struct kiln_error *err)
{
	_cleanup_manifest_ struct kiln_manifest *m = NULL;
	_cleanup_free_ char *cache = NULL;
	_cleanup_free_ char *text = NULL, *old_text = NULL;
	_cleanup_free_ struct kiln_resolve_pin *pins = NULL, *prefer = NULL;
	_cleanup_free_ const char **origin_names = NULL;
	_cleanup_free_ char **where = NULL;
	struct kiln_lock *old = NULL;
	struct kiln_lock new = { 0 };
	struct kiln_packages *idx = NULL;
	struct kiln_aptrepo *repo = NULL;
	struct kiln_resolution sol = { 0 };
	size_t n_prefer = 0;
	bool old_failed;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	m = kiln_manifest_load(opt->manifest_path, err);
	if (!m)
		return -1;
	res->lock_path = kiln_lock_path_for(opt->manifest_path);
	old = load_previous(res->lock_path, opt->update_all, err, &old_failed);
	if (old_failed)
		goto out;
	for (size_t i = 0; i < opt->n_update; i++) {
		bool known = false;
		for (size_t k = 0; k < m->n_packages && !known; k++)
			known = strcmp(m->packages[k].name, opt->update[i]) == 0;
		for (size_t k = 0; old && k < old->n_packages && !known; k++)
			known = strcmp(old->packages[k].name, opt->update[i]) == 0;
		if (!known) {
			kiln_error_set(err, "--update %s: no such package in the manifest or the lock",
				       opt->update[i]);
			err->code = KILN_EXIT_USAGE;
			goto out;
		}
	}

	cache = opt->cache_dir ? kiln_xstrdup(opt->cache_dir) : kiln_cache_dir(NULL, NULL, NULL);
	repo = kiln_aptrepo_new(cache, err);
	if (!repo)
		goto out;
	repo->progress = opt->progress;
	repo->progress_ctx = opt->progress_ctx;
	idx = kiln_packages_new(m->architecture);
	origin_names = kiln_xcalloc(m->n_sources, sizeof(*origin_names));
	new.inputs = kiln_lock_inputs(m);
	new.sources = kiln_xcalloc(m->n_sources, sizeof(*new.sources));
	for (size_t i = 0; i < m->n_sources; i++) {
		const struct kiln_source *s = &m->sources[i];
		_cleanup_free_ char *url = kiln_mirror_for_source(opt->mirrors, s->name, s->suite, s->url, NULL, err);
		_cleanup_free_ char *keyring = s->keyring ? keyring_path(m->path, s->keyring) : NULL;
		char release[KILN_SHA256_HEX_LEN + 1];
		struct kiln_aptrepo_source src = {
			.name = s->name, .suite = s->suite, .components = s->components,
			.n_components = s->n_components, .keyring = keyring, .trusted = s->trusted,
			.base_url = url, .architecture = m->architecture,
		};

		if (!url)
			goto out;
		if (kiln_aptrepo_load(repo, &src, (uint32_t)i, idx, release, err) < 0) {
			kiln_error_prefix(err, "%s:%u:%u: sources.%s", m->path, s->mark.line,
					  s->mark.column, s->name);
			goto out;
		}
		origin_names[i] = s->name;
		new.sources[new.n_sources].name = kiln_xstrdup(s->name);
		new.sources[new.n_sources].suite = kiln_xstrdup(s->suite);
		new.sources[new.n_sources].release = kiln_xasprintf("sha256:%s", release);
		new.n_sources++;
	}
	res->indexes_downloaded = repo->indexes_downloaded;
	res->indexes_cached = repo->indexes_cached;

	pins = kiln_xcalloc(m->n_packages, sizeof(*pins));
	where = kiln_xcalloc(m->n_packages, sizeof(*where));
	for (size_t i = 0; i < m->n_packages; i++) {
		where[i] = kiln_xasprintf("%s:%u:%u", m->path, m->packages[i].mark.line,
					  m->packages[i].mark.column);
		pins[i] = (struct kiln_resolve_pin){ m->packages[i].name, m->packages[i].version, where[i] };
	}
	if (old && !opt->update_all) {
		prefer = kiln_xcalloc(old->n_packages, sizeof(*prefer));
		for (size_t i = 0; i < old->n_packages; i++)
			if (!in_list(opt->update, opt->n_update, old->packages[i].name))
				prefer[n_prefer++] = (struct kiln_resolve_pin){ old->packages[i].name,
										old->packages[i].version, NULL };
	}
	struct kiln_resolve_request req = {
		.index = idx, .architecture = m->architecture, .pins = pins, .n_pins = m->n_packages,
		.prefer = prefer, .n_prefer = n_prefer, .origin_names = origin_names,
		.n_origins = m->n_sources,
	};
	if (kiln_resolve(&req, &sol, err) < 0)
		goto out;
	res->restarts = sol.restarts;

	new.packages = kiln_xcalloc(sol.n_pkgs, sizeof(*new.packages));
	for (size_t i = 0; i < sol.n_pkgs; i++) {
		const struct kiln_pkg *p = kiln_packages_get(idx, sol.pkgs[i].pkg);
		struct kiln_lock_package *lp = &new.packages[new.n_packages++];
		lp->name = kiln_slice_dup(p->name);
		lp->version = kiln_slice_dup(p->version);
		lp->architecture = kiln_slice_dup(p->architecture);
		lp->source = kiln_xstrdup(origin_names[p->origin]);
		lp->filename = kiln_slice_dup(p->filename);
		lp->size = p->size;
		lp->sha256 = kiln_slice_dup(p->sha256);
		lp->depends = sol.pkgs[i].depends;
		lp->n_depends = sol.pkgs[i].n_depends;
		sol.pkgs[i].depends = NULL;
		sol.pkgs[i].n_depends = 0;
	}
	res->n_packages = new.n_packages;
	diff_locks(old, &new, res);

	/* The same packages as before: keep the file byte for byte, even if
	 * the repository published a new Release meanwhile. */
	if (same_packages(old, &new)) {
		res->current = true;
		rc = 0;
		goto out;
	}
	if (opt->check) {
		kiln_error_set(err, "%s is not up to date with %s (%zu package change%s); run `kiln lock`",
			       res->lock_path, m->path, res->n_changes, res->n_changes == 1 ? "" : "s");
		goto out;
	}
	text = kiln_lock_format(&new);
	if (kiln_file_write_atomic(res->lock_path, text, strlen(text), 0644, err) < 0)
		goto out;
	res->written = true;
	rc = 0;
out:
	kiln_resolution_release(&sol);
	if (where)
		for (size_t i = 0; i < m->n_packages; i++)
			free(where[i]);
	kiln_lock_free(old);
	{
		/* new's arrays are owned here, not by a heap kiln_lock. */
		struct kiln_lock *tmp = kiln_xcalloc(1, sizeof(*tmp));
		*tmp = new;
		kiln_lock_free(tmp);
	}
	kiln_packages_free(idx);
	kiln_aptrepo_free(repo);
	(void)old_text;
	return rc;
}

void kiln_locker_result_release(struct kiln_locker_result *res)
{
	free(res->lock_path);
	for (size_t i = 0; i < res->n_changes; i++)
		free(res->changes[i]);
	free(res->changes);
	memset(res, 0, sizeof(*res));
}
