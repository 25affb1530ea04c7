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
	memset(p, 0, sizeof(*p));
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
			kiln_buf_adds(out, "Status: install ok installed\n");
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
