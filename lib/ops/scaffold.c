#include "scaffold.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include "aptrepo.h"
#include "fsutil.h"
#include "manifest.h"
#include "mirror.h"
#include "packages.h"
#include "util.h"

#define DEBIAN_KEYRING "/usr/share/keyrings/debian-archive-keyring.gpg"

static char *host_codename(void)
{
	_cleanup_free_ char *text = kiln_file_read("/etc/os-release", 1 << 16, NULL, NULL);
	char *p;

	if (text && (p = strstr(text, "VERSION_CODENAME="))) {
		p += strlen("VERSION_CODENAME=");
		size_t n = strcspn(p, "\n\"'");
		if (n > 0 && n < 64)
			return kiln_xstrndup(p, n);
	}
	return kiln_xstrdup("bookworm");
}

static const char *host_architecture(void)
{
	struct utsname u;

	if (uname(&u) == 0) {
		if (strcmp(u.machine, "aarch64") == 0) return "arm64";
		if (strcmp(u.machine, "i686") == 0 || strcmp(u.machine, "i386") == 0) return "i386";
		if (strcmp(u.machine, "ppc64le") == 0) return "ppc64el";
		if (strcmp(u.machine, "s390x") == 0) return "s390x";
		if (strcmp(u.machine, "riscv64") == 0) return "riscv64";
	}
	return "amd64";
}

/* [a-z0-9][a-z0-9._-]*, from the directory's name. */
static char *name_from_dir(const char *dir)
{
	_cleanup_free_ char *abs = realpath(dir, NULL);
	const char *base = abs ? strrchr(abs, '/') : NULL;
	struct kiln_buf b = KILN_BUF_INIT;

	base = base && base[1] ? base + 1 : "image";
	for (const char *p = base; *p && b.len < 100; p++) {
		char c = (char)tolower((unsigned char)*p);
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || ((c == '.' || c == '_' || c == '-') && b.len))
			kiln_buf_addch(&b, c);
		else if (b.len)
			kiln_buf_addch(&b, '-');
	}
	if (!b.len)
		kiln_buf_adds(&b, "image");
	return kiln_buf_detach(&b);
}

struct starter_source {
	const char *name;
	char *suite;
	bool present;
};

int kiln_scaffold_init(const struct kiln_scaffold_options *opt, char **written,
		       struct kiln_error *err)
{
	static char *const default_packages[] = { "busybox-static" };
	char *const *pkgs = opt->n_packages ? opt->packages : default_packages;
	size_t n_pkgs = opt->n_packages ? opt->n_packages : 1;
	_cleanup_free_ char *path = kiln_path_join(opt->dir, "kiln.yaml");
	_cleanup_free_ char *suite = opt->suite ? kiln_xstrdup(opt->suite) : host_codename();
	_cleanup_free_ char *name = opt->name ? kiln_xstrdup(opt->name) : name_from_dir(opt->dir);
	_cleanup_free_ char *cache = opt->cache_dir ? kiln_xstrdup(opt->cache_dir)
						    : kiln_cache_dir(NULL, NULL, NULL);
	const char *arch = opt->architecture ? opt->architecture : host_architecture();
	const char *keyring = opt->keyring ? opt->keyring : DEBIAN_KEYRING;
	struct starter_source sources[3] = {
		{ "debian", kiln_xstrdup(suite), false },
		{ "debian-updates", kiln_xasprintf("%s-updates", suite), false },
		{ "debian-security", kiln_xasprintf("%s-security", suite), false },
	};
	struct kiln_aptrepo *repo = NULL;
	struct kiln_packages *idx = NULL;
	struct kiln_buf y = KILN_BUF_INIT;
	struct stat st;
	int rc = -1;

	if (!opt->force && lstat(path, &st) == 0) {
		kiln_error_set(err, "%s already exists (use --force to overwrite it)", path);
		goto out;
	}
	for (size_t i = 0; i < n_pkgs; i++)
		if (!kiln_debversion_package_name_valid(pkgs[i], strlen(pkgs[i]))) {
			kiln_error_set(err, "\"%s\" is not a Debian package name", pkgs[i]);
			goto out;
		}
	repo = kiln_aptrepo_new(cache, err);
	if (!repo)
		goto out;
	repo->progress = opt->progress;
	repo->progress_ctx = opt->progress_ctx;
	idx = kiln_packages_new(arch);
	for (size_t i = 0; i < KILN_ARRAY_SIZE(sources); i++) {
		_cleanup_free_ char *url = kiln_mirror_for_source(opt->mirrors, sources[i].name, sources[i].suite, NULL,
								  NULL, i == 0 ? err : KILN_ERROR_IGNORE);
		char release[KILN_SHA256_HEX_LEN + 1];
		char *components[] = { "main" };
		struct kiln_aptrepo_source src = {
			.name = sources[i].name, .suite = sources[i].suite, .components = components,
			.n_components = 1, .keyring = keyring, .base_url = url, .architecture = arch,
		};

		/* The main suite must work; -updates and -security are a bonus. */
		if (!url) {
			if (i == 0)
				goto out;
			continue;
		}
		if (kiln_aptrepo_load(repo, &src, (uint32_t)i, idx, release,
				      i == 0 ? err : KILN_ERROR_IGNORE) < 0) {
			if (i == 0)
				goto out;
			continue;
		}
		sources[i].present = true;
	}

	kiln_buf_printf(&y,
		"# kiln manifest: see docs/manifest.md.  `kiln lock` resolves it into kiln.lock.\n"
		"kiln: 1\n"
		"name: %s\n"
		"architecture: %s\n"
		"sources:\n", name, arch);
	for (size_t i = 0; i < KILN_ARRAY_SIZE(sources); i++)
		if (sources[i].present)
			kiln_buf_printf(&y,
				"  - name: %s\n"
				"    suite: %s\n"
				"    components: [main]\n"
				"    keyring: %s\n", sources[i].name, sources[i].suite, keyring);
	kiln_buf_adds(&y, "packages:                # exact versions only; `kiln lock` adds their dependencies\n");
	for (size_t i = 0; i < n_pkgs; i++) {
		uint32_t best = KILN_PKG_NONE;
		for (uint32_t it = kiln_packages_lookup(idx, pkgs[i], strlen(pkgs[i])); it != KILN_PKG_NONE;
		     it = kiln_packages_get(idx, it)->next_same_name) {
			const struct kiln_pkg *c = kiln_packages_get(idx, it);
			if (best == KILN_PKG_NONE ||
			    kiln_debversion_compare_n(c->version.ptr, c->version.len,
						      kiln_packages_get(idx, best)->version.ptr,
						      kiln_packages_get(idx, best)->version.len) > 0)
				best = it;
		}
		if (best == KILN_PKG_NONE) {
			kiln_error_set(err, "no package \"%s\" for %s in suite %s", pkgs[i], arch, suite);
			goto out;
		}
		const struct kiln_pkg *b = kiln_packages_get(idx, best);
		kiln_buf_printf(&y, "  %s: \"%.*s\"\n", pkgs[i], (int)b->version.len, b->version.ptr);
	}
	kiln_buf_adds(&y,
		"# files:                 # copied from the built commit's tree\n"
		"#   - {src: www/, dst: /srv/www/, mode: \"0644\"}\n"
		"# run:                   # build-time commands, no network\n"
		"#   - update-ca-certificates\n"
		"config:\n");
	/* An entrypoint only the image can run: busybox's shell when it is
	 * pinned; otherwise none (the command line names what to run). */
	{
		bool busybox = false;
		for (size_t i = 0; i < n_pkgs; i++)
			busybox |= strcmp(pkgs[i], "busybox-static") == 0;
		if (busybox)
			kiln_buf_adds(&y, "  entrypoint: [/bin/busybox]\n  cmd: [sh]\n");
		else
			kiln_buf_adds(&y, "  # entrypoint: [/usr/bin/PROGRAM]   # what `kiln run NAME` runs\n");
	}
	kiln_buf_adds(&y, "  env: {LANG: C.UTF-8}\n");

	if (kiln_mkdir_p(opt->dir, 0755, err) < 0)
		goto out;
	{
		/* .gitignore is the repository's: never read through a symlink
		 * (its target's text would be copied into the work tree). */
		_cleanup_free_ char *gi = kiln_path_join(opt->dir, ".gitignore");
		struct kiln_error read_err = { 0 };
		_cleanup_free_ char *old = NULL;
		bool has_store, has_temps;
		errno = 0;
		old = kiln_file_read_nofollow(gi, 1 << 20, NULL, &read_err);
		if (!old && errno != ENOENT) {
			*err = read_err;
			goto out;
		}
		if (kiln_file_write_atomic(path, y.data, y.len, 0644, err) < 0)
			goto out;
		/* The store's contents are build output, never committed; nor
		 * are the temporary files a killed `kiln lock` leaves (removed
		 * by the next write of the lock). */
		has_store = old && strstr(old, "/snapshots/");
		has_temps = old && strstr(old, "*.lock.tmp.*");
		if (!has_store || !has_temps) {
			struct kiln_buf g = KILN_BUF_INIT;
			if (old) {
				kiln_buf_adds(&g, old);
				if (g.len && g.data[g.len - 1] != '\n')
					kiln_buf_addch(&g, '\n');
			}
			if (!has_store)
				kiln_buf_adds(&g, "# kiln's snapshot store: build output\n/snapshots/*\n"
						  "!/snapshots/README.md\n"
						  "# the private signing key (kiln keygen); public keys in .kiln/trusted/ "
						  "are committed\n/.kiln/signing.key\n");
			if (!has_temps)
				kiln_buf_adds(&g, "# what an interrupted `kiln lock` leaves (the next lock removes it)\n"
						  "*.lock.tmp.*\n");
			rc = kiln_file_write_atomic(gi, g.data, g.len, 0644, err);
			kiln_buf_release(&g);
			if (rc < 0)
				goto out;
		}
	}
	*written = kiln_steal_pointer(&path);
	rc = 0;
out:
	for (size_t i = 0; i < KILN_ARRAY_SIZE(sources); i++)
		free(sources[i].suite);
	kiln_buf_release(&y);
	kiln_packages_free(idx);
	kiln_aptrepo_free(repo);
	return rc;
}
