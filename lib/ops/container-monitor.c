/* Containers: cleanup and reaping of dead monitors, the monitor that holds a
 * running container (its runtime, network, log and rotation), `kiln run`. */
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
#include "lockfile.h"
#include "net.h"
#include "process.h"
#include "oci.h"
#include "rootfs.h"
#include "runtime.h"
#include "util.h"
#include "values.h"

/* ---- cleanup --------------------------------------------------------------- */

static void remove_name(const struct kiln_container_root *r, const struct kiln_container *c)
{
	_cleanup_free_ char *link = kiln_xasprintf("%s/names/%s", r->run, c->name);
	char target[KILN_CONTAINER_ID_HEX + 2];
	ssize_t n = readlink(link, target, sizeof(target) - 1);

	if (n == KILN_CONTAINER_ID_HEX) {
		target[n] = 0;
		if (strcmp(target, c->id) == 0)
			unlink(link);
	}
}

/* Everything of a container goes: runtime state, cgroup, network, mount,
 * writable layer, state directory and name.  Best effort: the first error
 * is reported, the rest is still tried. */
int kiln_container_destroy(const struct kiln_container_root *r, const struct kiln_container *c, struct kiln_error *err)
{
	_cleanup_free_ char *sdir = kiln_container_state_dir(r, c->id), *ldir = kiln_container_layer_dir(r, c->id);
	_cleanup_free_ char *rootfs = kiln_path_join(sdir, "rootfs");
	struct kiln_error e2 = { 0 };
	int rc = 0;

	if (kiln_container_runtime_delete(r, c, err) < 0)
		rc = -1;
	if (kiln_rootfs_unmount(rootfs, rc ? &e2 : err) < 0)
		rc = -1;
	if (kiln_rootfs_remove(ldir, rc ? &e2 : err) < 0)
		rc = -1;
	remove_name(r, c);
	if (kiln_rootfs_remove(sdir, rc ? &e2 : err) < 0)
		rc = -1;
	return rc;
}

/* The container has exited (or its monitor died): release what only a
 * running container needs, and record the exit; --rm removes it all. */
static int finish(const struct kiln_container_root *r, struct kiln_container *c, int code, const char *why,
		  struct kiln_error *err)
{
	_cleanup_free_ char *rootfs = kiln_container_state_file(r, c->id, "rootfs");
	int rc = 0;

	if (c->auto_remove)
		return kiln_container_destroy(r, c, err);
	if (kiln_container_runtime_delete(r, c, err) < 0)
		rc = -1;
	if (kiln_rootfs_unmount(rootfs, rc ? NULL : err) < 0)
		rc = -1;
	c->status = KILN_CONTAINER_EXITED;
	c->exit_code = code;
	c->finished = kiln_now_seconds();
	if (why && !c->error)
		c->error = kiln_xstrdup(why);
	if (kiln_container_state_save(r, c, rc ? NULL : err) < 0)
		rc = -1;
	return rc;
}

int kiln_container_reap(struct kiln_container_root *r, struct kiln_error *err)
{
	_cleanup_free_ char *cdir = kiln_path_join(r->run, "containers");
	_cleanup_free_ char *ldir = kiln_path_join(r->root, "containers");
	_cleanup_free_ char *ndir = kiln_path_join(r->run, "names");
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if (kiln_container_lock(r, err) < 0)
		return -1;
	d = opendir(cdir);
	while (d && (de = readdir(d))) {
		struct kiln_container c;
		int fd;

		if (de->d_name[0] == '.' || strlen(de->d_name) != KILN_CONTAINER_ID_HEX)
			continue;
		fd = kiln_container_monitor_lock_try(r, de->d_name);
		if (fd == -1)
			continue; /* its monitor looks after it */
		if (kiln_container_state_load(r, de->d_name, &c, KILN_ERROR_IGNORE) < 0) {
			/* A creation that died before writing its state. */
			struct kiln_container bare = { 0 };
			snprintf(bare.id, sizeof(bare.id), "%s", de->d_name);
			bare.name = kiln_xstrdup("");
			bare.runtime = kiln_xstrdup(""); /* unknown: undo both */
			kiln_container_destroy(r, &bare, NULL);
			kiln_container_release(&bare);
		} else if (c.status == KILN_CONTAINER_CREATED) {
			/* Its run failed before it started: as a start that fails,
			 * nothing of it stays (monitor_finish). */
			kiln_container_destroy(r, &c, NULL);
		} else if (c.status != KILN_CONTAINER_EXITED) {
			if (finish(r, &c, 137, "its monitor died; reaped", rc ? NULL : err) < 0)
				rc = -1;
		}
		kiln_container_release(&c);
		if (fd >= 0)
			close(fd);
	}
	if (d)
		closedir(d);
	/* Network leases of containers that are gone (a crash half-way). */
	if (access(r->net_dir, F_OK) == 0) {
		char **live = NULL;
		size_t n_live = 0, alloc = 0;
		d = opendir(cdir);
		while (d && (de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			kiln_xgrow(&live, &alloc, n_live + 1, sizeof(char *));
			live[n_live++] = kiln_xstrdup(de->d_name);
		}
		if (d)
			closedir(d);
		if (kiln_net_reap(&r->net, live, n_live, rc ? NULL : err) < 0)
			rc = -1;
		kiln_strv_free(live, n_live);
	}
	/* Writable layers whose container state is gone. */
	d = opendir(ldir);
	while (d && (de = readdir(d))) {
		_cleanup_free_ char *s = NULL, *l = NULL;
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		s = kiln_container_state_dir(r, de->d_name);
		if (lstat(s, &st) == 0)
			continue;
		l = kiln_container_layer_dir(r, de->d_name);
		kiln_rootfs_remove(l, NULL);
	}
	if (d)
		closedir(d);
	/* Names of containers that are gone. */
	d = opendir(ndir);
	while (d && (de = readdir(d))) {
		_cleanup_free_ char *link = NULL, *s = NULL;
		char target[KILN_CONTAINER_ID_HEX + 2];
		struct stat st;
		ssize_t n;
		if (de->d_name[0] == '.')
			continue;
		link = kiln_path_join(ndir, de->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = 0;
		s = kiln_container_state_dir(r, target);
		if (lstat(s, &st) < 0)
			unlink(link);
	}
	if (d)
		closedir(d);
	kiln_container_unlock(r);
	return rc;
}

/* ---- the monitor ---------------------------------------------------------------- */

struct monitor {
	struct kiln_container_root *r;
	struct kiln_container *c;
	char *dir;          /* the state directory (the bundle) */
	bool foreground, terminal;
	int out[2], errp[2];
	int pty;            /* terminal: the container's pty master */
	int logfd, sigfd, inotify_fd;
	int log_lock_fd;    /* log.lock: held exclusive while rotating */
	int64_t log_size, log_max;
	int log_files;
	int ready_fd;       /* detach: tell the parent "ok" or the error */
	pid_t child;        /* the process waited for */
	struct kiln_net_port *ports;
	size_t n_ports;
};

static void report_ready(struct monitor *m, const char *msg)
{
	if (m->ready_fd >= 0) {
		kiln_write_all(m->ready_fd, msg, strlen(msg));
		close(m->ready_fd);
		m->ready_fd = -1;
	}
}

static void mark_running(struct monitor *m, pid_t pid)
{
	m->c->pid = pid;
	m->c->status = KILN_CONTAINER_RUNNING;
	m->c->started = kiln_now_seconds();
	kiln_container_state_save(m->r, m->c, NULL);
	report_ready(m, "ok");
}

/* The init pid runc wrote, or 0. */
static pid_t pid_file(struct monitor *m)
{
	_cleanup_free_ char *path = kiln_path_join(m->dir, "pid");
	_cleanup_free_ char *text = NULL;
	size_t len;

	text = kiln_file_read(path, 64, &len, NULL);
	return text && atoi(text) > 0 ? atoi(text) : 0;
}

/* `runc run` wrote the pid: running once runc's init has exec'd the
 * command (its comm is no longer "runc:[2:INIT]"): before that, a signal
 * would reach runc's init, not the command. */
static void read_pid_file(struct monitor *m)
{
	_cleanup_free_ char *comm_path = NULL, *comm = NULL;
	size_t len;
	pid_t pid;

	if (m->c->pid > 0 || (pid = pid_file(m)) <= 0)
		return;
	comm_path = kiln_xasprintf("/proc/%d/comm", (int)pid);
	comm = kiln_file_read(comm_path, 64, &len, NULL);
	if (comm && kiln_str_has_prefix(comm, "runc:"))
		return;
	mark_running(m, pid);
}

/* Network setup once the container's namespaces exist, before its
 * process runs: bridge attaches it (address, route, ports); none and
 * container:NAME need nothing (the runtime brings lo up in a new one). */
static int network_up(struct monitor *m, pid_t pid, struct kiln_error *err)
{
	struct kiln_net_attachment att;

	if (strcmp(m->c->network, "bridge") != 0)
		return 0;
	if (kiln_net_attach(&m->r->net, m->c->id, pid, m->ports, m->n_ports, &att, err) < 0)
		return kiln_error_prefix(err, "network");
	free(m->c->address);
	m->c->address = kiln_xstrdup(att.address);
	/* Written in place: the container's /etc/hosts is this very file. */
	{
		_cleanup_free_ char *hosts = kiln_path_join(m->dir, "hosts");
		_cleanup_free_ char *hn_path = kiln_path_join(m->dir, "hostname");
		_cleanup_free_ char *hn = kiln_file_read(hn_path, 256, NULL, NULL);
		_cleanup_close_ int fd = open(hosts, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (hn && fd >= 0) {
			_cleanup_free_ char *line = kiln_xasprintf("%s\t%.*s\n", att.address,
								  (int)strcspn(hn, "\n"), hn);
			kiln_write_all(fd, line, strlen(line));
		}
	}
	return 0;
}

static int before_start(void *ctx, pid_t pid, struct kiln_error *err)
{
	struct monitor *m = ctx;
	if (strcmp(m->c->network, "none") == 0 && kiln_net_loopback_up(pid, err) < 0)
		return -1;
	return network_up(m, pid, err);
}

static pid_t launch_kiln(struct monitor *m, struct kiln_error *err)
{
	struct kiln_runtime_options o;
	pid_t pid;

	kiln_container_runtime_options(m->r, m->c, m->dir, &o);
	if (m->terminal) {
		o.pty_master = &m->pty;
	} else {
		o.stdio.in = m->foreground ? 0 : -1;
		o.stdio.out = m->out[1];
		o.stdio.err = m->errp[1];
	}
	o.before_start = before_start;
	o.before_start_ctx = m;
	pid = kiln_runtime_start(&o, err);
	if (pid > 0)
		mark_running(m, pid);
	return pid;
}

/* runc: `runc run` (one process; it forwards signals and deletes the
 * container when it ends), except for bridge networking, which needs the
 * container's pid between `runc create` and `runc start`. */
static pid_t launch_runc(struct monitor *m, struct kiln_error *err)
{
	_cleanup_free_ char *pidfile = kiln_path_join(m->dir, "pid");
	_cleanup_free_ char *text = NULL;
	bool bridge = strcmp(m->c->network, "bridge") == 0;
	char *argv[] = { "runc", "--root", m->r->runc_root, bridge ? "create" : "run", "--bundle", m->dir,
			 "--pid-file", pidfile, m->c->id, NULL };
	int in = m->terminal || m->foreground ? 0 : -1;
	int out = m->terminal ? 1 : m->out[1], errfd = m->terminal ? 2 : m->errp[1];
	pid_t pid;
	int code;

	if (bridge && m->terminal)
		return kiln_error_set(err, "a terminal with --network bridge needs --runtime kiln"), -1;
	pid = kiln_container_spawn(argv, in, out, errfd, err);
	if (pid < 0 || !bridge)
		return pid;
	code = kiln_container_wait_status(pid);
	pid = pid_file(m);
	if (code != 0 || pid <= 0)
		return kiln_error_set(err, "runc create failed (exit %d): see kiln logs %s", code, m->c->name), -1;
	if (network_up(m, pid, err) < 0)
		return -1;
	char *start[] = { "runc", "--root", m->r->runc_root, "start", m->c->id, NULL };
	code = kiln_container_run_capture(start, &text, err);
	if (code != 0)
		return kiln_error_set(err, "runc start: %s", text && *text ? text : "failed"), -1;
	/* Running only now: until `runc start`, a signal would reach runc's
	 * own init, not the container's command. */
	mark_running(m, pid);
	/* The container's init is ours to wait for (we are its subreaper). */
	return pid;
}

/* ---- the log ---- */

/* The log (docs/containers.md, Logs) is "log", the file being written,
 * then "log.1" … "log.N-1", older and older (N = --log-max's FILES): the
 * monitor renames each one up and starts a new "log" when the next write
 * would pass --log-max's SIZE.  It does so holding log.lock exclusive, and
 * readers open their set of files holding it shared, so they see a whole
 * rotation or none. */

char *kiln_container_log_path(const char *dir, int k)
{
	return k ? kiln_xasprintf("%s/log.%d", dir, k) : kiln_path_join(dir, "log");
}

/* Rotate; false (the log grows past its bound until the next write) when
 * a reader holds the lock or the new file cannot be made. */
static bool log_rotate(struct monitor *m)
{
	_cleanup_free_ char *current = kiln_container_log_path(m->dir, 0);
	int fd;

	if (m->log_lock_fd < 0 || kiln_lockfile_lock(m->log_lock_fd, "log.lock", KILN_LOCKFILE_TRY, NULL) != 0)
		return false;
	for (int k = m->log_files - 1; k >= 1; k--) {
		_cleanup_free_ char *from = kiln_container_log_path(m->dir, k - 1), *to = kiln_container_log_path(m->dir, k);
		rename(from, to); /* the oldest falls off; a missing one is no matter */
	}
	if (m->log_files == 1)
		unlink(current);
	fd = open(current, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0640);
	kiln_lockfile_unlock(m->log_lock_fd);
	if (fd < 0)
		return false;
	close(m->logfd);
	m->logfd = fd;
	m->log_size = 0;
	return true;
}

/* Append to the log, rotating it after the last whole line that fits, so
 * that each file starts with a line (a line longer than a file is cut). */
static void log_write(struct monitor *m, const char *data, size_t n)
{
	while (n > 0 && m->logfd >= 0) {
		size_t room = m->log_size < m->log_max ? (size_t)(m->log_max - m->log_size) : 0, cut;

		if (n <= room)
			break;
		cut = room;
		while (cut > 0 && data[cut - 1] != '\n')
			cut--;
		if (cut == 0 && m->log_size == 0)
			cut = room;
		kiln_write_all(m->logfd, data, cut);
		m->log_size += (int64_t)cut;
		data += cut;
		n -= cut;
		if (!log_rotate(m))
			break;
	}
	if (n > 0 && m->logfd >= 0) {
		kiln_write_all(m->logfd, data, n);
		m->log_size += (int64_t)n;
	}
}

static void copy_out(struct monitor *m, int *fd, int to)
{
	char chunk[16384];
	ssize_t n = read(*fd, chunk, sizeof(chunk));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close(*fd);
		*fd = -1;
		return;
	}
	log_write(m, chunk, (size_t)n);
	if (m->foreground)
		kiln_write_all(to, chunk, (size_t)n);
}

void kiln_container_copy_in(int *from, int to)
{
	char chunk[4096];
	ssize_t n = read(*from, chunk, sizeof(chunk));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		*from = -1; /* stdin ended: stop watching it (fd 0 stays open) */
		return;
	}
	kiln_write_all(to, chunk, (size_t)n);
}

void kiln_container_resize_pty(int pty)
{
	struct winsize ws;
	if (pty >= 0 && ioctl(0, TIOCGWINSZ, &ws) == 0)
		ioctl(pty, TIOCSWINSZ, &ws);
}

/* Runs the container to its end; returns its exit code (or -1 with err
 * set when it could not be started). */
static int monitor_run(struct monitor *m, struct kiln_error *err)
{
	_cleanup_free_ char *logpath = kiln_path_join(m->dir, "log");
	_cleanup_free_ char *lockpath = kiln_path_join(m->dir, "log.lock");
	sigset_t mask, old;
	struct stat st;
	int code = -1, status, in = -1;
	bool exited = false, raw = false, kiln_rt = strcmp(m->c->runtime, "kiln") == 0;
	struct termios saved;

	m->out[0] = m->out[1] = m->errp[0] = m->errp[1] = -1;
	m->sigfd = m->inotify_fd = m->pty = m->log_lock_fd = -1;
	/* The container's init is reparented to us when runc exits early. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	/* A closed terminal or pipe on our side must not kill the monitor. */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigaddset(&mask, SIGWINCH);
	sigprocmask(SIG_BLOCK, &mask, &old);
	m->sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	m->logfd = open(logpath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (m->sigfd < 0 || m->logfd < 0) {
		kiln_error_errno(err, errno, "monitor: open '%s'", logpath);
		goto out;
	}
	m->log_size = fstat(m->logfd, &st) == 0 ? st.st_size : 0;
	m->log_lock_fd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (m->log_lock_fd < 0) {
		kiln_error_errno(err, errno, "monitor: open '%s'", lockpath);
		goto out;
	}
	if (!m->terminal && (pipe2(m->out, O_CLOEXEC) < 0 || pipe2(m->errp, O_CLOEXEC) < 0)) {
		kiln_error_errno(err, errno, "monitor: pipe");
		goto out;
	}
	if (!kiln_rt) {
		m->inotify_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
		if (m->inotify_fd >= 0)
			inotify_add_watch(m->inotify_fd, m->dir, IN_MOVED_TO | IN_CLOSE_WRITE);
	}
	m->child = kiln_rt ? launch_kiln(m, err) : launch_runc(m, err);
	if (m->child < 0)
		goto out;
	if (m->out[1] >= 0) {
		close(m->out[1]);
		close(m->errp[1]);
		m->out[1] = m->errp[1] = -1;
	}
	if (m->pty >= 0) {
		/* Our terminal talks to the container's pty, byte for byte. */
		if (tcgetattr(0, &saved) == 0) {
			struct termios t = saved;
			cfmakeraw(&t);
			raw = tcsetattr(0, TCSANOW, &t) == 0;
		}
		kiln_container_resize_pty(m->pty);
		in = 0;
	}
	while (!exited || m->out[0] >= 0 || m->errp[0] >= 0 || m->pty >= 0) {
		struct pollfd fds[6] = {
			{ m->sigfd, POLLIN, 0 }, { m->out[0], POLLIN, 0 }, { m->errp[0], POLLIN, 0 },
			{ m->inotify_fd, POLLIN, 0 }, { m->pty, POLLIN, 0 }, { exited ? -1 : in, POLLIN, 0 },
		};
		int n = poll(fds, 6, exited ? 200 : m->c->pid > 0 ? -1 : 5);
		if (n < 0 && errno != EINTR)
			break;
		if (n == 0 && exited)
			break; /* something outside the container holds its output open */
		if (fds[3].revents & POLLIN) {
			char buf[4096];
			while (read(m->inotify_fd, buf, sizeof(buf)) > 0)
				;
		}
		if (m->c->pid <= 0)
			read_pid_file(m);
		if (fds[1].revents)
			copy_out(m, &m->out[0], 1);
		if (fds[2].revents)
			copy_out(m, &m->errp[0], 2);
		if (fds[4].revents)
			copy_out(m, &m->pty, 1);
		if (fds[5].revents && m->pty >= 0)
			kiln_container_copy_in(&in, m->pty);
		if (fds[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(m->sigfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGWINCH) {
					kiln_container_resize_pty(m->pty);
					continue;
				}
				if (si.ssi_signo != SIGCHLD) {
					if (!exited)
						kill(m->child, (int)si.ssi_signo);
					continue;
				}
				pid_t p;
				while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
					if (p == m->child) {
						exited = true;
						code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
					}
				}
			}
		}
	}
	if (m->c->pid <= 0)
		read_pid_file(m);
out:
	if (raw)
		tcsetattr(0, TCSANOW, &saved);
	sigprocmask(SIG_SETMASK, &old, NULL);
	for (int i = 0; i < 2; i++) {
		if (m->out[i] >= 0)
			close(m->out[i]);
		if (m->errp[i] >= 0)
			close(m->errp[i]);
	}
	if (m->pty >= 0)
		close(m->pty);
	if (m->sigfd >= 0)
		close(m->sigfd);
	if (m->inotify_fd >= 0)
		close(m->inotify_fd);
	if (m->logfd >= 0)
		close(m->logfd);
	if (m->log_lock_fd >= 0)
		close(m->log_lock_fd);
	return code;
}

/* After the monitor's run: a failure to start becomes the container's
 * error (c->error) and the container is removed; an exit is recorded. */
static int monitor_finish(struct monitor *m, int code, struct kiln_error *err)
{
	_cleanup_free_ char *why = NULL;

	if (code < 0) {
		why = kiln_xstrdup(err->message);
		code = 127;
	} else if (m->c->pid <= 0) {
		/* runc failed before the container ran: its message is in the log. */
		_cleanup_free_ char *logpath = kiln_path_join(m->dir, "log");
		size_t len = 0;
		_cleanup_free_ char *log = kiln_file_read(logpath, 1 << 20, &len, NULL);
		const char *tail = log ? log : "";
		while (len > 0 && log[len - 1] == '\n')
			log[--len] = 0;
		if (len > 400)
			tail = log + len - 400;
		why = kiln_xasprintf("container did not start (runtime exit %d)%s%s", code, *tail ? ": " : "", tail);
	}
	if (why) {
		/* It never ran: nothing of it stays, so its name can be used again
		 * at once and ps -a shows no husk; the caller reports why. */
		if (!m->c->error)
			m->c->error = kiln_xstrdup(why);
		kiln_container_destroy(m->r, m->c, NULL);
		report_ready(m, why);
		return code;
	}
	report_ready(m, "ok");
	finish(m->r, m->c, code, NULL, NULL);
	return code;
}

/* The monitor's view of the options it needs. */
static void monitor_init(struct monitor *m, struct kiln_container_root *r, struct kiln_container *c,
			 const struct kiln_container_options *o)
{
	memset(m, 0, sizeof(*m));
	m->r = r;
	m->c = c;
	m->dir = kiln_container_state_dir(r, c->id);
	m->ready_fd = -1;
	m->logfd = m->log_lock_fd = -1;
	m->log_max = o->log_max > 0 ? o->log_max : KILN_CONTAINER_LOG_MAX_DEFAULT;
	m->log_files = o->log_files > 0 ? o->log_files : KILN_CONTAINER_LOG_FILES_DEFAULT;
	m->ports = kiln_xcalloc(o->n_ports + 1, sizeof(*m->ports));
	for (size_t i = 0; i < o->n_ports; i++)
		if (kiln_net_parse_port(o->ports[i], &m->ports[m->n_ports], NULL) == 0)
			m->n_ports++;
}

static void monitor_release(struct monitor *m)
{
	free(m->dir);
	free(m->ports);
}

static int run_detached(struct kiln_container_root *r, struct kiln_container *c,
			const struct kiln_container_options *o, int lock_fd, struct kiln_error *err)
{
	int ready[2];
	pid_t pid;
	char msg[2048];
	ssize_t n, got = 0;

	if (pipe2(ready, O_CLOEXEC) < 0)
		return kiln_error_errno(err, errno, "pipe");
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		close(ready[0]);
		close(ready[1]);
		return kiln_error_errno(err, errno, "fork");
	}
	if (pid == 0) {
		/* The monitor: its own session, detached from the terminal, and
		 * not our child (so `kiln run -d` can return). */
		close(ready[0]);
		setsid();
		if (fork() != 0)
			_exit(0);
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, 0);
			dup2(null, 1);
			dup2(null, 2);
			if (null > 2)
				close(null);
		}
		/* Nothing of the caller's stays open for the container's life (a
		 * pipe the caller reads to its end would never end), but the
		 * ready pipe and the monitor lock. */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != ready[1] && fd != lock_fd && fd != r->lock_fd)
				close(fd);
		/* Hold no directory of the caller's (it may be unmounted). */
		if (chdir("/") < 0)
			_exit(1);
		prctl(PR_SET_NAME, "kiln-monitor");
		struct kiln_error merr = { 0 };
		struct monitor m;
		monitor_init(&m, r, c, o);
		m.ready_fd = ready[1];
		c->monitor_pid = getpid();
		kiln_container_state_save(r, c, NULL);
		int code = monitor_run(&m, &merr);
		monitor_finish(&m, code, &merr);
		_exit(0);
	}
	close(ready[1]);
	waitpid(pid, NULL, 0);
	while (got < (ssize_t)sizeof(msg) - 1 && (n = read(ready[0], msg + got, sizeof(msg) - 1 - got)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		got += n;
	}
	close(ready[0]);
	msg[got] = 0;
	if (strcmp(msg, "ok") != 0)
		return kiln_error_set(err, "%s", got ? msg : "the monitor died before the container started");
	return 0;
}

int kiln_container_run(struct kiln_container_root *r, const struct kiln_container_options *o,
		       struct kiln_container *out, int *exit_code, struct kiln_error *err)
{
	struct kiln_container c;
	int lock_fd, rc = 0;

	*exit_code = 0;
	if (kiln_container_create(r, o, &c, &lock_fd, err) < 0)
		return -1;
	if (o->detach) {
		rc = run_detached(r, &c, o, lock_fd, err);
		if (rc == 0) {
			/* The monitor saved the running state: read it back. */
			struct kiln_container fresh;
			if (kiln_container_state_load(r, c.id, &fresh, NULL) == 0) {
				kiln_container_release(&c);
				c = fresh;
			}
		}
	} else {
		struct monitor m;
		int code;
		monitor_init(&m, r, &c, o);
		m.foreground = true;
		m.terminal = o->terminal;
		code = monitor_run(&m, err);
		*exit_code = monitor_finish(&m, code, err);
		if (code < 0)
			rc = -1;
		else if (c.pid <= 0 && c.error)
			rc = kiln_error_set(err, "%s", c.error);
		monitor_release(&m);
	}
	close(lock_fd);
	/* A monitor that died before it reported left the container behind,
	 * created, never started: reaped now (lock_fd, which held it off, is
	 * closed), so its name is free at once. */
	if (rc < 0 && o->detach)
		kiln_container_reap(r, NULL);
	if (out)
		*out = c;
	else
		kiln_container_release(&c);
	return rc;
}
