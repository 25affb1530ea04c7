/* net.h - container networking: the four network modes of `kiln run`.
 *
 * bridge     kiln_net_attach() gives the container (a process in its own
 *            network namespace) an eth0 on the bridge with a leased address
 *            (and the MAC derived from it: kiln_net_mac_from_ipv4()),
 *            a default route via the bridge, outbound masquerade and
 *            published ports; kiln_net_detach() takes it all back.
 * none       kiln_net_loopback_up(): only lo, up.
 * host       nothing to do: the container keeps the host's namespace.
 * container  the runtime joins the other container's namespace:
 *            kiln_net_namespace_open() + kiln_net_namespace_join().
 *
 * State lives under config->state_dir:
 *   lock                 flock()ed for the whole of every attach, detach
 *                        and reap, so they are serialized across processes
 *                        (two concurrent attaches never get one address,
 *                        a detach never removes the bridge under an attach).
 *   leases/ID.lease      one record per attached container: address, host
 *                        veth name, published ports.  Written (temp file +
 *                        rename) before the veth is made, so a crash at any
 *                        point leaves a record that detach/reap can undo.
 *   services/NAME.service  a service's published ports and its target
 *                        container (kiln_net_service_switch): written
 *                        durably (temp file + fsync + rename) before the
 *                        ruleset that uses it is loaded, and kept across
 *                        detach and reap of any container (its target's
 *                        too) and across reboots.
 *   ruleset.nft          the last nftables ruleset loaded (for debugging).
 *   ruleset.nft.seen     the kernel's ruleset generation and `nft list
 *                        table` right after that load: how attach, detach
 *                        and reap tell that the table is still as loaded.
 * The records (leases and services) are the truth: the nftables table is
 * regenerated from them and loaded atomically (`nft -f`, one transaction)
 * on every change, and
 * whenever the table in the kernel is no longer the one loaded (flushed,
 * a chain deleted, a rule added: the 127.0.0.0/8 guard below must not
 * silently go).  Records are only ever written by kiln and are read back as
 * strictly: a record whose id, address (one to lease in the subnet), veth
 * name ("kv" and 8 hex digits), ports or form is not what kiln writes, or
 * two records sharing a veth or an address, make attach, detach, reap and
 * lookup fail with an error naming the record, which is left in place.
 * The same for service records (name, target id, ports; two services
 * publishing one host port), which also stop the service functions.
 * One state_dir per (bridge, nft table) pair: two state directories must
 * not share a bridge or a table.
 *
 * What the host gets (created on the first attach, removed by the detach
 * that ends the last lease):
 *   - the bridge, up, with the gateway address (first host address of the
 *     subnet) and net.ipv4.conf.BRIDGE.route_localnet=1, so that traffic
 *     to 127.0.0.1:PORT can be DNATed to a container;
 *   - nftables table "ip TABLE": DNAT of published ports (containers' -p
 *     ports; services' ports to their target's address while the target
 *     holds a lease, and no rule while it does not, so that the host
 *     refuses those connections) for traffic to any local address
 *     (prerouting, and output for the host's own connections incl.
 *     127.0.0.1), masquerade of the subnet going elsewhere, of
 *     127.0.0.0/8 going to the subnet and of containers reaching a
 *     published port of another container through the host (hairpin);
 *     a drop of anything addressed to 127.0.0.0/8 arriving from the bridge
 *     (route_localnet would otherwise let containers reach services bound
 *     to the host's loopback, CVE-2020-8558).
 *   - net.ipv4.ip_forward=1 (set when it is 0, never set back: other
 *     software may rely on it, as with Docker).
 *
 * Services (kiln_net_service_switch; docs/containers.md, "Services'
 * published ports"): a deployed service's published ports belong to the
 * service, not to a container, and point at one container at a time.
 * Moving them to another container is one record rename and one `nft -f`
 * transaction: no moment without a rule, connections established before
 * keep going to the old container (conntrack keeps their translation), new
 * ones reach the new.  A host port belongs to one container's -p or one
 * service: attach and switch refuse the others, changing nothing.  The
 * bridge and the table still go with the last lease; the service records
 * stay, and the next attach loads them.
 * Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN for setns) and the nft tool.
 * IPv4 only.
 */
#ifndef KILN_NET_H
#define KILN_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct kiln_net_config {
	const char *state_dir; /* leases and per-container records live here, e.g. $KILN_ROOT/net */
	const char *bridge;    /* NULL: "kiln0"; at most 15 characters [A-Za-z0-9_.-] */
	const char *subnet;    /* NULL: "10.88.0.0/16"; prefix 8..30, host bits zero */
	const char *nft_table; /* NULL: "kiln" (family ip); [A-Za-z][A-Za-z0-9_]*, at most 32 */
	/* Keep the bridge and the table when the last lease goes (saves
	 * about 60 ms of kernel work per idle/busy cycle; see
	 * kiln_net_teardown).  Default false: they go with the last lease. */
	bool keep_idle;
};

#define KILN_NET_DEFAULT_BRIDGE "kiln0"
#define KILN_NET_DEFAULT_SUBNET "10.88.0.0/16"
#define KILN_NET_DEFAULT_TABLE "kiln"

struct kiln_net_port {
	uint16_t host, container;
	int proto; /* IPPROTO_TCP or IPPROTO_UDP */
	/* Only traffic to this host address ("127.0.0.1"); "" (the default
	 * when left out of an initializer): every local address. */
	char host_address[16];
};

struct kiln_net_attachment {
	char address[16];   /* the container's address, "10.88.0.2" */
	char gateway[16];   /* the bridge's address, "10.88.0.1" */
	char veth_host[16]; /* the host end of the veth, on the bridge */
	int prefix;         /* of the subnet, 16 */
};

/* Bridge mode for the container id whose network namespace is that of
 * pid: make sure the bridge, the nft table and forwarding exist; lease the
 * lowest free address; create a veth pair with the host end on the bridge
 * and the other end in pid's namespace as eth0 with the address, up, with
 * a default route via the gateway, and lo up; publish ports by DNAT.
 *
 * id: 1-128 characters [A-Za-z0-9_.-], not starting with '.' or '-'.
 * Fails (and leaves nothing behind) when id already has a lease, when a
 * host port (same protocol, overlapping host address) is published by
 * another container or twice in ports, when the subnet is full, or when
 * pid shares the caller's network namespace.  Call it after the container
 * process exists and before it needs the network (e.g. while it waits on
 * a pipe before exec).  out may be NULL. */
int kiln_net_attach(const struct kiln_net_config *c, const char *id, pid_t pid,
		    const struct kiln_net_port *ports, size_t n_ports,
		    struct kiln_net_attachment *out, struct kiln_error *err);

/* Undo attach for id: veth (if still there; it also vanishes by itself
 * with the namespace; deleted only when it is a veth whose master is our
 * bridge, else an error naming the record, which is kept), DNAT rules, lease.  Idempotent: an id without a
 * lease is fine, as is a call after a crash half-way through attach or
 * detach.  Removes the bridge and the table when no lease remains (unless
 * keep_idle). */
int kiln_net_detach(const struct kiln_net_config *c, const char *id, struct kiln_error *err);

/* Detach every leased id that is not in live[] (after a SIGKILL'd monitor).
 * Also removes the bridge and the table when no lease remains (unless
 * keep_idle), and reloads the table when it is no longer the one loaded
 * (costs one netlink question when no nftables ruleset changed since,
 * one `nft list` when one did).  Call it only with every container that may hold a lease in
 * live[], including one being started right now. */
int kiln_net_reap(const struct kiln_net_config *c, char *const *live, size_t n_live,
		  struct kiln_error *err);

/* Remove the bridge and the table (and forget the loaded ruleset) when no
 * lease remains; fails naming a holder when one does.  Needed only with
 * keep_idle, or to clean up after a crash without leases. */
int kiln_net_teardown(const struct kiln_net_config *c, struct kiln_error *err);

/* The attachment recorded for id: 1 found (out filled; out may be NULL),
 * 0 no lease, -1 error. */
int kiln_net_lookup(const struct kiln_net_config *c, const char *id,
		    struct kiln_net_attachment *out, struct kiln_error *err);

/* Services (docs/containers.md, "Services' published ports"): published
 * ports that belong to a service, not to a container, and point at one
 * container (the target) at a time. */
#define KILN_NET_SERVICE_MAX 64 /* service names: the rule of container names (values.h) */

/* Point service's published ports at the container target_id (which must
 * hold a lease: kiln_net_attach'ed, bridge mode), replacing the service's
 * previous ports and target, in one nftables transaction.  ports may
 * differ from the previous call's (a new version publishes other ports).
 * Conflicts (a host port, same protocol and overlapping host address,
 * held by another service or by a container's own -p, or twice in ports)
 * fail and change nothing.  Host ports the service did not publish before
 * are checked with kiln_net_port_available; ones it already publishes are
 * not (they are ours).  The record is written (temp + fsync + rename)
 * before the ruleset is loaded, so a crash leaves either the old or the
 * new target in the record, and the next attach/detach/reap/switch loads
 * the ruleset the record says.  When nft refuses the new ruleset, the
 * previous record is put back.  Established connections keep going to the
 * previous target (conntrack keeps their translation); new ones go to the
 * new target. */
int kiln_net_service_switch(const struct kiln_net_config *c, const char *service,
			    const char *target_id, const struct kiln_net_port *ports, size_t n_ports,
			    struct kiln_error *err);

/* The service's current target: 1 (target_id filled, *ports/n_ports
 * malloc'd, the caller frees *ports; any of the three may be NULL to not
 * ask), 0 no record, -1 error (a malformed record, named). */
int kiln_net_service_lookup(const struct kiln_net_config *c, const char *service,
			    char target_id[129], struct kiln_net_port **ports, size_t *n_ports,
			    struct kiln_error *err);

/* Forget the service's ports: record and rules (idempotent: no record is
 * fine; a malformed one is an error and is kept). */
int kiln_net_service_remove(const struct kiln_net_config *c, const char *service,
			    struct kiln_error *err);

/* The MAC of a bridge container's eth0, as Docker makes it: 02:42 and the
 * address's four bytes.  The same address always has the same MAC, so a
 * container replaced on its predecessor's address is reached at once
 * through the host's ARP entry (docs/containers.md). */
void kiln_net_mac_from_ipv4(struct in_addr address, unsigned char mac[6]);

/* none mode: bring lo up inside pid's network namespace. */
int kiln_net_loopback_up(pid_t pid, struct kiln_error *err);

/* Parse a "-p" value: "8080:80", "8080:80/udp", "127.0.0.1:8080:80/tcp".
 * Ports 1-65535, decimal; protocol tcp (default) or udp. */
int kiln_net_parse_port(const char *text, struct kiln_net_port *out, struct kiln_error *err);
/* Is port's host port free on this host?  A DNAT rule would silently take
 * the traffic of a program already listening there (Docker refuses too):
 * -1 with "in use" when binding it fails with EADDRINUSE.  Ports that kiln
 * itself publishes are checked by kiln_net_attach. */
int kiln_net_port_available(const struct kiln_net_port *port, struct kiln_error *err);

enum kiln_net_mode {
	KILN_NET_BRIDGE,
	KILN_NET_HOST,
	KILN_NET_NONE,
	KILN_NET_CONTAINER,
};

/* Parse a "--network" value: "bridge", "host", "none" or "container:NAME";
 * for the last, *container points at NAME inside text (else NULL). */
int kiln_net_parse_mode(const char *text, enum kiln_net_mode *mode, const char **container,
			struct kiln_error *err);

/* container mode: an O_CLOEXEC descriptor of pid's network namespace
 * (/proc/PID/ns/net), or -1.  The caller closes it. */
int kiln_net_namespace_open(pid_t pid, struct kiln_error *err);

/* container mode: move the calling thread into the network namespace fd
 * (from kiln_net_namespace_open; typically in the container's child
 * before it execs). */
int kiln_net_namespace_join(int fd, struct kiln_error *err);

#endif
