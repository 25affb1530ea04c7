/* netlink.h - rtnetlink by hand: links, addresses and routes in one
 * network namespace.
 *
 * A struct kiln_netlink is a NETLINK_ROUTE socket bound to the network
 * namespace it was opened in; every request waits for the kernel's
 * acknowledgement, so a call returns only when the change is done (or
 * failed, with the kernel's extended-ack text in the message when it gave
 * one).  lib/net/net.c builds container networking on top of it.
 */
#ifndef KILN_NETLINK_H
#define KILN_NETLINK_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

struct kiln_netlink;

/* A socket in the caller's network namespace (netns_fd < 0) or in the
 * namespace netns_fd refers to (an open /proc/PID/ns/net).  The caller's
 * own namespace is never changed: the socket is made by a short-lived
 * thread that joins the namespace first.  Free with kiln_netlink_free(). */
struct kiln_netlink *kiln_netlink_open(int netns_fd, struct kiln_error *err);
void kiln_netlink_free(struct kiln_netlink *nl);
static inline void kiln_netlink_closep(struct kiln_netlink **nl) { kiln_netlink_free(*nl); }
#define _cleanup_netlink_ __attribute__((cleanup(kiln_netlink_closep)))

/* The index of the link called name: > 0, 0 when there is none, -1 on error. */
int kiln_netlink_link_index(struct kiln_netlink *nl, const char *name, struct kiln_error *err);

/* Create a bridge called name, up.  An existing link of that name is fine
 * (it is only brought up). */
int kiln_netlink_bridge_add(struct kiln_netlink *nl, const char *name, struct kiln_error *err);

/* Create a veth pair: name in this namespace, up, enslaved to the link
 * master_index (0: none); peer_name in the namespace peer_netns_fd (< 0:
 * this one), down.  Fails with EEXIST when name is taken (errno_out gets
 * the errno the kernel returned, 0 when the call succeeded; may be NULL). */
int kiln_netlink_veth_add(struct kiln_netlink *nl, const char *name, int master_index,
			  const char *peer_name, int peer_netns_fd, int *errno_out,
			  struct kiln_error *err);

/* What kiln needs to know about a link before deleting it. */
struct kiln_netlink_link {
	int index;
	int master_index; /* 0: not enslaved */
	char kind[16];    /* IFLA_INFO_KIND: "veth", "bridge"; "" for none (e.g. lo, eth0) */
};

/* Describe the link called name: 1 found (out filled), 0 no such link, -1 error. */
int kiln_netlink_link_get(struct kiln_netlink *nl, const char *name, struct kiln_netlink_link *out,
			  struct kiln_error *err);

/* Set the link up. */
int kiln_netlink_link_up(struct kiln_netlink *nl, int index, struct kiln_error *err);

/* Delete the link called name; a link that is not there is fine. */
int kiln_netlink_link_delete(struct kiln_netlink *nl, const char *name, struct kiln_error *err);

/* Set the link's hardware (MAC) address; best done while it is down. */
int kiln_netlink_link_set_mac(struct kiln_netlink *nl, int index, const unsigned char mac[6],
			      struct kiln_error *err);

/* Forget the neighbour (ARP) entry for address on the link; an entry that
 * is not there is fine. */
int kiln_netlink_neigh_delete(struct kiln_netlink *nl, int index, struct in_addr address,
			      struct kiln_error *err);

/* Add address/prefix to the link (broadcast derived); an address the
 * link already has is fine. */
int kiln_netlink_address_add(struct kiln_netlink *nl, int index, struct in_addr address,
			     int prefix, struct kiln_error *err);

/* Add the IPv4 default route via gateway on the link. */
int kiln_netlink_route_add_default(struct kiln_netlink *nl, int index, struct in_addr gateway,
				   struct kiln_error *err);

/* 1 when nftables (in the caller's namespace) has the table "ip name",
 * 0 when not, -1 on error. */
int kiln_netlink_nft_table_exists(const char *name, struct kiln_error *err);

/* The nftables ruleset generation of the caller's namespace: the kernel
 * adds one on every committed transaction (any table, any tool), so an
 * unchanged number means an unchanged ruleset. */
int kiln_netlink_nft_generation(uint32_t *out, struct kiln_error *err);

#endif
