/* seccomp.h - the OCI linux.seccomp profile, compiled to a classic BPF
 * seccomp filter without libseccomp.
 *
 * The subset compiled (anything else is an error naming the field, never
 * ignored):
 *   - defaultAction and syscalls[].action: SCMP_ACT_ALLOW, SCMP_ACT_ERRNO
 *     (errnoRet, default EPERM; defaultErrnoRet for the default action),
 *     SCMP_ACT_KILL (= KILL_THREAD), SCMP_ACT_KILL_THREAD,
 *     SCMP_ACT_KILL_PROCESS, SCMP_ACT_TRAP, SCMP_ACT_LOG;
 *   - architectures: absent, empty, or the native one only
 *     (SCMP_ARCH_X86_64 on x86_64, SCMP_ARCH_AARCH64 on arm64);
 *   - syscalls[].names: the names kiln's table knows (see seccomp.c); a
 *     known name the native architecture lacks (e.g. kexec_file_load on an
 *     old kernel's headers) is skipped, as libseccomp does;
 *   - syscalls[].args: conditions ANDed, ops SCMP_CMP_EQ, SCMP_CMP_NE and
 *     SCMP_CMP_MASKED_EQ ((arg & value) == valueTwo), on all 64 bits;
 *   - flags: empty.
 * Rules are matched in document order: the first rule whose syscall and
 * conditions match decides.
 *
 * The filter checks the architecture first: a foreign one (i386 or x32
 * system calls on x86_64, arm32 on arm64) kills the process.
 */
#ifndef KILN_SECCOMP_H
#define KILN_SECCOMP_H

#include <jansson.h>
#include <linux/filter.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

struct kiln_seccomp {
	struct sock_filter *filter; /* malloc'd; NULL: no filter */
	unsigned short len;
};
#define KILN_SECCOMP_INIT { NULL, 0 }

/* Compile profile (the value of linux.seccomp) into out.  Errors name the
 * field ("linux.seccomp.syscalls[2].names[0]: unknown system call ..."). */
int kiln_seccomp_compile(json_t *profile, struct kiln_seccomp *out, struct kiln_error *err);

/* kiln's default profile, Docker-like, for a process whose capabilities
 * (bounding set, bit N = capability N) are capabilities, as linux.seccomp
 * JSON (a new reference, the caller's): everything allowed except, with
 * EPERM,
 *   add_key keyctl request_key bpf perf_event_open userfaultfd kexec_load
 *   kexec_file_load open_by_handle_at name_to_handle_at init_module
 *   finit_module delete_module lookup_dcookie acct swapon swapoff reboot
 *   settimeofday clock_settime clock_adjtime adjtimex io_uring_setup
 *   io_uring_enter io_uring_register,
 * unshare and clone when their flags (arg 0) hold CLONE_NEWUSER, socket
 * of AF_VSOCK, and of AF_PACKET unless capabilities hold CAP_NET_RAW,
 * personality of any persona but the five Docker allows (0, 8, 0x20000,
 * 0x20008, 0xffffffff; see seccomp.c), and clone3 with ENOSYS (its flags
 * live in memory a filter cannot read; glibc falls back to clone).
 * mount, umount2, pivot_root, setns stay allowed: the missing
 * CAP_SYS_ADMIN decides.  runc (libseccomp) reads it the same way. */
json_t *kiln_seccomp_default_profile(uint64_t capabilities);

/* Install the filter on the calling thread (SECCOMP_SET_MODE_FILTER): needs
 * no_new_privs or CAP_SYS_ADMIN.  One system call, no allocation: safe in
 * a child after clone.  Returns 0 or an errno value; a filter of length 0
 * installs nothing. */
int kiln_seccomp_install(const struct kiln_seccomp *s);

void kiln_seccomp_release(struct kiln_seccomp *s);

#endif
