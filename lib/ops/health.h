/* health.h - is a new container ready for traffic? (docs/deploy.md,
 * Health checks)
 *
 * Three probes, as Docker's HEALTHCHECK and Kamal's proxy: an HTTP GET
 * (healthy on a status from 200 to 399), a TCP connect, or a command run
 * in the container (healthy on exit 0), each bounded by the check's
 * timeout.  kiln_health_wait repeats the probe every interval: the first
 * success is healthy; failures during the start period do not count;
 * after it, `retries` failures in a row are unhealthy, as is a container
 * that stops running.
 */
#ifndef KILN_HEALTH_H
#define KILN_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "service.h"

struct kiln_health_target {
	const char *address;        /* IPv4 to connect to for http and tcp (the container's, or 127.0.0.1) */
	/* The host interface that address is on (the bridge), or NULL: http
	 * and tcp probes are bound to it (SO_BINDTODEVICE), so that a probe
	 * of a container whose network is already gone fails instead of
	 * leaving by the default route to whoever has that address there. */
	const char *device;
	const char *container;      /* the container's id, for cmd */
	/* cmd: run as [self_exe, "exec", container, cmd…] (kiln's own
	 * `kiln exec`, which enters from a sealed copy of itself). */
	const char *self_exe;
	/* Is the container still running?  NULL: not asked. */
	bool (*alive)(void *ctx);
	void *ctx;
	/* One line per failed probe, for the command to show (may be NULL). */
	void (*note)(void *ctx, const char *line);
};

/* One probe: 1 healthy, 0 not (*why says what was seen, malloc'd), -1
 * when it could not be tried at all (err). */
int kiln_health_probe(const struct kiln_service_spec *s, const struct kiln_health_target *t, char **why,
		      struct kiln_error *err);

/* Probe until healthy (1) or unhealthy (0, *why: the check, the number of
 * tries and the last failure), or -1 on an error. */
int kiln_health_wait(const struct kiln_service_spec *s, const struct kiln_health_target *t, char **why,
		     struct kiln_error *err);

/* The check in words: "GET /up on port 8080", "TCP port 5432", "pg_isready -q". */
char *kiln_health_describe(const struct kiln_service_spec *s);

#endif
