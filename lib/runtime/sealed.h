/* sealed.h - run kiln from a sealed in-memory copy of itself.
 *
 * CVE-2019-5736: a process that `kiln exec` starts in a container is at
 * first a copy of the host's kiln; were the command a script starting
 * "#!/proc/self/exe", the container's root would get a process running the
 * host's kiln binary, could open it through /proc/PID/exe and rewrite it
 * once it exits.  So `kiln exec` first re-executes itself from a sealed
 * in-memory copy (as runc does): /proc/self/exe is then that copy, which
 * nothing can write.
 */
#ifndef KILN_SEALED_H
#define KILN_SEALED_H

#include "error.h"

/* When this process already runs from the sealed copy, return 0.  Else
 * copy /proc/self/exe into a memfd, seal it against every change and
 * fexecve it with the same command line and environment: on success this
 * does not return; on failure it returns -1 with err set. */
int kiln_sealed_reexec(struct kiln_error *err);

#endif
