/* init.h - the init `kiln run --init` gives a container as its PID 1
 * (docs/containers.md): lib/runtime/init/kiln-init.c, a static program the
 * Makefile builds and assembles into this binary (lib/runtime/init/blob.S),
 * so that kiln needs no file of its own installed beside it.
 *
 * It reaches a container as a file: written once to
 * ROOT/init/<sha256 of its bytes> (read-only, content-addressed, so each
 * kiln version's init has its own name and a file of that name holds the
 * right bytes or is replaced) and bind-mounted read-only at /dev/init, on
 * the container's own /dev tmpfs, so nothing is added to the image.  The
 * process becomes ["/dev/init", "--", argv…].
 */
#ifndef KILN_INIT_H
#define KILN_INIT_H

#include <stddef.h>

#include "error.h"

/* Where the container sees the init. */
#define KILN_INIT_CONTAINER_PATH "/dev/init"

/* The init program's bytes (static, part of this binary). */
const unsigned char *kiln_init_program(size_t *len);

/* Make ROOT/init/<sha256> hold the init (0555; ROOT/init is created 0755)
 * unless a regular file of that name already has exactly its bytes.
 * Returns the path (caller frees), or NULL with err naming the file and
 * the cause.  Safe against a concurrent kiln doing the same: the file is
 * written beside its name and renamed into place. */
char *kiln_init_install(const char *root, struct kiln_error *err);

#endif
