/* debcraft.h - making .deb files for the deb and layer tests.
 *
 * Two ways: dpkg-deb --build --root-owner-group on a tree written here
 * (real packages, as Debian makes them), and by hand, byte by byte (tar
 * headers and the ar container), for the hostile ones dpkg-deb refuses to
 * make: "../" and absolute paths, device nodes, lying sizes, bad member
 * order.  Also small helpers to run tools and to look at directories.
 */
#ifndef KILN_TEST_DEBCRAFT_H
#define KILN_TEST_DEBCRAFT_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "compress.h"
#include "fsutil.h"
#include "process.h"
#include "util.h"

/* The mtime every crafted entry gets: 2024-06-01 00:00:00 UTC. */
#define CRAFT_MTIME 1717200000LL

/* ---- files and processes ------------------------------------------------ */

static inline int craft_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static inline void craft_rm_rf(const char *dir)
{
	nftw(dir, craft_rm_one, 32, FTW_DEPTH | FTW_PHYS);
}

static inline char *craft_tmpdir(const char *tag)
{
	char *d = kiln_xasprintf("/tmp/kiln-%s.XXXXXX", tag);
	if (!mkdtemp(d)) {
		perror("mkdtemp");
		exit(2);
	}
	return d;
}

static inline void craft_mkdir(const char *dir, const char *rel, mode_t mode)
{
	_cleanup_free_ char *p = kiln_xasprintf("%s/%s", dir, rel);
	struct kiln_error err = { 0 };

	if (kiln_mkdir_p(p, 0755, &err) < 0) {
		fprintf(stderr, "%s\n", err.message);
		exit(2);
	}
	chmod(p, mode);
}

static inline void craft_write(const char *dir, const char *rel, const char *text, mode_t mode)
{
	_cleanup_free_ char *p = kiln_xasprintf("%s/%s", dir, rel);
	FILE *f = fopen(p, "w");

	if (!f) {
		perror(p);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
	chmod(p, mode);
}

static inline void craft_symlink(const char *dir, const char *rel, const char *target)
{
	_cleanup_free_ char *p = kiln_xasprintf("%s/%s", dir, rel);
	if (symlink(target, p) < 0) {
		perror(p);
		exit(2);
	}
}

static inline void craft_hardlink(const char *dir, const char *rel, const char *target_rel)
{
	_cleanup_free_ char *p = kiln_xasprintf("%s/%s", dir, rel);
	_cleanup_free_ char *t = kiln_xasprintf("%s/%s", dir, target_rel);
	if (link(t, p) < 0) {
		perror(p);
		exit(2);
	}
}

static inline int craft_touch_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	struct timespec ts[2] = { { CRAFT_MTIME, 0 }, { CRAFT_MTIME, 0 } };
	(void)st;
	(void)flag;
	(void)ftw;
	utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW);
	return 0;
}

/* Run a command (NULL-terminated argv); its stdout into *out when out is
 * not NULL.  Returns the exit status (-1 when it could not run). */
static inline int craft_run(struct kiln_buf *out, struct kiln_buf *errout, const char *arg0, ...)
{
	const char *argv[64];
	struct kiln_error err = { 0 };
	va_list ap;
	int n = 0, status = -1;

	argv[n++] = arg0;
	va_start(ap, arg0);
	while (n < 63 && (argv[n] = va_arg(ap, const char *)) != NULL)
		n++;
	va_end(ap);
	argv[n] = NULL;
	if (kiln_process_capture((char *const *)argv, out, errout, &status, &err) < 0) {
		printf("# %s\n", err.message);
		return -1;
	}
	return status;
}

static inline bool craft_have(const char *tool)
{
	_cleanup_free_ char *cmd = kiln_xasprintf("command -v %s >/dev/null 2>&1", tool);
	return system(cmd) == 0;
}

/* Build DIR/tree (which must hold DEBIAN/control) into a .deb with
 * dpkg-deb -Zcomp; returns its path (caller frees) or NULL. */
static inline char *craft_dpkg_deb(const char *dir, const char *tree, const char *comp)
{
	_cleanup_free_ char *root = kiln_xasprintf("%s/%s", dir, tree);
	char *deb = kiln_xasprintf("%s/%s.deb", dir, tree);
	_cleanup_free_ char *z = kiln_xasprintf("-Z%s", comp);
	struct kiln_buf err = KILN_BUF_INIT;
	int st;

	nftw(root, craft_touch_one, 32, FTW_PHYS);
	st = craft_run(NULL, &err, "dpkg-deb", z, "--root-owner-group", "--build", root, deb,
		       (char *)NULL);
	if (st != 0) {
		printf("# dpkg-deb %s failed (%d): %s\n", tree, st, err.data ? err.data : "");
		kiln_buf_release(&err);
		free(deb);
		return NULL;
	}
	kiln_buf_release(&err);
	return deb;
}

/* ---- tar and ar by hand ----------------------------------------------- */

/* Owner and mtime of the entries craft_tar_entry writes next. */
static unsigned craft_uid, craft_gid;
static long long craft_mtime = CRAFT_MTIME;

static inline void craft_octal(char *field, size_t width, unsigned long long v)
{
	char tmp[32];
	snprintf(tmp, sizeof(tmp), "%0*llo", (int)(width - 1), v);
	memcpy(field, tmp, width - 1);
}

static inline void craft_pad(struct kiln_buf *b)
{
	static const char zeros[512];
	if (b->len % 512)
		kiln_buf_add(b, zeros, 512 - b->len % 512);
}

static inline void craft_header(struct kiln_buf *b, const char *name, char type, unsigned mode,
			 unsigned long long size, const char *link)
{
	char h[512];
	unsigned sum = 0;

	memset(h, 0, sizeof(h));
	strncpy(h, name, 100);
	craft_octal(h + 100, 8, mode);
	craft_octal(h + 108, 8, craft_uid);
	craft_octal(h + 116, 8, craft_gid);
	craft_octal(h + 124, 12, size);
	craft_octal(h + 136, 12, (unsigned long long)craft_mtime);
	memset(h + 148, ' ', 8);
	h[156] = type;
	if (link)
		strncpy(h + 157, link, 100);
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memcpy(h + 265, "root", 4);
	memcpy(h + 297, "root", 4);
	for (size_t i = 0; i < 512; i++)
		sum += (unsigned char)h[i];
	snprintf(h + 148, 8, "%06o", sum);
	kiln_buf_add(b, h, 512);
}

/* One entry: type '0' file (data), '1' hard link, '2' symlink, '3' char
 * device, '4' block device, '5' directory, '6' fifo.  Names and link
 * targets longer than 100 bytes go in a pax header.  declared_size, when
 * not 0, is what the header claims, whatever data holds. */
static inline void craft_tar_entry(struct kiln_buf *b, const char *name, char type, unsigned mode,
			    const char *data, const char *link, unsigned long long declared_size)
{
	size_t len = data ? strlen(data) : 0;

	if (strlen(name) > 100 || (link && strlen(link) > 100)) {
		struct kiln_buf pax = KILN_BUF_INIT;
		const char *keys[2] = { "path", "linkpath" };
		const char *vals[2] = { strlen(name) > 100 ? name : NULL,
					link && strlen(link) > 100 ? link : NULL };
		for (int k = 0; k < 2; k++) {
			size_t base, total;
			char digits[32];
			if (!vals[k])
				continue;
			base = strlen(keys[k]) + strlen(vals[k]) + 3;
			total = base + 1;
			while ((size_t)snprintf(digits, sizeof(digits), "%zu", total) + base != total)
				total++;
			kiln_buf_printf(&pax, "%zu %s=%s\n", total, keys[k], vals[k]);
		}
		craft_header(b, "PaxHeader", 'x', 0644, pax.len, NULL);
		kiln_buf_add(b, pax.data, pax.len);
		craft_pad(b);
		kiln_buf_release(&pax);
	}
	craft_header(b, name, type, mode, declared_size ? declared_size : len, link);
	if (len) {
		kiln_buf_add(b, data, len);
		craft_pad(b);
	}
}

static inline void craft_tar_end(struct kiln_buf *b)
{
	static const char zeros[1024];
	kiln_buf_add(b, zeros, sizeof(zeros));
}

static inline void craft_ar_member(struct kiln_buf *b, const char *name, const void *data, size_t len)
{
	char h[61];

	snprintf(h, sizeof(h), "%-16s%-12s%-6s%-6s%-8s%-10zu`\n", name, "0", "0", "0", "100644",
		 len);
	kiln_buf_add(b, h, 60);
	kiln_buf_add(b, data, len);
	if (len % 2)
		kiln_buf_addch(b, '\n');
}

#define CRAFT_CONTROL(pkg, ver, arch) \
	"Package: " pkg "\nVersion: " ver "\nArchitecture: " arch \
	"\nMaintainer: kiln tests <t@kiln.invalid>\nDescription: crafted\n test package\n"

/* A control.tar.gz holding ./control (and ./conffiles when not NULL). */
static inline void craft_control_tar_gz(struct kiln_buf *out, const char *control, const char *conffiles)
{
	struct kiln_buf tar = KILN_BUF_INIT;
	struct kiln_error err = { 0 };

	craft_tar_entry(&tar, "./", '5', 0755, NULL, NULL, 0);
	craft_tar_entry(&tar, "./control", '0', 0644, control, NULL, 0);
	if (conffiles)
		craft_tar_entry(&tar, "./conffiles", '0', 0644, conffiles, NULL, 0);
	craft_tar_end(&tar);
	kiln_compress_gzip(tar.data, tar.len, 6, out, &err);
	kiln_buf_release(&tar);
}

/* A whole .deb: debian-binary, control.tar.gz with `control`, and the
 * given data tar (already ended) as data.tar.gz. */
static inline void craft_deb(struct kiln_buf *deb, const char *control, const struct kiln_buf *data_tar)
{
	struct kiln_buf ctl = KILN_BUF_INIT, data = KILN_BUF_INIT;
	struct kiln_error err = { 0 };

	craft_control_tar_gz(&ctl, control, NULL);
	kiln_compress_gzip(data_tar->data, data_tar->len, 6, &data, &err);
	kiln_buf_add(deb, "!<arch>\n", 8);
	craft_ar_member(deb, "debian-binary", "2.0\n", 4);
	craft_ar_member(deb, "control.tar.gz", ctl.data, ctl.len);
	craft_ar_member(deb, "data.tar.gz", data.data, data.len);
	kiln_buf_release(&ctl);
	kiln_buf_release(&data);
}

static inline bool craft_exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

#endif
