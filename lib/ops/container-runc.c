/* Containers: running helper programs, and the runtime driver: the options
 * kiln's runtime takes, and deleting a container's state in runc or kiln's
 * runtime. */
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

/* ---- running helper programs ---------------------------------------------- */

/* Spawn argv with the given stdio (-1: /dev/null), the caller's
 * environment as it is (runc's messages are shown, not parsed), a clean
 * signal mask and default dispositions (the monitor blocks signals for
 * its signalfd). */
pid_t kiln_container_spawn(char *const argv[], int in, int out, int errfd, struct kiln_error *err)
{
	struct kiln_process_options o = KILN_PROCESS_OPTIONS_INIT(argv);

	o.reset_signals = true;
	o.in = in;
	o.out = out;
	o.err = errfd;
	return kiln_process_spawn(&o, err);
}

int kiln_container_wait_status(pid_t pid)
{
	return kiln_process_wait(pid, NULL);
}

/* Run argv to the end with stdin /dev/null; its stderr and stdout (the
 * first 64 KiB: a message, not a stream) into *text when text is not
 * NULL.  Returns the exit code, or -1. */
int kiln_container_run_capture(char *const argv[], char **text, struct kiln_error *err)
{
	struct kiln_process_options o = KILN_PROCESS_OPTIONS_INIT(argv);
	struct kiln_buf b = KILN_BUF_INIT;
	int code;

	o.reset_signals = true;
	o.out = KILN_PROCESS_CAPTURE;
	o.err = KILN_PROCESS_TO_STDOUT;
	o.capture_max = 64 * 1024;
	if (kiln_process_run(&o, &b, NULL, &code, err) < 0) {
		kiln_buf_release(&b);
		return -1;
	}
	while (b.len && (b.data[b.len - 1] == '\n'))
		b.data[--b.len] = 0;
	if (text)
		*text = kiln_buf_detach(&b);
	else
		kiln_buf_release(&b);
	return code;
}

/* ---- runtimes ----------------------------------------------------------- */

void kiln_container_runtime_options(const struct kiln_container_root *r, const struct kiln_container *c,
				    const char *bundle, struct kiln_runtime_options *o)
{
	memset(o, 0, sizeof(*o));
	o->bundle = bundle;
	o->id = c->id;
	o->cgroup_parent = r->cgroup_parent;
	o->stdio.in = o->stdio.out = o->stdio.err = -1;
	o->console_socket_fd = -1;
}

/* The runtime's state for the container is gone, with its cgroup and any
 * process still in it; so is its network attachment.  Idempotent. */
int kiln_container_runtime_delete(const struct kiln_container_root *r, const struct kiln_container *c,
				  struct kiln_error *err)
{
	_cleanup_free_ char *state = kiln_path_join(r->runc_root, c->id);
	_cleanup_free_ char *text = NULL, *bundle = kiln_container_state_dir(r, c->id);
	struct kiln_error e2 = { 0 };
	struct stat st;
	int code, rc = 0;

	if (c->network && strcmp(c->network, "bridge") == 0 && kiln_net_detach(&r->net, c->id, err) < 0)
		rc = -1;
	if (strcmp(c->runtime, "runc") != 0) {
		struct kiln_runtime_options o;
		kiln_container_runtime_options(r, c, bundle, &o);
		if (kiln_runtime_cleanup(&o, rc ? &e2 : err) < 0)
			rc = -1;
		if (c->runtime[0])
			return rc;
	}
	if (lstat(state, &st) < 0)
		return rc; /* `runc run` deleted it on the way out */
	char *argv[] = { "runc", "--root", r->runc_root, "delete", "--force", (char *)c->id, NULL };
	code = kiln_container_run_capture(argv, &text, rc ? &e2 : err);
	if (code < 0)
		return -1;
	if (code != 0 && lstat(state, &st) == 0)
		return kiln_error_set(rc ? &e2 : err, "runc delete %s: %s", c->id, text && *text ? text : "failed");
	return rc;
}
