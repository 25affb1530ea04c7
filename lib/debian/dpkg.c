#include "dpkg.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

void kiln_dpkg_package_release(struct kiln_dpkg_package *p)
{
	if (!p)
		return;
	free(p->package);
	free(p->version);
	free(p->architecture);
	free(p->multi_arch);
	free(p->paragraph);
	free(p->list);
	free(p->md5sums);
	free(p->conffiles);
	free(p->conffiles_status);
	kiln_dpkg_package_drop_members(p);
	memset(p, 0, sizeof(*p));
}

void kiln_dpkg_package_drop_members(struct kiln_dpkg_package *p)
{
	for (size_t i = 0; i < p->n_members; i++) {
		free(p->members[i].name);
		free(p->members[i].data);
	}
	free(p->members);
	p->members = NULL;
	p->n_members = 0;
}

char *kiln_dpkg_info_name(const struct kiln_dpkg_package *pkg)
{
	/* dpkg qualifies the info files of Multi-Arch: same packages only, so
	 * that several architectures of one package can be installed. */
	if (pkg->multi_arch && strcmp(pkg->multi_arch, "same") == 0)
		return kiln_xasprintf("%s:%s", pkg->package, pkg->architecture);
	return kiln_xstrdup(pkg->package);
}

static int package_cmp(const void *a, const void *b)
{
	const struct kiln_dpkg_package *x = *(const struct kiln_dpkg_package *const *)a;
	const struct kiln_dpkg_package *y = *(const struct kiln_dpkg_package *const *)b;
	int c = strcmp(x->package, y->package);

	return c ? c : strcmp(x->architecture, y->architecture);
}

/* Does the line start the field `name` (case-insensitive, as dpkg)? */
static bool field_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name);
	return len > n && strncasecmp(line, name, n) == 0 && line[n] == ':';
}

static void status_paragraph(struct kiln_buf *out, const struct kiln_dpkg_package *p)
{
	const char *s = p->paragraph;
	bool skipping = false, conffiles_done = !p->conffiles_status;

	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		bool continuation = *s == ' ' || *s == '\t';

		if (!continuation) {
			/* Fields only dpkg writes; a control file that has them is
			 * overruled. */
			skipping = field_is(s, len, "Status") || field_is(s, len, "Conffiles");
			if (!conffiles_done && field_is(s, len, "Description")) {
				kiln_buf_printf(out, "Conffiles:\n%s", p->conffiles_status);
				conffiles_done = true;
			}
		}
		if (!skipping) {
			kiln_buf_add(out, s, len);
			kiln_buf_addch(out, '\n');
		}
		if (!continuation && field_is(s, len, "Package"))
			kiln_buf_adds(out, p->unpacked ? "Status: install ok unpacked\n"
						       : "Status: install ok installed\n");
		s += len + (nl ? 1 : 0);
	}
	if (!conffiles_done)
		kiln_buf_printf(out, "Conffiles:\n%s", p->conffiles_status);
	kiln_buf_addch(out, '\n');
}

char *kiln_dpkg_status_text(const struct kiln_dpkg_package *pkgs, size_t n,
			    struct kiln_error *err)
{
	_cleanup_free_ const struct kiln_dpkg_package **sorted = kiln_xcalloc(n + 1, sizeof(*sorted));
	struct kiln_buf out = KILN_BUF_INIT;

	for (size_t i = 0; i < n; i++) {
		const struct kiln_dpkg_package *p = &pkgs[i];
		if (!p->package || !p->version || !p->architecture || !p->paragraph || !p->list ||
		    !p->md5sums) {
			kiln_error_set(err, "dpkg status: package record %zu is incomplete", i);
			kiln_buf_release(&out);
			return NULL;
		}
		sorted[i] = p;
	}
	qsort(sorted, n, sizeof(*sorted), package_cmp);
	for (size_t i = 0; i < n; i++) {
		if (i && package_cmp(&sorted[i - 1], &sorted[i]) == 0) {
			kiln_error_set(err, "dpkg status: package %s:%s twice", sorted[i]->package,
				       sorted[i]->architecture);
			kiln_buf_release(&out);
			return NULL;
		}
		status_paragraph(&out, sorted[i]);
	}
	return kiln_buf_detach(&out);
}

static int line_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int kiln_dpkg_trigger_interests(const struct kiln_dpkg_package *pkgs, size_t n, char **file, char ***names,
				char ***texts, size_t *n_names, struct kiln_error *err)
{
	/* "NAME PKG[/noawait]" pairs, sorted: file triggers start with '/'. */
	char **pairs = NULL;
	size_t n_pairs = 0, cap = 0;
	struct kiln_buf f = KILN_BUF_INIT;
	int rc = -1;

	*file = NULL;
	*names = *texts = NULL;
	*n_names = 0;
	for (size_t i = 0; i < n; i++) {
		const struct kiln_dpkg_member *m = NULL;
		_cleanup_free_ char *who = kiln_dpkg_info_name(&pkgs[i]);
		_cleanup_free_ char *text = NULL;
		char *save = NULL;

		for (size_t k = 0; k < pkgs[i].n_members; k++)
			if (strcmp(pkgs[i].members[k].name, "triggers") == 0)
				m = &pkgs[i].members[k];
		if (!m)
			continue;
		text = kiln_xstrndup(m->data, m->len);
		for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			char *hash = strchr(line, '#'), *w_save = NULL, *dir, *name, *extra;
			const char *opt;
			if (hash)
				*hash = '\0';
			dir = strtok_r(line, " \t", &w_save);
			if (!dir)
				continue;
			name = strtok_r(NULL, " \t", &w_save);
			extra = name ? strtok_r(NULL, " \t", &w_save) : NULL;
			if (!name || extra) {
				kiln_error_set(err, "%s: its triggers file has a malformed line \"%s\"", pkgs[i].package, dir);
				goto out;
			}
			if (strcmp(dir, "interest") == 0 || strcmp(dir, "interest-await") == 0)
				opt = "";
			else if (strcmp(dir, "interest-noawait") == 0)
				opt = "/noawait";
			else if (kiln_str_has_prefix(dir, "activate"))
				continue; /* dpkg acts on these when it configures the package */
			else {
				kiln_error_set(err, "%s: its triggers file has an unknown directive \"%s\"", pkgs[i].package, dir);
				goto out;
			}
			if (name[0] != '/' && (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
							   "0123456789.+-_:") != strlen(name) ||
					       strcmp(name, ".") == 0 || strcmp(name, "..") == 0)) {
				kiln_error_set(err, "%s: its triggers file names \"%s\" (a trigger name or an absolute path)",
					       pkgs[i].package, name);
				goto out;
			}
			kiln_xgrow(&pairs, &cap, n_pairs + 1, sizeof(*pairs));
			pairs[n_pairs++] = kiln_xasprintf("%s %s%s", name, who, opt);
		}
	}
	qsort(pairs, n_pairs, sizeof(*pairs), line_cmp);
	for (size_t i = 0; i < n_pairs; i++) {
		char *sp = strchr(pairs[i], ' ');
		if (pairs[i][0] == '/') {
			kiln_buf_printf(&f, "%s\n", pairs[i]);
			continue;
		}
		if (!*n_names || strncmp((*names)[*n_names - 1], pairs[i], (size_t)(sp - pairs[i])) != 0 ||
		    (*names)[*n_names - 1][sp - pairs[i]] != '\0') {
			*names = kiln_xrealloc(*names, (*n_names + 1) * sizeof(char *));
			*texts = kiln_xrealloc(*texts, (*n_names + 1) * sizeof(char *));
			(*names)[*n_names] = kiln_xstrndup(pairs[i], (size_t)(sp - pairs[i]));
			(*texts)[*n_names] = kiln_xstrdup("");
			(*n_names)++;
		}
		{
			char *t = kiln_xasprintf("%s%s\n", (*texts)[*n_names - 1], sp + 1);
			free((*texts)[*n_names - 1]);
			(*texts)[*n_names - 1] = t;
		}
	}
	*file = f.len ? kiln_buf_detach(&f) : NULL;
	rc = 0;
out:
	kiln_buf_release(&f);
	for (size_t i = 0; i < n_pairs; i++)
		free(pairs[i]);
	free(pairs);
	if (rc < 0) {
		for (size_t i = 0; i < *n_names; i++) {
			free((*names)[i]);
			free((*texts)[i]);
		}
		free(*names);
		free(*texts);
		*names = *texts = NULL;
		*n_names = 0;
	}
	return rc;
}

bool kiln_dpkg_triggers_interested(const char *data, size_t len)
{
	const char *p = data, *end = data + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		while (n && (*p == ' ' || *p == '\t'))
			p++, n--;
		if (n >= 8 && strncmp(p, "interest", 8) == 0)
			return true;
		p += n + 1;
	}
	return false;
}
