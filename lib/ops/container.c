/* Containers: creating one, and the commands stop, rm, exec and logs.  The
 * parts of the module share container-int.h (docs/architecture.md). */
#include "container.h"
#include "container-int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "fsutil.h"
#include "init.h"
#include "lockfile.h"
#include "net.h"
#include "process.h"
#include "oci.h"
#include "rootfs.h"
#include "runtime.h"
#include "util.h"
#include "values.h"

/* ---- creating ---------------------------------------------------------------- */

static void random_id(char id[KILN_CONTAINER_ID_HEX + 1])
{
	unsigned char raw[KILN_CONTAINER_ID_HEX / 2];
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
		if (n > 0)
			got += (size_t)n;
		else if (errno != EINTR)
			abort();
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(id + 2 * i, 3, "%02x", raw[i]);
}

/* The image's config and its layers unpacked (top first). */
static int prepare_image(const struct kiln_container_root *r, const struct kiln_container_options *o,
			 struct kiln_bundle_image *img, char ***lowers, size_t *n_lowers, struct kiln_error *err)
{
	_cleanup_free_ char *manifest = NULL, *config = NULL, *layers = kiln_path_join(r->root, "layers");
	struct kiln_oci_manifest m = { 0 };
	size_t len;
	int rc = 0;

	manifest = kiln_store_read_blob(o->store, o->manifest_digest, CONFIG_MAX, &len, err);
	if (!manifest || kiln_oci_manifest_parse(manifest, len, &m, err) < 0)
		return kiln_error_prefix(err, "image %s", o->manifest_digest);
	config = kiln_store_read_blob(o->store, m.config.digest, CONFIG_MAX, &len, err);
	if (!config || kiln_bundle_image_parse(config, len, img, err) < 0) {
		kiln_oci_manifest_release(&m);
		return kiln_error_prefix(err, "image %s", o->manifest_digest);
	}
	*lowers = kiln_xcalloc(m.n_layers + 1, sizeof(char *));
	*n_lowers = 0;
	for (size_t i = m.n_layers; i-- > 0;) {
		char *dir = kiln_rootfs_layer(layers, o->store, m.layers[i].digest, err);
		if (!dir) {
			rc = -1;
			break;
		}
		(*lowers)[(*n_lowers)++] = dir;
	}
	kiln_oci_manifest_release(&m);
	if (rc == 0 && *n_lowers == 0)
		rc = kiln_error_set(err, "image %s has no layers", o->manifest_digest);
	if (rc < 0) {
		kiln_strv_free(*lowers, *n_lowers);
		*lowers = NULL;
		kiln_bundle_image_release(img);
	}
	return rc;
}

/* ---- named volumes ---------------------------------------------------------- */

/* The image's directory at dest (absolute) in the mounted rootfs, reached
 * beneath it following no symlink: its descriptor, -2 when the image has
 * no directory there (absent, a file, a symlink there or on the way), -1
 * with err set on any other failure. */
static int image_dir_open(const char *rootfs, const char *dest, struct kiln_error *err)
{
	_cleanup_close_ int rootfd = open(rootfs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_free_ char *copy = kiln_xstrdup(dest);
	_cleanup_buf_ struct kiln_buf rel = KILN_BUF_INIT;
	struct kiln_error local = { 0 };
	char *save = NULL;
	int fd;

	if (rootfd < 0)
		return kiln_error_errno(err, errno, "open '%s'", rootfs);
	/* "/var//lib/./redis/" is var/lib/redis (.. is refused before). */
	for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0)
			continue;
		if (rel.len)
			kiln_buf_addch(&rel, '/');
		kiln_buf_adds(&rel, c);
	}
	if (!rel.len)
		return -2;
	fd = kiln_dir_open_beneath(rootfd, "the image", rel.data, false, 0, &local);
	if (fd >= 0)
		return fd;
	if (errno == ENOENT || errno == ELOOP || errno == ENOTDIR)
		return -2;
	if (err)
		*err = local;
	return -1;
}

/* Remove the temporaries ".NAME.tmp-XXXXXX" of creations of volume name
 * that were killed: those whose lock (volume_temp) nobody holds.  Names
 * starting with '.' are never volumes (kiln_container_name_valid).  Best
 * effort. */
static void volume_sweep_temps(int topfd, const char *top, const char *name)
{
	_cleanup_free_ char *prefix = kiln_xasprintf(".%s.tmp-", name);
	size_t plen = strlen(prefix), n = 0, alloc = 0;
	char **found = NULL;
	struct dirent *de;
	DIR *d = kiln_dir_stream(topfd);

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, prefix, plen) == 0 && strlen(de->d_name) == plen + 6) {
			kiln_xgrow(&found, &alloc, n + 1, sizeof(char *));
			found[n++] = kiln_xstrdup(de->d_name);
		}
	closedir(d);
	for (size_t i = 0; i < n; i++) {
		_cleanup_close_ int fd = openat(topfd, found[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		struct stat held, now;
		if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB) < 0 || fstat(fd, &held) < 0 ||
		    fstatat(topfd, found[i], &now, AT_SYMLINK_NOFOLLOW) < 0 || held.st_ino != now.st_ino ||
		    held.st_dev != now.st_dev)
			continue;
		_cleanup_free_ char *path = kiln_path_join(top, found[i]);
		kiln_remove_tree(path, NULL);
	}
	kiln_strv_free(found, n);
}

/* A new directory ".NAME.tmp-XXXXXX" in top, locked (flock) so that no
 * sweep removes it while it is filled: its descriptor and *tmp_name. */
static int volume_temp(int topfd, const char *top, const char *name, char **tmp_name, struct kiln_error *err)
{
	for (int tries = 0; tries < 16; tries++) {
		_cleanup_free_ char *path = kiln_xasprintf("%s/.%s.tmp-XXXXXX", top, name);
		struct stat held, now;
		const char *base;
		int fd;

		if (!mkdtemp(path))
			return kiln_error_errno(err, errno, "create a directory beside '%s/%s'", top, name);
		base = strrchr(path, '/') + 1;
		fd = openat(topfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno != ENOENT)
			return kiln_error_errno(err, errno, "open '%s'", path);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX) < 0) {
			int saved = errno;
			close(fd);
			rmdir(path);
			return kiln_error_errno(err, saved, "lock '%s'", path);
		}
		/* Between mkdtemp and flock a sweep may have taken it. */
		if (fstat(fd, &held) == 0 && fstatat(topfd, base, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
		    held.st_ino == now.st_ino && held.st_dev == now.st_dev) {
			*tmp_name = kiln_xstrdup(base);
			return fd;
		}
		close(fd);
	}
	return kiln_error_set(err, "create a directory beside '%s/%s': removed as soon as made", top, name);
}

/* volumes/NAME for a container whose image is mounted at rootfs, the
 * volume mounted at dest.  An existing volume is used as it is, even
 * empty.  A new one starts as a copy of the image's directory at dest
 * (owner, group, mode and contents), as Docker's and podman's do
 * (docs/containers.md, Volumes): filled in a temporary directory beside it
 * and renamed into place, so that a kill leaves no half-filled volume and
 * a volume another creation renamed first wins.  Empty and 0755 when the
 * image has no directory there. */
static int volume_ensure(const char *top, const char *name, const char *rootfs, const char *dest,
			 struct kiln_error *err)
{
	_cleanup_close_ int topfd = kiln_dir_open(top, false, 0, err), src = -1, tmp = -1;
	_cleanup_free_ char *tmp_name = NULL, *tmp_path = NULL, *label = NULL;
	struct stat st;
	int rc;

	if (topfd < 0)
		return -1;
	if (fstatat(topfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISDIR(st.st_mode))
			return kiln_error_set(err, "volume '%s': '%s/%s' is not a directory", name, top, name);
		return 0;
	}
	if (errno != ENOENT)
		return kiln_error_errno(err, errno, "volume '%s': '%s/%s'", name, top, name);
	volume_sweep_temps(topfd, top, name);
	src = image_dir_open(rootfs, dest, err);
	if (src == -1)
		return kiln_error_prefix(err, "volume '%s'", name);
	if (src == -2) {
		if (mkdirat(topfd, name, 0755) < 0 && errno != EEXIST)
			return kiln_error_errno(err, errno, "volume '%s': create '%s/%s'", name, top, name);
		return 0;
	}
	tmp = volume_temp(topfd, top, name, &tmp_name, err);
	if (tmp < 0)
		return kiln_error_prefix(err, "volume '%s'", name);
	tmp_path = kiln_path_join(top, tmp_name);
	label = kiln_xasprintf("the image's %s", dest);
	rc = kiln_dir_copy_tree(src, tmp, label, err);
	/* The copy on disk before its name: one syncfs, not a fsync per file. */
	if (rc == 0 && syncfs(tmp) < 0)
		rc = kiln_error_errno(err, errno, "sync '%s'", tmp_path);
	if (rc == 0 && renameat2(topfd, tmp_name, topfd, name, RENAME_NOREPLACE) < 0) {
		if (errno != EEXIST)
			rc = kiln_error_errno(err, errno, "rename '%s' to '%s'", tmp_path, name);
	} else if (rc == 0) {
		return kiln_fsync_fd(topfd, top, err) < 0 ? kiln_error_prefix(err, "volume '%s'", name) : 0;
	}
	/* Failed, or another creation's volume is in place: ours goes. */
	kiln_remove_tree(tmp_path, NULL);
	return rc < 0 ? kiln_error_prefix(err, "volume '%s'", name) : 0;
}

/* -v NAME:PATH[:ro] or /HOST:PATH[:ro] → a bind mount. */
static int parse_volume(const struct kiln_container_root *r, const char *rootfs, const char *text, char **source,
			char **dest, bool *readonly, struct kiln_error *err)
{
	_cleanup_free_ char *copy = kiln_xstrdup(text), *dest_canon = NULL;
	char *colon = strchr(copy, ':'), *mode;

	if (!colon)
		return kiln_error_set(err, "volume '%s': expected NAME:PATH", text);
	*colon = 0;
	mode = strchr(colon + 1, ':');
	if (mode)
		*mode++ = 0;
	*readonly = mode && strcmp(mode, "ro") == 0;
	if (mode && !*readonly && strcmp(mode, "rw") != 0)
		return kiln_error_set(err, "volume '%s': mode '%s' is not ro or rw", text, mode);
	if (colon[1] != '/' || strstr(colon + 1, "/../") || kiln_str_has_suffix(colon + 1, "/.."))
		return kiln_error_set(err, "volume '%s': the container path must be absolute, without ..", text);
	/* The path in one spelling ("//proc/" and "/./proc" are /proc), so
	 * that the checks below see what the mount will cover. */
	{
		_cleanup_buf_ struct kiln_buf canon = KILN_BUF_INIT;
		char *save = NULL;
		for (char *c = strtok_r(colon + 1, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
			if (strcmp(c, ".") == 0)
				continue;
			if (strcmp(c, "..") == 0)
				return kiln_error_set(err, "volume '%s': the container path must be absolute, "
						      "without ..", text);
			kiln_buf_addch(&canon, '/');
			kiln_buf_adds(&canon, c);
		}
		if (!canon.len)
			kiln_buf_addch(&canon, '/');
		dest_canon = kiln_buf_detach(&canon);
	}
	/* Not the root, nor what the runtime mounts itself (a volume over
	 * /proc would be a writable, persistent fake /proc). */
	{
		static const char *const reserved[] = { "/proc", "/sys", "/dev" };
		const char *d = dest_canon;
		size_t dl = strlen(d);
		if (dl == 1)
			return kiln_error_set(err, "volume '%s': cannot mount over the container's /", text);
		for (size_t i = 0; i < KILN_ARRAY_SIZE(reserved); i++) {
			size_t rl = strlen(reserved[i]);
			if (dl >= rl && strncmp(d, reserved[i], rl) == 0 && (dl == rl || d[rl] == '/'))
				return kiln_error_set(err, "volume '%s': %s is the container's own, not a place for a "
						      "volume", text, reserved[i]);
		}
	}
	if (copy[0] == '/') {
		struct stat st;
		if (stat(copy, &st) < 0)
			return kiln_error_errno(err, errno, "volume '%s': host path '%s'", text, copy);
		*source = kiln_xstrdup(copy);
	} else {
		if (!kiln_container_name_valid(copy))
			return kiln_error_set(err, "volume '%s': bad name '%s'", text, copy);
		/* volumes/ is root's alone (0700, also when it exists): a
		 * container's root may put setuid files in a volume. */
		_cleanup_free_ char *top = kiln_xasprintf("%s/volumes", r->root);
		if (kiln_mkdir_p(top, 0700, err) < 0)
			return -1;
		if (chmod(top, 0700) < 0)
			return kiln_error_errno(err, errno, "chmod '%s'", top);
		*source = kiln_xasprintf("%s/%s", top, copy);
		if (volume_ensure(top, copy, rootfs, dest_canon, err) < 0)
			return -1;
	}
	*dest = kiln_steal_pointer(&dest_canon);
	return 0;
}

static int reserve_name(const struct kiln_container_root *r, const char *name, const char *id,
			struct kiln_error *err)
{
	_cleanup_free_ char *link = kiln_xasprintf("%s/names/%s", r->run, name);
	char target[KILN_CONTAINER_ID_HEX + 2];
	ssize_t n;

	if (symlink(id, link) == 0)
		return 0;
	if (errno != EEXIST)
		return kiln_error_errno(err, errno, "name '%s'", name);
	n = readlink(link, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = 0;
	return kiln_error_set(err, "the name '%s' is taken by container %.12s (kiln rm it first)", name, target);
}

/* The network mode: bundle mode + netns path. */
/* Is /sys/fs/cgroup the unified (v2) hierarchy?  Then containers get a
 * cgroup namespace, so they do not see the host's cgroup tree. */
static bool cgroup2_unified(void)
{
	struct statfs fs;
	return statfs("/sys/fs/cgroup", &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC;
}

static int network_mode(struct kiln_container_root *r, const char *mode, enum kiln_bundle_network *net,
			char **netns, struct kiln_error *err)
{
	*netns = NULL;
	if (strcmp(mode, "none") == 0) {
		*net = KILN_BUNDLE_NET_NONE;
	} else if (strcmp(mode, "host") == 0) {
		*net = KILN_BUNDLE_NET_HOST;
	} else if (strcmp(mode, "bridge") == 0) {
		*net = KILN_BUNDLE_NET_BRIDGE;
	} else if (kiln_str_has_prefix(mode, "container:")) {
		struct kiln_container other;
		if (kiln_container_find(r, mode + 10, &other, err) < 0)
			return kiln_error_prefix(err, "--network %s", mode);
		if (other.status != KILN_CONTAINER_RUNNING || other.pid <= 0 || !kiln_container_monitored(r, &other)) {
			kiln_container_release(&other);
			return kiln_error_set(err, "--network %s: that container is not running", mode);
		}
		*net = KILN_BUNDLE_NET_JOIN;
		*netns = kiln_xasprintf("/proc/%d/ns/net", (int)other.pid);
		kiln_container_release(&other);
	} else {
		return kiln_error_set(err, "--network '%s': expected bridge, host, none or container:NAME", mode);
	}
	return 0;
}

/* RFC 1123: dot-separated labels of letters, digits and '-', not starting
 * or ending with '-', 1-63 characters each, 253 in all. */
static bool hostname_valid(const char *h)
{
	size_t len = strlen(h), label = 0;

	if (len == 0 || len > 253)
		return false;
	for (size_t i = 0; i <= len; i++) {
		char c = h[i];
		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || h[i - 1] == '-')
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			   (c == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

/* The container's /etc/hosts, /etc/hostname and /etc/resolv.conf, as
 * Docker gives them: files in its state directory, bound over the image's.
 * resolv.conf is the host's, without loopback name servers (unreachable
 * from a network namespace of its own); a bridge container's address is
 * added to hosts once it is leased (network_up). */
static const char *const etc_files[] = { "hosts", "hostname", "resolv.conf" };

static int write_etc_files(const char *sdir, const char *hostname, bool own_netns, struct kiln_error *err)
{
	_cleanup_free_ char *host_resolv = kiln_file_read("/etc/resolv.conf", 1 << 16, NULL, NULL);
	struct kiln_buf hosts = KILN_BUF_INIT, resolv = KILN_BUF_INIT;
	char *save = NULL;
	int rc = -1;

	kiln_buf_printf(&hosts, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
	for (char *line = host_resolv ? strtok_r(host_resolv, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		const char *p = line;
		if (own_netns && strncmp(p, "nameserver", 10) == 0) {
			p += 10;
			p += strspn(p, " \t");
			if (strncmp(p, "127.", 4) == 0 || strncmp(p, "::1", 3) == 0)
				continue;
		}
		kiln_buf_printf(&resolv, "%s\n", line);
	}
	{
		_cleanup_free_ char *ph = kiln_path_join(sdir, "hosts"), *pn = kiln_path_join(sdir, "hostname");
		_cleanup_free_ char *pr = kiln_path_join(sdir, "resolv.conf");
		_cleanup_free_ char *name = kiln_xasprintf("%s\n", hostname);
		if (kiln_container_write_file_quick(ph, hosts.data, hosts.len, err) < 0 ||
		    kiln_container_write_file_quick(pn, name, strlen(name), err) < 0 ||
		    kiln_container_write_file_quick(pr, resolv.data ? resolv.data : "", resolv.len, err) < 0)
			goto out;
	}
	rc = 0;
out:
	kiln_buf_release(&hosts);
	kiln_buf_release(&resolv);
	return rc;
}

/* Steps of creation after the lock: fills c, mounts, writes config.json.
 * On failure the caller destroys what exists. */
static int create_locked(struct kiln_container_root *r, const struct kiln_container_options *o,
			 struct kiln_bundle_image *img, char **lowers, size_t n_lowers, struct kiln_container *c,
			 int *lock_fd, struct kiln_error *err)
{
	_cleanup_free_ char *sdir = kiln_container_state_dir(r, c->id), *ldir = kiln_container_layer_dir(r, c->id);
	_cleanup_free_ char *rootfs = kiln_path_join(sdir, "rootfs"), *upper = kiln_path_join(ldir, "upper");
	_cleanup_free_ char *work = kiln_path_join(ldir, "work"), *lock = kiln_path_join(sdir, "monitor.lock");
	_cleanup_free_ char *passwd = NULL, *group = NULL, *netns = NULL, *json = NULL, *cgroups = NULL;
	_cleanup_free_ char *config_path = kiln_path_join(sdir, "config.json"), *init_path = NULL;
	struct kiln_bundle_process proc = { 0 };
	struct kiln_bundle_mount *mounts = NULL;
	char **sources = NULL, **dests = NULL;
	size_t n_mounts = 0;
	struct kiln_bundle_spec spec = { 0 };
	enum kiln_bundle_network net = KILN_BUNDLE_NET_NONE;
	struct rlimit nofile;
	int rc = -1;

	if (mkdir(sdir, 0700) < 0)
		return kiln_error_errno(err, errno, "create '%s'", sdir);
	*lock_fd = kiln_lockfile_open(lock, 0600, 0, err);
	if (*lock_fd < 0)
		return -1;
	if (reserve_name(r, c->name, c->id, err) < 0) {
		free(c->name);
		c->name = kiln_xstrdup(""); /* not ours: destroy must not remove it */
		return -1;
	}
	if (kiln_container_state_save(r, c, err) < 0)
		return -1;
	if (network_mode(r, c->network, &net, &netns, err) < 0)
		return -1;
	if (kiln_mkdir_p(ldir, 0700, err) < 0 ||
	    kiln_rootfs_mount(lowers, n_lowers, upper, work, rootfs, err) < 0)
		return -1;

	{
		/* A missing file is no error (numeric users need none). */
		struct kiln_error rerr = { 0 };
		passwd = kiln_bundle_read_image_file(rootfs, "etc/passwd", IMAGE_FILE_MAX, &rerr);
		if (!kiln_error_isset(&rerr))
			group = kiln_bundle_read_image_file(rootfs, "etc/group", IMAGE_FILE_MAX, &rerr);
		if (kiln_error_isset(&rerr)) {
			if (err)
				*err = rerr;
			return -1;
		}
	}
	{
		struct kiln_bundle_process_options po = {
			.entrypoint = o->entrypoint, .n_entrypoint = o->n_entrypoint,
			.has_entrypoint = o->has_entrypoint, .cmd = o->cmd, .n_cmd = o->n_cmd,
			.env = o->env, .n_env = o->n_env, .user = o->user, .workdir = o->workdir,
			.hostname = o->hostname ? o->hostname : c->name, .terminal = o->terminal,
			.passwd = passwd, .group = group,
		};
		if (kiln_bundle_process_resolve(img, &po, &proc, err) < 0)
			return -1;
	}
	kiln_strv_free(c->command, c->n_command);
	c->command = kiln_strv_dup(proc.args, proc.n_args);
	c->n_command = proc.n_args;
	/* --init: kiln's init is PID 1 and runs the command (init.h). */
	if (o->init) {
		init_path = kiln_init_install(r->root, err);
		if (!init_path)
			goto out;
		char **args = kiln_xcalloc(proc.n_args + 3, sizeof(char *));
		args[0] = kiln_xstrdup(KILN_INIT_CONTAINER_PATH);
		args[1] = kiln_xstrdup("--");
		memcpy(args + 2, proc.args, proc.n_args * sizeof(char *));
		free(proc.args);
		proc.args = args;
		proc.n_args += 2;
	}

	n_mounts = o->n_volumes + KILN_ARRAY_SIZE(etc_files) + (init_path ? 1 : 0);
	mounts = kiln_xcalloc(n_mounts, sizeof(*mounts));
	sources = kiln_xcalloc(n_mounts, sizeof(char *));
	dests = kiln_xcalloc(n_mounts, sizeof(char *));
	/* /etc files first: a volume the user puts at /etc wins over them. */
	if (write_etc_files(sdir, o->hostname ? o->hostname : c->name, net != KILN_BUNDLE_NET_HOST, err) < 0)
		goto out;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(etc_files); i++) {
		sources[i] = kiln_path_join(sdir, etc_files[i]);
		dests[i] = kiln_xasprintf("/etc/%s", etc_files[i]);
		mounts[i].source = sources[i];
		mounts[i].destination = dests[i];
	}
	for (size_t k = 0; k < o->n_volumes; k++) {
		size_t i = KILN_ARRAY_SIZE(etc_files) + k;
		if (parse_volume(r, rootfs, o->volumes[k], &sources[i], &dests[i], &mounts[i].readonly, err) < 0)
			goto out;
		mounts[i].source = sources[i];
		mounts[i].destination = dests[i];
	}
	/* A file on the container's /dev tmpfs: nothing lands in the image. */
	if (init_path) {
		size_t i = n_mounts - 1;
		sources[i] = kiln_xstrdup(init_path);
		dests[i] = kiln_xstrdup(KILN_INIT_CONTAINER_PATH);
		mounts[i].source = sources[i];
		mounts[i].destination = dests[i];
		mounts[i].readonly = true;
	}
	if (getrlimit(RLIMIT_NOFILE, &nofile) < 0) {
		nofile.rlim_cur = 1024;
		nofile.rlim_max = 4096;
	}
	cgroups = kiln_xasprintf("%s/%s", r->cgroup_parent, c->id);
	spec = (struct kiln_bundle_spec){
		.root_path = "rootfs", .hostname = o->hostname ? o->hostname : c->name, .process = &proc,
		.terminal = o->terminal, .volumes = mounts, .n_volumes = n_mounts, .network = net,
		.netns_path = netns, .memory = o->memory, .cpus = o->cpus,
		.pids = o->pids == 0 ? KILN_CONTAINER_PIDS_DEFAULT : o->pids < 0 ? 0 : o->pids,
		.cap_add = o->cap_add, .n_cap_add = o->n_cap_add, .cap_drop = o->cap_drop, .n_cap_drop = o->n_cap_drop,
		.cgroups_path = cgroups, .nofile_soft = nofile.rlim_cur, .nofile_hard = nofile.rlim_max,
		.cgroup_ns = cgroup2_unified(),
	};
	json = kiln_bundle_config_json(&spec, err);
	if (!json || kiln_container_write_file_quick(config_path, json, strlen(json), err) < 0)
		goto out;
	rc = kiln_container_state_save(r, c, err);
out:
	kiln_bundle_process_release(&proc);
	kiln_strv_free(sources, n_mounts);
	kiln_strv_free(dests, n_mounts);
	free(mounts);
	return rc;
}

int kiln_container_create(struct kiln_container_root *r, const struct kiln_container_options *o,
			  struct kiln_container *c, int *lock_fd, struct kiln_error *err)
{
	struct kiln_bundle_image img = { 0 };
	char **lowers = NULL;
	size_t n_lowers = 0;
	int rc;

	memset(c, 0, sizeof(*c));
	*lock_fd = -1;
	if (o->name && !kiln_container_name_valid(o->name))
		return kiln_error_set(err, "--name '%s': use letters, digits, '_', '.', '-' (at most 64)", o->name);
	if (o->hostname && !hostname_valid(o->hostname))
		return kiln_error_set(err, "--hostname '%s': use labels of letters, digits and '-', joined by '.' "
				      "(at most 63 characters each, 253 in all)", o->hostname);
	const char *runtime = o->runtime;
	if (!runtime || !*runtime)
		runtime = DEFAULT_RUNTIME;
	if (strcmp(runtime, "runc") != 0 && strcmp(runtime, "kiln") != 0)
		return kiln_error_set(err, "--runtime %s: expected kiln or runc", runtime);
	for (size_t i = 0; i < o->n_ports; i++) {
		struct kiln_net_port port;
		if (kiln_net_parse_port(o->ports[i], &port, err) < 0 || kiln_net_port_available(&port, err) < 0)
			return kiln_error_prefix(err, "-p %s", o->ports[i]);
	}
	/* Unpacking can take a while: before the lock. */
	if (prepare_image(r, o, &img, &lowers, &n_lowers, err) < 0)
		return -1;
	random_id(c->id);
	c->name = o->name ? kiln_xstrdup(o->name) : kiln_xstrndup(c->id, 12);
	c->snapshot = kiln_xstrdup(o->snapshot ? o->snapshot : o->manifest_digest);
	c->image = kiln_xstrdup(o->manifest_digest);
	c->commit = o->commit && *o->commit ? kiln_xstrdup(o->commit) : NULL;
	c->service = o->service && *o->service ? kiln_xstrdup(o->service) : NULL;
	c->command = kiln_xcalloc(1, sizeof(char *));
	c->runtime = kiln_xstrdup(runtime);
	c->network = kiln_xstrdup(o->network ? o->network : DEFAULT_NETWORK);
	c->ports = kiln_strv_dup(o->ports, o->n_ports);
	c->n_ports = o->n_ports;
	c->stop_signal = img.stop_signal ? kiln_xstrdup(img.stop_signal) : NULL;
	c->auto_remove = o->auto_remove;
	c->init = o->init;
	c->status = KILN_CONTAINER_CREATED;
	c->created = kiln_now_seconds();
	c->monitor_pid = getpid();

	if (o->n_ports && strcmp(c->network, "bridge") != 0)
		rc = kiln_error_set(err, "-p needs --network bridge");
	else if (kiln_container_lock(r, err) < 0)
		rc = -1;
	else
		rc = create_locked(r, o, &img, lowers, n_lowers, c, lock_fd, err);
	if (rc < 0) {
		kiln_container_destroy(r, c, NULL);
		if (*lock_fd >= 0)
			close(*lock_fd);
		*lock_fd = -1;
	}
	kiln_container_unlock(r);
	kiln_strv_free(lowers, n_lowers);
	kiln_bundle_image_release(&img);
	return rc;
}

/* ---- stop, rm, exec, logs -------------------------------------------------------- */

static int signal_number(const char *name)
{
	static const struct { const char *name; int sig; } sigs[] = {
		{ "TERM", SIGTERM }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "HUP", SIGHUP },
		{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "WINCH", SIGWINCH },
	};
	if (!name || !*name)
		return SIGTERM;
	if (name[0] >= '0' && name[0] <= '9')
		return atoi(name) > 0 && atoi(name) < 65 ? atoi(name) : SIGTERM;
	if (kiln_str_has_prefix(name, "SIG"))
		name += 3;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(sigs); i++)
		if (strcmp(sigs[i].name, name) == 0)
			return sigs[i].sig;
	return SIGTERM;
}

/* Wait until the monitor is gone (its lock free); false on timeout. */
static bool wait_unmonitored(const struct kiln_container_root *r, const struct kiln_container *c, int64_t ms)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	for (int64_t waited = 0; waited <= ms; waited += 10) {
		if (!kiln_container_monitored(r, c))
			return true;
		nanosleep(&tick, NULL);
	}
	return false;
}

/* The container's init pid, once it runs (a container still starting gets
 * up to 2 s to get there). */
static pid_t current_pid(const struct kiln_container_root *r, const struct kiln_container *c)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	struct kiln_container fresh;
	pid_t pid = 0;

	if (c->pid > 0)
		return c->pid;
	for (int i = 0; i < 200 && pid <= 0 && kiln_container_monitored(r, c); i++) {
		if (kiln_container_state_load(r, c->id, &fresh, NULL) == 0) {
			pid = fresh.pid;
			kiln_container_release(&fresh);
		}
		if (pid <= 0)
			nanosleep(&tick, NULL);
	}
	return pid;
}

int kiln_container_stop(struct kiln_container_root *r, const struct kiln_container *c, int timeout,
			struct kiln_error *err)
{
	pid_t pid = current_pid(r, c);

	if (!kiln_container_monitored(r, c))
		return kiln_container_reap(r, err);
	if (pid > 0)
		kill(pid, signal_number(c->stop_signal));
	if (wait_unmonitored(r, c, (int64_t)timeout * 1000))
		return 0;
	/* A container still starting had no pid to signal: ask again now. */
	if (pid <= 0)
		pid = current_pid(r, c);
	if (pid <= 0)
		return kiln_error_set(err, "container %s: it has not started yet (no process to stop); try again",
				      c->name);
	kill(pid, SIGKILL);
	if (!wait_unmonitored(r, c, 10000))
		return kiln_error_set(err, "container %s: still running 10 s after SIGKILL", c->name);
	return 0;
}

int kiln_container_remove(struct kiln_container_root *r, const struct kiln_container *c, bool force,
			  struct kiln_error *err)
{
	struct kiln_container fresh;
	int fd, rc;

	if (kiln_container_monitored(r, c)) {
		if (!force)
			return kiln_error_set(err, "container %s is running: stop it first, or rm -f", c->name);
		pid_t pid = current_pid(r, c);
		if (pid > 0)
			kill(pid, SIGKILL);
		if (!wait_unmonitored(r, c, 10000))
			return kiln_error_set(err, "container %s: still running 10 s after SIGKILL", c->name);
	}
	if (kiln_container_lock(r, err) < 0)
		return -1;
	fd = kiln_container_monitor_lock_try(r, c->id);
	if (fd == -1) {
		kiln_container_unlock(r);
		return kiln_error_set(err, "container %s was started again meanwhile", c->name);
	}
	/* --rm containers remove themselves: nothing may be left to do. */
	if (kiln_container_state_load(r, c->id, &fresh, NULL) < 0) {
		if (fd >= 0)
			close(fd);
		kiln_container_unlock(r);
		return 0;
	}
	rc = kiln_container_destroy(r, &fresh, err);
	kiln_container_release(&fresh);
	if (fd >= 0)
		close(fd);
	kiln_container_unlock(r);
	return rc;
}

/* Shuttle bytes between our terminal and a pty until child exits; its code. */
static int proxy_pty(int master, pid_t child)
{
	struct termios saved, t;
	bool raw = false;
	int in = 0, status, code = -1;

	signal(SIGPIPE, SIG_IGN);
	if (tcgetattr(0, &saved) == 0) {
		t = saved;
		cfmakeraw(&t);
		raw = tcsetattr(0, TCSANOW, &t) == 0;
	}
	kiln_container_resize_pty(master);
	for (;;) {
		struct pollfd fds[2] = { { master, POLLIN, 0 }, { in, POLLIN, 0 } };
		pid_t p = waitpid(child, &status, WNOHANG);
		if (p == child) {
			code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			child = -1;
		}
		if (poll(fds, 2, child > 0 ? 50 : 0) <= 0) {
			if (child < 0)
				break;
			continue;
		}
		if (fds[0].revents) {
			char chunk[16384];
			ssize_t n = read(master, chunk, sizeof(chunk));
			if (n <= 0 && errno != EINTR && errno != EAGAIN) {
				if (child < 0)
					break;
				fds[0].fd = -1;
				master = -1;
				code = child > 0 ? kiln_container_wait_status(child) : code;
				break;
			}
			if (n > 0)
				kiln_write_all(1, chunk, (size_t)n);
		}
		if (fds[1].revents)
			kiln_container_copy_in(&in, master);
	}
	if (raw)
		tcsetattr(0, TCSANOW, &saved);
	return code;
}

/* kiln exec passes SIGINT, SIGTERM, SIGHUP and SIGQUIT on to the command
 * it runs, as kiln run does in the foreground: a caller that stops kiln
 * exec (a health check's timeout, docs/deploy.md) stops the command too,
 * rather than leaving it running in the container. */
static volatile sig_atomic_t exec_child, exec_pending;

static void exec_forward(int sig)
{
	if (exec_child > 0)
		kill((pid_t)exec_child, sig);
	else
		exec_pending = sig; /* the command is not started yet */
}

/* Forward from now on (pid 0: the command is being started; a signal that
 * comes meanwhile is passed on once exec_forward_to names it), or put the
 * old handlers back (restore). */
static void exec_forward_signals(bool restore, struct sigaction old[4])
{
	static const int sigs[4] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
	struct sigaction sa = { .sa_handler = exec_forward, .sa_flags = SA_RESTART };

	sigemptyset(&sa.sa_mask);
	if (!restore) {
		exec_child = 0;
		exec_pending = 0;
	}
	for (int i = 0; i < 4; i++)
		sigaction(sigs[i], restore ? &old[i] : &sa, restore ? NULL : &old[i]);
}

static void exec_forward_to(pid_t pid)
{
	exec_child = pid;
	if (exec_pending && pid > 0)
		kill(pid, exec_pending);
}

int kiln_container_exec(struct kiln_container_root *r, const struct kiln_container *c, char *const argv[],
			bool terminal, int *exit_code, struct kiln_error *err)
{
	struct sigaction old[4];

	size_t n = 0;
	pid_t pid;

	if (c->status != KILN_CONTAINER_RUNNING || c->pid <= 0 || !kiln_container_monitored(r, c))
		return kiln_error_set(err, "container %s is not running", c->name);
	while (argv[n])
		n++;
	if (strcmp(c->runtime, "kiln") == 0) {
		_cleanup_free_ char *bundle = kiln_container_state_dir(r, c->id);
		struct kiln_runtime_options o;
		int master = -1;
		kiln_container_runtime_options(r, c, bundle, &o);
		if (terminal) {
			o.exec_terminal = true;
			o.pty_master = &master;
		} else {
			o.stdio.in = 0;
			o.stdio.out = 1;
			o.stdio.err = 2;
		}
		if (master < 0 && !terminal)
			exec_forward_signals(false, old);
		pid = kiln_runtime_exec(&o, c->pid, argv, NULL, NULL, err);
		if (pid < 0) {
			if (!terminal)
				exec_forward_signals(true, old);
			return kiln_error_prefix(err, "exec in %s", c->name);
		}
		if (master >= 0) {
			*exit_code = proxy_pty(master, pid);
			close(master);
		} else {
			exec_forward_to(pid);
			*exit_code = kiln_runtime_wait(pid, err);
			exec_forward_signals(true, old);
		}
		return *exit_code < 0 ? -1 : 0;
	}
	_cleanup_free_ char **args = kiln_xcalloc(n + 8, sizeof(char *));
	size_t k = 0;
	args[k++] = "runc";
	args[k++] = "--root";
	args[k++] = r->runc_root;
	args[k++] = "exec";
	if (terminal)
		args[k++] = "-t";
	args[k++] = (char *)c->id;
	for (size_t i = 0; i < n; i++)
		args[k++] = argv[i];
	args[k] = NULL;
	exec_forward_signals(false, old);
	pid = kiln_container_spawn(args, 0, 1, 2, err);
	if (pid < 0) {
		exec_forward_signals(true, old);
		return -1;
	}
	exec_forward_to(pid); /* runc exec passes them on in turn */
	*exit_code = kiln_container_wait_status(pid);
	exec_forward_signals(true, old);
	return 0;
}

/* The log's files, oldest first (see "the log" above), into fds (*n of
 * them), opened under log.lock (shared) so that no rotation happens in
 * between.  With after >= 0 (an open file of the log), only the files
 * newer than it: all that are left when it has been rotated away.
 * lock_fd < 0: no lock (a log no monitor of this version wrote, never
 * rotated). */
static int log_open_set(const char *dir, int lock_fd, int after, int *fds, size_t *n, struct kiln_error *err)
{
	struct stat st, mine;
	int k, last, rc = 0;

	*n = 0;
	if (lock_fd >= 0)
		kiln_lockfile_lock(lock_fd, "log.lock", KILN_LOCKFILE_SHARED, NULL);
	for (last = 0; last + 1 < KILN_CONTAINER_LOG_FILES_MAX; last++) {
		_cleanup_free_ char *path = kiln_container_log_path(dir, last + 1);
		if (stat(path, &st) < 0)
			break;
	}
	/* log.last … log.1 exist; after, when among them, is older than the rest. */
	if (after >= 0 && fstat(after, &mine) == 0) {
		for (k = 1; k <= last; k++) {
			_cleanup_free_ char *path = kiln_container_log_path(dir, k);
			if (stat(path, &st) == 0 && st.st_ino == mine.st_ino && st.st_dev == mine.st_dev) {
				last = k - 1;
				break;
			}
		}
	}
	for (k = last; k >= 0 && rc == 0; k--) {
		_cleanup_free_ char *path = kiln_container_log_path(dir, k);
		int f = open(path, O_RDONLY | O_CLOEXEC);
		if (f >= 0)
			fds[(*n)++] = f;
		else if (errno != ENOENT)
			rc = kiln_error_errno(err, errno, "open '%s'", path);
	}
	if (lock_fd >= 0)
		kiln_lockfile_unlock(lock_fd);
	if (rc < 0) {
		while (*n > 0)
			close(fds[--*n]);
	}
	return rc;
}

/* Has the file open as fd stopped being "log" (rotated)? */
static bool log_rotated(const char *dir, int fd)
{
	_cleanup_free_ char *path = kiln_container_log_path(dir, 0);
	struct stat a, b;

	if (fstat(fd, &a) < 0)
		return false;
	return stat(path, &b) < 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev;
}

/* Copy in (a file of the log in dir) to its end into out; 0, 1 when out
 * is closed, or -1. */
static int log_copy(const char *dir, int in, int out, struct kiln_error *err)
{
	char chunk[16384];

	for (;;) {
		ssize_t n = read(in, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return kiln_error_errno(err, errno, "read the log in '%s'", dir);
		if (n == 0)
			return 0;
		int e = kiln_write_all(out, chunk, (size_t)n);
		if (e)
			return e == EPIPE ? 1 : kiln_error_errno(err, e, "write the log");
	}
}

int kiln_container_logs(struct kiln_container_root *r, const struct kiln_container *c, bool follow, int fd,
			struct kiln_error *err)
{
	_cleanup_free_ char *dir = kiln_container_state_dir(r, c->id), *lock = kiln_path_join(dir, "log.lock");
	_cleanup_close_ int lock_fd = open(lock, O_RDONLY | O_CLOEXEC);
	int fds[KILN_CONTAINER_LOG_FILES_MAX];
	struct timespec tick = { 0, 50 * 1000 * 1000 };
	size_t n, i = 0;
	int cur = -1, rc = 0;
	bool last_look = false;

	if (log_open_set(dir, lock_fd, -1, fds, &n, err) < 0)
		return -1;
	for (;;) {
		/* Each file to its end, oldest first; the last one, the file
		 * being written, stays open. */
		for (; i < n && rc == 0; i++) {
			if (cur >= 0)
				close(cur);
			cur = fds[i];
			rc = log_copy(dir, cur, fd, err);
		}
		for (; i < n; i++)
			close(fds[i]);
		if (rc != 0 || cur < 0 || !follow)
			break;
		if (log_rotated(dir, cur)) {
			/* What was written before the rotation is in cur: drain it,
			 * then on to the newer files. */
			if ((rc = log_copy(dir, cur, fd, err)) != 0)
				break;
			if (log_open_set(dir, lock_fd, cur, fds, &n, err) < 0) {
				rc = -1;
				break;
			}
			i = 0;
			if (n > 0)
				continue;
			/* None yet (the container being removed): wait as below. */
		}
		if (last_look)
			break;
		if (!kiln_container_monitored(r, c))
			last_look = true; /* one more round: it may have written before going */
		else
			nanosleep(&tick, NULL);
		if ((rc = log_copy(dir, cur, fd, err)) != 0)
			break;
	}
	if (cur >= 0)
		close(cur);
	return rc < 0 ? -1 : 0;
}
