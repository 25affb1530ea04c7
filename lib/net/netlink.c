#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <pthread.h>
#include <sched.h>
#include <stdalign.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

struct kiln_netlink {
	int fd;
	uint32_t seq;
};

/* A request under construction.  Our requests hold a few names and
 * numbers, far below the buffer's size; nl_put refuses to overflow it. */
struct nl_request {
	alignas(struct nlmsghdr) char buf[1024];
	size_t len;
	int overflow;
};

static struct nlmsghdr *nl_request_init(struct nl_request *r, uint16_t type, uint16_t flags)
{
	struct nlmsghdr *h = (struct nlmsghdr *)r->buf;

	memset(r, 0, sizeof(*r));
	h->nlmsg_type = type;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	r->len = NLMSG_HDRLEN;
	return h;
}

static void *nl_put(struct nl_request *r, size_t len)
{
	void *p;

	if (r->len + NLMSG_ALIGN(len) > sizeof(r->buf)) {
		r->overflow = 1;
		return NULL;
	}
	p = r->buf + r->len;
	memset(p, 0, NLMSG_ALIGN(len));
	r->len += NLMSG_ALIGN(len);
	return p;
}

static struct rtattr *nl_attr(struct nl_request *r, unsigned short type, const void *data,
			      size_t len)
{
	struct rtattr *a = nl_put(r, RTA_LENGTH(len));

	if (!a)
		return NULL;
	a->rta_type = type;
	a->rta_len = RTA_LENGTH(len);
	if (len)
		memcpy(RTA_DATA(a), data, len);
	return a;
}

static void nl_attr_str(struct nl_request *r, unsigned short type, const char *s)
{
	nl_attr(r, type, s, strlen(s) + 1);
}

static void nl_attr_u32(struct nl_request *r, unsigned short type, uint32_t v)
{
	nl_attr(r, type, &v, sizeof(v));
}

/* Open a nested attribute; nl_nest_end sets its length to cover what was
 * added since.  Offsets, not pointers, so the buffer could move. */
static size_t nl_nest_begin(struct nl_request *r, unsigned short type)
{
	size_t off = r->len;

	nl_attr(r, type, NULL, 0);
	return off;
}

static void nl_nest_end(struct nl_request *r, size_t off)
{
	if (!r->overflow)
		((struct rtattr *)(r->buf + off))->rta_len = (unsigned short)(r->len - off);
}

/* The text the kernel attached to an error (extended ack), or NULL. */
static const char *nl_ack_message(struct nlmsghdr *h)
{
	struct nlmsgerr *e = NLMSG_DATA(h);
	size_t payload = h->nlmsg_len - NLMSG_HDRLEN;
	size_t off;

	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return NULL;
	off = (h->nlmsg_flags & NLM_F_CAPPED) ? sizeof(*e)
					      : NLMSG_ALIGN(sizeof(int)) + NLMSG_ALIGN(e->msg.nlmsg_len);
	while (off + sizeof(struct nlattr) <= payload) {
		struct nlattr *a = (struct nlattr *)((char *)e + off);

		if (a->nla_len < sizeof(*a) || off + a->nla_len > payload)
			break;
		if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG && a->nla_len > sizeof(*a)) {
			char *s = (char *)a + NLA_HDRLEN;
			s[a->nla_len - NLA_HDRLEN - 1] = '\0';
			return s;
		}
		off += NLA_ALIGN(a->nla_len);
	}
	return NULL;
}

/* Send the request and wait for its acknowledgement.  Returns 0 or a
 * positive errno (the kernel's answer); -1 with err set when the socket
 * itself failed.  When reply is not NULL, the first non-error message
 * answering the request is copied there (at most reply_size bytes). */
static int nl_transact(struct kiln_netlink *nl, struct nl_request *r, void *reply, size_t reply_size,
		       char *kernel_message, size_t kernel_message_size, struct kiln_error *err)
{
	struct nlmsghdr *h = (struct nlmsghdr *)r->buf;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	alignas(struct nlmsghdr) char buf[32768];

	if (kernel_message_size)
		kernel_message[0] = '\0';
	if (r->overflow)
		return kiln_error_set(err, "netlink: request too large");
	h->nlmsg_len = (uint32_t)r->len;
	h->nlmsg_seq = ++nl->seq;
	for (;;) {
		ssize_t n = sendto(nl->fd, r->buf, r->len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
		if (n >= 0)
			break;
		if (errno != EINTR)
			return kiln_error_errno(err, errno, "netlink: send");
	}
	for (;;) {
		ssize_t n = recv(nl->fd, buf, sizeof(buf), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return kiln_error_errno(err, errno, "netlink: receive");
		}
		if (n == 0)
			return kiln_error_set(err, "netlink: socket closed");
		size_t left = (size_t)n;
		for (struct nlmsghdr *m = (struct nlmsghdr *)buf; NLMSG_OK(m, left); m = NLMSG_NEXT(m, left)) {
			if (m->nlmsg_seq != h->nlmsg_seq)
				continue;
			if (m->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(m);
				const char *text;

				if (m->nlmsg_len < NLMSG_LENGTH(sizeof(int)))
					return kiln_error_set(err, "netlink: short acknowledgement");
				if (e->error != 0 && kernel_message_size &&
				    (text = nl_ack_message(m)) != NULL)
					snprintf(kernel_message, kernel_message_size, "%s", text);
				return -e->error;
			}
			if (reply && m->nlmsg_type != NLMSG_DONE) {
				memcpy(reply, m, m->nlmsg_len < reply_size ? m->nlmsg_len : reply_size);
				reply = NULL;
			}
		}
	}
}

/* kiln_error_errno with the kernel's own explanation appended when it gave one. */
static int nl_fail(struct kiln_error *err, int errnum, const char *kernel_message, const char *what)
{
	if (kernel_message && kernel_message[0])
		return kiln_error_set(err, "%s: %s (%s)", what, strerror(errnum), kernel_message);
	return kiln_error_errno(err, errnum, "%s", what);
}

struct ns_socket {
	int netns_fd;
	int fd;
	int errnum;
	int protocol;
};

static int nl_socket_here(int protocol, int *errnum)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);

	*errnum = fd < 0 ? errno : 0;
	return fd;
}

/* A netlink socket belongs to the namespace of the task that creates it,
 * for its whole life.  This thread joins the target namespace, makes the
 * socket and ends, so the calling thread never leaves its own namespace. */
static void *ns_socket_thread(void *p)
{
	struct ns_socket *s = p;

	if (setns(s->netns_fd, CLONE_NEWNET) < 0) {
		s->errnum = errno;
		return NULL;
	}
	s->fd = nl_socket_here(s->protocol, &s->errnum);
	return NULL;
}

static struct kiln_netlink *nl_open(int netns_fd, int protocol, struct kiln_error *err)
{
	struct kiln_netlink *nl;
	struct sockaddr_nl local = { .nl_family = AF_NETLINK };
	int fd, errnum, one = 1;

	if (netns_fd < 0) {
		fd = nl_socket_here(protocol, &errnum);
	} else {
		struct ns_socket s = { netns_fd, -1, 0, protocol };
		pthread_t t;
		int rc = pthread_create(&t, NULL, ns_socket_thread, &s);

		if (rc != 0) {
			kiln_error_errno(err, rc, "netlink: start thread");
			return NULL;
		}
		pthread_join(t, NULL);
		fd = s.fd;
		errnum = s.errnum;
		if (fd < 0 && errnum) {
			kiln_error_errno(err, errnum, "netlink: join network namespace");
			return NULL;
		}
	}
	if (fd < 0) {
		kiln_error_errno(err, errnum, "netlink: socket");
		return NULL;
	}
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
		kiln_error_errno(err, errno, "netlink: bind");
		close(fd);
		return NULL;
	}
	/* Best effort: the kernel's error text, and acks without our request echoed. */
	setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
	setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
	nl = kiln_xcalloc(1, sizeof(*nl));
	nl->fd = fd;
	return nl;
}

struct kiln_netlink *kiln_netlink_open(int netns_fd, struct kiln_error *err)
{
	return nl_open(netns_fd, NETLINK_ROUTE, err);
}

int kiln_netlink_nft_table_exists(const char *name, struct kiln_error *err)
{
	struct kiln_netlink *nl = nl_open(-1, NETLINK_NETFILTER, err);
	struct nl_request r;
	struct nfgenmsg *g;
	char kmsg[256], what[80];
	int rc;

	if (!nl)
		return kiln_error_prefix(err, "nftables");
	nl_request_init(&r, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, 0);
	g = nl_put(&r, sizeof(*g));
	g->nfgen_family = NFPROTO_IPV4;
	g->version = NFNETLINK_V0;
	nl_attr_str(&r, NFTA_TABLE_NAME, name);
	rc = nl_transact(nl, &r, NULL, 0, kmsg, sizeof(kmsg), err);
	kiln_netlink_free(nl);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return 1;
	if (rc == ENOENT)
		return 0;
	snprintf(what, sizeof(what), "nftables: look up table ip %s", name);
	return nl_fail(err, rc, kmsg, what);
}

int kiln_netlink_nft_generation(uint32_t *out, struct kiln_error *err)
{
	struct kiln_netlink *nl = nl_open(-1, NETLINK_NETFILTER, err);
	struct nl_request r;
	struct nfgenmsg *g;
	alignas(struct nlmsghdr) char reply[256] = { 0 };
	struct nlmsghdr *h = (struct nlmsghdr *)reply;
	char kmsg[256];
	int rc;

	if (!nl)
		return kiln_error_prefix(err, "nftables");
	nl_request_init(&r, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN, 0);
	g = nl_put(&r, sizeof(*g));
	g->nfgen_family = AF_UNSPEC;
	g->version = NFNETLINK_V0;
	rc = nl_transact(nl, &r, reply, sizeof(reply), kmsg, sizeof(kmsg), err);
	kiln_netlink_free(nl);
	if (rc < 0)
		return -1;
	if (rc != 0)
		return nl_fail(err, rc, kmsg, "nftables: ruleset generation");
	if (h->nlmsg_type == ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN) &&
	    h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct nfgenmsg)) && h->nlmsg_len <= sizeof(reply)) {
		size_t left = h->nlmsg_len - NLMSG_LENGTH(sizeof(struct nfgenmsg));
		struct nlattr *a = (struct nlattr *)((char *)NLMSG_DATA(h) +
						     NLMSG_ALIGN(sizeof(struct nfgenmsg)));
		while (left >= sizeof(*a) && a->nla_len >= sizeof(*a) && a->nla_len <= left) {
			if ((a->nla_type & NLA_TYPE_MASK) == NFTA_GEN_ID &&
			    a->nla_len >= NLA_HDRLEN + sizeof(uint32_t)) {
				uint32_t v;
				memcpy(&v, (char *)a + NLA_HDRLEN, sizeof(v));
				*out = ntohl(v);
				return 0;
			}
			if ((size_t)NLA_ALIGN(a->nla_len) >= left)
				break;
			left -= (size_t)NLA_ALIGN(a->nla_len);
			a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len));
		}
	}
	return kiln_error_set(err, "nftables: ruleset generation: no answer");
}

void kiln_netlink_free(struct kiln_netlink *nl)
{
	if (!nl)
		return;
	close(nl->fd);
	free(nl);
}

static int check_name(const char *name, struct kiln_error *err)
{
	size_t len = strlen(name);

	if (len == 0 || len >= IFNAMSIZ)
		return kiln_error_set(err, "interface name '%s': must be 1 to %d characters", name,
				      IFNAMSIZ - 1);
	return 0;
}

int kiln_netlink_link_get(struct kiln_netlink *nl, const char *name, struct kiln_netlink_link *out,
			  struct kiln_error *err)
{
	struct nl_request r;
	struct ifinfomsg *ifi;
	/* Large enough for a link's attributes without statistics; what does
	 * not fit is not looked at. */
	alignas(struct nlmsghdr) char reply[8192] = { 0 };
	struct nlmsghdr *h = (struct nlmsghdr *)reply;
	char kmsg[256];
	int left, rc;

	memset(out, 0, sizeof(*out));
	if (check_name(name, err) < 0)
		return -1;
	nl_request_init(&r, RTM_GETLINK, 0);
	ifi = nl_put(&r, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	nl_attr_str(&r, IFLA_IFNAME, name);
	nl_attr_u32(&r, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
	rc = nl_transact(nl, &r, reply, sizeof(reply), kmsg, sizeof(kmsg), err);
	if (rc < 0)
		return -1;
	if (rc == ENODEV)
		return 0;
	if (rc != 0) {
		char what[64];
		snprintf(what, sizeof(what), "look up link '%s'", name);
		return nl_fail(err, rc, kmsg, what);
	}
	if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return kiln_error_set(err, "look up link '%s': no answer", name);
	out->index = ((struct ifinfomsg *)NLMSG_DATA(h))->ifi_index;
	/* int: RTA_NEXT may step past the end, RTA_OK then sees a negative length. */
	left = (int)((h->nlmsg_len < sizeof(reply) ? h->nlmsg_len : sizeof(reply)) -
		     NLMSG_LENGTH(sizeof(*ifi)));
	for (struct rtattr *a = IFLA_RTA(NLMSG_DATA(h)); RTA_OK(a, left); a = RTA_NEXT(a, left)) {
		if (a->rta_type == IFLA_MASTER && RTA_PAYLOAD(a) >= sizeof(uint32_t)) {
			uint32_t v;
			memcpy(&v, RTA_DATA(a), sizeof(v));
			out->master_index = (int)v;
		} else if (a->rta_type == IFLA_LINKINFO) {
			int inner = (int)RTA_PAYLOAD(a);
			for (struct rtattr *b = RTA_DATA(a); RTA_OK(b, inner); b = RTA_NEXT(b, inner))
				if (b->rta_type == IFLA_INFO_KIND && RTA_PAYLOAD(b) > 0)
					snprintf(out->kind, sizeof(out->kind), "%.*s",
						 (int)strnlen(RTA_DATA(b), RTA_PAYLOAD(b)),
						 (const char *)RTA_DATA(b));
		}
	}
	return 1;
}

int kiln_netlink_link_index(struct kiln_netlink *nl, const char *name, struct kiln_error *err)
{
	struct kiln_netlink_link link;
	int rc = kiln_netlink_link_get(nl, name, &link, err);

	return rc <= 0 ? rc : link.index;
}

int kiln_netlink_link_up(struct kiln_netlink *nl, int index, struct kiln_error *err)
{
	struct nl_request r;
	struct ifinfomsg *ifi;
	char kmsg[256];
	int rc;

	nl_request_init(&r, RTM_NEWLINK, 0);
	ifi = nl_put(&r, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	rc = nl_transact(nl, &r, NULL, 0, kmsg, sizeof(kmsg), err);
	if (rc < 0)
		return -1;
	if (rc != 0) {
		char what[64];
		snprintf(what, sizeof(what), "set link %d up", index);
		return nl_fail(err, rc, kmsg, what);
	}
	return 0;
}

int kiln_netlink_bridge_add(struct kiln_netlink *nl, const char *name, struct kiln_error *err)
{
	struct nl_request r;
	struct ifinfomsg *ifi;
	size_t info;
	char kmsg[256], what[64];
	unsigned char mac[6];
	int rc, index;

	if (check_name(name, err) < 0)
		return -1;
	snprintf(what, sizeof(what), "create bridge '%s'", name);
	nl_request_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	ifi = nl_put(&r, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	nl_attr_str(&r, IFLA_IFNAME, name);
	/* A bridge without an address of its own takes the lowest of its
	 * ports', so the gateway's MAC would change as containers come and go
	 * and their ARP caches would point nowhere.  A set address stays. */
	if (getrandom(mac, sizeof(mac), 0) != (ssize_t)sizeof(mac)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		memcpy(mac, &ts.tv_nsec, 4);
		mac[4] = (unsigned char)getpid();
		mac[5] = (unsigned char)(getpid() >> 8);
	}
	mac[0] = (unsigned char)((mac[0] & 0xfe) | 0x02); /* unicast, locally administered */
	nl_attr(&r, IFLA_ADDRESS, mac, sizeof(mac));
	info = nl_nest_begin(&r, IFLA_LINKINFO);
	nl_attr_str(&r, IFLA_INFO_KIND, "bridge");
	nl_nest_end(&r, info);
	rc = nl_transact(nl, &r, NULL, 0, kmsg, sizeof(kmsg), err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return 0;
	if (rc != EEXIST)
		return nl_fail(err, rc, kmsg, what);
	index = kiln_netlink_link_index(nl, name, err);
	if (index < 0)
		return -1;
	if (index == 0)
		return kiln_error_set(err, "%s: it exists and then does not", what);
	return kiln_netlink_link_up(nl, index, err);
}

int kiln_netlink_veth_add(struct kiln_netlink *nl, const char *name, int master_index,
			  const char *peer_name, int peer_netns_fd, int *errno_out,
			  struct kiln_error *err)
{
	struct nl_request r;
	struct ifinfomsg *ifi, *peer;
	size_t info, data, peer_nest;
	char kmsg[256], what[96];
	int rc;

	if (errno_out)
		*errno_out = 0;
	if (check_name(name, err) < 0 || check_name(peer_name, err) < 0)
		return -1;
	nl_request_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
	ifi = nl_put(&r, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	nl_attr_str(&r, IFLA_IFNAME, name);
	if (master_index > 0)
		nl_attr_u32(&r, IFLA_MASTER, (uint32_t)master_index);
	info = nl_nest_begin(&r, IFLA_LINKINFO);
	nl_attr_str(&r, IFLA_INFO_KIND, "veth");
	data = nl_nest_begin(&r, IFLA_INFO_DATA);
	/* VETH_INFO_PEER holds an ifinfomsg followed by the peer's attributes. */
	peer_nest = nl_nest_begin(&r, VETH_INFO_PEER);
	peer = nl_put(&r, sizeof(*peer));
	if (peer)
		peer->ifi_family = AF_UNSPEC;
	nl_attr_str(&r, IFLA_IFNAME, peer_name);
	if (peer_netns_fd >= 0)
		nl_attr_u32(&r, IFLA_NET_NS_FD, (uint32_t)peer_netns_fd);
	nl_nest_end(&r, peer_nest);
	nl_nest_end(&r, data);
	nl_nest_end(&r, info);
	rc = nl_transact(nl, &r, NULL, 0, kmsg, sizeof(kmsg), err);
	if (rc < 0)
		return -1;
	if (rc != 0) {
		if (errno_out)
			*errno_out = rc;
		snprintf(what, sizeof(what), "create veth '%s' (peer '%s')", name, peer_name);
		return nl_fail(err, rc, kmsg, what);
	}
	return 0;
}

int kiln_netlink_link_delete(struct kiln_netlink *nl, const char *name, struct kiln_error *err)
{
	struct nl_request r;
	struct ifinfomsg *ifi;
	char kmsg[256], what[64];
	int rc;

	if (check_name(name, err) < 0)
		return -1;
	nl_request_init(&r, RTM_DELLINK, 0);
	ifi = nl_put(&r, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	nl_attr_str(&r, IFLA_IFNAME, name);
	rc = nl_transact(nl, &r, NULL, 0, kmsg, sizeof(kmsg), err);
	if (rc < 0)
		return -1;
	if (rc == 0 || rc == ENODEV)
		return 0;
	snprintf(what, sizeof(what), "delete link '%s'", name);
	return nl_fail(err, rc, kmsg, what);
}

int kiln_netlink_link_set_mac(struct kiln_netlink *nl, int index, const unsigned char mac[6],
			      struct kiln_error *err)
{
	struct nl_request r;
	struct ifinfomsg *ifi;
	char kmsg[256], what[96];
	int rc;

	nl_request_init(&r, RTM_NEWLINK, 0);
	ifi = nl_put(&r, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = index;
	nl_attr(&r, IFLA_ADDRESS, mac, 6);
	rc = nl_transact(nl, &r, NULL, 0, kmsg, sizeof(kmsg), err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return 0;
	snprintf(what, sizeof(what), "set link %d address %02x:%02x:%02x:%02x:%02x:%02x", index,
		 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	return nl_fail(err, rc, kmsg, what);
}

int kiln_netlink_neigh_delete(struct kiln_netlink *nl, int index, struct in_addr address,
			      struct kiln_error *err)
{
	struct nl_request r;
	struct ndmsg *nd;
	char kmsg[256], what[96], text[INET_ADDRSTRLEN];
	int rc;

	nl_request_init(&r, RTM_DELNEIGH, 0);
	nd = nl_put(&r, sizeof(*nd));
	nd->ndm_family = AF_INET;
	nd->ndm_ifindex = index;
	nl_attr(&r, NDA_DST, &address, sizeof(address));
	rc = nl_transact(nl, &r, NULL, 0, kmsg, sizeof(kmsg), err);
	if (rc < 0)
		return -1;
	if (rc == 0 || rc == ENOENT)
		return 0;
	inet_ntop(AF_INET, &address, text, sizeof(text));
	snprintf(what, sizeof(what), "forget neighbour %s on link %d", text, index);
	return nl_fail(err, rc, kmsg, what);
}

int kiln_netlink_address_add(struct kiln_netlink *nl, int index, struct in_addr address,
			     int prefix, struct kiln_error *err)
{
	struct nl_request r;
	struct ifaddrmsg *ifa;
	char kmsg[256], what[64], text[INET_ADDRSTRLEN];
	uint32_t host_mask = prefix >= 32 ? 0 : 0xffffffffu >> prefix;
	struct in_addr broadcast = { address.s_addr | htonl(host_mask) };
	int rc;

	nl_request_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL);
	ifa = nl_put(&r, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (unsigned)index;
	nl_attr(&r, IFA_LOCAL, &address, sizeof(address));
	nl_attr(&r, IFA_ADDRESS, &address, sizeof(address));
	if (prefix < 31)
		nl_attr(&r, IFA_BROADCAST, &broadcast, sizeof(broadcast));
	rc = nl_transact(nl, &r, NULL, 0, kmsg, sizeof(kmsg), err);
	if (rc < 0)
		return -1;
	if (rc == 0 || rc == EEXIST)
		return 0;
	inet_ntop(AF_INET, &address, text, sizeof(text));
	snprintf(what, sizeof(what), "add address %s/%d to link %d", text, prefix, index);
	return nl_fail(err, rc, kmsg, what);
}

int kiln_netlink_route_add_default(struct kiln_netlink *nl, int index, struct in_addr gateway,
				   struct kiln_error *err)
{
	struct nl_request r;
	struct rtmsg *rt;
	char kmsg[256], what[64], text[INET_ADDRSTRLEN];
	int rc;

	nl_request_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
	rt = nl_put(&r, sizeof(*rt));
	rt->rtm_family = AF_INET;
	rt->rtm_dst_len = 0;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_BOOT;
	rt->rtm_scope = RT_SCOPE_UNIVERSE;
	rt->rtm_type = RTN_UNICAST;
	nl_attr(&r, RTA_GATEWAY, &gateway, sizeof(gateway));
	nl_attr_u32(&r, RTA_OIF, (uint32_t)index);
	rc = nl_transact(nl, &r, NULL, 0, kmsg, sizeof(kmsg), err);
	if (rc < 0)
		return -1;
	if (rc == 0)
		return 0;
	inet_ntop(AF_INET, &gateway, text, sizeof(text));
	snprintf(what, sizeof(what), "add default route via %s", text);
	return nl_fail(err, rc, kmsg, what);
}
