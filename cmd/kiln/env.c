/* env.c - the environment, read in one place and handed to lib/ as
 * options (docs/architecture.md, "Environment").  Each function reads
 * the variables of one library concern; kiln(1) documents them. */
#include "kiln.h"

#include <stdlib.h>

/* ---- containers and builds (lib/ops/container.c, lib/ops/build.c) ---- */

/* The first of two names that is set (the second is an older spelling
 * still accepted). */
static const char *env_either(const char *name, const char *old_name)
{
	const char *v = getenv(name);

	return v ? v : getenv(old_name);
}

void kiln_env_container_root(struct kiln_container_root_options *o)
{
	o->root = getenv("KILN_ROOT");
	o->cgroup_parent = getenv("KILN_CGROUP_PARENT");
	/* Tests give each run its own bridge, subnet and table. */
	o->net_bridge = env_either("KILN_NET_BRIDGE", "KILN_BRIDGE");
	o->net_subnet = env_either("KILN_NET_SUBNET", "KILN_SUBNET");
	o->net_table = env_either("KILN_NET_TABLE", "KILN_NFT_TABLE");
}

struct kiln_container_root *kiln_env_container_root_open(struct kiln_error *err)
{
	struct kiln_container_root_options o = { 0 };

	kiln_env_container_root(&o);
	return kiln_container_root_open(&o, err);
}

const char *kiln_env_runtime(void)
{
	return getenv("KILN_RUNTIME");
}

const char *kiln_env_source_date_epoch(void)
{
	return getenv("SOURCE_DATE_EPOCH");
}
