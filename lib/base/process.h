/* process.h - running helper programs (gpgv, nft, ip, runc): the one
 * spawner of kiln.
 *
 * Every difference between callers is an option, stated per call: which
 * environment, whether LC_ALL=C is forced, where each of stdin, stdout
 * and stderr goes, how much of a captured stream is kept, and whether the
 * signal mask and dispositions are reset.
 */
#ifndef KILN_PROCESS_H
#define KILN_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "error.h"
#include "util.h"

/* Where a standard stream goes, besides a descriptor of the caller's. */
enum {
	KILN_PROCESS_DEVNULL = -1,     /* /dev/null */
	KILN_PROCESS_CAPTURE = -2,     /* stdout/stderr: into a buffer (kiln_process_run) */
	KILN_PROCESS_TO_STDOUT = -3,   /* stderr only: wherever stdout goes, captured with it */
};

/* The default bound of a captured stream; what comes beyond is read and
 * dropped, so the program never blocks on a full pipe. */
#define KILN_PROCESS_CAPTURE_MAX (1u << 20)

struct kiln_process_options {
	char *const *argv;       /* argv[0] is looked up in PATH */
	char *const *env;        /* NULL: the caller's environment */
	/* Add LC_ALL=C (and drop LANGUAGE): for a program whose messages or
	 * output kiln reads, so that they are in the words it expects. */
	bool c_locale;
	/* Start with an empty signal mask and every signal at its default
	 * action, whatever the caller blocks or ignores (the container
	 * monitor blocks signals for its signalfd). */
	bool reset_signals;
	int in, out, err;        /* descriptors, or the KILN_PROCESS_ values above */
	size_t capture_max;      /* per captured stream; 0: KILN_PROCESS_CAPTURE_MAX */
};

/* Options with every stream at /dev/null and nothing else set. */
#define KILN_PROCESS_OPTIONS_INIT(ARGV) \
	{ .argv = (ARGV), .in = KILN_PROCESS_DEVNULL, .out = KILN_PROCESS_DEVNULL, \
	  .err = KILN_PROCESS_DEVNULL }

/* Start the program and return its pid (the caller waits for it with
 * kiln_process_wait), or -1 with err set ("run ARGV0: cause").  No stream
 * may be KILN_PROCESS_CAPTURE here. */
pid_t kiln_process_spawn(const struct kiln_process_options *o, struct kiln_error *err);

/* Wait for pid: its exit code, or 128+signal; -1 with err set when it
 * cannot be waited for. */
int kiln_process_wait(pid_t pid, struct kiln_error *err);

/* Run the program to its end.  Streams set to KILN_PROCESS_CAPTURE go
 * into out and errout (NULL: read and dropped); with err
 * KILN_PROCESS_TO_STDOUT both streams go, interleaved, into out.  *status
 * is the exit code, or 128+signal.  Returns -1 only when the program
 * could not be run or waited for. */
int kiln_process_run(const struct kiln_process_options *o, struct kiln_buf *out,
		     struct kiln_buf *errout, int *status, struct kiln_error *err);

/* Run argv with stdin from /dev/null and the environment plus LC_ALL=C.
 * stdout and stderr are captured into the buffers (each may be NULL to
 * discard), at most 1 MiB each.  *status is the exit code, or 128+signal.
 * Returns -1 only when it could not run. */
int kiln_process_capture(char *const argv[], struct kiln_buf *out, struct kiln_buf *errout,
		       int *status, struct kiln_error *err);

#endif
