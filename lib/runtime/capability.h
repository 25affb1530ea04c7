/* capability.h - Linux capability names, as the OCI runtime spec writes
 * them ("CAP_CHOWN" … "CAP_CHECKPOINT_RESTORE"), and their numbers (bit
 * positions in /proc/PID/status CapEff and in capset(2)'s masks).
 *
 * One table for the bundle writer (lib/bundle), which turns --cap-add and
 * --cap-drop into config.json's capability lists, and the runtime
 * (lib/runtime), which turns them back into masks.
 */
#ifndef KILN_CAPABILITY_H
#define KILN_CAPABILITY_H

#include <stdint.h>

/* The number of "CAP_NAME" (any case; the CAP_ prefix is required), or -1
 * when kiln knows no such capability. */
int kiln_capability_from_name(const char *name);

/* "CAP_NAME" of number, or NULL when kiln knows none. */
const char *kiln_capability_name(int number);

/* The capabilities this process holds (its permitted set) and kiln
 * knows: all it can give a container (a runtime asked for more fails, as
 * runc does, or leaves them out, as kiln's does). */
uint64_t kiln_capability_held(void);

#endif
