#include "net.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "lockfile.h"
#include "netlink.h"
#include "process.h"
#include "util.h"
#include "values.h"

#define ID_MAX 128
#define PORTS_MAX 4096
#define RECORD_MAX (256 * 1024)
#define CONTAINER_IFNAME "eth0"
#define LEASE_SUFFIX ".lease"
#define SERVICE_SUFFIX ".service"

/* The configuration with defaults applied and the subnet parsed. */
struct net_setup {
	const char *state_dir;
	const char *bridge;
	const char *table;
	bool keep_idle;
	char subnet[32];       /* normalized "a.b.c.d/n" */
	uint32_t network;      /* host byte order */
	int prefix;
	struct in_addr gateway;
	uint32_t first, last;  /* leasable addresses, host byte order */
	char *leases_dir;
	char *services_dir;
	char *lock_path;
	char *ruleset_path;
};

struct lease {
	char id[ID_MAX + 1];
	struct in_addr address;
	char veth[16];
	struct kiln_net_port *ports;
	size_t n_ports;
};

struct lease_list {
	struct lease *items;
	size_t n, alloc;
};

/* A service's published ports and the container they point at. */
struct service {
	char name[KILN_NET_SERVICE_MAX + 1];
	char target[ID_MAX + 1];
	struct kiln_net_port *ports;
	size_t n_ports;
};

struct service_list {
	struct service *items;
	size_t n, alloc;
};

static void setup_release(struct net_setup *s)
{
	free(s->leases_dir);
	free(s->services_dir);
	free(s->lock_path);
	free(s->ruleset_path);
}
#define _cleanup_setup_ _cleanup_(setup_release)

static void lease_release(struct lease *l)
{
	free(l->ports);
	l->ports = NULL;
	l->n_ports = 0;
}
#define _cleanup_lease_ _cleanup_(lease_release)

static void lease_list_release(struct lease_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		lease_release(&list->items[i]);
	free(list->items);
	list->items = NULL;
	list->n = list->alloc = 0;
}
#define _cleanup_lease_list_ _cleanup_(lease_list_release)

static void service_release(struct service *v)
{
	free(v->ports);
	v->ports = NULL;
	v->n_ports = 0;
}
#define _cleanup_service_ _cleanup_(service_release)

static void service_list_release(struct service_list *list)
{
	for (size_t i = 0; i < list->n; i++)
		service_release(&list->items[i]);
	free(list->items);
	list->items = NULL;
	list->n = list->alloc = 0;
}
#define _cleanup_service_list_ _cleanup_(service_list_release)

/* --- names and configuration --- */

static bool name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '_' || ch == '.' || ch == '-';
}

static int check_id(const char *id, struct kiln_error *err)
{
	size_t len;

	if (!id || !*id)
		return kiln_error_set(err, "container id is empty");
	len = strnlen(id, ID_MAX + 1);
	if (len > ID_MAX)
		return kiln_error_set(err, "container id '%.40s…': longer than %d characters", id, ID_MAX);
	if (id[0] == '.' || id[0] == '-')
		return kiln_error_set(err, "container id '%s': must not start with '%c'", id, id[0]);
	for (size_t i = 0; i < len; i++)
		if (!name_char(id[i]))
			return kiln_error_set(err, "container id '%s': character '%c' not allowed "
					      "(only A-Z a-z 0-9 _ . -)", id, id[i]);
	return 0;
}

static int check_bridge(const char *name, struct kiln_error *err)
{
	size_t len = strlen(name);

	if (len == 0 || len > 15)
		return kiln_error_set(err, "bridge name '%s': must be 1 to 15 characters", name);
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return kiln_error_set(err, "bridge name '%s': not allowed", name);
	for (size_t i = 0; i < len; i++)
		if (!name_char(name[i]))
			return kiln_error_set(err, "bridge name '%s': character '%c' not allowed", name,
					      name[i]);
	return 0;
}

static int check_table(const char *name, struct kiln_error *err)
{
	size_t len = strlen(name);

	if (len == 0 || len > 32)
		return kiln_error_set(err, "nftables table '%s': must be 1 to 32 characters", name);
	if (!((name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z')))
		return kiln_error_set(err, "nftables table '%s': must start with a letter", name);
	for (size_t i = 0; i < len; i++)
		if (!name_char(name[i]) || name[i] == '.' || name[i] == '-')
			return kiln_error_set(err, "nftables table '%s': character '%c' not allowed",
					      name, name[i]);
	return 0;
}

/* Strict dotted quad (inet_pton accepts only that for AF_INET). */
static int parse_ipv4(const char *text, struct in_addr *out)
{
	return inet_pton(AF_INET, text, out) == 1 ? 0 : -1;
}

static int parse_subnet(const char *text, struct net_setup *s, struct kiln_error *err)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	struct in_addr in;
	char *end;
	long prefix;
	uint32_t mask;

	if (!slash || (size_t)(slash - text) >= sizeof(addr))
		return kiln_error_set(err, "subnet '%s': want ADDRESS/PREFIX such as 10.88.0.0/16", text);
	memcpy(addr, text, (size_t)(slash - text));
	addr[slash - text] = '\0';
	if (parse_ipv4(addr, &in) < 0)
		return kiln_error_set(err, "subnet '%s': '%s' is not an IPv4 address", text, addr);
	errno = 0;
	prefix = strtol(slash + 1, &end, 10);
	if (slash[1] < '0' || slash[1] > '9' || *end || errno || prefix < 8 || prefix > 30)
		return kiln_error_set(err, "subnet '%s': prefix must be 8 to 30", text);
	mask = 0xffffffffu << (32 - prefix);
	s->network = ntohl(in.s_addr);
	if (s->network & ~mask)
		return kiln_error_set(err, "subnet '%s': host bits set (did you mean %u.%u.%u.%u/%ld?)",
				      text, (s->network & mask) >> 24, ((s->network & mask) >> 16) & 255,
				      ((s->network & mask) >> 8) & 255, s->network & mask & 255, prefix);
	s->prefix = (int)prefix;
	s->gateway.s_addr = htonl(s->network + 1);
	s->first = s->network + 2;
	s->last = (s->network | ~mask) - 1;
	snprintf(s->subnet, sizeof(s->subnet), "%s/%ld", addr, prefix);
	return 0;
}

static int setup_init(const struct kiln_net_config *c, struct net_setup *s, struct kiln_error *err)
{
	memset(s, 0, sizeof(*s));
	if (!c || !c->state_dir || !*c->state_dir)
		return kiln_error_set(err, "network: no state directory configured");
	s->state_dir = c->state_dir;
	s->bridge = c->bridge ? c->bridge : KILN_NET_DEFAULT_BRIDGE;
	s->table = c->nft_table ? c->nft_table : KILN_NET_DEFAULT_TABLE;
	s->keep_idle = c->keep_idle;
	if (check_bridge(s->bridge, err) < 0 || check_table(s->table, err) < 0 ||
	    parse_subnet(c->subnet ? c->subnet : KILN_NET_DEFAULT_SUBNET, s, err) < 0)
		return kiln_error_prefix(err, "network");
	s->leases_dir = kiln_path_join(s->state_dir, "leases");
	s->services_dir = kiln_path_join(s->state_dir, "services");
	s->lock_path = kiln_path_join(s->state_dir, "lock");
	s->ruleset_path = kiln_path_join(s->state_dir, "ruleset.nft");
	return 0;
}

static void format_ipv4(struct in_addr a, char out[16])
{
	inet_ntop(AF_INET, &a, out, 16);
}

/* --- the lock --- */

/* Serializes every change to leases, links and rules among kiln processes.
 * Returns the locked descriptor (closing it unlocks), or -1. */
static int state_lock(const struct net_setup *s, struct kiln_error *err)
{
	if (kiln_mkdir_p(s->leases_dir, 0700, err) < 0)
		return -1;
	return kiln_lockfile_open(s->lock_path, 0600, 0, err);
}

/* --- lease records --- */

static char *lease_path(const struct net_setup *s, const char *id)
{
	return kiln_xasprintf("%s/%s" LEASE_SUFFIX, s->leases_dir, id);
}

static const char *proto_name(int proto)
{
	return proto == IPPROTO_UDP ? "udp" : "tcp";
}

static char *lease_format(const struct lease *l)
{
	struct kiln_buf b = KILN_BUF_INIT;
	char addr[16];

	format_ipv4(l->address, addr);
	kiln_buf_printf(&b, "kiln-net-lease 1\nid %s\naddress %s\nveth %s\n", l->id, addr, l->veth);
	for (size_t i = 0; i < l->n_ports; i++) {
		const struct kiln_net_port *p = &l->ports[i];
		kiln_buf_printf(&b, "port %s %u %u %s\n", proto_name(p->proto), p->host, p->container,
				p->host_address[0] ? p->host_address : "*");
	}
	return kiln_buf_detach(&b);
}

/* Replace the record by rename: a crash leaves the old record or the new
 * one.  No fsync: links and rules do not survive a reboot either, and the
 * reap after one removes the records. */
static int lease_write(const struct net_setup *s, const struct lease *l, struct kiln_error *err)
{
	_cleanup_free_ char *path = lease_path(s, l->id);
	_cleanup_free_ char *text = lease_format(l);

	return kiln_file_replace(path, text, strlen(text), 0600, KILN_FILE_NOSYNC, err);
}

static int port_parse_fields(const char *proto, const char *host, const char *container,
			     const char *host_address, struct kiln_net_port *p);
static bool ports_overlap(const struct kiln_net_port *a, const struct kiln_net_port *b);
static bool ports_repeat(const struct kiln_net_port *p, size_t n);

/* The host end of a veth as veth_name_random() makes it: "kv" and eight
 * lowercase hex digits.  A record is only ever written by us, so any other
 * name (say "eth0") means the file was tampered with: detach deletes the
 * link the record names, and must never be led to delete another. */
static bool veth_name_valid(const char *name)
{
	if (strncmp(name, "kv", 2) != 0 || strlen(name) != 10)
		return false;
	for (size_t i = 2; i < 10; i++)
		if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
			return false;
	return true;
}

/* One space between fields, nothing sscanf would skip or cut. */
static bool record_line_malformed(const char *line)
{
	return strlen(line) > 256 || line[0] == ' ' || strstr(line, "  ") || strchr(line, '\t') ||
	       line[strlen(line) - 1] == ' ';
}

/* A record's "port PROTO HOST CONTAINER ADDRESS|*" line, appended to
 * ports: NULL, or what is wrong with it (leases and services alike). */
static const char *record_port(const char *proto, const char *host, const char *container, const char *address,
			       struct kiln_net_port **ports, size_t *n, size_t *alloc)
{
	if (*n >= PORTS_MAX)
		return "too many ports";
	kiln_xgrow(ports, alloc, *n + 1, sizeof(**ports));
	if (port_parse_fields(proto, host, container, strcmp(address, "*") == 0 ? "" : address, &(*ports)[*n]) < 0)
		return "port is not PROTO HOST CONTAINER ADDRESS|*";
	(*n)++;
	return NULL;
}

/* Every field is checked as strictly as when it was first written: the id
 * is a valid name, the address one of ours to lease, the veth a name we
 * make, each key once, ports as kiln_net_parse_port() accepts them. */
static int lease_parse(const struct net_setup *s, const char *path, const char *text, struct lease *l,
		       struct kiln_error *err)
{
	_cleanup_free_ char *copy = kiln_xstrdup(text);
	size_t alloc = 0;
	int line_no = 0, have_address = 0;
	char *save = NULL;
	const char *why = NULL;

	memset(l, 0, sizeof(*l));
	if (strlen(text) == 0 || text[strlen(text) - 1] != '\n') {
		line_no = 0;
		why = "incomplete";
		goto bad;
	}
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char key[32], a[ID_MAX + 1], b[16], c2[16], d[16], extra[2];
		int n;

		line_no++;
		if (line_no == 1) {
			if (strcmp(line, "kiln-net-lease 1") != 0) {
				why = "not a kiln-net-lease 1 record";
				goto bad;
			}
			continue;
		}
		if (record_line_malformed(line)) {
			why = "malformed";
			goto bad;
		}
		n = sscanf(line, "%31s %128s %15s %15s %15s %1s", key, a, b, c2, d, extra);
		if (n == 2 && strcmp(key, "id") == 0) {
			if (l->id[0] || check_id(a, NULL) < 0) {
				why = l->id[0] ? "second id" : "id is not a valid container id";
				goto bad;
			}
			snprintf(l->id, sizeof(l->id), "%s", a);
		} else if (n == 2 && strcmp(key, "address") == 0) {
			uint32_t host;
			if (have_address || parse_ipv4(a, &l->address) < 0) {
				why = have_address ? "second address" : "address is not an IPv4 address";
				goto bad;
			}
			host = ntohl(l->address.s_addr);
			if (host < s->first || host > s->last) {
				why = "address is not one to lease in the subnet";
				goto bad;
			}
			have_address = 1;
		} else if (n == 2 && strcmp(key, "veth") == 0) {
			if (l->veth[0] || !veth_name_valid(a)) {
				why = l->veth[0] ? "second veth" : "veth is not a name kiln makes (kv and 8 hex digits)";
				goto bad;
			}
			snprintf(l->veth, sizeof(l->veth), "%s", a);
		} else if (n == 5 && strcmp(key, "port") == 0 && strlen(a) < 16) {
			if ((why = record_port(a, b, c2, d, &l->ports, &l->n_ports, &alloc)))
				goto bad;
		} else {
			why = "unknown or malformed";
			goto bad;
		}
	}
	if (!l->id[0] || !have_address || !l->veth[0]) {
		line_no = 0;
		why = "incomplete";
		goto bad;
	}
	if (ports_repeat(l->ports, l->n_ports)) {
		why = "port published twice";
		goto bad;
	}
	return 0;
bad:
	lease_release(l);
	if (line_no == 0)
		return kiln_error_set(err, "lease record '%s': %s", path, why);
	return kiln_error_set(err, "lease record '%s': bad line %d: %s", path, line_no, why);
}

/* The text of a record kiln wrote (what: "lease", "service"): 1 read
 * (*text malloc'd), 0 no such file, -1 error: a record that is not a
 * regular file or holds a NUL byte is not kiln's. */
static int record_text(const char *path, const char *what, char **text, struct kiln_error *err)
{
	struct stat st;
	size_t len = 0;

	*text = NULL;
	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return kiln_error_errno(err, errno, "stat '%s'", path);
	}
	if (!S_ISREG(st.st_mode))
		return kiln_error_set(err, "%s record '%s': not a regular file", what, path);
	*text = kiln_file_read_regular(path, RECORD_MAX, &len, err);
	if (!*text)
		return -1;
	if (strlen(*text) != len) {
		free(*text);
		*text = NULL;
		return kiln_error_set(err, "%s record '%s': contains a NUL byte", what, path);
	}
	return 1;
}

/* Does a list of ports publish one host port twice? */
static bool ports_repeat(const struct kiln_net_port *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < i; j++)
			if (ports_overlap(&p[i], &p[j]))
				return true;
	return false;
}

/* Read the record of id: 1 found, 0 none, -1 error. */
static int lease_read(const struct net_setup *s, const char *id, struct lease *l,
		      struct kiln_error *err)
{
	_cleanup_free_ char *path = lease_path(s, id);
	_cleanup_free_ char *text = NULL;
	int r;

	memset(l, 0, sizeof(*l));
	r = record_text(path, "lease", &text, err);
	if (r <= 0)
		return r;
	if (lease_parse(s, path, text, l, err) < 0)
		return -1;
	if (strcmp(l->id, id) != 0) {
		lease_release(l);
		return kiln_error_set(err, "lease record '%s': belongs to '%s'", path, l->id);
	}
	return 1;
}

/* The record name of a directory entry (FILE = NAME + suffix, NAME at
 * most max bytes) into name: true for a record to read.  A temporary file
 * left by a crash (suffix ".tmp.") is removed on the way (we hold the
 * lock, so nobody is writing one); anything else is skipped. */
static bool record_entry(DIR *dir, const char *file, const char *suffix, size_t max, char *name)
{
	size_t len = strlen(file), sl = strlen(suffix);
	_cleanup_free_ char *tmp = kiln_xasprintf("%s.tmp.", suffix);

	if (file[0] == '.')
		return false;
	if (strstr(file, tmp)) {
		unlinkat(dirfd(dir), file, 0);
		return false;
	}
	if (!kiln_str_has_suffix(file, suffix) || len - sl > max)
		return false;
	memcpy(name, file, len - sl);
	name[len - sl] = '\0';
	return true;
}

/* All records.  Temporary files left by a crash are removed (we hold the
 * lock, so nobody is writing one). */
static int lease_list_load(const struct net_setup *s, struct lease_list *list, struct kiln_error *err)
{
	DIR *dir = opendir(s->leases_dir);
	struct dirent *e;
	int rc = 0;

	memset(list, 0, sizeof(*list));
	if (!dir) {
		if (errno == ENOENT)
			return 0;
		return kiln_error_errno(err, errno, "open '%s'", s->leases_dir);
	}
	while ((e = readdir(dir)) != NULL) {
		char id[ID_MAX + 1];
		struct lease l;

		if (!record_entry(dir, e->d_name, LEASE_SUFFIX, ID_MAX, id) || check_id(id, NULL) < 0)
			continue;
		int found = lease_read(s, id, &l, err);
		if (found < 0) {
			rc = -1;
			break;
		}
		if (found == 0)
			continue;
		/* Two records naming one veth or address: one detach would take
		 * the other's link, one address would be on two links. */
		for (size_t i = 0; i < list->n && rc == 0; i++) {
			if (strcmp(list->items[i].veth, l.veth) == 0 ||
			    list->items[i].address.s_addr == l.address.s_addr)
				rc = kiln_error_set(err, "lease record '%s/%s" LEASE_SUFFIX "': same %s as "
						    "that of '%s'", s->leases_dir, id,
						    strcmp(list->items[i].veth, l.veth) == 0 ? "veth"
											    : "address",
						    list->items[i].id);
		}
		if (rc < 0) {
			lease_release(&l);
			break;
		}
		kiln_xgrow(&list->items, &list->alloc, list->n + 1, sizeof(*list->items));
		list->items[list->n++] = l;
	}
	closedir(dir);
	if (rc < 0)
		lease_list_release(list);
	return rc;
}

/* --- service records --- */

static int check_service(const char *name, struct kiln_error *err)
{
	const char *why;

	if (!name || !*name)
		return kiln_error_set(err, "service name is empty");
	/* The rule of container names (values.h), so the two read alike. */
	why = kiln_values_name(name, strnlen(name, KILN_NET_SERVICE_MAX + 1));
	if (why)
		return kiln_error_set(err, "service name '%.64s%s': %s", name,
				      strlen(name) > 64 ? "…" : "", why);
	return 0;
}

static char *service_path(const struct net_setup *s, const char *name)
{
	return kiln_xasprintf("%s/%s" SERVICE_SUFFIX, s->services_dir, name);
}

static char *service_format(const struct service *v)
{
	struct kiln_buf b = KILN_BUF_INIT;

	kiln_buf_printf(&b, "kiln-net-service 1\nservice %s\ntarget %s\n", v->name, v->target);
	for (size_t i = 0; i < v->n_ports; i++) {
		const struct kiln_net_port *p = &v->ports[i];
		kiln_buf_printf(&b, "port %s %u %u %s\n", proto_name(p->proto), p->host, p->container,
				p->host_address[0] ? p->host_address : "*");
	}
	return kiln_buf_detach(&b);
}

/* Unlike a lease, a service record outlives a reboot (the deployed
 * service is still the one it names), so it is made durable: temp file,
 * fsync, rename, fsync of the directory.  A crash leaves the old record or
 * the new one. */
static int service_write(const struct net_setup *s, const struct service *v, struct kiln_error *err)
{
	_cleanup_free_ char *path = service_path(s, v->name);
	_cleanup_free_ char *text = service_format(v);

	if (kiln_mkdir_p(s->services_dir, 0700, err) < 0)
		return -1;
	return kiln_file_replace(path, text, strlen(text), 0600, 0, err);
}

static int service_unlink(const struct net_setup *s, const char *name, struct kiln_error *err)
{
	_cleanup_free_ char *path = service_path(s, name);

	if (unlink(path) < 0 && errno != ENOENT)
		return kiln_error_errno(err, errno, "remove '%s'", path);
	return kiln_fsync_dir_of(path, err);
}

/* As strict as lease_parse: the name and target valid, each once, ports
 * as kiln_net_parse_port() accepts them and none twice. */
static int service_parse(const char *path, const char *text, struct service *v,
			 struct kiln_error *err)
{
	_cleanup_free_ char *copy = kiln_xstrdup(text);
	size_t alloc = 0;
	int line_no = 0;
	char *save = NULL;
	const char *why = NULL;

	memset(v, 0, sizeof(*v));
	if (strlen(text) == 0 || text[strlen(text) - 1] != '\n') {
		why = "incomplete";
		goto bad;
	}
	for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char key[32], a[ID_MAX + 1], b[16], c2[16], d[16], extra[2];
		int n;

		line_no++;
		if (line_no == 1) {
			if (strcmp(line, "kiln-net-service 1") != 0) {
				why = "not a kiln-net-service 1 record";
				goto bad;
			}
			continue;
		}
		if (record_line_malformed(line)) {
			why = "malformed";
			goto bad;
		}
		n = sscanf(line, "%31s %128s %15s %15s %15s %1s", key, a, b, c2, d, extra);
		if (n == 2 && strcmp(key, "service") == 0) {
			if (v->name[0] || check_service(a, NULL) < 0) {
				why = v->name[0] ? "second service" : "service is not a valid name";
				goto bad;
			}
			snprintf(v->name, sizeof(v->name), "%s", a);
		} else if (n == 2 && strcmp(key, "target") == 0) {
			if (v->target[0] || check_id(a, NULL) < 0) {
				why = v->target[0] ? "second target" : "target is not a valid container id";
				goto bad;
			}
			snprintf(v->target, sizeof(v->target), "%s", a);
		} else if (n == 5 && strcmp(key, "port") == 0 && strlen(a) < 16) {
			if ((why = record_port(a, b, c2, d, &v->ports, &v->n_ports, &alloc)))
				goto bad;
		} else {
			why = "unknown or malformed";
			goto bad;
		}
	}
	if (!v->name[0] || !v->target[0]) {
		line_no = 0;
		why = "incomplete";
		goto bad;
	}
	if (ports_repeat(v->ports, v->n_ports)) {
		why = "port published twice";
		goto bad;
	}
	return 0;
bad:
	service_release(v);
	if (line_no == 0)
		return kiln_error_set(err, "service record '%s': %s", path, why);
	return kiln_error_set(err, "service record '%s': bad line %d: %s", path, line_no, why);
}

/* Read the record of service name: 1 found, 0 none, -1 error. */
static int service_read(const struct net_setup *s, const char *name, struct service *v,
			struct kiln_error *err)
{
	_cleanup_free_ char *path = service_path(s, name);
	_cleanup_free_ char *text = NULL;
	int r;

	memset(v, 0, sizeof(*v));
	r = record_text(path, "service", &text, err);
	if (r <= 0)
		return r;
	if (service_parse(path, text, v, err) < 0)
		return -1;
	if (strcmp(v->name, name) != 0) {
		kiln_error_set(err, "service record '%s': belongs to '%s'", path, v->name);
		service_release(v);
		return -1;
	}
	return 1;
}

/* All service records (temporary files of a crash removed, as for
 * leases).  Two services publishing one host port would mean two DNAT
 * rules for it: refused, naming both. */
static int service_list_load(const struct net_setup *s, struct service_list *list,
			     struct kiln_error *err)
{
	DIR *dir = opendir(s->services_dir);
	struct dirent *e;
	int rc = 0;

	memset(list, 0, sizeof(*list));
	if (!dir) {
		if (errno == ENOENT)
			return 0;
		return kiln_error_errno(err, errno, "open '%s'", s->services_dir);
	}
	while ((e = readdir(dir)) != NULL) {
		char name[KILN_NET_SERVICE_MAX + 1];
		struct service v;

		if (!record_entry(dir, e->d_name, SERVICE_SUFFIX, KILN_NET_SERVICE_MAX, name) ||
		    check_service(name, NULL) < 0)
			continue;
		int found = service_read(s, name, &v, err);
		if (found < 0) {
			rc = -1;
			break;
		}
		if (found == 0)
			continue;
		for (size_t i = 0; i < list->n && rc == 0; i++)
			for (size_t j = 0; j < list->items[i].n_ports && rc == 0; j++)
				for (size_t k = 0; k < v.n_ports && rc == 0; k++)
					if (ports_overlap(&list->items[i].ports[j], &v.ports[k]))
						rc = kiln_error_set(err, "service record '%s/%s" SERVICE_SUFFIX
								    "': host port %u also published by "
								    "service '%s'", s->services_dir, name,
								    v.ports[k].host, list->items[i].name);
		if (rc < 0) {
			service_release(&v);
			break;
		}
		kiln_xgrow(&list->items, &list->alloc, list->n + 1, sizeof(*list->items));
		list->items[list->n++] = v;
	}
	closedir(dir);
	if (rc < 0)
		service_list_release(list);
	return rc;
}

static const struct lease *lease_find(const struct lease_list *list, const char *id)
{
	for (size_t i = 0; i < list->n; i++)
		if (strcmp(list->items[i].id, id) == 0)
			return &list->items[i];
	return NULL;
}

/* --- nftables --- */

static const char *nft_binary(void)
{
	static const char *const candidates[] = { "/usr/sbin/nft", "/sbin/nft" };

	for (size_t i = 0; i < KILN_ARRAY_SIZE(candidates); i++)
		if (access(candidates[i], X_OK) == 0)
			return candidates[i];
	return "nft";
}

/* Load a ruleset file in one nft transaction. */
static int nft_load(const char *path, struct kiln_error *err)
{
	char *argv[] = { (char *)nft_binary(), "-f", (char *)path, NULL };
	_cleanup_buf_ struct kiln_buf errout = KILN_BUF_INIT;
	int status;

	if (kiln_process_capture(argv, NULL, &errout, &status, err) < 0)
		return kiln_error_prefix(err, "nftables");
	if (status != 0) {
		while (errout.len && (errout.data[errout.len - 1] == '\n'))
			errout.data[--errout.len] = '\0';
		return kiln_error_set(err, "nft -f '%s': exit %d: %.1000s", path, status,
				      errout.len ? errout.data : "(no message)");
	}
	return 0;
}

/* The whole table, a pure function of the configuration, the leases'
 * ports and the services' ports and targets.  "table; delete table; table {…}" replaces it atomically whether
 * or not it existed.  The boot id makes a ruleset loaded before a reboot
 * (and gone with it) differ from the one wanted now. */
static char *ruleset_generate(const struct net_setup *s, const struct lease_list *list,
			      const struct service_list *services)
{
	struct kiln_buf b = KILN_BUF_INIT;
	_cleanup_free_ char *boot = kiln_file_read("/proc/sys/kernel/random/boot_id", 64, NULL, NULL);

	if (boot)
		boot[strcspn(boot, "\n")] = '\0';
	kiln_buf_printf(&b, "# kiln network %s on bridge %s, boot %s\n", s->subnet, s->bridge,
			boot ? boot : "?");
	kiln_buf_printf(&b, "table ip %s\ndelete table ip %s\ntable ip %s {\n", s->table, s->table,
			s->table);
	/* route_localnet on the bridge would also let a container send to the
	 * host's 127.0.0.1 services (CVE-2020-8558): nothing addressed to
	 * 127.0.0.0/8 may come in from the bridge.  At raw priority, before
	 * conntrack turns replies to our 127.0.0.1 masquerade back. */
	kiln_buf_printf(&b,
			"\tchain guard {\n"
			"\t\ttype filter hook prerouting priority -300; policy accept;\n"
			"\t\tiifname \"%s\" ip daddr 127.0.0.0/8 drop\n"
			"\t}\n",
			s->bridge);
	/* The containers are reached through published ports, not by their
	 * addresses: with ip_forward on, a machine that routes the subnet
	 * through this host (its LAN neighbour, say) would otherwise open
	 * connections to any container port, published or not.  New
	 * connections forwarded into the bridge from elsewhere are dropped
	 * unless a published port's DNAT made them; the host's own traffic
	 * (output, not forward), replies and container-to-container traffic
	 * on the bridge are untouched. */
	kiln_buf_printf(&b,
			"\tchain forward {\n"
			"\t\ttype filter hook forward priority 0; policy accept;\n"
			"\t\toifname \"%s\" ct status dnat accept\n"
			"\t\toifname \"%s\" iifname != \"%s\" ct state new drop\n"
			"\t}\n",
			s->bridge, s->bridge, s->bridge);
	/* Published ports: traffic to any local address, arriving
	 * (prerouting) or made by the host itself (output, incl. 127.0.0.1). */
	kiln_buf_printf(&b,
			"\tchain prerouting {\n"
			"\t\ttype nat hook prerouting priority -100; policy accept;\n"
			"\t\tfib daddr type local jump published\n"
			"\t}\n"
			"\tchain output {\n"
			"\t\ttype nat hook output priority -100; policy accept;\n"
			"\t\tfib daddr type local jump published\n"
			"\t}\n"
			"\tchain published {\n");
	for (size_t i = 0; i < list->n; i++) {
		const struct lease *l = &list->items[i];
		char addr[16];

		format_ipv4(l->address, addr);
		for (size_t j = 0; j < l->n_ports; j++) {
			const struct kiln_net_port *p = &l->ports[j];

			kiln_buf_adds(&b, "\t\t");
			if (p->host_address[0])
				kiln_buf_printf(&b, "ip daddr %s ", p->host_address);
			kiln_buf_printf(&b, "%s dport %u dnat to %s:%u comment \"%s\"\n",
					proto_name(p->proto), p->host, addr, p->container, l->id);
		}
	}
	/* A service's ports go to its target's address.  A target without a
	 * lease (the container is gone) gets no rule: connections are refused
	 * by the host rather than sent to an address nobody holds. */
	for (size_t i = 0; services && i < services->n; i++) {
		const struct service *v = &services->items[i];
		const struct lease *l = lease_find(list, v->target);
		char addr[16];

		if (!l)
			continue;
		format_ipv4(l->address, addr);
		for (size_t j = 0; j < v->n_ports; j++) {
			const struct kiln_net_port *p = &v->ports[j];

			kiln_buf_adds(&b, "\t\t");
			if (p->host_address[0])
				kiln_buf_printf(&b, "ip daddr %s ", p->host_address);
			kiln_buf_printf(&b, "%s dport %u dnat to %s:%u comment \"service %s\"\n",
					proto_name(p->proto), p->host, addr, p->container, v->name);
		}
	}
	/* Outbound masquerade; 127.0.0.1 as source is meaningless in the
	 * container (route_localnet lets it leave at all); a container
	 * reaching another through a published port must see replies come
	 * back through the host (hairpin). */
	kiln_buf_printf(&b,
			"\t}\n"
			"\tchain postrouting {\n"
			"\t\ttype nat hook postrouting priority 100; policy accept;\n"
			"\t\tip saddr %s ip daddr != %s masquerade\n"
			"\t\tip saddr 127.0.0.0/8 ip daddr %s masquerade\n"
			"\t\tip saddr %s ip daddr %s ct status dnat masquerade\n"
			"\t}\n"
			"}\n",
			s->subnet, s->subnet, s->subnet, s->subnet, s->subnet);
	return kiln_buf_detach(&b);
}

/* The ruleset files, like the leases, are not kept across a reboot: no fsync. */
static int write_plain(const char *path, const char *text, struct kiln_error *err)
{
	return kiln_file_replace(path, text, strlen(text), 0600, KILN_FILE_NOSYNC, err);
}

/* `nft list table ip TABLE`: 1 listed (out filled), 0 no such table (or
 * nft failed: the caller reloads, which reports nft's own error), -1 error. */
static int ruleset_list(const struct net_setup *s, struct kiln_buf *out, struct kiln_error *err)
{
	char *argv[] = { (char *)nft_binary(), "list", "table", "ip", (char *)s->table, NULL };
	_cleanup_buf_ struct kiln_buf errout = KILN_BUF_INIT;
	int status;

	if (kiln_process_capture(argv, out, &errout, &status, err) < 0)
		return kiln_error_prefix(err, "nftables");
	return status == 0 && out->len > 0 ? 1 : 0;
}

/* ruleset.seen: "generation N\n" and then the table as nft listed it
 * right after we loaded it, when nothing else committed in between.
 * Returns the listing and sets *generation, or NULL when there is none. */
static char *ruleset_seen_read(const struct net_setup *s, uint32_t *generation)
{
	_cleanup_free_ char *path = kiln_xasprintf("%s.seen", s->ruleset_path);
	_cleanup_free_ char *text = kiln_file_read(path, RECORD_MAX * 8, NULL, NULL);
	char *nl, *end;
	unsigned long v;

	if (!text || strncmp(text, "generation ", 11) != 0 || !(nl = strchr(text, '\n')))
		return NULL;
	errno = 0;
	v = strtoul(text + 11, &end, 10);
	if (errno || end != nl || v > UINT32_MAX)
		return NULL;
	*generation = (uint32_t)v;
	return kiln_xstrdup(nl + 1);
}

static void ruleset_seen_write(const struct net_setup *s, uint32_t generation, const char *listing)
{
	_cleanup_free_ char *path = kiln_xasprintf("%s.seen", s->ruleset_path);
	_cleanup_free_ char *text = kiln_xasprintf("generation %u\n%s", generation, listing);

	/* Best effort: without the file the next check reloads the table. */
	write_plain(path, text, NULL);
}

static void ruleset_seen_forget(const struct net_setup *s)
{
	_cleanup_free_ char *path = kiln_xasprintf("%s.seen", s->ruleset_path);

	unlink(path);
}

/* Is the table in the kernel the one we loaded last?  1 yes, 0 no (or
 * unknown), -1 error.  The kernel's ruleset generation changes with every
 * commit by anyone, so an unchanged one since we saw our table proves it
 * intact for one netlink question.  Otherwise (another table changed, or
 * someone ran `nft flush table ip kiln`, deleted the guard chain…) one
 * `nft list table` compared with what nft listed right after our load
 * decides: the whole table, the 127.0.0.0/8 guard with it. */
static int ruleset_intact(const struct net_setup *s, struct kiln_error *err)
{
	_cleanup_buf_ struct kiln_buf listing = KILN_BUF_INIT;
	_cleanup_free_ char *seen = NULL;
	uint32_t seen_generation = 0, before, after;
	int listed;

	seen = ruleset_seen_read(s, &seen_generation);
	if (!seen)
		return 0;
	if (kiln_netlink_nft_generation(&before, err) < 0)
		return -1;
	if (before == seen_generation)
		return 1;
	listed = ruleset_list(s, &listing, err);
	if (listed <= 0)
		return listed;
	if (strcmp(listing.data, seen) != 0)
		return 0;
	/* Remember the newer generation only if nothing committed while we
	 * listed: then the listing is the state at that generation. */
	if (kiln_netlink_nft_generation(&after, err) < 0)
		return -1;
	if (after == before)
		ruleset_seen_write(s, after, seen);
	return 1;
}

/* After a load: list the table and remember it with the generation, when
 * ours was the only commit in between (one step from the generation
 * before the load); otherwise the listing might show a change by someone
 * else, and the next check reloads instead. */
static void ruleset_remember(const struct net_setup *s, uint32_t before_load)
{
	_cleanup_buf_ struct kiln_buf listing = KILN_BUF_INIT;
	uint32_t after, want = before_load + 1 ? before_load + 1 : 1;

	if (ruleset_list(s, &listing, NULL) <= 0 || kiln_netlink_nft_generation(&after, NULL) < 0)
		return;
	if (after == want)
		ruleset_seen_write(s, after, listing.data);
}

/* Make the table match the leases.  Skipped when the ruleset last loaded
 * (ruleset.nft, written only after nft accepted it) is the one wanted and
 * the table in the kernel is still exactly as loaded (see ruleset_intact):
 * the common attach without ports, on a host whose ruleset nobody changed
 * since, costs one netlink question and no nft run. */
static int ruleset_apply(const struct net_setup *s, const struct lease_list *list,
			 const struct service_list *services, bool force, struct kiln_error *err)
{
	_cleanup_free_ char *want = ruleset_generate(s, list, services);
	_cleanup_free_ char *have = NULL;
	_cleanup_free_ char *pending = kiln_xasprintf("%s.pending", s->ruleset_path);
	uint32_t generation = 0;
	int have_generation;

	if (!force) {
		have = kiln_file_read(s->ruleset_path, RECORD_MAX * 4, NULL, NULL);
		if (have && strcmp(have, want) == 0) {
			int intact = ruleset_intact(s, err);
			if (intact < 0)
				return -1;
			if (intact)
				return 0;
		}
	}
	/* Whatever happens next, the loaded state is unknown until nft says ok. */
	unlink(s->ruleset_path);
	ruleset_seen_forget(s);
	if (write_plain(pending, want, err) < 0)
		return kiln_error_prefix(err, "nftables");
	have_generation = kiln_netlink_nft_generation(&generation, NULL) == 0;
	if (nft_load(pending, err) < 0)
		return -1;
	if (kiln_file_rename(pending, s->ruleset_path, KILN_FILE_NOSYNC, err) < 0)
		return -1;
	if (have_generation)
		ruleset_remember(s, generation);
	return 0;
}

static int ruleset_remove(const struct net_setup *s, struct kiln_error *err)
{
	_cleanup_free_ char *pending = kiln_xasprintf("%s.pending", s->ruleset_path);
	_cleanup_free_ char *text = kiln_xasprintf("table ip %s\ndelete table ip %s\n", s->table,
						   s->table);

	unlink(s->ruleset_path);
	ruleset_seen_forget(s);
	if (write_plain(pending, text, err) < 0)
		return kiln_error_prefix(err, "nftables");
	if (nft_load(pending, err) < 0)
		return -1;
	unlink(pending);
	return 0;
}

/* --- host side --- */

static int sysctl_write(const char *path, const char *value, bool only_if_different,
			struct kiln_error *err)
{
	_cleanup_close_ int fd = -1;
	char have[16];
	ssize_t n;
	int rc;

	if (only_if_different) {
		_cleanup_close_ int rfd = open(path, O_RDONLY | O_CLOEXEC);
		if (rfd >= 0 && (n = read(rfd, have, sizeof(have) - 1)) > 0) {
			have[n] = '\0';
			have[strcspn(have, "\n")] = '\0';
			if (strcmp(have, value) == 0)
				return 0;
		}
	}
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_error_errno(err, errno, "open '%s'", path);
	if ((rc = kiln_write_all(fd, value, strlen(value))) != 0)
		return kiln_error_errno(err, rc, "write %s to '%s'", value, path);
	return 0;
}

/* The bridge, up, with the gateway address; forwarding on. */
static int host_setup(const struct net_setup *s, struct kiln_netlink *nl, int *bridge_index,
		      struct kiln_error *err)
{
	_cleanup_free_ char *localnet = NULL;

	if (kiln_netlink_bridge_add(nl, s->bridge, err) < 0)
		return -1;
	*bridge_index = kiln_netlink_link_index(nl, s->bridge, err);
	if (*bridge_index < 0)
		return -1;
	if (*bridge_index == 0)
		return kiln_error_set(err, "bridge '%s' vanished", s->bridge);
	if (kiln_netlink_address_add(nl, *bridge_index, s->gateway, s->prefix, err) < 0)
		return kiln_error_prefix(err, "bridge '%s'", s->bridge);
	/* Lets the host's 127.0.0.1 connections be routed out to the bridge
	 * after DNAT; only for this interface, not "all". */
	localnet = kiln_xasprintf("/proc/sys/net/ipv4/conf/%s/route_localnet", s->bridge);
	if (sysctl_write(localnet, "1", true, err) < 0)
		return -1;
	/* Outbound masquerade needs forwarding (as Docker, never turned off). */
	return sysctl_write("/proc/sys/net/ipv4/ip_forward", "1", true, err);
}

/* With no lease left: remove the table and the bridge, when there (the
 * ruleset files exist while the table may: see ruleset_apply). */
static int host_teardown(const struct net_setup *s, struct kiln_error *err)
{
	_cleanup_netlink_ struct kiln_netlink *nl = kiln_netlink_open(-1, err);
	_cleanup_free_ char *pending = kiln_xasprintf("%s.pending", s->ruleset_path);
	int bridge;

	if (!nl)
		return -1;
	if ((access(s->ruleset_path, F_OK) == 0 || access(pending, F_OK) == 0) &&
	    ruleset_remove(s, err) < 0)
		return -1;
	bridge = kiln_netlink_link_index(nl, s->bridge, err);
	if (bridge < 0)
		return -1;
	return bridge ? kiln_netlink_link_delete(nl, s->bridge, err) : 0;
}

/* --- the container's side --- */

static int namespace_open(pid_t pid, struct kiln_error *err)
{
	char path[64];
	int fd;

	if (pid <= 0)
		return kiln_error_set(err, "process %ld: not a valid pid", (long)pid);
	snprintf(path, sizeof(path), "/proc/%ld/ns/net", (long)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return kiln_error_errno(err, errno, "open '%s'", path);
	return fd;
}

/* Refuse to configure our own namespace as if it were a container's. */
static int namespace_check_foreign(int fd, pid_t pid, struct kiln_error *err)
{
	struct stat theirs, ours;

	if (fstat(fd, &theirs) < 0 || stat("/proc/self/ns/net", &ours) < 0)
		return kiln_error_errno(err, errno, "stat network namespace of process %ld", (long)pid);
	if (theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino)
		return kiln_error_set(err, "process %ld shares the host's network namespace", (long)pid);
	return 0;
}

static int link_up_by_name(struct kiln_netlink *nl, const char *name, struct kiln_error *err)
{
	int index = kiln_netlink_link_index(nl, name, err);

	if (index < 0)
		return -1;
	if (index == 0)
		return kiln_error_set(err, "no link '%s'", name);
	return kiln_netlink_link_up(nl, index, err);
}

/* The host's ARP entry for an address we lease out may still hold the MAC
 * of the address's previous holder (a kiln before derived MACs, or anything
 * else that used it): the host would keep sending to it until the entry
 * times out, 30 s and more.  Forget it when the address is released and
 * again when it is leased. */
static int neighbour_forget(const struct net_setup *s, struct kiln_netlink *nl,
			    struct in_addr address, struct kiln_error *err)
{
	int bridge = kiln_netlink_link_index(nl, s->bridge, err);

	if (bridge <= 0)
		return bridge;
	return kiln_netlink_neigh_delete(nl, bridge, address, err);
}

static int container_setup(const struct net_setup *s, int netns_fd, struct in_addr address,
			   struct kiln_error *err)
{
	_cleanup_netlink_ struct kiln_netlink *nl = kiln_netlink_open(netns_fd, err);
	unsigned char mac[6];
	int index;

	if (!nl)
		return -1;
	if (link_up_by_name(nl, "lo", err) < 0)
		return -1;
	index = kiln_netlink_link_index(nl, CONTAINER_IFNAME, err);
	if (index < 0)
		return -1;
	if (index == 0)
		return kiln_error_set(err, "no link '%s'", CONTAINER_IFNAME);
	kiln_net_mac_from_ipv4(address, mac);
	if (kiln_netlink_link_set_mac(nl, index, mac, err) < 0 ||
	    kiln_netlink_address_add(nl, index, address, s->prefix, err) < 0 ||
	    kiln_netlink_link_up(nl, index, err) < 0 ||
	    kiln_netlink_route_add_default(nl, index, s->gateway, err) < 0)
		return -1;
	return 0;
}

void kiln_net_mac_from_ipv4(struct in_addr address, unsigned char mac[6])
{
	mac[0] = 0x02;
	mac[1] = 0x42;
	memcpy(mac + 2, &address.s_addr, 4); /* network order: a.b.c.d */
}

/* --- leases: choosing --- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The lowest leasable address no record holds. */
static int address_choose(const struct net_setup *s, const struct lease_list *list,
			  struct in_addr *out, struct kiln_error *err)
{
	_cleanup_free_ uint32_t *used = kiln_xcalloc(list->n + 1, sizeof(*used));
	uint32_t want = s->first;

	for (size_t i = 0; i < list->n; i++)
		used[i] = ntohl(list->items[i].address.s_addr);
	qsort(used, list->n, sizeof(*used), cmp_u32);
	for (size_t i = 0; i < list->n && want <= s->last; i++) {
		if (used[i] == want)
			want++;
		else if (used[i] > want)
			break;
	}
	if (want > s->last)
		return kiln_error_set(err, "no free address in %s (%zu leases)", s->subnet, list->n);
	out->s_addr = htonl(want);
	return 0;
}

static bool ports_overlap(const struct kiln_net_port *a, const struct kiln_net_port *b)
{
	return a->proto == b->proto && a->host == b->host &&
	       (!a->host_address[0] || !b->host_address[0] ||
		strcmp(a->host_address, b->host_address) == 0);
}

static void port_describe(const struct kiln_net_port *p, char *buf, size_t size)
{
	snprintf(buf, size, "%s%s%u/%s", p->host_address, p->host_address[0] ? ":" : "", p->host,
		 proto_name(p->proto));
}

/* ports are well-formed, none twice, none held by a container's -p or by
 * a service other than self (NULL: every service). */
static int ports_check(const struct lease_list *list, const struct service_list *services,
		       const char *self, const struct kiln_net_port *ports, size_t n_ports,
		       struct kiln_error *err)
{
	char text[48];

	if (n_ports > PORTS_MAX)
		return kiln_error_set(err, "%zu published ports: at most %d", n_ports, PORTS_MAX);
	for (size_t i = 0; i < n_ports; i++) {
		const struct kiln_net_port *p = &ports[i];
		struct in_addr unused;

		if (p->host == 0 || p->container == 0)
			return kiln_error_set(err, "port %u:%u: ports must be 1 to 65535", p->host,
					      p->container);
		if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
			return kiln_error_set(err, "port %u: protocol %d is neither tcp nor udp",
					      p->host, p->proto);
		if (memchr(p->host_address, '\0', sizeof(p->host_address)) == NULL ||
		    (p->host_address[0] && parse_ipv4(p->host_address, &unused) < 0))
			return kiln_error_set(err, "port %u: host address is not an IPv4 address", p->host);
		port_describe(p, text, sizeof(text));
		for (size_t j = 0; j < i; j++)
			if (ports_overlap(p, &ports[j]))
				return kiln_error_set(err, "host port %s: published twice", text);
		for (size_t k = 0; k < list->n; k++)
			for (size_t j = 0; j < list->items[k].n_ports; j++)
				if (ports_overlap(p, &list->items[k].ports[j]))
					return kiln_error_set(err, "host port %s: already published by "
							      "container '%s'", text,
							      list->items[k].id);
		for (size_t k = 0; k < services->n; k++) {
			const struct service *v = &services->items[k];
			if (self && strcmp(v->name, self) == 0)
				continue;
			for (size_t j = 0; j < v->n_ports; j++)
				if (ports_overlap(p, &v->ports[j]))
					return kiln_error_set(err, "host port %s: already published by "
							      "service '%s'", text, v->name);
		}
	}
	return 0;
}

static void veth_name_random(char out[16])
{
	unsigned char r[4] = { 0 };

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		uint32_t v = (uint32_t)ts.tv_nsec ^ (uint32_t)getpid() << 16;
		memcpy(r, &v, sizeof(r));
	}
	snprintf(out, 16, "kv%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
}

/* --- attach, detach, reap --- */

/* Delete the host end of a lease's veth, if it is still there, but only
 * when it is what we made: a veth enslaved to our bridge.  Anything else
 * of that name (the record was tampered with, or the link was moved) is
 * left alone and the record kept, with an error naming it. */
static int veth_delete(const struct net_setup *s, struct kiln_netlink *nl, const char *record,
		       const char *name, struct kiln_error *err)
{
	struct kiln_netlink_link link;
	int found, bridge;

	if (!veth_name_valid(name))
		return kiln_error_set(err, "lease record '%s': veth '%s' is not a name kiln makes; "
				      "not deleting it", record, name);
	found = kiln_netlink_link_get(nl, name, &link, err);
	if (found <= 0)
		return found;
	bridge = kiln_netlink_link_index(nl, s->bridge, err);
	if (bridge < 0)
		return -1;
	if (strcmp(link.kind, "veth") != 0 || bridge == 0 || link.master_index != bridge)
		return kiln_error_set(err, "lease record '%s': link '%s' is not a veth on bridge "
				      "'%s' (kind '%s', master %d); not deleting it", record, name,
				      s->bridge, link.kind, link.master_index);
	return kiln_netlink_link_delete(nl, name, err);
}

/* Remove id's veth, record and rules; the lock is held.  The bridge and the
 * table go when the last lease does.  A missing record is not an error. */
static int detach_locked(const struct net_setup *s, const char *id, struct kiln_error *err)
{
	_cleanup_lease_ struct lease l = { 0 };
	_cleanup_lease_list_ struct lease_list rest = { 0 };
	_cleanup_service_list_ struct service_list services = { 0 };
	_cleanup_free_ char *path = lease_path(s, id);
	int found;

	/* First, so that a bad service record stops us before any change. */
	if (service_list_load(s, &services, err) < 0)
		return -1;
	found = lease_read(s, id, &l, err);
	if (found < 0)
		return -1;
	if (found) {
		_cleanup_netlink_ struct kiln_netlink *nl = kiln_netlink_open(-1, err);
		if (!nl || veth_delete(s, nl, path, l.veth, err) < 0 ||
		    neighbour_forget(s, nl, l.address, err) < 0)
			return -1;
		if (unlink(path) < 0 && errno != ENOENT)
			return kiln_error_errno(err, errno, "remove '%s'", path);
	}
	if (lease_list_load(s, &rest, err) < 0)
		return -1;
	if (rest.n == 0 && !s->keep_idle)
		return host_teardown(s, err);
	/* Rules depend only on ports: nothing to do for a lease without any,
	 * unless the table is not in the state recorded. */
	return ruleset_apply(s, &rest, &services, false, err);
}

static int attach_locked(const struct net_setup *s, const char *id, int netns_fd,
			 const struct kiln_net_port *ports, size_t n_ports,
			 struct kiln_net_attachment *out, bool *recorded, struct kiln_error *err)
{
	_cleanup_lease_list_ struct lease_list list = { 0 };
	_cleanup_service_list_ struct service_list services = { 0 };
	_cleanup_netlink_ struct kiln_netlink *nl = NULL;
	struct lease *l;
	int bridge_index, errnum = 0;

	if (lease_list_load(s, &list, err) < 0 || service_list_load(s, &services, err) < 0)
		return -1;
	for (size_t i = 0; i < list.n; i++)
		if (strcmp(list.items[i].id, id) == 0)
			return kiln_error_set(err, "already attached (lease '%s/%s" LEASE_SUFFIX "')",
					      s->leases_dir, id);
	if (ports_check(&list, &services, NULL, ports, n_ports, err) < 0)
		return -1;

	/* The new lease joins the list, so the ruleset includes its ports. */
	kiln_xgrow(&list.items, &list.alloc, list.n + 1, sizeof(*list.items));
	l = &list.items[list.n];
	memset(l, 0, sizeof(*l));
	if (address_choose(s, &list, &l->address, err) < 0)
		return -1;
	list.n++;
	snprintf(l->id, sizeof(l->id), "%s", id);
	veth_name_random(l->veth);
	if (n_ports) {
		l->ports = kiln_xcalloc(n_ports, sizeof(*ports));
		memcpy(l->ports, ports, n_ports * sizeof(*ports));
		l->n_ports = n_ports;
	}
	/* From here on a record exists: on failure the caller detaches. */
	*recorded = true;
	if (lease_write(s, l, err) < 0)
		return -1;

	nl = kiln_netlink_open(-1, err);
	if (!nl || host_setup(s, nl, &bridge_index, err) < 0 ||
	    kiln_netlink_neigh_delete(nl, bridge_index, l->address, err) < 0)
		return -1;
	if (ruleset_apply(s, &list, &services, false, err) < 0)
		return -1;
	for (int attempt = 0;; attempt++) {
		if (kiln_netlink_veth_add(nl, l->veth, bridge_index, CONTAINER_IFNAME, netns_fd, &errnum,
					  err) == 0)
			break;
		if (errnum != EEXIST || attempt == 4)
			return -1;
		/* EEXIST: either the container has an eth0 already, or another
		 * interface here has our random name (then try another). */
		int taken = kiln_netlink_link_index(nl, l->veth, err);
		if (taken < 0)
			return -1;
		if (taken == 0)
			return kiln_error_set(err, "the container's network namespace has an '%s' already",
					      CONTAINER_IFNAME);
		veth_name_random(l->veth);
		if (lease_write(s, l, err) < 0)
			return -1;
	}
	if (container_setup(s, netns_fd, l->address, err) < 0)
		return kiln_error_prefix(err, "container side");
	if (out) {
		memset(out, 0, sizeof(*out));
		format_ipv4(l->address, out->address);
		format_ipv4(s->gateway, out->gateway);
		snprintf(out->veth_host, sizeof(out->veth_host), "%s", l->veth);
		out->prefix = s->prefix;
	}
	return 0;
}

int kiln_net_attach(const struct kiln_net_config *c, const char *id, pid_t pid,
		    const struct kiln_net_port *ports, size_t n_ports,
		    struct kiln_net_attachment *out, struct kiln_error *err)
{
	_cleanup_setup_ struct net_setup s = { 0 };
	_cleanup_close_ int netns_fd = -1;
	_cleanup_close_ int lock = -1;
	bool recorded = false;

	if (check_id(id, err) < 0)
		return kiln_error_prefix(err, "network attach");
	if (setup_init(c, &s, err) < 0)
		return kiln_error_prefix(err, "network attach '%s'", id);
	if (n_ports && !ports)
		return kiln_error_set(err, "network attach '%s': no ports given", id);
	netns_fd = namespace_open(pid, err);
	if (netns_fd < 0 || namespace_check_foreign(netns_fd, pid, err) < 0)
		return kiln_error_prefix(err, "network attach '%s'", id);
	lock = state_lock(&s, err);
	if (lock < 0)
		return kiln_error_prefix(err, "network attach '%s'", id);
	if (attach_locked(&s, id, netns_fd, ports, n_ports, out, &recorded, err) < 0) {
		/* Undo whatever part was done, once our record may exist. */
		if (recorded)
			detach_locked(&s, id, KILN_ERROR_IGNORE);
		return kiln_error_prefix(err, "network attach '%s'", id);
	}
	return 0;
}

int kiln_net_detach(const struct kiln_net_config *c, const char *id, struct kiln_error *err)
{
	_cleanup_setup_ struct net_setup s = { 0 };
	_cleanup_close_ int lock = -1;

	if (check_id(id, err) < 0)
		return kiln_error_prefix(err, "network detach");
	if (setup_init(c, &s, err) < 0)
		return kiln_error_prefix(err, "network detach '%s'", id);
	lock = state_lock(&s, err);
	if (lock < 0 || detach_locked(&s, id, err) < 0)
		return kiln_error_prefix(err, "network detach '%s'", id);
	return 0;
}

int kiln_net_reap(const struct kiln_net_config *c, char *const *live, size_t n_live,
		  struct kiln_error *err)
{
	_cleanup_setup_ struct net_setup s = { 0 };
	_cleanup_lease_list_ struct lease_list list = { 0 };
	_cleanup_service_list_ struct service_list services = { 0 };
	_cleanup_close_ int lock = -1;
	size_t reaped = 0;

	if (setup_init(c, &s, err) < 0)
		return kiln_error_prefix(err, "network reap");
	lock = state_lock(&s, err);
	/* Service records survive every reap; a bad one stops it. */
	if (lock < 0 || lease_list_load(&s, &list, err) < 0 ||
	    service_list_load(&s, &services, err) < 0)
		return kiln_error_prefix(err, "network reap");
	for (size_t i = 0; i < list.n; i++) {
		bool alive = false;

		for (size_t j = 0; j < n_live && !alive; j++)
			alive = live[j] && strcmp(live[j], list.items[i].id) == 0;
		if (alive)
			continue;
		if (detach_locked(&s, list.items[i].id, err) < 0)
			return kiln_error_prefix(err, "network reap '%s'", list.items[i].id);
		reaped++;
	}
	/* With nothing leased (and nothing reaped just now, which did it),
	 * make sure no bridge or table is left from a crash. */
	if (list.n == 0 && reaped == 0 && !s.keep_idle && host_teardown(&s, err) < 0)
		return kiln_error_prefix(err, "network reap");
	/* The bridge keeps route_localnet=1 while the table is there or
	 * leases are: put back a table (with its 127.0.0.0/8 guard) flushed
	 * or edited behind our back.  A detach above did it already. */
	if (reaped == 0 && (list.n > 0 || s.keep_idle)) {
		int exists = list.n > 0 ? 1 : kiln_netlink_nft_table_exists(s.table, err);
		if (exists < 0 || (exists && ruleset_apply(&s, &list, &services, false, err) < 0))
			return kiln_error_prefix(err, "network reap");
	}
	return 0;
}

int kiln_net_teardown(const struct kiln_net_config *c, struct kiln_error *err)
{
	_cleanup_setup_ struct net_setup s = { 0 };
	_cleanup_lease_list_ struct lease_list list = { 0 };
	_cleanup_close_ int lock = -1;

	if (setup_init(c, &s, err) < 0)
		return kiln_error_prefix(err, "network teardown");
	lock = state_lock(&s, err);
	if (lock < 0 || lease_list_load(&s, &list, err) < 0)
		return kiln_error_prefix(err, "network teardown");
	if (list.n > 0)
		return kiln_error_set(err, "network teardown: %zu containers still attached (first: '%s')",
				      list.n, list.items[0].id);
	if (host_teardown(&s, err) < 0)
		return kiln_error_prefix(err, "network teardown");
	return 0;
}

int kiln_net_lookup(const struct kiln_net_config *c, const char *id,
		    struct kiln_net_attachment *out, struct kiln_error *err)
{
	_cleanup_setup_ struct net_setup s = { 0 };
	_cleanup_lease_ struct lease l = { 0 };
	int found;

	if (check_id(id, err) < 0)
		return kiln_error_prefix(err, "network lookup");
	if (setup_init(c, &s, err) < 0)
		return kiln_error_prefix(err, "network lookup '%s'", id);
	found = lease_read(&s, id, &l, err);
	if (found < 0)
		return kiln_error_prefix(err, "network lookup '%s'", id);
	if (found && out) {
		memset(out, 0, sizeof(*out));
		format_ipv4(l.address, out->address);
		format_ipv4(s.gateway, out->gateway);
		snprintf(out->veth_host, sizeof(out->veth_host), "%s", l.veth);
		out->prefix = s.prefix;
	}
	return found;
}

/* --- services --- */

/* Does the service's previous record publish p already (same protocol and
 * port, on every address or on p's)?  Then the port is ours. */
static bool service_holds(const struct service *old, const struct kiln_net_port *p)
{
	for (size_t i = 0; old && i < old->n_ports; i++) {
		const struct kiln_net_port *q = &old->ports[i];
		if (q->proto == p->proto && q->host == p->host &&
		    (!q->host_address[0] || strcmp(q->host_address, p->host_address) == 0))
			return true;
	}
	return false;
}

/* Load services' (possibly changed) records into the table, when there
 * is one to load into: with leases, or kept idle and present. */
static int service_ruleset_apply(const struct net_setup *s, const struct lease_list *leases,
				 const struct service_list *services, struct kiln_error *err)
{
	int exists = leases->n > 0 ? 1 : 0;

	if (!exists && s->keep_idle && (exists = kiln_netlink_nft_table_exists(s->table, err)) < 0)
		return -1;
	return exists ? ruleset_apply(s, leases, services, false, err) : 0;
}

static int service_switch_locked(const struct net_setup *s, const char *name, const char *target,
				 const struct kiln_net_port *ports, size_t n_ports,
				 struct kiln_error *err)
{
	_cleanup_lease_list_ struct lease_list leases = { 0 };
	_cleanup_service_list_ struct service_list services = { 0 };
	_cleanup_service_ struct service previous = { 0 };
	struct service *v = NULL;
	bool had = false;

	if (lease_list_load(s, &leases, err) < 0 || service_list_load(s, &services, err) < 0)
		return -1;
	if (!lease_find(&leases, target))
		return kiln_error_set(err, "container '%s' has no lease (not attached in bridge mode)",
				      target);
	if (ports_check(&leases, &services, name, ports, n_ports, err) < 0)
		return -1;
	for (size_t i = 0; i < services.n && !v; i++)
		if (strcmp(services.items[i].name, name) == 0)
			v = &services.items[i];
	/* A program listening on a host port the service takes now would
	 * silently lose its traffic to the DNAT rule. */
	for (size_t i = 0; i < n_ports; i++) {
		if (service_holds(v, &ports[i]))
			continue;
		if (kiln_net_port_available(&ports[i], err) < 0)
			return -1;
	}
	if (v) {
		/* Kept to put back should nft refuse the new rules. */
		had = true;
		previous = *v;
		v->ports = NULL;
		v->n_ports = 0;
	} else {
		kiln_xgrow(&services.items, &services.alloc, services.n + 1, sizeof(*services.items));
		v = &services.items[services.n++];
		memset(v, 0, sizeof(*v));
		snprintf(v->name, sizeof(v->name), "%s", name);
	}
	snprintf(v->target, sizeof(v->target), "%s", target);
	if (n_ports) {
		v->ports = kiln_xcalloc(n_ports, sizeof(*ports));
		memcpy(v->ports, ports, n_ports * sizeof(*ports));
	}
	v->n_ports = n_ports;

	/* The record first: from its rename on, it is what every later
	 * attach, detach, reap or switch loads, whatever happens to us. */
	if (service_write(s, v, err) < 0)
		return -1;
	if (ruleset_apply(s, &leases, &services, false, err) < 0) {
		/* nft refused: put the previous record back, and its rules. */
		if (had)
			service_write(s, &previous, KILN_ERROR_IGNORE);
		else
			service_unlink(s, name, KILN_ERROR_IGNORE);
		return -1;
	}
	return 0;
}

int kiln_net_service_switch(const struct kiln_net_config *c, const char *service,
			    const char *target_id, const struct kiln_net_port *ports, size_t n_ports,
			    struct kiln_error *err)
{
	_cleanup_setup_ struct net_setup s = { 0 };
	_cleanup_close_ int lock = -1;

	if (check_service(service, err) < 0)
		return kiln_error_prefix(err, "network service");
	if (check_id(target_id, err) < 0 || setup_init(c, &s, err) < 0)
		return kiln_error_prefix(err, "network service '%s'", service);
	if (n_ports && !ports)
		return kiln_error_set(err, "network service '%s': no ports given", service);
	lock = state_lock(&s, err);
	if (lock < 0 || service_switch_locked(&s, service, target_id, ports, n_ports, err) < 0)
		return kiln_error_prefix(err, "network service '%s' to '%s'", service, target_id);
	return 0;
}

int kiln_net_service_lookup(const struct kiln_net_config *c, const char *service,
			    char target_id[129], struct kiln_net_port **ports, size_t *n_ports,
			    struct kiln_error *err)
{
	_cleanup_setup_ struct net_setup s = { 0 };
	_cleanup_service_ struct service v = { 0 };
	int found;

	if (ports)
		*ports = NULL;
	if (n_ports)
		*n_ports = 0;
	if (check_service(service, err) < 0)
		return kiln_error_prefix(err, "network service lookup");
	if (setup_init(c, &s, err) < 0)
		return kiln_error_prefix(err, "network service lookup '%s'", service);
	found = service_read(&s, service, &v, err);
	if (found < 0)
		return kiln_error_prefix(err, "network service lookup '%s'", service);
	if (found) {
		if (target_id)
			snprintf(target_id, ID_MAX + 1, "%s", v.target);
		if (ports) {
			*ports = v.ports;
			v.ports = NULL;
		}
		if (n_ports)
			*n_ports = v.n_ports;
	}
	return found;
}

int kiln_net_service_remove(const struct kiln_net_config *c, const char *service,
			    struct kiln_error *err)
{
	_cleanup_setup_ struct net_setup s = { 0 };
	_cleanup_lease_list_ struct lease_list leases = { 0 };
	_cleanup_service_list_ struct service_list services = { 0 };
	_cleanup_close_ int lock = -1;
	size_t k = 0;

	if (check_service(service, err) < 0)
		return kiln_error_prefix(err, "network service remove");
	if (setup_init(c, &s, err) < 0)
		return kiln_error_prefix(err, "network service remove '%s'", service);
	lock = state_lock(&s, err);
	if (lock < 0 || lease_list_load(&s, &leases, err) < 0 ||
	    service_list_load(&s, &services, err) < 0)
		return kiln_error_prefix(err, "network service remove '%s'", service);
	while (k < services.n && strcmp(services.items[k].name, service) != 0)
		k++;
	if (k == services.n)
		return 0;
	if (service_unlink(&s, service, err) < 0)
		return kiln_error_prefix(err, "network service remove '%s'", service);
	struct service gone = services.items[k];
	services.items[k] = services.items[--services.n];
	if (service_ruleset_apply(&s, &leases, &services, err) < 0) {
		/* The rules still publish the ports: so does the record again. */
		service_write(&s, &gone, KILN_ERROR_IGNORE);
		service_release(&gone);
		return kiln_error_prefix(err, "network service remove '%s'", service);
	}
	service_release(&gone);
	return 0;
}

/* --- the other modes --- */

int kiln_net_loopback_up(pid_t pid, struct kiln_error *err)
{
	_cleanup_close_ int fd = namespace_open(pid, err);
	_cleanup_netlink_ struct kiln_netlink *nl = NULL;

	if (fd < 0 || !(nl = kiln_netlink_open(fd, err)) || link_up_by_name(nl, "lo", err) < 0)
		return kiln_error_prefix(err, "network none: loopback of process %ld", (long)pid);
	return 0;
}

int kiln_net_namespace_open(pid_t pid, struct kiln_error *err)
{
	int fd = namespace_open(pid, err);

	if (fd < 0)
		kiln_error_prefix(err, "network namespace of process %ld", (long)pid);
	return fd;
}

int kiln_net_namespace_join(int fd, struct kiln_error *err)
{
	if (setns(fd, CLONE_NEWNET) < 0)
		return kiln_error_errno(err, errno, "join network namespace");
	return 0;
}

int kiln_net_parse_mode(const char *text, enum kiln_net_mode *mode, const char **container,
			struct kiln_error *err)
{
	if (container)
		*container = NULL;
	if (!text)
		return kiln_error_set(err, "network mode: none given");
	/* One grammar with the manifest and the command line (values.h). */
	if (kiln_values_network(text, strlen(text)))
		return kiln_error_set(err, "network mode '%s': %s", text,
				      kiln_values_network(text, strlen(text)));
	if (strcmp(text, "bridge") == 0)
		*mode = KILN_NET_BRIDGE;
	else if (strcmp(text, "host") == 0)
		*mode = KILN_NET_HOST;
	else if (strcmp(text, "none") == 0)
		*mode = KILN_NET_NONE;
	else if (kiln_str_has_prefix(text, "container:") && text[strlen("container:")]) {
		*mode = KILN_NET_CONTAINER;
		if (container)
			*container = text + strlen("container:");
	} else
		return kiln_error_set(err, "network mode '%s': want bridge, host, none or "
				      "container:NAME", text);
	return 0;
}

/* A decimal port 1-65535, digits only. */
static int parse_port_number(const char *text, uint16_t *out)
{
	unsigned long v = 0;

	if (!*text || strlen(text) > 5)
		return -1;
	for (const char *p = text; *p; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*out = (uint16_t)v;
	return 0;
}

static int port_parse_fields(const char *proto, const char *host, const char *container,
			     const char *host_address, struct kiln_net_port *p)
{
	struct in_addr unused;

	memset(p, 0, sizeof(*p));
	if (strcmp(proto, "tcp") == 0)
		p->proto = IPPROTO_TCP;
	else if (strcmp(proto, "udp") == 0)
		p->proto = IPPROTO_UDP;
	else
		return -1;
	if (parse_port_number(host, &p->host) < 0 || parse_port_number(container, &p->container) < 0)
		return -1;
	if (*host_address) {
		if (strlen(host_address) >= sizeof(p->host_address) ||
		    parse_ipv4(host_address, &unused) < 0)
			return -1;
		snprintf(p->host_address, sizeof(p->host_address), "%s", host_address);
	}
	return 0;
}

int kiln_net_parse_port(const char *text, struct kiln_net_port *out, struct kiln_error *err)
{
	char buf[64], *fields[4], *proto = "tcp", *slash;
	size_t n = 0;
	const char *why;

	if (!text || !*text)
		return kiln_error_set(err, "port mapping: empty");
	if (strlen(text) >= sizeof(buf))
		return kiln_error_set(err, "port mapping '%.40s…': too long", text);
	/* One grammar with the manifest and the command line (values.h); the
	 * fields are then read below. */
	if ((why = kiln_values_publish(text, strlen(text), NULL, NULL, NULL, NULL)))
		return kiln_error_set(err, "port mapping '%.64s' %s", text, why);
	snprintf(buf, sizeof(buf), "%s", text);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		proto = slash + 1;
		if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0)
			return kiln_error_set(err, "port mapping '%s': protocol '%s' is neither tcp "
					      "nor udp", text, proto);
	}
	fields[n++] = buf;
	for (char *p = buf; *p; p++) {
		if (*p == ':') {
			if (n == KILN_ARRAY_SIZE(fields))
				break;
			*p = '\0';
			fields[n++] = p + 1;
		}
	}
	if (n != 2 && n != 3)
		return kiln_error_set(err, "port mapping '%s': want HOST:CONTAINER[/PROTO] or "
				      "ADDRESS:HOST:CONTAINER[/PROTO]", text);
	if (n == 3) {
		struct in_addr unused;
		if (parse_ipv4(fields[0], &unused) < 0)
			return kiln_error_set(err, "port mapping '%s': '%s' is not an IPv4 address",
					      text, fields[0]);
	}
	if (port_parse_fields(proto, fields[n - 2], fields[n - 1], n == 3 ? fields[0] : "", out) < 0)
		return kiln_error_set(err, "port mapping '%s': ports must be numbers 1 to 65535",
				      text);
	return 0;
}

int kiln_net_port_available(const struct kiln_net_port *port, struct kiln_error *err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port->host) };
	bool tcp = port->proto != IPPROTO_UDP;
	int fd, one = 1, rc = 0;

	if (port->host_address[0] && inet_pton(AF_INET, port->host_address, &sa.sin_addr) != 1)
		return kiln_error_set(err, "'%s' is not an IPv4 address", port->host_address);
	fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return kiln_error_errno(err, errno, "socket");
	/* SO_REUSEADDR: a port left in TIME_WAIT is free; a listener is not. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == EADDRINUSE)
		rc = kiln_error_set(err, "host port %u/%s is in use on this host (a program listens there)",
				    port->host, tcp ? "tcp" : "udp");
	close(fd);
	return rc;
}
