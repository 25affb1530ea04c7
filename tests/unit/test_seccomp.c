/* test_seccomp.c - kiln's default seccomp profile (lib/seccomp): what its
 * rules say, read as libseccomp reads them, and what the kernel does under
 * the filter kiln compiles from it.  The packet-socket checks need root
 * (CAP_NET_RAW, so that only the filter can say no). */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <linux/capability.h>
#include <linux/if_ether.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seccomp.h"
#include "seccompfix.h"
#include "tap.h"
#include "util.h"

/* The personas Docker's profile allows; all the kernel reads is the low 32
 * bits (its argument is an unsigned int). */
static bool persona_allowed(uint64_t v)
{
	uint32_t low = (uint32_t)v;
	return low == 0 || low == 8 || low == 0x20000 || low == 0x20008 || low == 0xffffffffU;
}

/* Does the profile deny personality(v)?  Each of its personality rules is
 * one condition on argument 0, as runc hands it to libseccomp. */
static bool profile_denies_personality(json_t *profile, uint64_t v)
{
	size_t i;
	json_t *rule;

	json_array_foreach(json_object_get(profile, "syscalls"), i, rule) {
		json_t *names = json_object_get(rule, "names"), *args = json_object_get(rule, "args"), *a;
		size_t j;
		bool named = false, all = true;

		json_array_foreach(names, j, a)
			named |= strcmp(json_string_value(a), "personality") == 0;
		if (!named)
			continue;
		json_array_foreach(args, j, a) {
			const char *op = json_string_value(json_object_get(a, "op"));
			uint64_t value = (uint64_t)json_integer_value(json_object_get(a, "value"));
			uint64_t two = (uint64_t)json_integer_value(json_object_get(a, "valueTwo"));
			if (json_integer_value(json_object_get(a, "index")) != 0)
				all = false;
			else if (strcmp(op, "SCMP_CMP_MASKED_EQ") == 0)
				all &= (v & value) == two;
			else if (strcmp(op, "SCMP_CMP_EQ") == 0)
				all &= v == value;
			else
				all = false;
		}
		if (all && strcmp(json_string_value(json_object_get(rule, "action")), "SCMP_ACT_ERRNO") == 0)
			return true;
	}
	return false;
}

TEST(personality_rules_deny_exactly_what_docker_denies)
{
	json_t *p = kiln_seccomp_default_profile(0);
	size_t bad = 0, n = 0, i;
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	json_t *rule;

	/* One condition per rule (runc splits several on one argument into
	 * rules of their own, which would OR them). */
	json_array_foreach(json_object_get(p, "syscalls"), i, rule)
		CHECK(json_array_size(json_object_get(rule, "args")) <= 1);
#define TRY(v)                                                                         \
	do {                                                                           \
		uint64_t v_ = (v);                                                     \
		n++;                                                                   \
		if (profile_denies_personality(p, v_) == persona_allowed(v_) && bad++ < 5) \
			printf("# personality(0x%llx): wrong\n", (unsigned long long)v_); \
	} while (0)
	static const uint64_t edges[] = { 0, 8, 0x20000, 0x20008, 0xffffffffULL, 0xffffffffffffffffULL,
					  0x0400000, 0x0040000, 0x0200000, 0x20009, 0xfffffffe };
	for (size_t k = 0; k < KILN_ARRAY_SIZE(edges); k++)
		TRY(edges[k]);
	for (int a = 0; a < 64; a++)
		for (int b = 0; b < 64; b++) {
			TRY((1ULL << a) | (1ULL << b));
			TRY(~((1ULL << a) | (1ULL << b)));
			TRY(0xffffffffULL ^ (1ULL << a));
		}
	for (int k = 0; k < 200000; k++) { /* xorshift */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		TRY(x);
		TRY(x & 0x20008);
		TRY(x | 0xffffffffULL);
	}
#undef TRY
	CHECK(bad == 0);
	printf("# %zu personas checked\n", n);
	json_decref(p);
}

/* Does profile deny socket(domain, …) (a rule socket, arg 0 == domain)? */
static bool profile_denies_socket(json_t *profile, int domain)
{
	size_t i;
	json_t *rule;

	json_array_foreach(json_object_get(profile, "syscalls"), i, rule) {
		json_t *arg = json_array_get(json_object_get(rule, "args"), 0);
		if (strcmp(json_string_value(json_array_get(json_object_get(rule, "names"), 0)), "socket") == 0 &&
		    json_array_size(json_object_get(rule, "args")) == 1 &&
		    json_integer_value(json_object_get(arg, "index")) == 0 &&
		    strcmp(json_string_value(json_object_get(arg, "op")), "SCMP_CMP_EQ") == 0 &&
		    json_integer_value(json_object_get(arg, "value")) == domain &&
		    strcmp(json_string_value(json_object_get(rule, "action")), "SCMP_ACT_ERRNO") == 0)
			return true;
	}
	return false;
}

TEST(packet_sockets_follow_net_raw)
{
	json_t *without = kiln_seccomp_default_profile(0);
	json_t *with = kiln_seccomp_default_profile(1ULL << CAP_NET_RAW);
	json_t *all = kiln_seccomp_default_profile(~0ULL);

	/* AF_PACKET is denied only without CAP_NET_RAW; AF_VSOCK always (as Docker). */
	CHECK(profile_denies_socket(without, AF_PACKET));
	CHECK(!profile_denies_socket(with, AF_PACKET));
	CHECK(!profile_denies_socket(all, AF_PACKET));
	CHECK(profile_denies_socket(without, AF_VSOCK));
	CHECK(profile_denies_socket(with, AF_VSOCK));
	CHECK(!profile_denies_socket(without, AF_INET));
	json_decref(without);
	json_decref(with);
	json_decref(all);
}

static void result(int fd, const char *name, long r)
{
	dprintf(fd, "%s=%s\n", name, r >= 0 ? "ok" : errno == EPERM ? "EPERM" : strerror(errno));
}

static void probe_sockets(int fd)
{
	int s = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	result(fd, "packet", s);
	if (s >= 0)
		close(s);
	s = socket(AF_PACKET, SOCK_DGRAM, 0);
	result(fd, "packet_dgram", s);
	if (s >= 0)
		close(s);
	s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP); /* CAP_NET_RAW alone decides */
	result(fd, "inet_raw", s);
	if (s >= 0)
		close(s);
	s = socket(AF_VSOCK, SOCK_STREAM, 0);
	dprintf(fd, "vsock=%s\n", s < 0 && errno == EPERM ? "EPERM" : "not-refused");
}

TEST(packet_sockets_in_process)
{
	if (geteuid() != 0) {
		printf("# skip: needs root (CAP_NET_RAW)\n");
		return;
	}
	json_t *without = kiln_seccomp_default_profile(0);
	json_t *with = kiln_seccomp_default_profile(1ULL << CAP_NET_RAW);
	_cleanup_free_ char *a = under_filter(without, probe_sockets);
	_cleanup_free_ char *b = under_filter(with, probe_sockets);

	/* As root with CAP_NET_RAW: only the filter says no. */
	CHECK_STR(a, "packet=EPERM\npacket_dgram=EPERM\ninet_raw=ok\nvsock=EPERM\n");
	CHECK_STR(b, "packet=ok\npacket_dgram=ok\ninet_raw=ok\nvsock=EPERM\n");
	json_decref(without);
	json_decref(with);
}

static void probe_personality(int fd)
{
	static const struct {
		const char *name;
		unsigned long persona;
	} tries[] = {
		{ "query", 0xffffffffUL },
		{ "linux32", 0x8 },
		{ "uname26", 0x20000 },
		{ "linux32_uname26", 0x20008 },
		{ "linux", 0x0 },
		{ "read_implies_exec", 0x0400000 },
		{ "addr_no_randomize", 0x0040000 },
		{ "addr_limit_3gb", 0x8000000 },
		{ "short_inode", 0x1000000 },
		{ "linux32_read_implies_exec", 0x0400008 },
		{ "one", 0x1 },
		{ "all_but_bit_0", 0xfffffffeUL },
		{ "high_bits_then_linux32", 0x100000008UL }, /* the kernel reads 8 */
		{ "high_bits_then_read_implies_exec", 0xffffffff00400000UL },
	};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(tries); i++) {
		long r = syscall(SYS_personality, tries[i].persona);
		result(fd, tries[i].name, r);
		if (r >= 0)
			syscall(SYS_personality, 0UL);
	}
}

TEST(personality_in_process)
{
	json_t *p = kiln_seccomp_default_profile(0);
	_cleanup_free_ char *out = under_filter(p, probe_personality);

	CHECK_STR(out, "query=ok\nlinux32=ok\nuname26=ok\nlinux32_uname26=ok\nlinux=ok\n"
		       "read_implies_exec=EPERM\naddr_no_randomize=EPERM\naddr_limit_3gb=EPERM\n"
		       "short_inode=EPERM\nlinux32_read_implies_exec=EPERM\none=EPERM\nall_but_bit_0=EPERM\n"
		       "high_bits_then_linux32=ok\nhigh_bits_then_read_implies_exec=EPERM\n");
	json_decref(p);
}

int main(void)
{
	RUN(personality_rules_deny_exactly_what_docker_denies);
	RUN(packet_sockets_follow_net_raw);
	RUN(packet_sockets_in_process);
	RUN(personality_in_process);
	return tap_done();
}
