/* health.c - health checks of a container (docs/deploy.md, Health checks). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "health.h"
#include "process.h"
#include "util.h"

/* What a failed probe reports of a command's output, at most. */
#define OUTPUT_KEEP 512

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int remaining(int64_t deadline)
{
	int64_t left = deadline - now_ms();
	return left < 0 ? 0 : left > 0x7fffffff ? 0x7fffffff : (int)left;
}

/* A connected (blocking-free) TCP socket to address:port before deadline,
 * or -1 with *why set. */
static int connect_by(const char *address, const char *device, uint16_t port, int64_t deadline, char **why)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct pollfd p;
	int fd, soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (inet_pton(AF_INET, address, &sa.sin_addr) != 1) {
		*why = kiln_xasprintf("'%s' is not an IPv4 address", address);
		return -1;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*why = kiln_xasprintf("socket: %s", strerror(errno));
		return -1;
	}
	if (device && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, device, (socklen_t)strlen(device) + 1) < 0) {
		*why = kiln_xasprintf("connect to %s:%u through %s: %s", address, port, device, strerror(errno));
		close(fd);
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		*why = kiln_xasprintf("connect to %s:%u: %s", address, port, strerror(errno));
		close(fd);
		return -1;
	}
	p = (struct pollfd){ .fd = fd, .events = POLLOUT };
	for (;;) {
		int r = poll(&p, 1, remaining(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			*why = kiln_xasprintf("connect to %s:%u: no answer within the timeout", address, port);
			close(fd);
			return -1;
		}
		break;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
		*why = kiln_xasprintf("connect to %s:%u: %s", address, port, strerror(soerr ? soerr : errno));
		close(fd);
		return -1;
	}
	return fd;
}

static int probe_tcp(const char *address, const char *device, uint16_t port, int64_t timeout_ms, char **why)
{
	int fd = connect_by(address, device, port, now_ms() + timeout_ms, why);
	if (fd < 0)
		return 0;
	close(fd);
	return 1;
}

static int probe_http(const char *address, const char *device, uint16_t port, const char *path, int64_t timeout_ms,
		      char **why)
{
	int64_t deadline = now_ms() + timeout_ms;
	_cleanup_free_ char *req = kiln_xasprintf("GET %s HTTP/1.0\r\nHost: %s:%u\r\nUser-Agent: kiln-health\r\n"
						  "Connection: close\r\n\r\n", path, address, port);
	char buf[256];
	size_t got = 0, sent = 0, len = strlen(req);
	int fd = connect_by(address, device, port, deadline, why), status;
	char *eol;

	if (fd < 0)
		return 0;
	while (sent < len || got < sizeof(buf) - 1) {
		struct pollfd p = { .fd = fd, .events = sent < len ? POLLOUT : POLLIN };
		int r = poll(&p, 1, remaining(deadline));
		ssize_t k;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			*why = kiln_xasprintf("GET %s on %s:%u: no answer within the timeout", path, address, port);
			close(fd);
			return 0;
		}
		if (sent < len) {
			k = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
			if (k < 0 && errno != EAGAIN && errno != EINTR) {
				*why = kiln_xasprintf("GET %s on %s:%u: %s", path, address, port, strerror(errno));
				close(fd);
				return 0;
			}
			if (k > 0)
				sent += (size_t)k;
			continue;
		}
		k = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (k < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (k <= 0)
			break;
		got += (size_t)k;
		buf[got] = 0;
		if (strchr(buf, '\n'))
			break;
	}
	close(fd);
	buf[got] = 0;
	if ((eol = strpbrk(buf, "\r\n")))
		*eol = 0;
	/* "HTTP/1.x NNN" and then a space or the end: nothing looser. */
	if (strncmp(buf, "HTTP/1.", 7) || !(buf[7] >= '0' && buf[7] <= '9') || buf[8] != ' ' ||
	    !(buf[9] >= '1' && buf[9] <= '5') || !(buf[10] >= '0' && buf[10] <= '9') ||
	    !(buf[11] >= '0' && buf[11] <= '9') || (buf[12] && buf[12] != ' ') ||
	    sscanf(buf + 9, "%3d", &status) != 1) {
		*why = kiln_xasprintf("GET %s on %s:%u: not an HTTP answer (%s)", path, address, port,
				      got ? "a bad status line" : "the connection closed");
		return 0;
	}
	if (status < 200 || status > 399) {
		*why = kiln_xasprintf("GET %s on %s:%u: status %d", path, address, port, status);
		return 0;
	}
	return 1;
}

static int probe_cmd(const struct kiln_service_spec *s, const struct kiln_health_target *t, char **why,
		     struct kiln_error *err)
{
	size_t n = s->health.n_cmd;
	_cleanup_free_ char **argv = kiln_xcalloc(n + 6, sizeof(char *));
	struct kiln_process_options o = KILN_PROCESS_OPTIONS_INIT(argv);
	int pipefd[2], status;
	int64_t deadline = now_ms() + s->health.timeout_ms;
	struct kiln_buf out = KILN_BUF_INIT;
	bool timed_out = false;
	pid_t pid;

	argv[0] = (char *)t->self_exe;
	argv[1] = "exec";
	argv[2] = (char *)t->container;
	for (size_t i = 0; i < n; i++)
		argv[3 + i] = s->health.cmd[i];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return kiln_error_errno(err, errno, "health check: pipe");
	o.out = pipefd[1];
	o.err = KILN_PROCESS_TO_STDOUT;
	pid = kiln_process_spawn(&o, err);
	close(pipefd[1]);
	if (pid < 0) {
		close(pipefd[0]);
		return -1;
	}
	for (;;) {
		struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
		char chunk[512];
		int r = poll(&p, 1, remaining(deadline));
		ssize_t k;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			/* kiln exec passes SIGTERM on to the command it runs in the
			 * container; SIGKILL would leave that command behind. */
			timed_out = true;
			kill(pid, SIGTERM);
			for (int i = 0; i < 20; i++) {
				siginfo_t si = { 0 };
				if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid)
					break; /* gone (still to be reaped below) */
				usleep(50000);
			}
			kill(pid, SIGKILL);
			break;
		}
		k = read(pipefd[0], chunk, sizeof(chunk));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		if (out.len < OUTPUT_KEEP)
			kiln_buf_add(&out, chunk, (size_t)k);
	}
	close(pipefd[0]);
	status = kiln_process_wait(pid, err);
	if (status < 0) {
		kiln_buf_release(&out);
		return -1;
	}
	if (!timed_out && status == 0) {
		kiln_buf_release(&out);
		return 1;
	}
	while (out.len && (out.data[out.len - 1] == '\n' || out.data[out.len - 1] == '\r'))
		out.len--;
	if (out.len > OUTPUT_KEEP)
		out.len = OUTPUT_KEEP;
	kiln_buf_add(&out, "", 1);
	{
		_cleanup_free_ char *what = kiln_health_describe(s);
		if (timed_out)
			*why = kiln_xasprintf("%s: no exit within the timeout", what);
		else
			*why = kiln_xasprintf("%s: exit %d%s%s", what, status, out.data[0] ? ": " : "", out.data);
	}
	kiln_buf_release(&out);
	return 0;
}

char *kiln_health_describe(const struct kiln_service_spec *s)
{
	struct kiln_buf b = KILN_BUF_INIT;

	switch (s->health.kind) {
	case KILN_HEALTH_HTTP:
		return kiln_xasprintf("GET %s on port %u", s->health.path, s->health.port);
	case KILN_HEALTH_TCP:
		return kiln_xasprintf("TCP port %u", s->health.port);
	case KILN_HEALTH_CMD:
		for (size_t i = 0; i < s->health.n_cmd; i++) {
			if (i)
				kiln_buf_adds(&b, " ");
			kiln_buf_adds(&b, s->health.cmd[i]);
		}
		return kiln_buf_detach(&b);
	case KILN_HEALTH_NONE:
		break;
	}
	return kiln_xstrdup("still running");
}

int kiln_health_probe(const struct kiln_service_spec *s, const struct kiln_health_target *t, char **why,
		      struct kiln_error *err)
{
	*why = NULL;
	if (t->alive && !t->alive(t->ctx)) {
		*why = kiln_xstrdup("the container is not running");
		return 0;
	}
	switch (s->health.kind) {
	case KILN_HEALTH_HTTP:
	case KILN_HEALTH_TCP:
		if (!t->address)
			return kiln_error_set(err, "health check %s: the container has no address the host can "
					      "reach (network %s); use a cmd check", s->health.kind == KILN_HEALTH_HTTP
					      ? "http" : "tcp", s->network);
		if (s->health.kind == KILN_HEALTH_TCP)
			return probe_tcp(t->address, t->device, s->health.port, s->health.timeout_ms, why);
		return probe_http(t->address, t->device, s->health.port, s->health.path, s->health.timeout_ms, why);
	case KILN_HEALTH_CMD:
		return probe_cmd(s, t, why, err);
	case KILN_HEALTH_NONE:
		return 1;
	}
	return 1;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };
	while (ms > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int kiln_health_wait(const struct kiln_service_spec *s, const struct kiln_health_target *t, char **why,
		     struct kiln_error *err)
{
	int64_t start = now_ms(), interval = s->health.interval_ms > 0 ? s->health.interval_ms : 1000;
	unsigned tries = 0, failures = 0;
	_cleanup_free_ char *what = kiln_health_describe(s);
	char *last = NULL;

	*why = NULL;
	if (s->health.kind == KILN_HEALTH_NONE) {
		/* No check: still running one interval later. */
		sleep_ms(interval);
		if (t->alive && !t->alive(t->ctx)) {
			*why = kiln_xasprintf("no health check, and the container exited within %lld ms",
					      (long long)interval);
			return 0;
		}
		return 1;
	}
	for (;;) {
		int64_t probe_start = now_ms();
		char *seen = NULL;
		int r = kiln_health_probe(s, t, &seen, err);

		tries++;
		if (r < 0) {
			free(last);
			return -1;
		}
		if (r == 1 && (!t->alive || t->alive(t->ctx))) {
			free(last);
			return 1;
		}
		if (r == 1) {
			r = 0;
			seen = kiln_xstrdup("the check passed, but the container is not running (another one answered?)");
		}
		free(last);
		last = seen;
		if (t->note)
			t->note(t->ctx, last);
		if (t->alive && !t->alive(t->ctx)) {
			*why = kiln_xasprintf("health check %s: the container exited (after %u %s, %.1f s)", what,
					      tries, tries == 1 ? "try" : "tries", (double)(now_ms() - start) / 1000);
			free(last);
			return 0;
		}
		if (probe_start - start >= s->health.start_period_ms)
			failures++;
		if (failures > 0 && failures >= (unsigned)s->health.retries) {
			*why = kiln_xasprintf("health check %s failed %u %s in a row after the %.1f s start period "
					      "(%u tries in %.1f s); last: %s", what, failures,
					      failures == 1 ? "time" : "times",
					      (double)s->health.start_period_ms / 1000, tries,
					      (double)(now_ms() - start) / 1000, last);
			free(last);
			return 0;
		}
		sleep_ms(interval - (now_ms() - probe_start));
	}
}
