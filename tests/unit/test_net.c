/* test_net.c - lib/net: parsing and validation, then bridge mode on the real
 * kernel (root): "containers" are child processes in fresh network
 * namespaces; they reach each other and the gateway (ICMP echo), a server
 * inside one answers on 127.0.0.1:PORT and on the bridge address of the
 * host (TCP and UDP), leases, DNAT rules and veths come and go with
 * attach/detach/reap, concurrent attaches get distinct addresses.
 * Services: published ports switched from container A to B (new
 * connections reach B, one established to A completes with A, a stream of
 * connections across twenty switches never fails), records that outlive
 * their containers, conflicts with -p ports both ways, a crash between
 * the record and the load, malformed records refused and kept.
 *
 * Only loopback and the addresses this test gives its own namespaces are
 * used.  Every name carries a per-run suffix; the body runs in a child and
 * the parent removes the bridges, tables and namespaces it made and
 * restores net.ipv4.ip_forward, whatever happened to the child.
 *
 * With arguments it is the driver of tests/cli/t0510-net.sh instead:
 *   test_net attach ID PID [PORT…] | detach ID | reap [LIVE…] | lookup ID
 * configured by KILN_NET_STATE, KILN_NET_BRIDGE, KILN_NET_SUBNET,
 * KILN_NET_TABLE.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "net.h"
#include "tap.h"
#include "util.h"

/* Docker's form: 02:42 and the address's bytes in order (docs/containers.md). */
TEST(mac_from_ipv4)
{
	struct in_addr a;
	unsigned char mac[6];
	const unsigned char want[6] = { 0x02, 0x42, 0x0a, 0x58, 0x00, 0xfe };

	CHECK(inet_pton(AF_INET, "10.88.0.254", &a) == 1);
	kiln_net_mac_from_ipv4(a, mac);
	CHECK(memcmp(mac, want, sizeof(mac)) == 0);
}

/* --- parsing, no privileges needed --- */

TEST(parse_port_forms)
{
	struct kiln_net_port p;
	struct kiln_error err = { 0 };

	CHECK(kiln_net_parse_port("8080:80", &p, &err) == 0);
	CHECK(p.host == 8080 && p.container == 80 && p.proto == IPPROTO_TCP && !p.host_address[0]);
	CHECK(kiln_net_parse_port("53:5353/udp", &p, &err) == 0);
	CHECK(p.host == 53 && p.container == 5353 && p.proto == IPPROTO_UDP);
	CHECK(kiln_net_parse_port("65535:1/tcp", &p, &err) == 0);
	CHECK(p.host == 65535 && p.container == 1 && p.proto == IPPROTO_TCP);
	CHECK(kiln_net_parse_port("127.0.0.1:8080:80", &p, &err) == 0);
	CHECK_STR(p.host_address, "127.0.0.1");
	CHECK(p.host == 8080 && p.container == 80);
	CHECK(kiln_net_parse_port("255.255.255.255:1:2/udp", &p, &err) == 0);
	CHECK_STR(p.host_address, "255.255.255.255");
	CHECK(p.proto == IPPROTO_UDP);
}

TEST(parse_port_rejects)
{
	static const char *const bad[] = {
		"", "80", "0:80", "80:0", "65536:80", "80:65536", "99999999999:1", "a:80",
		"80:b", "8080:80/sctp", "8080:80/", "8080:80/tcp/udp", "1.2.3:80:80",
		"1.2.3.4.5:80:80", "::1:80:80", "1:2:3:4", "8080:-80", "+80:80", " 80:80",
		"80 :80", "80:80 ", ":80", "80:", "localhost:80:80", "0x50:80",
		"1.2.3.4:80", "127.0.0.1::80",
	};
	struct kiln_net_port p;

	for (size_t i = 0; i < KILN_ARRAY_SIZE(bad); i++) {
		struct kiln_error err = { 0 };
		int rc = kiln_net_parse_port(bad[i], &p, &err);
		if (rc != -1 || !err.message[0])
			printf("# accepted '%s'\n", bad[i]);
		CHECK(rc == -1);
		CHECK(err.message[0] != '\0');
	}
	struct kiln_error err = { 0 };
	char huge[4096];
	memset(huge, '1', sizeof(huge) - 1);
	huge[sizeof(huge) - 1] = '\0';
	CHECK(kiln_net_parse_port(huge, &p, &err) == -1);
	CHECK_CONTAINS(err.message, "too long");
	kiln_error_clear(&err);
	CHECK(kiln_net_parse_port("8080:80/sctp", &p, &err) == -1);
	CHECK_CONTAINS(err.message, "'8080:80/sctp'");
	CHECK_CONTAINS(err.message, "sctp");
}

TEST(parse_mode)
{
	enum kiln_net_mode m;
	const char *name = "x";
	struct kiln_error err = { 0 };

	CHECK(kiln_net_parse_mode("bridge", &m, &name, &err) == 0 && m == KILN_NET_BRIDGE);
	CHECK(name == NULL);
	CHECK(kiln_net_parse_mode("host", &m, &name, &err) == 0 && m == KILN_NET_HOST);
	CHECK(kiln_net_parse_mode("none", &m, &name, &err) == 0 && m == KILN_NET_NONE);
	CHECK(kiln_net_parse_mode("container:web", &m, &name, &err) == 0 && m == KILN_NET_CONTAINER);
	CHECK_STR(name, "web");
	CHECK(kiln_net_parse_mode("container:", &m, &name, &err) == -1);
	CHECK(kiln_net_parse_mode("Bridge", &m, &name, &err) == -1);
	CHECK_CONTAINS(err.message, "'Bridge'");
	CHECK(kiln_net_parse_mode("", &m, &name, &err) == -1);
}

static char tmp_state[64];

/* Attach must fail with a message containing want, before touching anything. */
static void expect_attach_fails(const struct kiln_net_config *c, const char *id, pid_t pid,
				const char *want)
{
	struct kiln_error err = { 0 };
	struct kiln_net_attachment a;

	CHECK(kiln_net_attach(c, id, pid, NULL, 0, &a, &err) == -1);
	CHECK_CONTAINS(err.message, want);
}

TEST(config_and_id_rejected)
{
	struct kiln_net_config c = { .state_dir = tmp_state, .bridge = "kxnever0",
				     .nft_table = "kiln_never" };

	c.subnet = "10.88.0.1/16";
	expect_attach_fails(&c, "a", 1, "host bits set (did you mean 10.88.0.0/16?)");
	c.subnet = "10.88.0.0/31";
	expect_attach_fails(&c, "a", 1, "prefix must be 8 to 30");
	c.subnet = "10.88.0.0/7";
	expect_attach_fails(&c, "a", 1, "prefix must be 8 to 30");
	c.subnet = "10.88.0.0";
	expect_attach_fails(&c, "a", 1, "want ADDRESS/PREFIX");
	c.subnet = "10.88.0/16";
	expect_attach_fails(&c, "a", 1, "not an IPv4 address");
	c.subnet = "10.88.0.0/16x";
	expect_attach_fails(&c, "a", 1, "prefix must be 8 to 30");
	c.subnet = "10.99.0.0/24";
	c.bridge = "a-bridge-name-too-long";
	expect_attach_fails(&c, "a", 1, "must be 1 to 15 characters");
	c.bridge = "br/x";
	expect_attach_fails(&c, "a", 1, "character '/' not allowed");
	c.bridge = "..";
	expect_attach_fails(&c, "a", 1, "not allowed");
	c.bridge = "kxnever0";
	c.nft_table = "1table";
	expect_attach_fails(&c, "a", 1, "must start with a letter");
	c.nft_table = "t;flush ruleset";
	expect_attach_fails(&c, "a", 1, "not allowed");
	c.nft_table = "kiln_never";
	expect_attach_fails(&c, "", 1, "container id is empty");
	expect_attach_fails(&c, "../etc", 1, "must not start with '.'");
	expect_attach_fails(&c, "a/b", 1, "character '/' not allowed");
	expect_attach_fails(&c, "-rf", 1, "must not start with '-'");
	char long_id[200];
	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	expect_attach_fails(&c, long_id, 1, "longer than 128 characters");
	/* A pid in our own namespace must never be configured as a container. */
	expect_attach_fails(&c, "self", getpid(), "shares the host's network namespace");
	expect_attach_fails(&c, "nobody", 0, "not a valid pid");
	struct kiln_net_config none = { 0 };
	expect_attach_fails(&none, "a", 1, "no state directory");
	/* Nothing was created for any of these. */
	_cleanup_free_ char *leases = kiln_path_join(tmp_state, "leases");
	CHECK(access(leases, F_OK) != 0);
}

TEST(detach_unknown_is_fine)
{
	struct kiln_net_config c = { .state_dir = tmp_state, .bridge = "kxnever0",
				     .subnet = "10.99.0.0/24", .nft_table = "kiln_never" };
	struct kiln_error err = { 0 };
	struct kiln_net_attachment a;

	CHECK(kiln_net_detach(&c, "ghost", &err) == 0);
	CHECK(kiln_net_detach(&c, "ghost", &err) == 0);
	CHECK(kiln_net_lookup(&c, "ghost", &a, &err) == 0);
	CHECK(kiln_net_reap(&c, NULL, 0, &err) == 0);
}

/* A record is only ever written by kiln: anything else in one is refused,
 * by lookup, detach and reap alike, with the file named, and the record is
 * left for a human to look at.  Detach deletes the link a record names:
 * "eth0" or "lo" there must never get that far. */
TEST(hostile_lease_records_refused)
{
	struct kiln_net_config c = { .state_dir = tmp_state, .bridge = "kxnever0",
				     .subnet = "10.99.0.0/24", .nft_table = "kiln_never" };
	static const struct {
		const char *body, *why;
	} bad[] = {
		{ "id h\naddress 10.99.0.2\nveth eth0\n", "veth is not a name kiln makes" },
		{ "id h\naddress 10.99.0.2\nveth lo\n", "veth is not a name kiln makes" },
		{ "id h\naddress 10.99.0.2\nveth kvDEADBEEF\n", "veth is not a name kiln makes" },
		{ "id h\naddress 10.99.0.2\nveth kvdeadbee\n", "veth is not a name kiln makes" },
		{ "id h\naddress 10.99.0.2\nveth kvdeadbeef0\n", "veth is not a name kiln makes" },
		{ "id h\naddress 10.99.0.2\nveth kv-eadbeef\n", "veth is not a name kiln makes" },
		{ "id h\naddress 10.99.0.2\nveth kvdeadbeef\nveth kv00000000\n", "second veth" },
		{ "id h\naddress 10.98.0.2\nveth kvdeadbeef\n", "not one to lease in the subnet" },
		{ "id h\naddress 10.99.0.1\nveth kvdeadbeef\n", "not one to lease in the subnet" },
		{ "id h\naddress 10.99.0.0\nveth kvdeadbeef\n", "not one to lease in the subnet" },
		{ "id h\naddress 10.99.0.255\nveth kvdeadbeef\n", "not one to lease in the subnet" },
		{ "id h\naddress 127.0.0.1\nveth kvdeadbeef\n", "not one to lease in the subnet" },
		{ "id h\naddress 10.99.0.2\naddress 10.99.0.3\nveth kvdeadbeef\n", "second address" },
		{ "id h\naddress 10.99.0.02\nveth kvdeadbeef\n", "not an IPv4 address" },
		{ "id h\nid h\naddress 10.99.0.2\nveth kvdeadbeef\n", "second id" },
		{ "id -h\naddress 10.99.0.2\nveth kvdeadbeef\n", "not a valid container id" },
		{ "id other\naddress 10.99.0.2\nveth kvdeadbeef\n", "belongs to 'other'" },
		{ "id h\naddress 10.99.0.2\nveth kvdeadbeef\nport tcp 0 80 *\n", "port is not" },
		{ "id h\naddress 10.99.0.2\nveth kvdeadbeef\nport tcp 80 65536 *\n", "port is not" },
		{ "id h\naddress 10.99.0.2\nveth kvdeadbeef\nport sctp 80 80 *\n", "port is not" },
		{ "id h\naddress 10.99.0.2\nveth kvdeadbeef\nport tcp 80 80 1.2.3\n", "port is not" },
		{ "id h\naddress 10.99.0.2\nveth kvdeadbeef\nport tcp 80 80 * x\n", "unknown or malformed" },
		{ "id h\naddress 10.99.0.2\nveth kvdeadbeef\nport tcp 80 80 *\nport tcp 80 81 *\n",
		  "port published twice" },
		{ "id h\naddress  10.99.0.2\nveth kvdeadbeef\n", "malformed" },
		{ "id h\naddress 10.99.0.2\nveth kvdeadbeef \n", "malformed" },
		{ "id h\naddress 10.99.0.2\nveth\tkvdeadbeef\n", "malformed" },
		{ "id h\naddress 10.99.0.2\nmtu 9000\nveth kvdeadbeef\n", "unknown or malformed" },
		{ "id h\naddress 10.99.0.2\n", "incomplete" },
		{ "id h\naddress 10.99.0.2\nveth kvdeadbeef", "incomplete" },
	};
	_cleanup_free_ char *dir = kiln_path_join(tmp_state, "leases");
	_cleanup_free_ char *path = kiln_path_join(dir, "h.lease");
	struct kiln_error err = { 0 };
	struct kiln_net_attachment a;

	CHECK(kiln_mkdir_p(dir, 0700, &err) == 0);
	for (size_t i = 0; i < KILN_ARRAY_SIZE(bad); i++) {
		_cleanup_free_ char *text = kiln_xasprintf("kiln-net-lease 1\n%s", bad[i].body);
		kiln_error_clear(&err);
		CHECK(kiln_file_write_atomic(path, text, strlen(text), 0600, &err) == 0);
		int rc = kiln_net_lookup(&c, "h", &a, &err);
		CHECK(rc == -1);
		CHECK_CONTAINS(err.message, path);
		CHECK_CONTAINS(err.message, bad[i].why);
		if (rc != -1 || !strstr(err.message, bad[i].why))
			printf("# record %zu: %s\n", i, err.message);
		kiln_error_clear(&err);
		CHECK(kiln_net_detach(&c, "h", &err) == -1);
		CHECK_CONTAINS(err.message, path);
		kiln_error_clear(&err);
		CHECK(kiln_net_reap(&c, NULL, 0, &err) == -1);
		CHECK_CONTAINS(err.message, path);
		CHECK(access(path, F_OK) == 0); /* kept for a human to see */
	}
	/* A symbolic link, a NUL byte, two records naming one veth. */
	unlink(path);
	CHECK(symlink("/etc/hostname", path) == 0);
	kiln_error_clear(&err);
	CHECK(kiln_net_lookup(&c, "h", &a, &err) == -1);
	CHECK_CONTAINS(err.message, "not a regular file");
	unlink(path);
	static const char nul[] = "kiln-net-lease 1\nid h\0\naddress 10.99.0.2\nveth kvdeadbeef\n";
	CHECK(kiln_file_write_atomic(path, nul, sizeof(nul) - 1, 0600, &err) == 0);
	kiln_error_clear(&err);
	CHECK(kiln_net_lookup(&c, "h", &a, &err) == -1);
	CHECK_CONTAINS(err.message, "NUL byte");
	_cleanup_free_ char *path2 = kiln_path_join(dir, "h2.lease");
	const char *r1 = "kiln-net-lease 1\nid h\naddress 10.99.0.2\nveth kvdeadbeef\n";
	const char *r2 = "kiln-net-lease 1\nid h2\naddress 10.99.0.3\nveth kvdeadbeef\n";
	CHECK(kiln_file_write_atomic(path, r1, strlen(r1), 0600, &err) == 0);
	CHECK(kiln_file_write_atomic(path2, r2, strlen(r2), 0600, &err) == 0);
	kiln_error_clear(&err);
	CHECK(kiln_net_lookup(&c, "h", &a, &err) == 1); /* each alone is fine */
	CHECK(kiln_net_reap(&c, NULL, 0, &err) == -1);
	CHECK_CONTAINS(err.message, "same veth as that of");
	unlink(path);
	unlink(path2);
	/* Nothing of the network was made for any of these. */
	CHECK(access("/sys/class/net/kxnever0", F_OK) != 0);
}

/* Service records are as strict as leases: a bad one is named by lookup,
 * switch, remove and reap, and kept. */
TEST(hostile_service_records_refused)
{
	struct kiln_net_config c = { .state_dir = tmp_state, .bridge = "kxnever0",
				     .subnet = "10.99.0.0/24", .nft_table = "kiln_never" };
	static const struct {
		const char *body, *why;
	} bad[] = {
		{ "kiln-net-lease 1\nservice w\ntarget a\n", "not a kiln-net-service 1 record" },
		{ "kiln-net-service 2\nservice w\ntarget a\n", "not a kiln-net-service 1 record" },
		{ "service w\n", "incomplete" },
		{ "target a\n", "incomplete" },
		{ "service w\ntarget a", "incomplete" },
		{ "service w\ntarget a b\n", "unknown or malformed" },
		{ "service w\ntarget -a\n", "target is not a valid container id" },
		{ "service w\ntarget ../a\n", "target is not a valid container id" },
		{ "service w\ntarget a\ntarget b\n", "second target" },
		{ "service w\nservice w\ntarget a\n", "second service" },
		{ "service .w\ntarget a\n", "service is not a valid name" },
		{ "service other\ntarget a\n", "belongs to 'other'" },
		{ "service  w\ntarget a\n", "malformed" },
		{ "service w\ntarget a \n", "malformed" },
		{ "service w\ntarget\ta\n", "malformed" },
		{ "service w\ntarget a\nweight 3\n", "unknown or malformed" },
		{ "service w\ntarget a\nport tcp 0 80 *\n", "port is not" },
		{ "service w\ntarget a\nport udp 80 65536 *\n", "port is not" },
		{ "service w\ntarget a\nport sctp 80 80 *\n", "port is not" },
		{ "service w\ntarget a\nport tcp 80 80 localhost\n", "port is not" },
		{ "service w\ntarget a\nport tcp 80 80 *\nport tcp 80 81 127.0.0.1\n",
		  "port published twice" },
	};
	_cleanup_free_ char *dir = kiln_path_join(tmp_state, "services");
	_cleanup_free_ char *path = kiln_path_join(dir, "w.service");
	struct kiln_net_port port = { .host = 80, .container = 80, .proto = IPPROTO_TCP };
	struct kiln_error err = { 0 };
	char target[129];

	CHECK(kiln_mkdir_p(dir, 0700, &err) == 0);
	for (size_t i = 0; i < KILN_ARRAY_SIZE(bad); i++) {
		const char *body = bad[i].body;
		_cleanup_free_ char *text = kiln_str_has_prefix(body, "kiln-")
			? kiln_xstrdup(body) : kiln_xasprintf("kiln-net-service 1\n%s", body);
		kiln_error_clear(&err);
		CHECK(kiln_file_write_atomic(path, text, strlen(text), 0600, &err) == 0);
		int rc = kiln_net_service_lookup(&c, "w", target, NULL, NULL, &err);
		CHECK(rc == -1);
		CHECK_CONTAINS(err.message, path);
		CHECK_CONTAINS(err.message, bad[i].why);
		if (rc != -1 || !strstr(err.message, bad[i].why))
			printf("# record %zu: %s\n", i, err.message);
		kiln_error_clear(&err);
		CHECK(kiln_net_service_remove(&c, "w", &err) == -1);
		CHECK_CONTAINS(err.message, path);
		kiln_error_clear(&err);
		CHECK(kiln_net_service_switch(&c, "w", "a", &port, 1, &err) == -1);
		CHECK_CONTAINS(err.message, path);
		kiln_error_clear(&err);
		CHECK(kiln_net_service_switch(&c, "other", "a", NULL, 0, &err) == -1);
		CHECK_CONTAINS(err.message, path);
		kiln_error_clear(&err);
		CHECK(kiln_net_reap(&c, NULL, 0, &err) == -1);
		CHECK_CONTAINS(err.message, path);
		kiln_error_clear(&err);
		CHECK(kiln_net_detach(&c, "a", &err) == -1);
		CHECK_CONTAINS(err.message, path);
		CHECK(access(path, F_OK) == 0); /* kept for a human to see */
	}
	/* A symbolic link, a NUL byte, two services publishing one port. */
	unlink(path);
	CHECK(symlink("/etc/hostname", path) == 0);
	kiln_error_clear(&err);
	CHECK(kiln_net_service_lookup(&c, "w", target, NULL, NULL, &err) == -1);
	CHECK_CONTAINS(err.message, "not a regular file");
	unlink(path);
	static const char nul[] = "kiln-net-service 1\nservice w\0\ntarget a\n";
	CHECK(kiln_file_write_atomic(path, nul, sizeof(nul) - 1, 0600, &err) == 0);
	kiln_error_clear(&err);
	CHECK(kiln_net_service_lookup(&c, "w", target, NULL, NULL, &err) == -1);
	CHECK_CONTAINS(err.message, "NUL byte");
	_cleanup_free_ char *path2 = kiln_path_join(dir, "w2.service");
	const char *r1 = "kiln-net-service 1\nservice w\ntarget a\nport udp 53 53 127.0.0.1\n";
	const char *r2 = "kiln-net-service 1\nservice w2\ntarget b\nport udp 53 5353 *\n";
	CHECK(kiln_file_write_atomic(path, r1, strlen(r1), 0600, &err) == 0);
	CHECK(kiln_file_write_atomic(path2, r2, strlen(r2), 0600, &err) == 0);
	kiln_error_clear(&err);
	struct kiln_net_port *ports = NULL;
	size_t n_ports = 0;
	CHECK(kiln_net_service_lookup(&c, "w", target, &ports, &n_ports, &err) == 1); /* alone: fine */
	CHECK_STR(target, "a");
	CHECK(n_ports == 1 && ports && ports[0].host == 53 && ports[0].container == 53 &&
	      ports[0].proto == IPPROTO_UDP && strcmp(ports[0].host_address, "127.0.0.1") == 0);
	free(ports);
	CHECK(kiln_net_reap(&c, NULL, 0, &err) == -1);
	CHECK_CONTAINS(err.message, "also published by service");
	unlink(path);
	unlink(path2);
	/* Names: the rule of container names. */
	kiln_error_clear(&err);
	CHECK(kiln_net_service_lookup(&c, "w", target, NULL, NULL, &err) == 0);
	CHECK(kiln_net_service_remove(&c, "w", &err) == 0);
	CHECK(kiln_net_service_lookup(&c, "../w", target, NULL, NULL, &err) == -1);
	CHECK_CONTAINS(err.message, "service name '../w'");
	kiln_error_clear(&err);
	CHECK(kiln_net_service_switch(&c, "", "a", NULL, 0, &err) == -1);
	CHECK_CONTAINS(err.message, "service name is empty");
	char long_name[70];
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	kiln_error_clear(&err);
	CHECK(kiln_net_service_remove(&c, long_name, &err) == -1);
	CHECK_CONTAINS(err.message, "must be 1 to 64");
	kiln_error_clear(&err);
	CHECK(kiln_net_service_switch(&c, "w", "a/b", NULL, 0, &err) == -1);
	CHECK_CONTAINS(err.message, "character '/' not allowed");
	/* A target without a lease. */
	kiln_error_clear(&err);
	CHECK(kiln_net_service_switch(&c, "w", "ghost", &port, 1, &err) == -1);
	CHECK_CONTAINS(err.message, "container 'ghost' has no lease");
	CHECK(access(path, F_OK) != 0);
	CHECK(access("/sys/class/net/kxnever0", F_OK) != 0);
}

/* --- the real kernel --- */

static char suffix[8];
static char bridge[16], bridge_small[16], table[32], table_small[32];
static char subnet[32], subnet_small[32], prefix3[16]; /* "10.a.b." */
static char state[128], state_small[128];

/* net.ipv4.ip_forward is one switch for the whole host, and writing it
 * resets every interface's forwarding: a test that put it back while
 * another (this one, t0510-net.sh, kiln run's) still runs would break the
 * other's forwarding.  So tests share a count under flock; the last one out
 * restores the value the first one found.  Same protocol in t0510-net.sh. */
#define IP_FORWARD_REF                                                                     \
	"flock /run/kiln-test-ip_forward.lock sh -c '"                                      \
	"f=/run/kiln-test-ip_forward; "                                                     \
	"if [ \"$1\" = enter ]; then "                                                      \
	"  if [ -f $f ]; then read o n <$f; echo \"$o $((n+1))\" >$f; "                     \
	"  else echo \"$(cat /proc/sys/net/ipv4/ip_forward) 1\" >$f; fi; "                  \
	"elif [ -f $f ]; then read o n <$f; n=$((n-1)); "                                   \
	"  if [ $n -le 0 ]; then echo $o >/proc/sys/net/ipv4/ip_forward; rm -f $f; "        \
	"  else echo \"$o $n\" >$f; fi; "                                                   \
	"fi' _ "
static struct kiln_net_config cfg, cfg_small;
static uint16_t port_tcp, port_udp;

#define MAX_CHILDREN 64
static pid_t children[MAX_CHILDREN];
static size_t n_children;

static char *sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *sh(const char *fmt, ...)
{
	va_list ap;
	char *cmd;
	struct kiln_buf b = KILN_BUF_INIT;
	char chunk[4096];
	size_t n;
	FILE *f;

	va_start(ap, fmt);
	if (vasprintf(&cmd, fmt, ap) < 0)
		abort();
	va_end(ap);
	f = popen(cmd, "r");
	free(cmd);
	if (!f)
		return kiln_xstrdup("");
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		kiln_buf_add(&b, chunk, n);
	pclose(f);
	return kiln_buf_detach(&b);
}

static void track(pid_t pid)
{
	if (n_children < MAX_CHILDREN)
		children[n_children++] = pid;
}

/* A "container": a process that unshares its network namespace and waits. */
static pid_t container_new(void)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe(p) < 0)
		return -1;
	pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		close(p[1]);
		for (;;)
			pause();
	}
	close(p[1]);
	if (pid < 0 || read(p[0], &c, 1) != 1) {
		close(p[0]);
		return -1;
	}
	close(p[0]);
	track(pid);
	return pid;
}

static void child_kill(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	for (size_t i = 0; i < n_children; i++)
		if (children[i] == pid)
			children[i] = 0;
}

/* Run fn in a child inside pid's network namespace (pid 0: ours); what it
 * writes to its fd comes back as a string. */
typedef void (*ns_fn)(int out, const void *arg);
static char *in_ns(pid_t pid, ns_fn fn, const void *arg)
{
	int p[2];
	struct kiln_buf b = KILN_BUF_INIT;
	char chunk[512];
	ssize_t n;
	pid_t child;

	if (pipe(p) < 0)
		return kiln_xstrdup("pipe failed");
	child = fork();
	if (child == 0) {
		close(p[0]);
		if (pid > 0) {
			char path[64];
			snprintf(path, sizeof(path), "/proc/%ld/ns/net", (long)pid);
			int fd = open(path, O_RDONLY);
			if (fd < 0 || setns(fd, CLONE_NEWNET) < 0) {
				dprintf(p[1], "setns failed: %s", strerror(errno));
				_exit(1);
			}
		}
		fn(p[1], arg);
		_exit(0);
	}
	close(p[1]);
	while ((n = read(p[0], chunk, sizeof(chunk))) > 0)
		kiln_buf_add(&b, chunk, (size_t)n);
	close(p[0]);
	waitpid(child, NULL, 0);
	return kiln_buf_detach(&b);
}

static uint16_t icmp_checksum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

/* ICMP echo to the address (arg); writes "reply" when one came back. */
static void ping_fn(int out, const void *arg)
{
	struct sockaddr_in to = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
	uint16_t ident = (uint16_t)getpid();

	if (fd < 0 || inet_pton(AF_INET, arg, &to.sin_addr) != 1) {
		dprintf(out, "socket: %s", strerror(errno));
		return;
	}
	for (int attempt = 0; attempt < 5; attempt++) {
		struct icmphdr h = { .type = ICMP_ECHO };
		h.un.echo.id = htons(ident);
		h.un.echo.sequence = htons((uint16_t)attempt);
		h.checksum = icmp_checksum(&h, sizeof(h));
		if (sendto(fd, &h, sizeof(h), 0, (struct sockaddr *)&to, sizeof(to)) < 0) {
			dprintf(out, "send: %s; ", strerror(errno));
			usleep(200000);
			continue;
		}
		struct pollfd pfd = { fd, POLLIN, 0 };
		while (poll(&pfd, 1, 1000) > 0) {
			char buf[1500];
			struct sockaddr_in from;
			socklen_t fl = sizeof(from);
			ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
			if (n < (ssize_t)sizeof(struct iphdr))
				continue;
			struct iphdr *ip = (struct iphdr *)buf;
			size_t hl = (size_t)ip->ihl * 4;
			if ((size_t)n < hl + sizeof(struct icmphdr))
				continue;
			struct icmphdr *r = (struct icmphdr *)(buf + hl);
			if (r->type == ICMP_ECHOREPLY && ntohs(r->un.echo.id) == ident &&
			    from.sin_addr.s_addr == to.sin_addr.s_addr) {
				dprintf(out, "reply");
				return;
			}
		}
	}
	dprintf(out, "no reply");
}

struct endpoint {
	const char *address;
	uint16_t port;
	int proto;
};

/* One request to a TCP or UDP server; writes what it answered. */
static void request_fn(int out, const void *arg)
{
	const struct endpoint *e = arg;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(e->port) };
	int fd = socket(AF_INET, (e->proto == IPPROTO_UDP ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
	char buf[256];
	ssize_t n;
	struct timeval tv = { 2, 0 };

	inet_pton(AF_INET, e->address, &to.sin_addr);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
		dprintf(out, "connect: %s", strerror(errno));
		return;
	}
	for (int attempt = 0; attempt < (e->proto == IPPROTO_UDP ? 3 : 1); attempt++) {
		if (send(fd, "ping", 4, 0) < 0) {
			dprintf(out, "send: %s", strerror(errno));
			return;
		}
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = '\0';
			dprintf(out, "%s", buf);
			return;
		}
	}
	dprintf(out, "recv: %s", n < 0 ? strerror(errno) : "eof");
}

/* A server in pid's namespace: on port (tcp and udp) answers every request
 * with "NAME from PEER-ADDRESS".  Returns the server's pid. */
static pid_t server_start(pid_t pid, const char *name, uint16_t port)
{
	int p[2];
	char c;
	pid_t child;

	if (pipe(p) < 0)
		return -1;
	child = fork();
	if (child == 0) {
		char path[64];
		struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
		int one = 1, tfd, ufd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		snprintf(path, sizeof(path), "/proc/%ld/ns/net", (long)pid);
		int nsfd = open(path, O_RDONLY);
		if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0)
			_exit(1);
		tfd = socket(AF_INET, SOCK_STREAM, 0);
		ufd = socket(AF_INET, SOCK_DGRAM, 0);
		setsockopt(tfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(tfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(tfd, 16) < 0 ||
		    bind(ufd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;) {
			struct pollfd fds[2] = { { tfd, POLLIN, 0 }, { ufd, POLLIN, 0 } };
			struct sockaddr_in peer;
			socklen_t pl = sizeof(peer);
			char text[64], buf[64], answer[160];

			if (poll(fds, 2, -1) < 0)
				continue;
			if (fds[0].revents & POLLIN) {
				int c2 = accept(tfd, (struct sockaddr *)&peer, &pl);
				if (c2 < 0)
					continue;
				inet_ntop(AF_INET, &peer.sin_addr, text, sizeof(text));
				int len = snprintf(answer, sizeof(answer), "%s from %s", name, text);
				if (write(c2, answer, (size_t)len) < 0) {
				}
				close(c2);
			}
			if (fds[1].revents & POLLIN) {
				if (recvfrom(ufd, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &pl) < 0)
					continue;
				inet_ntop(AF_INET, &peer.sin_addr, text, sizeof(text));
				int len = snprintf(answer, sizeof(answer), "%s/udp from %s", name, text);
				sendto(ufd, answer, (size_t)len, 0, (struct sockaddr *)&peer, pl);
			}
		}
	}
	close(p[1]);
	if (child < 0 || read(p[0], &c, 1) != 1) {
		close(p[0]);
		return -1;
	}
	close(p[0]);
	track(child);
	return child;
}

static char *request(pid_t from, const char *address, uint16_t port, int proto)
{
	struct endpoint e = { address, port, proto };
	return in_ns(from, request_fn, &e);
}

static char *ping(pid_t from, const char *address)
{
	return in_ns(from, ping_fn, address);
}

static char *addr_of(int host)
{
	return kiln_xasprintf("%s%d", prefix3, host);
}

static bool lease_exists(const char *dir, const char *id)
{
	_cleanup_free_ char *p = kiln_xasprintf("%s/leases/%s.lease", dir, id);
	return access(p, F_OK) == 0;
}

static bool link_exists(const char *name)
{
	_cleanup_free_ char *p = kiln_xasprintf("/sys/class/net/%s", name);
	return access(p, F_OK) == 0;
}

static struct kiln_net_attachment att_a, att_b;
static char bridge_mac[32];

static char *bridge_address(void)
{
	_cleanup_free_ char *p = kiln_xasprintf("/sys/class/net/%s/address", bridge);
	char *mac = kiln_file_read(p, 64, NULL, NULL);
	return mac ? mac : kiln_xstrdup("(none)");
}
static pid_t ns_a, ns_b, server_a;

TEST(attach_first)
{
	struct kiln_error err = { 0 };
	struct kiln_net_port ports[2] = {
		{ .host = port_tcp, .container = 8080, .proto = IPPROTO_TCP },
		{ .host = port_udp, .container = 8080, .proto = IPPROTO_UDP, .host_address = "127.0.0.1" },
	};
	_cleanup_free_ char *want = addr_of(2);
	_cleanup_free_ char *gw = addr_of(1);

	ns_a = container_new();
	CHECK(ns_a > 0);
	CHECK(kiln_net_attach(&cfg, "alpha", ns_a, ports, 2, &att_a, &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK_STR(att_a.address, want);
	CHECK_STR(att_a.gateway, gw);
	CHECK(att_a.prefix == 24);
	CHECK(kiln_str_has_prefix(att_a.veth_host, "kv"));
	_cleanup_free_ char *mac = bridge_address();
	snprintf(bridge_mac, sizeof(bridge_mac), "%s", mac);
	CHECK((strtoul(mac, NULL, 16) & 3) == 2); /* locally administered unicast */
	CHECK(lease_exists(state, "alpha"));
	CHECK(link_exists(bridge));
	CHECK(link_exists(att_a.veth_host));

	/* The host end is on the bridge; the bridge has the gateway address. */
	_cleanup_free_ char *master = sh("ip -o link show master %s", bridge);
	CHECK_CONTAINS(master, att_a.veth_host);
	_cleanup_free_ char *braddr = sh("ip -4 -o addr show dev %s", bridge);
	_cleanup_free_ char *want_br = kiln_xasprintf("inet %s/24", gw);
	CHECK_CONTAINS(braddr, want_br);
	_cleanup_free_ char *localnet =
		sh("cat /proc/sys/net/ipv4/conf/%s/route_localnet", bridge);
	CHECK_STR(localnet, "1\n");

	/* Inside: eth0 with the address, up; lo up; default route. */
	_cleanup_free_ char *eth0 = sh("nsenter --net=/proc/%d/ns/net ip -4 -o addr show dev eth0", ns_a);
	_cleanup_free_ char *want_eth0 = kiln_xasprintf("inet %s/24", want);
	CHECK_CONTAINS(eth0, want_eth0);
	_cleanup_free_ char *links = sh("nsenter --net=/proc/%d/ns/net ip -o link", ns_a);
	CHECK_CONTAINS(links, "lo: <LOOPBACK,UP,LOWER_UP>");
	CHECK_CONTAINS(links, "eth0@");
	_cleanup_free_ char *lo = sh("nsenter --net=/proc/%d/ns/net ip -4 -o addr show dev lo", ns_a);
	CHECK_CONTAINS(lo, "inet 127.0.0.1/8");
	_cleanup_free_ char *routes = sh("nsenter --net=/proc/%d/ns/net ip -4 route", ns_a);
	_cleanup_free_ char *want_route = kiln_xasprintf("default via %s dev eth0", gw);
	CHECK_CONTAINS(routes, want_route);

	/* The DNAT rules, with the container's id as comment. */
	_cleanup_free_ char *rules = sh("nft list table ip %s", table);
	_cleanup_free_ char *want_tcp = kiln_xasprintf("tcp dport %u dnat to %s:8080 comment \"alpha\"",
						       port_tcp, want);
	_cleanup_free_ char *want_udp = kiln_xasprintf(
		"ip daddr 127.0.0.1 udp dport %u dnat to %s:8080 comment \"alpha\"", port_udp, want);
	CHECK_CONTAINS(rules, want_tcp);
	CHECK_CONTAINS(rules, want_udp);
	CHECK_CONTAINS(rules, "masquerade");
	_cleanup_free_ char *fwd = sh("cat /proc/sys/net/ipv4/ip_forward");
	CHECK_STR(fwd, "1\n");

	struct kiln_net_attachment again;
	CHECK(kiln_net_lookup(&cfg, "alpha", &again, &err) == 1);
	CHECK_STR(again.address, want);
	CHECK_STR(again.veth_host, att_a.veth_host);
}

TEST(attach_second_and_reach)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *want = addr_of(3);
	_cleanup_free_ char *gw = addr_of(1);

	ns_b = container_new();
	CHECK(kiln_net_attach(&cfg, "beta", ns_b, NULL, 0, &att_b, &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK_STR(att_b.address, want);
	CHECK(strcmp(att_a.veth_host, att_b.veth_host) != 0);
	/* The gateway's MAC does not follow its ports. */
	_cleanup_free_ char *mac = bridge_address();
	CHECK_STR(mac, bridge_mac);

	_cleanup_free_ char *p1 = ping(ns_a, att_b.address);
	CHECK_STR(p1, "reply");
	_cleanup_free_ char *p2 = ping(ns_b, att_a.address);
	CHECK_STR(p2, "reply");
	_cleanup_free_ char *p3 = ping(ns_a, gw);
	CHECK_STR(p3, "reply");
	_cleanup_free_ char *p4 = ping(0, att_b.address); /* the host reaches containers */
	CHECK_STR(p4, "reply");
}

TEST(published_ports)
{
	_cleanup_free_ char *gw = addr_of(1);

	server_a = server_start(ns_a, "alpha", 8080);
	CHECK(server_a > 0);
	/* Container to container, directly: the source address is kept. */
	_cleanup_free_ char *direct = request(ns_b, att_a.address, 8080, IPPROTO_TCP);
	_cleanup_free_ char *want_direct = kiln_xasprintf("alpha from %s", att_b.address);
	CHECK_STR(direct, want_direct);
	/* The host's loopback, TCP (published on every address) and UDP
	 * (published on 127.0.0.1 only); the container sees the gateway. */
	_cleanup_free_ char *want_gw = kiln_xasprintf("alpha from %s", gw);
	_cleanup_free_ char *lo_tcp = request(0, "127.0.0.1", port_tcp, IPPROTO_TCP);
	CHECK_STR(lo_tcp, want_gw);
	_cleanup_free_ char *want_gw_udp = kiln_xasprintf("alpha/udp from %s", gw);
	_cleanup_free_ char *lo_udp = request(0, "127.0.0.1", port_udp, IPPROTO_UDP);
	CHECK_STR(lo_udp, want_gw_udp);
	/* The host's bridge address. */
	_cleanup_free_ char *br_tcp = request(0, gw, port_tcp, IPPROTO_TCP);
	CHECK_STR(br_tcp, want_gw);
	/* Another container through the host's published port (hairpin). */
	_cleanup_free_ char *hairpin = request(ns_b, gw, port_tcp, IPPROTO_TCP);
	CHECK_STR(hairpin, want_gw);
	/* The UDP port is only published on 127.0.0.1, not on the bridge address. */
	_cleanup_free_ char *br_udp = request(0, gw, port_udp, IPPROTO_UDP);
	CHECK(!kiln_str_has_prefix(br_udp, "alpha"));
}

TEST(conflicts_refused_cleanly)
{
	struct kiln_error err = { 0 };
	struct kiln_net_attachment a;
	pid_t ns_c = container_new();
	struct kiln_net_port taken = { .host = port_tcp, .container = 80, .proto = IPPROTO_TCP,
				       .host_address = "127.0.0.1" };
	struct kiln_net_port twice[2] = {
		{ .host = 40000, .container = 80, .proto = IPPROTO_TCP },
		{ .host = 40000, .container = 81, .proto = IPPROTO_TCP, .host_address = "127.0.0.1" },
	};
	struct kiln_net_port other_proto = { .host = port_tcp, .container = 80, .proto = IPPROTO_UDP,
					     .host_address = "127.0.0.2" };
	struct kiln_net_port bad_proto = { .host = 1, .container = 1, .proto = 99 };

	CHECK(kiln_net_attach(&cfg, "gamma", ns_c, &taken, 1, &a, &err) == -1);
	CHECK_CONTAINS(err.message, "network attach 'gamma'");
	_cleanup_free_ char *want = kiln_xasprintf("host port 127.0.0.1:%u/tcp: already published by "
						   "container 'alpha'", port_tcp);
	CHECK_CONTAINS(err.message, want);
	kiln_error_clear(&err);
	CHECK(kiln_net_attach(&cfg, "gamma", ns_c, twice, 2, &a, &err) == -1);
	CHECK_CONTAINS(err.message, "host port 127.0.0.1:40000/tcp: published twice");
	kiln_error_clear(&err);
	CHECK(kiln_net_attach(&cfg, "gamma", ns_c, &bad_proto, 1, &a, &err) == -1);
	CHECK_CONTAINS(err.message, "neither tcp nor udp");
	kiln_error_clear(&err);
	CHECK(kiln_net_attach(&cfg, "alpha", ns_c, NULL, 0, &a, &err) == -1);
	CHECK_CONTAINS(err.message, "already attached");
	CHECK(!lease_exists(state, "gamma"));
	CHECK(lease_exists(state, "alpha"));
	_cleanup_free_ char *master = sh("ip -o link show master %s | wc -l", bridge);
	CHECK_STR(master, "2\n");
	_cleanup_free_ char *inside = sh("nsenter --net=/proc/%d/ns/net ip -o link | wc -l", ns_c);
	CHECK_STR(inside, "1\n");

	/* Same port, other protocol: fine; detach clears it. */
	kiln_error_clear(&err);
	CHECK(kiln_net_attach(&cfg, "gamma", ns_c, &other_proto, 1, &a, &err) == 0);
	_cleanup_free_ char *want_addr = addr_of(4);
	CHECK_STR(a.address, want_addr);
	/* One namespace, one eth0: a second attach of the same process fails. */
	struct kiln_net_attachment d;
	CHECK(kiln_net_attach(&cfg, "delta", ns_c, NULL, 0, &d, &err) == -1);
	CHECK_CONTAINS(err.message, "network namespace has an 'eth0' already");
	CHECK(!lease_exists(state, "delta"));
	kiln_error_clear(&err);
	CHECK(kiln_net_detach(&cfg, "gamma", &err) == 0);
	CHECK(!lease_exists(state, "gamma"));
	CHECK(!link_exists(a.veth_host));
	child_kill(ns_c);
}

/* The guard chain in the table, as nft lists it. */
static char *guard_chain(void)
{
	return sh("nft list chain ip %s guard 2>&1", table);
}

/* A UDP service on the host's 127.0.0.1:port that appends every datagram
 * it receives, and a line break, to log.  TCP would not do: the host's
 * answer from 127.0.0.1 does not make it back even without the guard, but
 * one datagram delivered to a loopback-only service is the breach. */
static pid_t udp_sink_start(uint16_t port, const char *log)
{
	int p[2];
	char c;
	pid_t child;

	if (pipe(p) < 0)
		return -1;
	child = fork();
	if (child == 0) {
		struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port),
					    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		char buf[64];
		ssize_t n;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
		    write(p[1], "x", 1) != 1)
			_exit(1);
		while ((n = recv(fd, buf, sizeof(buf) - 1, 0)) >= 0) {
			int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
			buf[n] = '\n';
			if (out < 0 || write(out, buf, (size_t)n + 1) < 0)
				_exit(1);
			close(out);
		}
		_exit(1);
	}
	close(p[1]);
	if (child < 0 || read(p[0], &c, 1) != 1) {
		close(p[0]);
		return -1;
	}
	close(p[0]);
	track(child);
	return child;
}

struct datagram {
	uint16_t port;
	const char *text;
};

static void send_loopback_fn(int out, const void *arg)
{
	const struct datagram *d = arg;
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(d->port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0 || sendto(fd, d->text, strlen(d->text), 0, (struct sockaddr *)&to, sizeof(to)) < 0)
		dprintf(out, "send: %s", strerror(errno));
}

/* Send text from pid's namespace (0: ours) to 127.0.0.1:port; give the
 * sink a moment; did it arrive? */
static bool loopback_reached(pid_t from, uint16_t port, const char *log, const char *text)
{
	struct datagram d = { port, text };
	_cleanup_free_ char *unused = in_ns(from, send_loopback_fn, &d);
	_cleanup_free_ char *want = kiln_xasprintf("%s\n", text);

	for (int i = 0; i < 10; i++) {
		_cleanup_free_ char *got = kiln_file_read(log, 1 << 20, NULL, NULL);
		if (got && strstr(got, want))
			return true;
		usleep(30000);
	}
	return false;
}

/* CVE-2020-8558: with route_localnet=1 on the bridge, only the guard
 * chain keeps containers from the host's 127.0.0.1 services.  Flushed or
 * deleted behind kiln's back, it comes back with the next reap (every
 * container command does one) or attach, including an attach without
 * ports that loads no rules otherwise. */
TEST(guard_restored_by_reap_and_attach)
{
	struct kiln_error err = { 0 };
	struct kiln_net_attachment a, a2;
	uint16_t port = (uint16_t)(port_tcp + 2);
	_cleanup_free_ char *gw = addr_of(1);
	_cleanup_free_ char *log = kiln_xasprintf("%s/udp-sink.log", tmp_state);
	_cleanup_free_ char *guard_rule =
		kiln_xasprintf("iifname \"%s\" ip daddr 127.0.0.0/8 drop", bridge);
	pid_t g = container_new(), g2 = container_new(), sink;
	char *live[] = { "alpha", "beta", "guardian", "guardian2" };

	CHECK(kiln_net_attach(&cfg, "guardian", g, NULL, 0, &a, &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	/* The container routes 127.0.0.0/8 to the gateway, as a hostile one would. */
	free(sh("nsenter --net=/proc/%d/ns/net sh -c 'echo 1 >/proc/sys/net/ipv4/conf/eth0/route_localnet; "
		"ip route del local 127.0.0.0/8 dev lo table local; "
		"ip route del local 127.0.0.1 dev lo table local; "
		"ip route add 127.0.0.0/8 via %s dev eth0 onlink' 2>&1", g, gw));
	sink = udp_sink_start(port, log);
	CHECK(sink > 0);
	CHECK(loopback_reached(0, port, log, "from-host"));
	CHECK(!loopback_reached(g, port, log, "guarded"));

	/* Flushed: the hole is open (so this test can see one)... */
	free(sh("nft flush table ip %s", table));
	_cleanup_free_ char *flushed = guard_chain();
	CHECK(strstr(flushed, guard_rule) == NULL);
	CHECK(loopback_reached(g, port, log, "through-the-hole"));
	/* ...and a reap that detaches nobody closes it. */
	CHECK(kiln_net_reap(&cfg, live, KILN_ARRAY_SIZE(live), &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK(lease_exists(state, "guardian"));
	_cleanup_free_ char *after_reap = guard_chain();
	CHECK_CONTAINS(after_reap, guard_rule);
	CHECK(!loopback_reached(g, port, log, "after-reap"));
	_cleanup_free_ char *rules = sh("nft list table ip %s", table);
	_cleanup_free_ char *dnat = kiln_xasprintf("tcp dport %u dnat to %s:8080", port_tcp, att_a.address);
	CHECK_CONTAINS(rules, dnat); /* the whole table, not only the guard */

	/* The guard chain deleted, then an attach without ports. */
	free(sh("nft delete chain ip %s guard", table));
	_cleanup_free_ char *deleted = guard_chain();
	CHECK(strstr(deleted, guard_rule) == NULL);
	CHECK(loopback_reached(g, port, log, "no-chain"));
	CHECK(kiln_net_attach(&cfg, "guardian2", g2, NULL, 0, &a2, &err) == 0);
	_cleanup_free_ char *after_attach = guard_chain();
	CHECK_CONTAINS(after_attach, guard_rule);
	CHECK(!loopback_reached(g, port, log, "after-attach"));

	/* A rule slipped into the guard chain before the drop is noticed too. */
	free(sh("nft insert rule ip %s guard accept", table));
	CHECK(loopback_reached(g, port, log, "accepted"));
	CHECK(kiln_net_reap(&cfg, live, KILN_ARRAY_SIZE(live), &err) == 0);
	_cleanup_free_ char *no_accept = guard_chain();
	CHECK(strstr(no_accept, "\t\taccept\n") == NULL);
	CHECK_CONTAINS(no_accept, guard_rule);
	CHECK(!loopback_reached(g, port, log, "after-reap-2"));

	/* Nothing changed since: reap leaves the table as it is (same rule
	 * handles, no reload). */
	_cleanup_free_ char *handles = sh("nft -a list chain ip %s guard", table);
	CHECK(kiln_net_reap(&cfg, live, KILN_ARRAY_SIZE(live), &err) == 0);
	_cleanup_free_ char *handles2 = sh("nft -a list chain ip %s guard", table);
	CHECK_STR(handles2, handles);

	CHECK(kiln_net_detach(&cfg, "guardian2", &err) == 0);
	CHECK(kiln_net_detach(&cfg, "guardian", &err) == 0);
	child_kill(sink);
	child_kill(g);
	child_kill(g2);
}

/* A record that names a link kiln did not make (edited, or the link was
 * replaced since): detach refuses to delete it and keeps the record. */
TEST(foreign_links_left_alone)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *path = kiln_xasprintf("%s/leases/evil.lease", state);
	char dummy[16], loose[16];

	snprintf(dummy, sizeof(dummy), "kv%s00", suffix);
	snprintf(loose, sizeof(loose), "kv%s01", suffix);
	free(sh("ip link add %s type bridge 2>&1; ip link add %s type veth peer name kw%s01 2>&1",
		dummy, loose, suffix));
	CHECK(link_exists(dummy));
	CHECK(link_exists(loose));

	/* Not a veth. */
	_cleanup_free_ char *r1 = kiln_xasprintf("kiln-net-lease 1\nid evil\naddress %s50\nveth %s\n",
						 prefix3, dummy);
	CHECK(kiln_file_write_atomic(path, r1, strlen(r1), 0600, &err) == 0);
	CHECK(kiln_net_detach(&cfg, "evil", &err) == -1);
	CHECK_CONTAINS(err.message, path);
	CHECK_CONTAINS(err.message, "is not a veth on bridge");
	CHECK(link_exists(dummy));
	CHECK(lease_exists(state, "evil"));
	kiln_error_clear(&err);
	CHECK(kiln_net_reap(&cfg, (char *[]){ "alpha", "beta" }, 2, &err) == -1);
	CHECK_CONTAINS(err.message, "is not a veth on bridge");
	CHECK(link_exists(dummy));

	/* A veth, but on no bridge. */
	_cleanup_free_ char *r2 = kiln_xasprintf("kiln-net-lease 1\nid evil\naddress %s50\nveth %s\n",
						 prefix3, loose);
	CHECK(kiln_file_write_atomic(path, r2, strlen(r2), 0600, &err) == 0);
	kiln_error_clear(&err);
	CHECK(kiln_net_detach(&cfg, "evil", &err) == -1);
	CHECK_CONTAINS(err.message, "(kind 'veth', master 0)");
	CHECK(link_exists(loose));
	/* On our bridge it is ours to delete. */
	free(sh("ip link set %s master %s", loose, bridge));
	kiln_error_clear(&err);
	CHECK(kiln_net_detach(&cfg, "evil", &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK(!link_exists(loose));
	CHECK(!lease_exists(state, "evil"));
	free(sh("ip link del %s 2>&1", dummy));
}

TEST(detach_removes_and_is_idempotent)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *rules = NULL, *after = NULL;

	CHECK(kiln_net_detach(&cfg, "alpha", &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK(!link_exists(att_a.veth_host));
	CHECK(!lease_exists(state, "alpha"));
	rules = sh("nft list table ip %s", table);
	CHECK_CONTAINS(rules, "masquerade"); /* beta still holds the table */
	_cleanup_free_ char *dnat = kiln_xasprintf("dnat to %s:", att_a.address);
	CHECK(strstr(rules, dnat) == NULL);
	_cleanup_free_ char *inside = sh("nsenter --net=/proc/%d/ns/net ip -o link | wc -l", ns_a);
	CHECK_STR(inside, "1\n");
	/* The published port is gone: nothing listens on the host's 127.0.0.1. */
	after = request(0, "127.0.0.1", port_tcp, IPPROTO_TCP);
	CHECK_CONTAINS(after, "Connection refused");
	CHECK(kiln_net_detach(&cfg, "alpha", &err) == 0);
	CHECK(link_exists(bridge));
	_cleanup_free_ char *mac = bridge_address();
	CHECK_STR(mac, bridge_mac);

	/* The freed address is leased again; a table flushed behind our back
	 * (a firewall reload) is put back by the next attach. */
	free(sh("nft delete table ip %s", table));
	struct kiln_net_attachment a;
	CHECK(kiln_net_attach(&cfg, "alpha2", ns_a, NULL, 0, &a, &err) == 0);
	CHECK_STR(a.address, att_a.address);
	_cleanup_free_ char *back = sh("nft list table ip %s", table);
	CHECK_CONTAINS(back, "masquerade");
	_cleanup_free_ char *guard = kiln_xasprintf("iifname \"%s\" ip daddr 127.0.0.0/8 drop", bridge);
	CHECK_CONTAINS(back, guard);
	child_kill(server_a);
}

TEST(crash_leftovers)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *tmp = kiln_xasprintf("%s/leases/zeta.lease.tmp.1", state);
	_cleanup_free_ char *rec = kiln_xasprintf("%s/leases/zeta.lease", state);

	/* The container died (its veth with it) before anyone detached. */
	child_kill(ns_a);
	CHECK(kiln_net_detach(&cfg, "alpha2", &err) == 0);
	CHECK(!lease_exists(state, "alpha2"));
	/* A record written just before a crash: its veth was never made. */
	CHECK(kiln_file_write_atomic(tmp, "partial", 7, 0600, &err) == 0);
	_cleanup_free_ char *text = kiln_xasprintf("kiln-net-lease 1\nid zeta\naddress %s9\n"
						   "veth kvdeadbeef\nport tcp 1 2 *\n", prefix3);
	CHECK(kiln_file_write_atomic(rec, text, strlen(text), 0600, &err) == 0);
	struct kiln_net_attachment a;
	CHECK(kiln_net_lookup(&cfg, "zeta", &a, &err) == 1);
	CHECK_STR(a.veth_host, "kvdeadbeef");
	CHECK(kiln_net_detach(&cfg, "zeta", &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK(!lease_exists(state, "zeta"));
	CHECK(access(tmp, F_OK) != 0);
	/* A damaged record is reported by name, not silently dropped. */
	CHECK(kiln_file_write_atomic(rec, "garbage\n", 8, 0600, &err) == 0);
	CHECK(kiln_net_lookup(&cfg, "zeta", &a, &err) == -1);
	CHECK_CONTAINS(err.message, "zeta.lease': bad line 1");
	unlink(rec);
}

/* Attach in a child process; writes the address to fd. */
static void concurrent_attach(pid_t ns, const char *id, int fd)
{
	struct kiln_error err = { 0 };
	struct kiln_net_attachment a;

	if (kiln_net_attach(&cfg, id, ns, NULL, 0, &a, &err) < 0)
		dprintf(fd, "error %s\n", err.message);
	else
		dprintf(fd, "%s\n", a.address);
}

TEST(concurrent_attaches)
{
	enum { N = 6 };
	pid_t ns[N], workers[N];
	int p[N][2];
	char ids[N][16], got[N][64];

	for (int i = 0; i < N; i++) {
		ns[i] = container_new();
		snprintf(ids[i], sizeof(ids[i]), "par%d", i);
		if (pipe(p[i]) < 0)
			abort();
	}
	for (int i = 0; i < N; i++) {
		workers[i] = fork();
		if (workers[i] == 0) {
			close(p[i][0]);
			concurrent_attach(ns[i], ids[i], p[i][1]);
			_exit(0);
		}
		close(p[i][1]);
	}
	for (int i = 0; i < N; i++) {
		ssize_t n = read(p[i][0], got[i], sizeof(got[i]) - 1);
		got[i][n > 0 ? n : 0] = '\0';
		close(p[i][0]);
		waitpid(workers[i], NULL, 0);
		CHECK(kiln_str_has_prefix(got[i], prefix3));
		if (!kiln_str_has_prefix(got[i], prefix3))
			printf("# %s: %s", ids[i], got[i]);
		for (int j = 0; j < i; j++)
			CHECK(strcmp(got[i], got[j]) != 0);
	}
	/* Each got the address its namespace has. */
	for (int i = 0; i < N; i++) {
		_cleanup_free_ char *eth0 =
			sh("nsenter --net=/proc/%d/ns/net ip -4 -o addr show dev eth0", ns[i]);
		got[i][strcspn(got[i], "\n")] = '\0';
		CHECK_CONTAINS(eth0, got[i]);
	}
	_cleanup_free_ char *master = sh("ip -o link show master %s | wc -l", bridge);
	CHECK_STR(master, "7\n"); /* beta and the six */

	/* Reap keeps beta and par0, detaches the others. */
	struct kiln_error err = { 0 };
	char *live[] = { "beta", "par0", "not-leased" };
	CHECK(kiln_net_reap(&cfg, live, 3, &err) == 0);
	CHECK(lease_exists(state, "beta"));
	CHECK(lease_exists(state, "par0"));
	for (int i = 1; i < N; i++)
		CHECK(!lease_exists(state, ids[i]));
	_cleanup_free_ char *master2 = sh("ip -o link show master %s | wc -l", bridge);
	CHECK_STR(master2, "2\n");
	_cleanup_free_ char *p1 = ping(ns[0], att_b.address);
	CHECK_STR(p1, "reply");
	for (int i = 0; i < N; i++)
		child_kill(ns[i]);
}

TEST(last_detach_removes_bridge_and_table)
{
	struct kiln_error err = { 0 };

	/* par0's namespace is gone already: its veth went with it. */
	CHECK(kiln_net_reap(&cfg, NULL, 0, &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK(!lease_exists(state, "beta"));
	CHECK(!link_exists(att_b.veth_host));
	CHECK(!link_exists(bridge));
	_cleanup_free_ char *tables = sh("nft list tables");
	_cleanup_free_ char *t = kiln_xasprintf("table ip %s\n", table);
	CHECK(strstr(tables, t) == NULL);
	_cleanup_free_ char *rs = kiln_xasprintf("%s/ruleset.nft", state);
	CHECK(access(rs, F_OK) != 0);
	CHECK(kiln_net_detach(&cfg, "beta", &err) == 0);
	child_kill(ns_b);
}

TEST(subnet_full)
{
	struct kiln_error err = { 0 };
	struct kiln_net_attachment a;
	pid_t n1 = container_new(), n2 = container_new();

	/* A /30 has one address to lease after the gateway. */
	CHECK(kiln_net_attach(&cfg_small, "one", n1, NULL, 0, &a, &err) == 0);
	CHECK(kiln_net_attach(&cfg_small, "two", n2, NULL, 0, &a, &err) == -1);
	CHECK_CONTAINS(err.message, "no free address in");
	CHECK(!lease_exists(state_small, "two"));
	_cleanup_free_ char *inside = sh("nsenter --net=/proc/%d/ns/net ip -o link | wc -l", n2);
	CHECK_STR(inside, "1\n");
	CHECK(kiln_net_detach(&cfg_small, "one", &err) == 0);
	CHECK(!link_exists(bridge_small));
	child_kill(n2);

	/* keep_idle: the bridge and table outlive the last lease until teardown. */
	cfg_small.keep_idle = true;
	kiln_error_clear(&err);
	CHECK(kiln_net_attach(&cfg_small, "one", n1, NULL, 0, &a, &err) == 0);
	CHECK(kiln_net_teardown(&cfg_small, &err) == -1);
	CHECK_CONTAINS(err.message, "1 containers still attached (first: 'one')");
	CHECK(kiln_net_detach(&cfg_small, "one", &err) == 0);
	CHECK(kiln_net_reap(&cfg_small, NULL, 0, &err) == 0);
	CHECK(link_exists(bridge_small));
	_cleanup_free_ char *rules = sh("nft list table ip %s", table_small);
	CHECK_CONTAINS(rules, "masquerade");
	CHECK(kiln_net_teardown(&cfg_small, &err) == 0);
	CHECK(!link_exists(bridge_small));
	_cleanup_free_ char *tables = sh("nft list tables");
	_cleanup_free_ char *t = kiln_xasprintf("table ip %s\n", table_small);
	CHECK(strstr(tables, t) == NULL);
	CHECK(kiln_net_teardown(&cfg_small, &err) == 0);
	child_kill(n1);
}

TEST(loopback_up)
{
	struct kiln_error err = { 0 };
	pid_t n = container_new();

	_cleanup_free_ char *before = sh("nsenter --net=/proc/%d/ns/net ip -o link show lo", n);
	CHECK(strstr(before, "UP") == NULL);
	CHECK(kiln_net_loopback_up(n, &err) == 0);
	_cleanup_free_ char *after = sh("nsenter --net=/proc/%d/ns/net ip -o link show lo", n);
	CHECK_CONTAINS(after, "<LOOPBACK,UP,LOWER_UP>");
	_cleanup_free_ char *links = sh("nsenter --net=/proc/%d/ns/net ip -o link | wc -l", n);
	CHECK_STR(links, "1\n");
	/* container mode: a namespace descriptor others can join. */
	int fd = kiln_net_namespace_open(n, &err);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK(kiln_net_namespace_open(999999999, &err) == -1);
	CHECK_CONTAINS(err.message, "/proc/999999999/ns/net");
	child_kill(n);
	CHECK(kiln_net_loopback_up(n, &err) == -1);
}

/* --- services: published ports switched from one container to another --- */

/* A server in pid's namespace on TCP port: for each connection, reads once
 * (so a client can hold a connection open across a switch) and answers
 * name.  Returns the server's pid. */
static pid_t hold_server_start(pid_t pid, const char *name, uint16_t port)
{
	int p[2];
	char c;
	pid_t child;

	if (pipe(p) < 0)
		return -1;
	child = fork();
	if (child == 0) {
		char path[64];
		struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port) };
		int one = 1, fd;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGCHLD, SIG_IGN); /* connection handlers reap themselves */
		snprintf(path, sizeof(path), "/proc/%ld/ns/net", (long)pid);
		int nsfd = open(path, O_RDONLY);
		if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0)
			_exit(1);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 128) < 0)
			_exit(1);
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		for (;;) {
			int conn = accept(fd, NULL, NULL);
			char buf[64];
			if (conn < 0)
				continue;
			if (fork() == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				if (read(conn, buf, sizeof(buf)) > 0 && write(conn, name, strlen(name)) < 0)
					_exit(1);
				_exit(0);
			}
			close(conn);
		}
	}
	close(p[1]);
	if (child < 0 || read(p[0], &c, 1) != 1) {
		close(p[0]);
		return -1;
	}
	close(p[0]);
	track(child);
	return child;
}

/* A TCP connection to 127.0.0.1:port from the host, or -1. */
static int loopback_connect(uint16_t port)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { 5, 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send a request on fd and read the answer to its end ("" on failure). */
static void exchange(int fd, char *out, size_t size)
{
	size_t len = 0;
	ssize_t n;

	out[0] = '\0';
	if (send(fd, "ping", 4, MSG_NOSIGNAL) != 4)
		return;
	while (len + 1 < size && (n = recv(fd, out + len, size - 1 - len, 0)) > 0)
		len += (size_t)n;
	out[len] = '\0';
}

static char *ask(uint16_t port)
{
	return request(0, "127.0.0.1", port, IPPROTO_TCP);
}

static pid_t svc_ns[8], svc_server[8]; /* a b c d e */
static struct kiln_net_attachment svc_att[8];
static uint16_t svc_port(int i)
{
	return (uint16_t)(port_tcp + 4 + i);
}

static bool service_exists(const char *name)
{
	_cleanup_free_ char *p = kiln_xasprintf("%s/services/%s.service", state, name);
	return access(p, F_OK) == 0;
}

static char *rules_now(void)
{
	return sh("nft -a list table ip %s 2>&1", table);
}

/* Two containers, A and B, each answering its name on 8080; service "web"
 * publishes 127.0.0.1:P, first to A, then to B: new connections reach B,
 * one established to A before the switch still completes with A. */
TEST(service_switch)
{
	struct kiln_error err = { 0 };
	struct kiln_net_port port = { .host = svc_port(0), .container = 8080, .proto = IPPROTO_TCP,
				      .host_address = "127.0.0.1" };
	struct kiln_net_port *got = NULL;
	size_t n_got = 0;
	char target[129] = "", held_answer[64];

	for (int i = 0; i < 2; i++) {
		char id[16];
		snprintf(id, sizeof(id), "svc-%c", 'a' + i);
		svc_ns[i] = container_new();
		CHECK(kiln_net_attach(&cfg, id, svc_ns[i], NULL, 0, &svc_att[i], &err) == 0);
		if (err.message[0])
			printf("# %s\n", err.message);
		svc_server[i] = hold_server_start(svc_ns[i], i ? "B" : "A", 8080);
		CHECK(svc_server[i] > 0);
	}
	CHECK(kiln_net_service_lookup(&cfg, "web", target, &got, &n_got, &err) == 0);
	CHECK(got == NULL && n_got == 0);
	_cleanup_free_ char *before = ask(svc_port(0));
	CHECK_CONTAINS(before, "Connection refused");

	CHECK(kiln_net_service_switch(&cfg, "web", "svc-a", &port, 1, &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK(kiln_net_service_lookup(&cfg, "web", target, &got, &n_got, &err) == 1);
	CHECK_STR(target, "svc-a");
	CHECK(n_got == 1 && got && memcmp(got, &port, sizeof(port)) == 0);
	free(got);
	_cleanup_free_ char *first = ask(svc_port(0));
	CHECK_STR(first, "A");
	_cleanup_free_ char *rules = sh("nft list table ip %s", table);
	_cleanup_free_ char *want = kiln_xasprintf("ip daddr 127.0.0.1 tcp dport %u dnat to %s:8080 "
						   "comment \"service web\"", svc_port(0),
						   svc_att[0].address);
	CHECK_CONTAINS(rules, want);

	/* Established to A, not a byte sent yet. */
	int held = loopback_connect(svc_port(0));
	CHECK(held >= 0);
	CHECK(kiln_net_service_switch(&cfg, "web", "svc-b", &port, 1, &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK(kiln_net_service_lookup(&cfg, "web", target, NULL, NULL, &err) == 1);
	CHECK_STR(target, "svc-b");
	_cleanup_free_ char *second = ask(svc_port(0));
	CHECK_STR(second, "B");
	exchange(held, held_answer, sizeof(held_answer));
	CHECK_STR(held_answer, "A");
	close(held);
	_cleanup_free_ char *rules2 = sh("nft list table ip %s", table);
	CHECK(strstr(rules2, svc_att[0].address) == NULL);
	/* One rule for the port, whatever the number of switches. */
	_cleanup_free_ char *count = sh("nft list table ip %s | grep -c 'comment \"service web\"'", table);
	CHECK_STR(count, "1\n");
}

struct load_counts {
	volatile long done, a, b, failed, stop;
	char first_failure[128];
};

/* Connections from the host's loopback, one after the other, while the
 * service is switched between A and B twenty times: every one is answered
 * by A or by B, none fails. */
TEST(service_switch_under_load)
{
	struct kiln_net_port port = { .host = svc_port(0), .container = 8080, .proto = IPPROTO_TCP,
				      .host_address = "127.0.0.1" };
	struct load_counts *counts = mmap(NULL, sizeof(*counts), PROT_READ | PROT_WRITE,
					  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	pid_t client;
	int switches_ok = 0;

	CHECK(counts != MAP_FAILED);
	if (counts == MAP_FAILED)
		return;
	memset(counts, 0, sizeof(*counts));
	client = fork();
	if (client == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		while (!counts->stop) {
			char answer[64];
			int fd = loopback_connect(svc_port(0));
			if (fd >= 0) {
				exchange(fd, answer, sizeof(answer));
				close(fd);
			} else {
				snprintf(answer, sizeof(answer), "connect: %s", strerror(errno));
			}
			if (strcmp(answer, "A") == 0)
				__atomic_add_fetch(&counts->a, 1, __ATOMIC_SEQ_CST);
			else if (strcmp(answer, "B") == 0)
				__atomic_add_fetch(&counts->b, 1, __ATOMIC_SEQ_CST);
			else if (__atomic_add_fetch(&counts->failed, 1, __ATOMIC_SEQ_CST) == 1)
				snprintf(counts->first_failure, sizeof(counts->first_failure), "'%s'",
					 answer);
			__atomic_add_fetch(&counts->done, 1, __ATOMIC_SEQ_CST);
		}
		_exit(0);
	}
	track(client);
	for (int i = 0; i < 20; i++) {
		struct kiln_error err = { 0 };
		/* Let a few connections through between switches (progress,
		 * not time: the client's sockets time out, so it always moves). */
		long mark = __atomic_load_n(&counts->done, __ATOMIC_SEQ_CST);
		while (__atomic_load_n(&counts->done, __ATOMIC_SEQ_CST) < mark + 3)
			usleep(1000);
		if (kiln_net_service_switch(&cfg, "web", i % 2 ? "svc-b" : "svc-a", &port, 1, &err) == 0)
			switches_ok++;
		else
			printf("# switch %d: %s\n", i, err.message);
	}
	long mark = __atomic_load_n(&counts->done, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&counts->done, __ATOMIC_SEQ_CST) < mark + 3)
		usleep(1000);
	counts->stop = 1;
	waitpid(client, NULL, 0);
	child_kill(client);
	printf("# %ld connections across 20 switches: %ld to A, %ld to B, %ld failed %s\n",
	       counts->done, counts->a, counts->b, counts->failed, counts->first_failure);
	CHECK(switches_ok == 20);
	CHECK(counts->failed == 0);
	CHECK(counts->a > 0 && counts->b > 0);
	CHECK(counts->a + counts->b == counts->done);
	munmap(counts, sizeof(*counts));
	/* The last switch was to B. */
	_cleanup_free_ char *now = ask(svc_port(0));
	CHECK_STR(now, "B");
}

/* The record belongs to the service: it outlives the detach of any
 * container, its target's too, and reaps, and the bridge and table going
 * with the last lease.  A target without a lease gets no rule: refused by
 * the host, not sent to an address nobody holds. */
TEST(service_survives_detach_and_reap)
{
	struct kiln_error err = { 0 };
	char target[129] = "";
	char *live[] = { "svc-b" };
	struct kiln_net_port port2 = { .host = svc_port(1), .container = 8080, .proto = IPPROTO_TCP,
				       .host_address = "127.0.0.1" };

	CHECK(kiln_net_detach(&cfg, "svc-a", &err) == 0);
	CHECK(service_exists("web"));
	CHECK(kiln_net_service_lookup(&cfg, "web", target, NULL, NULL, &err) == 1);
	CHECK_STR(target, "svc-b");
	_cleanup_free_ char *b1 = ask(svc_port(0));
	CHECK_STR(b1, "B");
	CHECK(kiln_net_reap(&cfg, live, 1, &err) == 0);
	CHECK(service_exists("web"));
	_cleanup_free_ char *b2 = ask(svc_port(0));
	CHECK_STR(b2, "B");

	/* The target goes, the last lease with it: no bridge, no table. */
	CHECK(kiln_net_detach(&cfg, "svc-b", &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK(!link_exists(bridge));
	_cleanup_free_ char *tables = sh("nft list tables");
	_cleanup_free_ char *t = kiln_xasprintf("table ip %s\n", table);
	CHECK(strstr(tables, t) == NULL);
	CHECK(kiln_net_reap(&cfg, NULL, 0, &err) == 0);
	CHECK(kiln_net_service_lookup(&cfg, "web", target, NULL, NULL, &err) == 1);
	CHECK_STR(target, "svc-b");

	/* Another container comes: the table is back, without a rule for
	 * web, whose target has no lease. */
	svc_ns[2] = container_new();
	CHECK(kiln_net_attach(&cfg, "svc-c", svc_ns[2], NULL, 0, &svc_att[2], &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	svc_server[2] = hold_server_start(svc_ns[2], "C", 8080);
	_cleanup_free_ char *rules = sh("nft list table ip %s", table);
	CHECK_CONTAINS(rules, "masquerade");
	CHECK(strstr(rules, "service web") == NULL);
	_cleanup_free_ char *refused = ask(svc_port(0));
	CHECK_CONTAINS(refused, "Connection refused");

	/* Switched to C, with another port (a new version publishes others). */
	CHECK(kiln_net_service_switch(&cfg, "web", "svc-c", &port2, 1, &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	_cleanup_free_ char *c1 = ask(svc_port(1));
	CHECK_STR(c1, "C");
	_cleanup_free_ char *old = ask(svc_port(0));
	CHECK_CONTAINS(old, "Connection refused");
	child_kill(svc_ns[0]);
	child_kill(svc_ns[1]);
}

/* A host port held by a service cannot be published by a container, nor
 * by another service, and the other way round; none of the refusals
 * changes a record or a rule. */
TEST(service_conflicts_both_ways)
{
	struct kiln_error err = { 0 };
	struct kiln_net_attachment a;
	/* web holds 127.0.0.1:P1 (to C). */
	struct kiln_net_port any_p1 = { .host = svc_port(1), .container = 80, .proto = IPPROTO_TCP };
	struct kiln_net_port any_p2 = { .host = svc_port(2), .container = 80, .proto = IPPROTO_TCP };
	struct kiln_net_port lo_p2 = { .host = svc_port(2), .container = 8080, .proto = IPPROTO_TCP,
				       .host_address = "127.0.0.1" };
	struct kiln_net_port udp_p1 = { .host = svc_port(1), .container = 8080, .proto = IPPROTO_UDP };
	struct kiln_net_port lo_p1 = { .host = svc_port(1), .container = 8080, .proto = IPPROTO_TCP,
				       .host_address = "127.0.0.1" };
	struct kiln_net_port lo_p3 = { .host = svc_port(3), .container = 8080, .proto = IPPROTO_TCP,
				       .host_address = "127.0.0.1" };
	struct kiln_net_port twice[2] = { lo_p3, lo_p3 };
	twice[1].container = 81;

	/* A container's -p on the service's port. */
	svc_ns[3] = container_new();
	CHECK(kiln_net_attach(&cfg, "svc-d", svc_ns[3], &any_p1, 1, &a, &err) == -1);
	_cleanup_free_ char *want1 = kiln_xasprintf("host port %u/tcp: already published by service "
						    "'web'", svc_port(1));
	CHECK_CONTAINS(err.message, want1);
	CHECK(!lease_exists(state, "svc-d"));
	_cleanup_free_ char *inside = sh("nsenter --net=/proc/%d/ns/net ip -o link | wc -l", svc_ns[3]);
	CHECK_STR(inside, "1\n");
	_cleanup_free_ char *c1 = ask(svc_port(1));
	CHECK_STR(c1, "C");

	/* A service on a container's -p port, on another service's port. */
	kiln_error_clear(&err);
	CHECK(kiln_net_attach(&cfg, "svc-d", svc_ns[3], &any_p2, 1, &a, &err) == 0);
	_cleanup_free_ char *rules = rules_now();
	CHECK(kiln_net_service_switch(&cfg, "web2", "svc-c", &lo_p2, 1, &err) == -1);
	_cleanup_free_ char *want2 = kiln_xasprintf("host port 127.0.0.1:%u/tcp: already published by "
						    "container 'svc-d'", svc_port(2));
	CHECK_CONTAINS(err.message, want2);
	CHECK_CONTAINS(err.message, "network service 'web2' to 'svc-c'");
	kiln_error_clear(&err);
	CHECK(kiln_net_service_switch(&cfg, "web2", "svc-c", &lo_p1, 1, &err) == -1);
	_cleanup_free_ char *want3 = kiln_xasprintf("host port 127.0.0.1:%u/tcp: already published by "
						    "service 'web'", svc_port(1));
	CHECK_CONTAINS(err.message, want3);
	kiln_error_clear(&err);
	CHECK(kiln_net_service_switch(&cfg, "web2", "svc-c", twice, 2, &err) == -1);
	CHECK_CONTAINS(err.message, "published twice");
	kiln_error_clear(&err);
	CHECK(kiln_net_service_switch(&cfg, "web2", "svc-gone", &lo_p3, 1, &err) == -1);
	CHECK_CONTAINS(err.message, "container 'svc-gone' has no lease");
	/* web itself moving onto svc-d's port: refused, web unchanged. */
	kiln_error_clear(&err);
	CHECK(kiln_net_service_switch(&cfg, "web", "svc-d", &lo_p2, 1, &err) == -1);
	CHECK_CONTAINS(err.message, want2);
	char target[129];
	CHECK(kiln_net_service_lookup(&cfg, "web", target, NULL, NULL, &err) == 1);
	CHECK_STR(target, "svc-c");

	/* A program listening on a port new to the service: refused.  On
	 * one the service publishes already: that is the service's own. */
	int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int listener2 = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in at = { .sin_family = AF_INET, .sin_port = htons(svc_port(3)),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	CHECK(bind(listener, (struct sockaddr *)&at, sizeof(at)) == 0 && listen(listener, 1) == 0);
	at.sin_port = htons(svc_port(1));
	CHECK(bind(listener2, (struct sockaddr *)&at, sizeof(at)) == 0 && listen(listener2, 1) == 0);
	kiln_error_clear(&err);
	CHECK(kiln_net_service_switch(&cfg, "web2", "svc-c", &lo_p3, 1, &err) == -1);
	CHECK_CONTAINS(err.message, "is in use on this host");
	CHECK(!service_exists("web2"));
	_cleanup_free_ char *unchanged = rules_now();
	CHECK_STR(unchanged, rules);
	kiln_error_clear(&err);
	CHECK(kiln_net_service_switch(&cfg, "web", "svc-c", &lo_p1, 1, &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	close(listener);
	close(listener2);

	/* Same port, other protocol: no conflict. */
	kiln_error_clear(&err);
	CHECK(kiln_net_service_switch(&cfg, "web2", "svc-d", &udp_p1, 1, &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK(kiln_net_service_remove(&cfg, "web2", &err) == 0);
	CHECK(kiln_net_detach(&cfg, "svc-d", &err) == 0);
	child_kill(svc_ns[3]);
}

/* The record renamed into place but the ruleset never loaded (a crash
 * between the two): the next reap, attach, detach or switch loads what the
 * record says. */
TEST(service_record_written_not_loaded)
{
	struct kiln_error err = { 0 };
	_cleanup_free_ char *path = kiln_xasprintf("%s/services/web.service", state);
	char *live[] = { "svc-c", "svc-e" };
	struct kiln_net_port lo_p4 = { .host = svc_port(4), .container = 8080, .proto = IPPROTO_TCP,
				       .host_address = "127.0.0.1" };

	svc_ns[4] = container_new();
	CHECK(kiln_net_attach(&cfg, "svc-e", svc_ns[4], NULL, 0, &svc_att[4], &err) == 0);
	svc_server[4] = hold_server_start(svc_ns[4], "E", 8080);
	_cleanup_free_ char *to_e = kiln_xasprintf("kiln-net-service 1\nservice web\ntarget svc-e\n"
						   "port tcp %u 8080 127.0.0.1\n", svc_port(1));
	CHECK(kiln_file_write_atomic(path, to_e, strlen(to_e), 0600, &err) == 0);
	_cleanup_free_ char *still_c = ask(svc_port(1));
	CHECK_STR(still_c, "C"); /* not loaded: the simulated crash */
	CHECK(kiln_net_reap(&cfg, live, 2, &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	_cleanup_free_ char *now_e = ask(svc_port(1));
	CHECK_STR(now_e, "E");

	/* Again, and this time another service's switch loads it. */
	_cleanup_free_ char *to_c = kiln_xasprintf("kiln-net-service 1\nservice web\ntarget svc-c\n"
						   "port tcp %u 8080 127.0.0.1\n", svc_port(1));
	CHECK(kiln_file_write_atomic(path, to_c, strlen(to_c), 0600, &err) == 0);
	_cleanup_free_ char *still_e = ask(svc_port(1));
	CHECK_STR(still_e, "E");
	CHECK(kiln_net_service_switch(&cfg, "api", "svc-e", &lo_p4, 1, &err) == 0);
	_cleanup_free_ char *now_c = ask(svc_port(1));
	CHECK_STR(now_c, "C");
	_cleanup_free_ char *api = ask(svc_port(4));
	CHECK_STR(api, "E");
	/* A leftover temporary record of a crash is swept up. */
	_cleanup_free_ char *tmp = kiln_xasprintf("%s/services/web.service.tmp.abcdef", state);
	CHECK(kiln_file_write_atomic(tmp, "partial", 7, 0600, &err) == 0);
	CHECK(kiln_net_reap(&cfg, live, 2, &err) == 0);
	CHECK(access(tmp, F_OK) != 0);
}

/* A malformed record stops every change (the ruleset is made from all
 * records) with its name, and stays; remove clears a service's rules. */
TEST(service_malformed_and_remove)
{
	struct kiln_error err = { 0 };
	struct kiln_net_attachment a;
	_cleanup_free_ char *path = kiln_xasprintf("%s/services/bad.service", state);
	char *live[] = { "svc-c", "svc-e" };
	pid_t ns_f = container_new();
	char target[129];

	CHECK(kiln_file_write_atomic(path, "kiln-net-service 1\nservice bad\n", 31, 0600, &err) == 0);
	CHECK(kiln_net_attach(&cfg, "svc-f", ns_f, NULL, 0, &a, &err) == -1);
	CHECK_CONTAINS(err.message, path);
	CHECK_CONTAINS(err.message, "incomplete");
	CHECK(!lease_exists(state, "svc-f"));
	kiln_error_clear(&err);
	CHECK(kiln_net_service_switch(&cfg, "web", "svc-e", NULL, 0, &err) == -1);
	CHECK_CONTAINS(err.message, path);
	kiln_error_clear(&err);
	CHECK(kiln_net_reap(&cfg, live, 2, &err) == -1);
	CHECK_CONTAINS(err.message, path);
	kiln_error_clear(&err);
	CHECK(kiln_net_detach(&cfg, "svc-e", &err) == -1);
	CHECK_CONTAINS(err.message, path);
	CHECK(lease_exists(state, "svc-e"));
	CHECK(access(path, F_OK) == 0);
	_cleanup_free_ char *c1 = ask(svc_port(1));
	CHECK_STR(c1, "C");
	unlink(path);

	/* remove: the rules go with the record; again is fine. */
	kiln_error_clear(&err);
	CHECK(kiln_net_service_remove(&cfg, "web", &err) == 0);
	if (err.message[0])
		printf("# %s\n", err.message);
	CHECK(!service_exists("web"));
	CHECK(kiln_net_service_lookup(&cfg, "web", target, NULL, NULL, &err) == 0);
	_cleanup_free_ char *rules = sh("nft list table ip %s", table);
	CHECK(strstr(rules, "service web") == NULL);
	CHECK_CONTAINS(rules, "service api");
	_cleanup_free_ char *gone = ask(svc_port(1));
	CHECK_CONTAINS(gone, "Connection refused");
	CHECK(kiln_net_service_remove(&cfg, "web", &err) == 0);
	CHECK(kiln_net_service_remove(&cfg, "api", &err) == 0);
	_cleanup_free_ char *api = ask(svc_port(4));
	CHECK_CONTAINS(api, "Connection refused");
	_cleanup_free_ char *rules2 = sh("nft list table ip %s", table);
	CHECK(strstr(rules2, "service") == NULL);
	/* Its ports are free for a container now. */
	struct kiln_net_port lo_p1 = { .host = svc_port(1), .container = 8080, .proto = IPPROTO_TCP };
	kiln_error_clear(&err);
	CHECK(kiln_net_attach(&cfg, "svc-f", ns_f, &lo_p1, 1, &a, &err) == 0);
	CHECK(kiln_net_detach(&cfg, "svc-f", &err) == 0);
	CHECK(kiln_net_detach(&cfg, "svc-e", &err) == 0);
	CHECK(kiln_net_detach(&cfg, "svc-c", &err) == 0);
	CHECK(!link_exists(bridge));
	child_kill(ns_f);
	child_kill(svc_ns[2]);
	child_kill(svc_ns[4]);
}

/* Pick names and a subnet nobody here uses. */
static int choose_names(void)
{
	unsigned char r[6];
	_cleanup_free_ char *routes = sh("ip -4 route show table all; ip -4 -o addr");
	char wide[32];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -1;
	snprintf(suffix, sizeof(suffix), "%02x%02x%02x", r[0], r[1], r[2]);
	snprintf(bridge, sizeof(bridge), "kt%s", suffix);
	snprintf(bridge_small, sizeof(bridge_small), "ku%s", suffix);
	snprintf(table, sizeof(table), "kiln_test_%s", suffix);
	snprintf(table_small, sizeof(table_small), "kiln_tests_%s", suffix);
	for (int attempt = 0; attempt < 50; attempt++) {
		unsigned a = 200 + (r[3] + attempt) % 50, b = (r[4] + attempt * 7) % 250;
		char probe[32];
		snprintf(prefix3, sizeof(prefix3), "10.%u.%u.", a, b);
		snprintf(probe, sizeof(probe), "10.%u.%u.", a, b + 1);
		snprintf(wide, sizeof(wide), "10.%u.0.0/16", a);
		if (!strstr(routes, prefix3) && !strstr(routes, probe) &&
		    !strstr(routes, "10.0.0.0/8") && !strstr(routes, wide)) {
			snprintf(subnet, sizeof(subnet), "10.%u.%u.0/24", a, b);
			snprintf(subnet_small, sizeof(subnet_small), "10.%u.%u.0/30", a, b + 1);
			break;
		}
	}
	if (!subnet[0])
		return -1;
	port_tcp = (uint16_t)(30000 + (r[5] << 3) % 2000);
	port_udp = port_tcp;
	snprintf(state, sizeof(state), "%s/net", tmp_state);
	snprintf(state_small, sizeof(state_small), "%s/net-small", tmp_state);
	cfg = (struct kiln_net_config){ state, bridge, subnet, table };
	cfg_small = (struct kiln_net_config){ state_small, bridge_small, subnet_small, table_small };
	return 0;
}

/* Whatever the body did or failed to do: no namespace, bridge, table or
 * sysctl change of ours outlives the test. */
static void cleanup_kernel(void)
{
	_cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;

	a = sh("ip link del %s 2>&1; ip link del %s 2>&1; ip link del kv%s00 2>&1; "
	       "ip link del kv%s01 2>&1", bridge, bridge_small, suffix, suffix);
	b = sh("nft delete table ip %s 2>&1; nft delete table ip %s 2>&1", table, table_small);
	free(sh(IP_FORWARD_REF "leave"));
	c = sh("ip -o link | grep -c -e '%s' -e '%s'; nft list tables | grep -c -e '%s' -e '%s'",
	       bridge, bridge_small, table, table_small);
	if (strcmp(c, "0\n0\n") != 0)
		printf("# cleanup left something: %s\n", c);
}

static int run_kernel_tests(void)
{
	pid_t body;
	int status, counts[2] = { 0, 0 }, p[2];

	if (choose_names() < 0) {
		printf("not ok - could not choose a free subnet\n");
		return 1;
	}
	free(sh(IP_FORWARD_REF "enter"));
	printf("# bridge %s, table %s, subnet %s, ports %u\n", bridge, table, subnet, port_tcp);
	fflush(stdout);
	if (pipe(p) < 0)
		return 1;
	body = fork();
	if (body == 0) {
		close(p[0]);
		/* Our "containers" die with the body (PDEATHSIG), so their
		 * veths do too; the parent removes the rest. */
		RUN(attach_first);
		RUN(attach_second_and_reach);
		RUN(published_ports);
		RUN(conflicts_refused_cleanly);
		RUN(guard_restored_by_reap_and_attach);
		RUN(foreign_links_left_alone);
		RUN(detach_removes_and_is_idempotent);
		RUN(crash_leftovers);
		RUN(concurrent_attaches);
		RUN(last_detach_removes_bridge_and_table);
		RUN(subnet_full);
		RUN(loopback_up);
		RUN(service_switch);
		RUN(service_switch_under_load);
		RUN(service_survives_detach_and_reap);
		RUN(service_conflicts_both_ways);
		RUN(service_record_written_not_loaded);
		RUN(service_malformed_and_remove);
		for (size_t i = 0; i < n_children; i++)
			if (children[i] > 0)
				kill(children[i], SIGKILL);
		fflush(stdout);
		counts[0] = tap_count;
		counts[1] = tap_failed;
		if (write(p[1], counts, sizeof(counts)) != sizeof(counts))
			_exit(1);
		_exit(tap_failed ? 1 : 0);
	}
	close(p[1]);
	/* The body's counts continue ours; adopt them for the plan. */
	if (read(p[0], counts, sizeof(counts)) == sizeof(counts)) {
		tap_count = counts[0];
		tap_failed = counts[1];
	}
	close(p[0]);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	while (waitpid(body, &status, 0) < 0 && errno == EINTR) {
	}
	cleanup_kernel();
	if (!WIFEXITED(status)) {
		printf("not ok - test body died (status %d)\n", status);
		return 1;
	}
	return WEXITSTATUS(status);
}

/* --- driver for tests/cli/t0510-net.sh --- */

static int driver(int argc, char **argv)
{
	struct kiln_net_config c = { getenv("KILN_NET_STATE"), getenv("KILN_NET_BRIDGE"),
				     getenv("KILN_NET_SUBNET"), getenv("KILN_NET_TABLE") };
	struct kiln_error err = { 0 };
	struct kiln_net_attachment a;
	int rc = -1;

	if (strcmp(argv[1], "attach") == 0 && argc >= 4) {
		size_t n = (size_t)argc - 4;
		struct kiln_net_port *ports = kiln_xcalloc(n + 1, sizeof(*ports));
		for (size_t i = 0; i < n; i++)
			if (kiln_net_parse_port(argv[4 + i], &ports[i], &err) < 0)
				goto out;
		rc = kiln_net_attach(&c, argv[2], (pid_t)atol(argv[3]), ports, n, &a, &err);
		free(ports);
		if (rc == 0)
			printf("%s %s %s %d\n", a.address, a.gateway, a.veth_host, a.prefix);
	} else if (strcmp(argv[1], "detach") == 0 && argc == 3) {
		rc = kiln_net_detach(&c, argv[2], &err);
	} else if (strcmp(argv[1], "reap") == 0) {
		rc = kiln_net_reap(&c, argv + 2, (size_t)argc - 2, &err);
	} else if (strcmp(argv[1], "lookup") == 0 && argc == 3) {
		rc = kiln_net_lookup(&c, argv[2], &a, &err);
		if (rc == 1)
			printf("%s %s %s %d\n", a.address, a.gateway, a.veth_host, a.prefix);
		rc = rc == 1 ? 0 : -1;
		if (!err.message[0])
			snprintf(err.message, sizeof(err.message), "no lease for %s", argv[2]);
	} else if (strcmp(argv[1], "loopback") == 0 && argc == 3) {
		rc = kiln_net_loopback_up((pid_t)atol(argv[2]), &err);
	} else {
		fprintf(stderr, "usage: test_net attach ID PID [PORT…] | detach ID | reap [LIVE…] | "
				"lookup ID | loopback PID\n");
		return 2;
	}
out:
	if (rc < 0) {
		fprintf(stderr, "test_net: %s\n", err.message);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	int kernel_rc = 0;

	if (argc > 1)
		return driver(argc, argv);
	snprintf(tmp_state, sizeof(tmp_state), "/tmp/kiln-test-net.XXXXXX");
	if (!mkdtemp(tmp_state))
		return 1;
	RUN(parse_port_forms);
	RUN(parse_port_rejects);
	RUN(parse_mode);
	RUN(config_and_id_rejected);
	RUN(detach_unknown_is_fine);
	RUN(hostile_lease_records_refused);
	RUN(hostile_service_records_refused);
	RUN(mac_from_ipv4);
	fflush(stdout);
	if (geteuid() != 0) {
		printf("# not root: bridge tests skipped (they need CAP_NET_ADMIN)\n");
	} else {
		kernel_rc = run_kernel_tests();
	}
	_cleanup_free_ char *rm = sh("rm -rf '%s'", tmp_state);
	int rc = tap_done();
	return rc || kernel_rc;
}
