/* env.c - the one place kiln reads its environment.
 *
 * Library code is driven by its arguments alone (docs/architecture.md,
 * Environment): the variables documented in kiln(1) are read here and
 * passed down as options.  Each group below serves the commands named in
 * its comment; add a variable to a group, not a getenv() elsewhere.
 */
#include <stdlib.h>
#include <string.h>

#include "cgroup.h"
#include "fsutil.h"
#include "kiln.h"
#include "mirror.h"
#include "util.h"

extern char **environ;

/* ---- store, keys, caches, mirrors (lock, build, verify, audit, run, …) ---- */

/* The value of name, NULL when unset or empty. */
static const char *env_value(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

const char *kiln_env_store(void)
{
	return env_value("KILN_STORE");
}

const char *kiln_env_key(void)
{
	return env_value("KILN_KEY");
}

bool kiln_env_insecure(void)
{
	const char *v = env_value("KILN_INSECURE");

	return v && strcmp(v, "0") != 0;
}

const char *kiln_env_tmpdir(void)
{
	const char *v = env_value("TMPDIR");

	return v ? v : "/tmp";
}

char *kiln_env_cache_dir(void)
{
	return kiln_cache_dir(getenv("KILN_CACHE"), getenv("XDG_CACHE_HOME"), getenv("HOME"));
}

const struct kiln_mirror_settings *kiln_env_mirrors(void)
{
	static struct kiln_mirror_settings set;
	static const char **named;
	static bool done;
	size_t n = 0, alloc = 0;

	if (done)
		return &set;
	/* Every KILN_MIRROR_<NAME>=URL, as environ spells it: the library
	 * picks the one for each source's name. */
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, "KILN_MIRROR_", 12) != 0)
			continue;
		kiln_xgrow(&named, &alloc, n + 2, sizeof(*named));
		named[n++] = *e;
	}
	if (named)
		named[n] = NULL;
	set.named = named;
	set.fallback = env_value("KILN_MIRROR");
	set.apt_etc = env_value("KILN_APT_ETC");
	done = true;
	return &set;
}

char *kiln_env_resolve_var(const char *kv)
{
	const char *v;

	if (strchr(kv, '='))
		return kiln_xstrdup(kv);
	/* -e KEY: the caller's value, as docker run does; unset: not passed. */
	v = getenv(kv);
	return v ? kiln_xasprintf("%s=%s", kv, v) : NULL;
}

void kiln_env_apply_process_settings(void)
{
	kiln_cgroup_set_v2_mount(env_value("KILN_CGROUP2_MOUNT"));
}

const char *kiln_cli_store(const struct kiln_cli *cli)
{
	return cli->store && *cli->store ? cli->store : kiln_env_store();
}

/* ---- containers and builds (lib/ops/container.c, lib/ops/build.c) ---- */

/* The first of two names that is set (the second is an older spelling
 * still accepted). */
static const char *env_either(const char *name, const char *old_name)
{
	const char *v = getenv(name);

	return v ? v : getenv(old_name);
}

const char *kiln_env_build_cgroup_parent(void)
{
	const char *v = getenv("KILN_CGROUP_PARENT");

	return v && *v ? v : NULL;
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

const char *kiln_env_root_dir(void)
{
	const char *v = getenv("KILN_ROOT");

	return v && *v ? v : KILN_CONTAINER_ROOT_DEFAULT;
}

const char *kiln_env_runtime(void)
{
	return getenv("KILN_RUNTIME");
}

const char *kiln_env_source_date_epoch(void)
{
	return getenv("SOURCE_DATE_EPOCH");
}
