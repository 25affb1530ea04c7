#include "locker.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aptrepo.h"
#include "deb.h"
#include "debversion.h"
#include "fetch.h"
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
		    strcmp(x->source, y->source) || x->n_depends != y->n_depends ||
		    x->n_scripts != y->n_scripts || !x->why != !y->why || (x->why && strcmp(x->why, y->why)))
			return false;
		for (size_t k = 0; k < x->n_scripts; k++)
			if (strcmp(x->scripts[k], y->scripts[k]))
				return false;
		for (size_t k = 0; k < x->n_depends; k++)
			if (strcmp(x->depends[k], y->depends[k]))
				return false;
	}
	return true;
}

/* The lock's packages from a resolution (which gives up its depends). */
static void fill_packages(struct kiln_lock *lock, const struct kiln_packages *idx, struct kiln_resolution *sol,
			  const char **origin_names)
{
	lock->packages = kiln_xcalloc(sol->n_pkgs + 1, sizeof(*lock->packages));
	lock->n_packages = 0;
	for (size_t i = 0; i < sol->n_pkgs; i++) {
		const struct kiln_pkg *p = kiln_packages_get(idx, sol->pkgs[i].pkg);
		struct kiln_lock_package *lp = &lock->packages[lock->n_packages++];
		lp->name = kiln_slice_dup(p->name);
		lp->version = kiln_slice_dup(p->version);
		lp->architecture = kiln_slice_dup(p->architecture);
		lp->source = kiln_xstrdup(origin_names[p->origin]);
		lp->filename = kiln_slice_dup(p->filename);
		lp->size = p->size;
		lp->sha256 = kiln_slice_dup(p->sha256);
		lp->depends = sol->pkgs[i].depends;
		lp->n_depends = sol->pkgs[i].n_depends;
		sol->pkgs[i].depends = NULL;
		sol->pkgs[i].n_depends = 0;
	}
}

static void free_packages(struct kiln_lock_package *pkgs, size_t n)
{
	struct kiln_lock *tmp = kiln_xcalloc(1, sizeof(*tmp));
	tmp->packages = pkgs;
	tmp->n_packages = n;
	kiln_lock_free(tmp);
}

/* Which packages have maintainer scripts or triggers: the Packages index
 * does not say, the .debs' control members do.  They are fetched into the
 * shared cache (checked by sha256; kiln build reads them from there) and
 * only their control.tar is read.  Returns how many have any, or -1. */
static long find_scripts(const struct kiln_locker_options *opt, const struct kiln_manifest *m,
			 const char *cache, struct kiln_lock *lock, struct kiln_error *err)
{
	static const char *const names[] = KILN_LOCK_SCRIPTS;
	struct kiln_fetch_options fo = { .cache_dir = cache, .progress = opt->progress,
					 .progress_ctx = opt->progress_ctx };
	struct kiln_fetch_item *items = kiln_xcalloc(lock->n_packages + 1, sizeof(*items));
	char **urls = kiln_xcalloc(m->n_sources * 8 + 1, sizeof(char *));
	long with = -1;

	for (size_t i = 0; i < lock->n_packages; i++) {
		const struct kiln_lock_package *p = &lock->packages[i];
		size_t s = 0, n_mine = 0;
		char **mine;
		while (s < m->n_sources && strcmp(m->sources[s].name, p->source) != 0)
			s++;
		mine = urls + s * 8;
		if (!mine[0]) {
			mine[0] = kiln_mirror_for_source(opt->mirrors, m->sources[s].name, m->sources[s].suite,
							 m->sources[s].url, NULL, err);
			if (!mine[0])
				goto out;
			for (size_t f = 0; f < m->sources[s].n_fallback && f < 7; f++)
				mine[1 + f] = kiln_xstrdup(m->sources[s].fallback[f]);
		}
		while (n_mine < 8 && mine[n_mine])
			n_mine++;
		items[i] = (struct kiln_fetch_item){ .filename = p->filename, .size = p->size, .sha256 = p->sha256,
						     .base_urls = mine, .n_base_urls = n_mine };
	}
	if (kiln_fetch_all(&fo, items, lock->n_packages, NULL, err) < 0) {
		kiln_error_prefix(err, "fetch the packages to see which have maintainer scripts");
		goto out;
	}
	with = 0;
	for (size_t i = 0; i < lock->n_packages; i++) {
		struct kiln_lock_package *p = &lock->packages[i];
		struct kiln_deb_options dopt = { .package = p->name, .version = p->version,
						 .architecture = p->architecture };
		_cleanup_deb_ struct kiln_deb *deb = kiln_deb_open_file(items[i].path, strrchr(p->filename, '/') ?
									strrchr(p->filename, '/') + 1 : p->filename,
									&dopt, err);
		if (!deb) {
			with = -1;
			goto out;
		}
		for (size_t k = 0; k < p->n_scripts; k++)
			free(p->scripts[k]);
		free(p->scripts);
		p->scripts = kiln_xcalloc(KILN_ARRAY_SIZE(names), sizeof(char *));
		p->n_scripts = 0;
		for (size_t k = 0; k < KILN_ARRAY_SIZE(names); k++)
			if (kiln_deb_needs_configure(kiln_deb_control(deb), names[k]))
				p->scripts[p->n_scripts++] = kiln_xstrdup(names[k]);
		if (p->n_scripts)
			with++;
	}
out:
	for (size_t i = 0; i < lock->n_packages; i++)
		free(items[i].path);
	free(items);
	for (size_t i = 0; i < m->n_sources * 8; i++)
		free(urls[i]);
	free(urls);
	return with;
}

/* Pin the Priority: required provider of the virtual name (newest
 * version), unless one is pinned already. */
static size_t add_required_provider(const struct kiln_packages *idx, const struct kiln_manifest *m, const char *name,
				    size_t len, struct kiln_resolve_pin *pins, size_t n)
{
	const struct kiln_provide *pv = NULL;
	uint32_t best = KILN_PKG_NONE;

	for (uint32_t i = kiln_packages_providers(idx, name, len); i != KILN_PKG_NONE; i = pv->next) {
		const struct kiln_pkg *p;
		pv = kiln_packages_provide(idx, i);
		p = kiln_packages_get(idx, pv->pkg);
		for (size_t k = 0; k < n; k++)
			if (kiln_slice_eq(p->name, pins[k].name))
				return n;
		for (size_t k = 0; k < m->n_packages; k++)
			if (kiln_slice_eq(p->name, m->packages[k].name))
				return n;
		if (!kiln_slice_eq_nocase(p->priority, "required"))
			continue;
		if (best == KILN_PKG_NONE ||
		    (p->name.len == kiln_packages_get(idx, best)->name.len &&
		     memcmp(p->name.ptr, kiln_packages_get(idx, best)->name.ptr, p->name.len) == 0 &&
		     kiln_debversion_compare_n(p->version.ptr, p->version.len, kiln_packages_get(idx, best)->version.ptr,
					       kiln_packages_get(idx, best)->version.len) > 0))
			best = pv->pkg;
	}
	if (best != KILN_PKG_NONE) {
		const struct kiln_pkg *p = kiln_packages_get(idx, best);
		pins[n++] = (struct kiln_resolve_pin){ kiln_slice_dup(p->name), kiln_slice_dup(p->version),
						       "the Priority: required provider of a virtual package the "
						       "Essential set needs" };
	}
	return n;
}

/* Pins for the suite's Essential: yes packages that the manifest does not
 * pin: the version the previous lock has when the index still has it,
 * else the newest.  They are what maintainer scripts assume (a shell,
 * coreutils, dpkg itself), as mmdebstrap's essential variant installs. */
static struct kiln_resolve_pin *essential_pins(const struct kiln_packages *idx, const struct kiln_manifest *m,
					       const struct kiln_lock *old, size_t *n_out)
{
	size_t n_idx = kiln_packages_count(idx), n = 0;
	struct kiln_resolve_pin *pins = kiln_xcalloc(n_idx + 1, sizeof(*pins));

	for (uint32_t i = 0; i < n_idx; i++) {
		const struct kiln_pkg *p = kiln_packages_get(idx, i);
		_cleanup_free_ char *name = NULL;
		bool pinned = false, kept = false;
		size_t k;

		if (!kiln_slice_eq_nocase(p->essential, "yes") ||
		    !(kiln_slice_eq_nocase(p->architecture, m->architecture) || kiln_slice_eq_nocase(p->architecture, "all")))
			continue;
		name = kiln_slice_dup(p->name);
		for (k = 0; k < m->n_packages && !pinned; k++)
			pinned = strcmp(m->packages[k].name, name) == 0;
		if (pinned)
			continue;
		for (k = 0; k < n && strcmp(pins[k].name, name) != 0; k++)
			;
		if (k == n) {
			pins[n++] = (struct kiln_resolve_pin){ kiln_slice_dup(p->name), kiln_slice_dup(p->version),
							       "Essential: yes (maintainer scripts need it)" };
			continue;
		}
		/* Another version of the same name: the previous lock's, else the newest. */
		for (size_t j = 0; old && j < old->n_packages; j++)
			if (strcmp(old->packages[j].name, name) == 0)
				kept = strcmp(old->packages[j].version, pins[k].version) == 0;
		if (kept)
			continue;
		{
			_cleanup_free_ char *v = kiln_slice_dup(p->version);
			bool old_has = false;
			for (size_t j = 0; old && j < old->n_packages; j++)
				old_has |= strcmp(old->packages[j].name, name) == 0 &&
					   strcmp(old->packages[j].version, v) == 0;
			if (old_has || kiln_debversion_compare(v, pins[k].version) > 0) {
				free((char *)pins[k].version);
				pins[k].version = kiln_steal_pointer(&v);
			}
		}
	}
	/* A virtual package the Essential set depends on (base-files needs
	 * awk) has several providers and the lock does not guess: the
	 * Priority: required one is the one Debian installs (mawk), as apt
	 * picks it for mmdebstrap. */
	for (size_t e = 0, n_ess = n; e < n_ess; e++) {
		uint32_t id = kiln_packages_lookup(idx, pins[e].name, strlen(pins[e].name));
		for (; id != KILN_PKG_NONE; id = kiln_packages_get(idx, id)->next_same_name) {
			const struct kiln_pkg *p = kiln_packages_get(idx, id);
			const struct kiln_slice rels[] = { p->depends, p->pre_depends };
			if (!kiln_slice_eq(p->version, pins[e].version))
				continue;
			for (size_t r = 0; r < 2; r++) {
				const char *at = rels[r].ptr, *end = rels[r].ptr ? rels[r].ptr + rels[r].len : NULL;
				while (at && at < end) {
					size_t len;
					while (at < end && strchr(" \t\n,|", *at))
						at++;
					len = strspn(at, "abcdefghijklmnopqrstuvwxyz0123456789+-.");
					if (len > (size_t)(end - at))
						len = (size_t)(end - at);
					if (len && kiln_packages_lookup(idx, at, len) == KILN_PKG_NONE)
						n = add_required_provider(idx, m, at, len, pins, n);
					at += len;
					while (at < end && *at != ',' && *at != '|')
						at++;
				}
			}
		}
	}
	*n_out = n;
	return pins;
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

	fill_packages(&new, idx, &sol, origin_names);
	/* Maintainer scripts (docs/lockfile.md, The Essential set): unless
	 * the manifest says scripts: skip, see which packages have them, and
	 * when any does, add the Essential set they assume. */
	if (!(m->scripts && strcmp(m->scripts, "skip") == 0)) {
		long with = find_scripts(opt, m, cache, &new, err);
		if (with < 0)
			goto out;
		if (with > 0) {
			size_t n_ess = 0;
			struct kiln_resolve_pin *ess = essential_pins(idx, m, old, &n_ess);
			struct kiln_resolve_pin *all = kiln_xcalloc(m->n_packages + n_ess + 1, sizeof(*all));
			struct kiln_resolution sol2 = { 0 };
			struct kiln_lock with_ess = { 0 };
			int r;

			memcpy(all, pins, m->n_packages * sizeof(*all));
			memcpy(all + m->n_packages, ess, n_ess * sizeof(*all));
			req.pins = all;
			req.n_pins = m->n_packages + n_ess;
			r = kiln_resolve(&req, &sol2, err);
			for (size_t i = 0; i < n_ess; i++) {
				free((char *)ess[i].name);
				free((char *)ess[i].version);
			}
			free(ess);
			free(all);
			if (r < 0) {
				kiln_error_prefix(err, "the Essential set that maintainer scripts need (or scripts: skip)");
				goto out;
			}
			res->restarts += sol2.restarts;
			fill_packages(&with_ess, idx, &sol2, origin_names);
			kiln_resolution_release(&sol2);
			for (size_t i = 0; i < with_ess.n_packages; i++) {
				struct kiln_lock_package *lp = &with_ess.packages[i];
				bool before = false;
				for (size_t j = 0; j < new.n_packages && !before; j++)
					before = strcmp(new.packages[j].name, lp->name) == 0;
				if (!before) {
					uint32_t id = kiln_packages_lookup(idx, lp->name, strlen(lp->name));
					bool essential = false;
					for (; id != KILN_PKG_NONE; id = kiln_packages_get(idx, id)->next_same_name) {
						const struct kiln_pkg *p = kiln_packages_get(idx, id);
						essential |= kiln_slice_eq_nocase(p->essential, "yes") &&
							     kiln_slice_eq(p->version, lp->version);
					}
					lp->why = kiln_xstrdup(essential ? "essential" : "essential-dependency");
				}
			}
			{
				/* Without dpkg nothing can configure them: say so now,
				 * not in the build. */
				bool has_dpkg = false;
				for (size_t i = 0; i < with_ess.n_packages; i++)
					has_dpkg |= strcmp(with_ess.packages[i].name, "dpkg") == 0;
				if (!has_dpkg) {
					const struct kiln_lock_package *p = NULL;
					for (size_t i = 0; i < new.n_packages && !p; i++)
						if (new.packages[i].n_scripts)
							p = &new.packages[i];
					kiln_error_set(err, "%s: %s %s has maintainer scripts (%s%s), but the sources have no "
						       "Essential set to run them with (no Essential: yes dpkg): add the "
						       "distribution's main suite as a source, or set scripts: skip to "
						       "unpack without running them", m->path, p->name, p->version,
						       p->scripts[0], p->n_scripts > 1 ? ", …" : "");
					free_packages(with_ess.packages, with_ess.n_packages);
					goto out;
				}
			}
			free_packages(new.packages, new.n_packages);
			new.packages = with_ess.packages;
			new.n_packages = with_ess.n_packages;
			if (find_scripts(opt, m, cache, &new, err) < 0)
				goto out;
		}
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
