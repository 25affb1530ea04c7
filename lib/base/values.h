/* values.h - the values kiln.yaml, the command line and the runtime all
 * accept, checked in one place so that they agree (docs/containers.md,
 * "Values").  Each check takes the text (s[0..len), which may hold
 * anything) and returns NULL when it is valid, else why not, a phrase
 * that completes "VALUE is not a valid WHAT: ..." ("must be ...").  The
 * parsers fill their out-parameter only on success.
 *
 * The grammars:
 *   size       DIGITS[k|m|g|t][b], case-insensitive units of 1024, > 0,
 *              at most INT64_MAX bytes ("512M", "1g", "100MB", "4096")
 *   duration   one or more DIGITS UNIT with UNIT h, m, s, ms, each unit at
 *              most once and largest first ("30s", "1m30s", "500ms"),
 *              in total at most 2^31-1 ms (about 596 h); 0s is a value
 *              (no wait), a user that needs more than 0 says so
 *   name       1 to 64 letters, digits, '_', '.', '-', the first a letter
 *              or digit (containers, volumes, container:NAME)
 *   network    bridge | host | none | container:NAME
 *   publish    [IPV4:]HOST:CONTAINER[/tcp|/udp], ports 1 to 65535 (no
 *              IPv6: kiln's network publishes through an IPv4 table)
 *   signal     SIGNAME or NAME (SIGTERM, TERM), SIGRTMIN+N, SIGRTMAX-N,
 *              or a number from 1 to 64
 */
#ifndef KILN_VALUES_H
#define KILN_VALUES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KILN_VALUES_NAME_MAX 64

const char *kiln_values_size(const char *s, size_t len, int64_t *bytes);
const char *kiln_values_duration(const char *s, size_t len, int64_t *ms);
const char *kiln_values_name(const char *s, size_t len);
const char *kiln_values_network(const char *s, size_t len);
/* host_address gets the IPv4 address ("" when none), 16 bytes. */
const char *kiln_values_publish(const char *s, size_t len, char host_address[16],
				unsigned *host_port, unsigned *container_port, bool *udp);
const char *kiln_values_signal(const char *s, size_t len, int *signo);

#endif
