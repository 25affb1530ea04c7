/* seccomp.c - OCI linux.seccomp to a classic BPF seccomp filter.
 *
 * The program: the architecture check (a foreign one, or the x32 ABI on
 * x86_64, kills the process), then one block per system call named by the
 * profile, in order of first appearance:
 *
 *   jeq NR, 0, <skip block>
 *     rule 1: conditions, each jumping to rule 2 when false; ret ACTION
 *     rule 2: ...
 *     ret DEFAULT
 *   ...
 *   ret DEFAULT
 */
#include "seccomp.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

#if defined(__x86_64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_X86_64
#define NATIVE_SCMP_ARCH "SCMP_ARCH_X86_64"
#define X32_SYSCALL_BIT 0x40000000U
#elif defined(__aarch64__)
#define NATIVE_AUDIT_ARCH AUDIT_ARCH_AARCH64
#define NATIVE_SCMP_ARCH "SCMP_ARCH_AARCH64"
#else
#error "kiln's seccomp filter knows x86_64 and aarch64 only"
#endif

#ifndef SECCOMP_RET_KILL_PROCESS
#define SECCOMP_RET_KILL_PROCESS 0x80000000U
#endif
#ifndef SECCOMP_RET_LOG
#define SECCOMP_RET_LOG 0x7ffc0000U
#endif
#ifndef CLONE_NEWUSER
#define CLONE_NEWUSER 0x10000000
#endif

/* Names some architectures lack: -1, skipped when compiling. */
#ifndef SYS_iopl
#define SYS_iopl -1
#endif
#ifndef SYS_ioperm
#define SYS_ioperm -1
#endif
#ifndef SYS_uselib
#define SYS_uselib -1
#endif
#ifndef SYS_ustat
#define SYS_ustat -1
#endif
#ifndef SYS_sysfs
#define SYS_sysfs -1
#endif
#ifndef SYS__sysctl
#define SYS__sysctl -1
#endif
#ifndef SYS_create_module
#define SYS_create_module -1
#endif
#ifndef SYS_get_kernel_syms
#define SYS_get_kernel_syms -1
#endif
#ifndef SYS_query_module
#define SYS_query_module -1
#endif
#ifndef SYS_nfsservctl
#define SYS_nfsservctl -1
#endif
#ifndef SYS_vm86
#define SYS_vm86 -1
#endif
#ifndef SYS_vm86old
#define SYS_vm86old -1
#endif
#ifndef SYS_kexec_file_load
#define SYS_kexec_file_load -1
#endif
#ifndef SYS_clone3
#define SYS_clone3 -1
#endif
#ifndef SYS_fork
#define SYS_fork -1
#endif
#ifndef SYS_vfork
#define SYS_vfork -1
#endif
#ifndef SYS_time
#define SYS_time -1
#endif
#ifndef SYS_stime
#define SYS_stime -1
#endif
#ifndef SYS_io_uring_setup
#define SYS_io_uring_setup -1
#define SYS_io_uring_enter -1
#define SYS_io_uring_register -1
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr -1
#endif

#define SC(name) { #name, SYS_##name }
/* The system calls a profile may name. */
static const struct {
	const char *name;
	long nr;
} syscall_names[] = {
	SC(_sysctl), SC(acct), SC(add_key), SC(adjtimex), SC(bpf), SC(chroot), SC(clock_adjtime),
	SC(clock_settime), SC(clone), SC(clone3), SC(create_module), SC(delete_module),
	SC(fanotify_init), SC(finit_module), SC(fork), SC(fsconfig), SC(fsmount), SC(fsopen),
	SC(fspick), SC(get_kernel_syms), SC(get_mempolicy), SC(getpriority), SC(init_module), SC(io_uring_enter),
	SC(io_uring_register), SC(io_uring_setup), SC(ioperm), SC(iopl), SC(kcmp),
	SC(kexec_file_load), SC(kexec_load), SC(keyctl), SC(lookup_dcookie), SC(mbind),
	SC(migrate_pages), SC(mount), SC(mount_setattr), SC(move_mount), SC(move_pages),
	SC(name_to_handle_at), SC(nfsservctl), SC(open_by_handle_at), SC(open_tree),
	SC(perf_event_open), SC(personality), SC(pivot_root), SC(process_vm_readv),
	SC(process_vm_writev), SC(ptrace), SC(query_module), SC(quotactl), SC(reboot),
	SC(request_key), SC(set_mempolicy), SC(setdomainname), SC(setpriority), SC(sethostname), SC(setns),
	SC(socket),
	SC(settimeofday), SC(stime), SC(swapoff), SC(swapon), SC(syslog), SC(sysfs), SC(time),
	SC(umount2), SC(unshare), SC(uselib), SC(userfaultfd), SC(ustat), SC(vfork), SC(vhangup),
	SC(vm86), SC(vm86old),
};

/* ---- the default profile ---- */

static const char *const default_denied[] = {
	"add_key", "keyctl", "request_key", "bpf", "perf_event_open", "userfaultfd", "kexec_load",
	"kexec_file_load", "open_by_handle_at", "name_to_handle_at", "init_module", "finit_module",
	"delete_module", "lookup_dcookie", "acct", "swapon", "swapoff", "reboot", "settimeofday",
	"clock_settime", "clock_adjtime", "adjtimex", "io_uring_setup", "io_uring_enter",
	"io_uring_register",
};

/* rules += {names: [name], action: ERRNO, errnoRet: EPERM, args: [{index 0, op, value, valueTwo}]} */
static void deny_arg0(json_t *rules, const char *name, const char *op, uint64_t value, uint64_t two)
{
	json_t *arg = json_pack("{s:i, s:I, s:s}", "index", 0, "value", (json_int_t)value, "op", op);

	if (strcmp(op, "SCMP_CMP_MASKED_EQ") == 0)
		json_object_set_new(arg, "valueTwo", json_integer((json_int_t)two));
	json_array_append_new(rules, json_pack("{s:[s], s:s, s:i, s:[o]}", "names", name, "action",
					       "SCMP_ACT_ERRNO", "errnoRet", EPERM, "args", arg));
}

/* personality(2) is allowed only for the personas Docker's profile allows:
 * PER_LINUX (0), PER_LINUX32 (8), UNAME26 (0x20000), both (0x20008) and
 * the query 0xffffffff; the rest (READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE, …
 * which undo exploit mitigations) get EPERM.
 *
 * Docker says it with a default of ERRNO and five ALLOW rules.  A profile
 * whose default is ALLOW cannot: runc drops rules whose action is the
 * default's, and libseccomp does not match rules in order.  So the
 * complement, as deny rules of one (arg & mask) == value condition each
 * (runc turns two conditions on one argument into two rules), on the low
 * 32 bits, which are all the kernel reads (its argument is an unsigned
 * int, and glibc truncates too):
 *   - odd values but 0xffffffff, by their lowest clear bit c (1..31):
 *     bits 0..c-1 set, bit c clear;
 *   - even values with a bit b other than 3 and 17 set: bit b set, bit 0
 *     clear. */
static void deny_personalities(json_t *rules)
{
	for (unsigned c = 1; c < 32; c++) {
		uint64_t low = (1ULL << c) - 1;
		deny_arg0(rules, "personality", "SCMP_CMP_MASKED_EQ", low | (1ULL << c), low);
	}
	for (unsigned b = 1; b < 32; b++)
		if (b != 3 && b != 17)
			deny_arg0(rules, "personality", "SCMP_CMP_MASKED_EQ", (1ULL << b) | 1, 1ULL << b);
}

json_t *kiln_seccomp_default_profile(uint64_t capabilities)
{
	json_t *names = json_array(), *rules = json_array();

	for (size_t i = 0; i < KILN_ARRAY_SIZE(default_denied); i++)
		json_array_append_new(names, json_string(default_denied[i]));
	json_array_append_new(rules, json_pack("{s:o, s:s, s:i}", "names", names, "action",
					       "SCMP_ACT_ERRNO", "errnoRet", EPERM));
	/* A user namespace gives back every capability kiln dropped. */
	json_array_append_new(rules, json_pack("{s:[s,s], s:s, s:i, s:[{s:i, s:I, s:I, s:s}]}",
					       "names", "unshare", "clone", "action", "SCMP_ACT_ERRNO",
					       "errnoRet", EPERM, "args", "index", 0, "value",
					       (json_int_t)CLONE_NEWUSER, "valueTwo",
					       (json_int_t)CLONE_NEWUSER, "op", "SCMP_CMP_MASKED_EQ"));
	json_array_append_new(rules, json_pack("{s:[s], s:s, s:i}", "names", "clone3", "action",
					       "SCMP_ACT_ERRNO", "errnoRet", ENOSYS));
	/* Packet sockets read and forge every frame on the container's link
	 * (ARP and DHCP spoofing on the bridge): only for a container given
	 * CAP_NET_RAW.  vsock reaches the hypervisor's services (as Docker). */
	if (!(capabilities & (1ULL << CAP_NET_RAW)))
		deny_arg0(rules, "socket", "SCMP_CMP_EQ", AF_PACKET, 0);
	deny_arg0(rules, "socket", "SCMP_CMP_EQ", AF_VSOCK, 0);
	deny_personalities(rules);
	return json_pack("{s:s, s:o}", "defaultAction", "SCMP_ACT_ALLOW", "syscalls", rules);
}

/* ---- compiling ---- */

struct prog {
	struct sock_filter *f;
	size_t n, cap;
};

static size_t emit(struct prog *p, uint16_t code, uint8_t jt, uint8_t jf, uint32_t k)
{
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 64;
		p->f = kiln_xrealloc(p->f, p->cap * sizeof(*p->f));
	}
	p->f[p->n] = (struct sock_filter)BPF_JUMP(code, k, jt, jf);
	return p->n++;
}

static int parse_action(json_t *obj, const char *key, const char *errno_key, const char *field,
			uint32_t *out, struct kiln_error *err)
{
	static const struct {
		const char *name;
		uint32_t ret;
	} actions[] = {
		{ "SCMP_ACT_ALLOW", SECCOMP_RET_ALLOW },
		{ "SCMP_ACT_ERRNO", SECCOMP_RET_ERRNO },
		{ "SCMP_ACT_KILL", SECCOMP_RET_KILL_THREAD },
		{ "SCMP_ACT_KILL_THREAD", SECCOMP_RET_KILL_THREAD },
		{ "SCMP_ACT_KILL_PROCESS", SECCOMP_RET_KILL_PROCESS },
		{ "SCMP_ACT_TRAP", SECCOMP_RET_TRAP },
		{ "SCMP_ACT_LOG", SECCOMP_RET_LOG },
	};
	json_t *a = json_object_get(obj, key), *e = json_object_get(obj, errno_key);
	size_t i;

	if (!json_is_string(a))
		return kiln_error_set(err, "%s.%s: must be a string", field, key);
	for (i = 0; i < KILN_ARRAY_SIZE(actions); i++)
		if (strcmp(json_string_value(a), actions[i].name) == 0)
			break;
	if (i == KILN_ARRAY_SIZE(actions))
		return kiln_error_set(err, "%s.%s: \"%s\" is not supported by kiln's runtime", field,
				      key, json_string_value(a));
	*out = actions[i].ret;
	if (e && !json_is_null(e)) {
		if (actions[i].ret != SECCOMP_RET_ERRNO)
			return kiln_error_set(err, "%s.%s: only goes with SCMP_ACT_ERRNO", field, errno_key);
		if (!json_is_integer(e) || json_integer_value(e) < 0 || json_integer_value(e) > 4095)
			return kiln_error_set(err, "%s.%s: must be an errno value (0-4095)", field, errno_key);
		*out |= (uint32_t)json_integer_value(e);
	} else if (actions[i].ret == SECCOMP_RET_ERRNO) {
		*out |= EPERM; /* as runc */
	}
	return 0;
}

static int check_keys(json_t *obj, const char *const *known, const char *field, struct kiln_error *err)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		const char *const *k;
		for (k = known; *k; k++)
			if (strcmp(key, *k) == 0)
				break;
		if (!*k)
			return kiln_error_set(err, "%s.%s: not supported by kiln's runtime", field, key);
	}
	return 0;
}

/* Offset of the low or high 32 bits of argument i in struct seccomp_data. */
static uint32_t arg_offset(unsigned i, bool high)
{
	uint32_t off = (uint32_t)(offsetof(struct seccomp_data, args) + 8 * i);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return off + (high ? 4 : 0);
#else
	return off + (high ? 0 : 4);
#endif
}

#define LD_ABS (BPF_LD | BPF_W | BPF_ABS)
#define JEQ (BPF_JMP | BPF_JEQ | BPF_K)
#define RET (BPF_RET | BPF_K)

/* One rule: its conditions (each jumping past the rule when false), then
 * ret action.  Jumps are patched once the rule's length is known. */
static int emit_rule(struct prog *p, json_t *args, uint32_t action, const char *field,
		     struct kiln_error *err)
{
	struct {
		size_t at;
		bool on_true; /* the jump taken when the condition is false */
	} fails[16] = { { 0, false } };
	size_t start = p->n, n_fails = 0, i;
	json_t *a;

	if (args && !json_is_null(args)) {
		if (!json_is_array(args))
			return kiln_error_set(err, "%s.args: must be an array", field);
		if (json_array_size(args) > 6)
			return kiln_error_set(err, "%s.args: more than 6 conditions", field);
	}
	json_array_foreach(args, i, a) {
		static const char *const keys[] = { "index", "value", "valueTwo", "op", NULL };
		char f[160];
		json_t *idx = json_object_get(a, "index"), *v1 = json_object_get(a, "value");
		json_t *v2 = json_object_get(a, "valueTwo"), *op = json_object_get(a, "op");

		snprintf(f, sizeof(f), "%s.args[%zu]", field, i);
		if (!json_is_object(a))
			return kiln_error_set(err, "%s: must be an object", f);
		if (check_keys(a, keys, f, err) < 0)
			return -1;
		if (!json_is_integer(idx) || json_integer_value(idx) < 0 || json_integer_value(idx) > 5)
			return kiln_error_set(err, "%s.index: must be 0 to 5", f);
		if (!json_is_integer(v1) || (v2 && !json_is_null(v2) && !json_is_integer(v2)))
			return kiln_error_set(err, "%s.value: must be an integer", f);
		if (!json_is_string(op))
			return kiln_error_set(err, "%s.op: must be a string", f);
		unsigned ix = (unsigned)json_integer_value(idx);
		uint64_t val = (uint64_t)json_integer_value(v1);
		uint64_t two = json_is_integer(v2) ? (uint64_t)json_integer_value(v2) : 0;
		const char *o = json_string_value(op);
		if (strcmp(o, "SCMP_CMP_EQ") == 0) {
			emit(p, LD_ABS, 0, 0, arg_offset(ix, true));
			fails[n_fails++].at = emit(p, JEQ, 0, 0, (uint32_t)(val >> 32));
			emit(p, LD_ABS, 0, 0, arg_offset(ix, false));
			fails[n_fails++].at = emit(p, JEQ, 0, 0, (uint32_t)val);
		} else if (strcmp(o, "SCMP_CMP_NE") == 0) {
			emit(p, LD_ABS, 0, 0, arg_offset(ix, true));
			emit(p, JEQ, 0, 2, (uint32_t)(val >> 32)); /* high differs: true */
			emit(p, LD_ABS, 0, 0, arg_offset(ix, false));
			/* low equal too: false */
			fails[n_fails].on_true = true;
			fails[n_fails++].at = emit(p, JEQ, 0, 0, (uint32_t)val);
		} else if (strcmp(o, "SCMP_CMP_MASKED_EQ") == 0) {
			if ((val >> 32) || (two >> 32)) {
				emit(p, LD_ABS, 0, 0, arg_offset(ix, true));
				emit(p, BPF_ALU | BPF_AND | BPF_K, 0, 0, (uint32_t)(val >> 32));
				fails[n_fails++].at = emit(p, JEQ, 0, 0, (uint32_t)(two >> 32));
			}
			emit(p, LD_ABS, 0, 0, arg_offset(ix, false));
			emit(p, BPF_ALU | BPF_AND | BPF_K, 0, 0, (uint32_t)val);
			fails[n_fails++].at = emit(p, JEQ, 0, 0, (uint32_t)two);
		} else {
			return kiln_error_set(err, "%s.op: \"%s\" is not supported by kiln's runtime", f, o);
		}
	}
	size_t end = emit(p, RET, 0, 0, action) + 1;
	if (end - start > 255)
		return kiln_error_set(err, "%s: too many conditions", field);
	for (i = 0; i < n_fails; i++) {
		uint8_t dist = (uint8_t)(end - fails[i].at - 1);
		if (fails[i].on_true)
			p->f[fails[i].at].jt = dist;
		else
			p->f[fails[i].at].jf = dist;
	}
	return 0;
}

struct rule {
	long nr;
	json_t *args;
	uint32_t action;
	char field[96];
};

int kiln_seccomp_compile(json_t *profile, struct kiln_seccomp *out, struct kiln_error *err)
{
	static const char *const keys[] = { "defaultAction", "defaultErrnoRet", "architectures",
					    "flags", "syscalls", NULL };
	static const char *const rule_keys[] = { "names", "action", "errnoRet", "args", NULL };
	struct prog p = { 0 };
	struct rule *rules = NULL;
	size_t n_rules = 0, i, j;
	uint32_t dflt;
	json_t *v, *s;

	*out = (struct kiln_seccomp)KILN_SECCOMP_INIT;
	if (!json_is_object(profile))
		return kiln_error_set(err, "linux.seccomp: must be an object");
	if (check_keys(profile, keys, "linux.seccomp", err) < 0 ||
	    parse_action(profile, "defaultAction", "defaultErrnoRet", "linux.seccomp", &dflt, err) < 0)
		return -1;
	v = json_object_get(profile, "architectures");
	if (v && !json_is_null(v)) {
		if (!json_is_array(v))
			return kiln_error_set(err, "linux.seccomp.architectures: must be an array");
		json_array_foreach(v, i, s)
			if (!json_is_string(s) || strcmp(json_string_value(s), NATIVE_SCMP_ARCH) != 0)
				return kiln_error_set(err, "linux.seccomp.architectures[%zu]: kiln's runtime "
						      "filters the native architecture (%s) only", i,
						      NATIVE_SCMP_ARCH);
	}
	v = json_object_get(profile, "flags");
	if (v && !json_is_null(v) && (!json_is_array(v) || json_array_size(v) > 0))
		return kiln_error_set(err, "linux.seccomp.flags: not supported by kiln's runtime");
	v = json_object_get(profile, "syscalls");
	if (v && !json_is_null(v) && !json_is_array(v))
		return kiln_error_set(err, "linux.seccomp.syscalls: must be an array");
	if (json_array_size(v) > 1024)
		return kiln_error_set(err, "linux.seccomp.syscalls: too many entries");
	json_array_foreach(v, i, s) {
		char field[64];
		json_t *names, *name;
		uint32_t action;

		snprintf(field, sizeof(field), "linux.seccomp.syscalls[%zu]", i);
		if (!json_is_object(s)) {
			kiln_error_set(err, "%s: must be an object", field);
			goto fail;
		}
		if (check_keys(s, rule_keys, field, err) < 0 ||
		    parse_action(s, "action", "errnoRet", field, &action, err) < 0)
			goto fail;
		names = json_object_get(s, "names");
		if (!json_is_array(names) || json_array_size(names) == 0) {
			kiln_error_set(err, "%s.names: must be a non-empty array", field);
			goto fail;
		}
		json_array_foreach(names, j, name) {
			size_t k;
			if (!json_is_string(name)) {
				kiln_error_set(err, "%s.names[%zu]: must be a string", field, j);
				goto fail;
			}
			for (k = 0; k < KILN_ARRAY_SIZE(syscall_names); k++)
				if (strcmp(json_string_value(name), syscall_names[k].name) == 0)
					break;
			if (k == KILN_ARRAY_SIZE(syscall_names)) {
				kiln_error_set(err, "%s.names[%zu]: system call \"%s\" unknown to kiln's "
					       "runtime", field, j, json_string_value(name));
				goto fail;
			}
			if (syscall_names[k].nr < 0)
				continue; /* not on this architecture */
			rules = kiln_xrealloc(rules, (n_rules + 1) * sizeof(*rules));
			rules[n_rules].nr = syscall_names[k].nr;
			rules[n_rules].args = json_object_get(s, "args");
			rules[n_rules].action = action;
			snprintf(rules[n_rules].field, sizeof(rules[n_rules].field), "%s", field);
			n_rules++;
		}
	}

	emit(&p, LD_ABS, 0, 0, offsetof(struct seccomp_data, arch));
	emit(&p, JEQ, 1, 0, NATIVE_AUDIT_ARCH);
	emit(&p, RET, 0, 0, SECCOMP_RET_KILL_PROCESS);
	emit(&p, LD_ABS, 0, 0, offsetof(struct seccomp_data, nr));
#ifdef X32_SYSCALL_BIT
	/* x32 system calls share the arch value; -1 (a tracer's skip) is not one. */
	emit(&p, BPF_JMP | BPF_JGE | BPF_K, 0, 2, X32_SYSCALL_BIT);
	emit(&p, JEQ, 1, 0, 0xffffffffU);
	emit(&p, RET, 0, 0, SECCOMP_RET_KILL_PROCESS);
#endif
	for (i = 0; i < n_rules; i++) {
		bool first = true;
		for (j = 0; j < i; j++)
			first &= rules[j].nr != rules[i].nr;
		if (!first)
			continue;
		size_t head = emit(&p, JEQ, 0, 0, (uint32_t)rules[i].nr);
		for (j = i; j < n_rules; j++)
			if (rules[j].nr == rules[i].nr &&
			    emit_rule(&p, rules[j].args, rules[j].action, rules[j].field, err) < 0)
				goto fail;
		emit(&p, RET, 0, 0, dflt);
		if (p.n - head - 1 > 255) {
			kiln_error_set(err, "%s: too many rules for one system call", rules[i].field);
			goto fail;
		}
		/* Not this one: on to the next block, the number still loaded. */
		p.f[head].jf = (uint8_t)(p.n - head - 1);
	}
	emit(&p, RET, 0, 0, dflt);
	if (p.n > BPF_MAXINSNS) {
		kiln_error_set(err, "linux.seccomp: the filter needs %zu instructions, more than %d", p.n,
			       BPF_MAXINSNS);
		goto fail;
	}
	free(rules);
	out->filter = p.f;
	out->len = (unsigned short)p.n;
	return 0;
fail:
	free(rules);
	free(p.f);
	return -1;
}

int kiln_seccomp_install(const struct kiln_seccomp *s)
{
	struct sock_fprog prog = { .len = s->len, .filter = s->filter };

	if (!s->filter || s->len == 0)
		return 0;
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
		return errno;
	return 0;
}

void kiln_seccomp_release(struct kiln_seccomp *s)
{
	free(s->filter);
	*s = (struct kiln_seccomp)KILN_SECCOMP_INIT;
}
