/* run.c - the container commands: run, ps, logs, stop, rm, exec. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bundle.h"
#include "container.h"
#include "fsutil.h"
#include "gitrepo.h"
#include "kiln.h"
#include "manifest.h"
#include "net.h"
#include "sealed.h"
#include "service.h"
#include "snapref.h"
#include "store.h"
#include "util.h"

static void run_help(void)
{
	printf("usage: kiln run [OPTIONS] SNAP [CMD [ARG…]]\n"
	       "\n"
	       "Run a snapshot as a container: its layers (unpacked once, shared, read-only)\n"
	       "under an overlay with a writable layer of its own, in new pid, ipc, uts,\n"
	       "mount and network namespaces, with podman's default capabilities, a\n"
	       "seccomp filter, no new privileges, and cgroup limits.  CMD replaces the\n"
	       "image's Cmd (the entrypoint stays, as in docker run).\n"
	       "\n"
	       "In the foreground, the container's output is streamed (and kept in its log),\n"
	       "SIGINT/SIGTERM/SIGHUP/SIGQUIT are passed on, and kiln exits with the\n"
	       "container's exit code (128+N when killed by signal N).  When stdin and\n"
	       "stdout are a terminal, the container gets one.  With -d it runs under a\n"
	       "background monitor and kiln prints its id.\n"
	       "\n"
	       "SNAP is NAME@REV (any git revision), NAME (NAME@HEAD), @REV (the manifest's\n"
	       "name) or sha256:DIGEST.  A NAME is used only when its record is signed by a\n"
	       "key of .kiln/trusted/ (as kiln verify checks it; else exit 3).\n"
	       "\n"
	       "A named snapshot runs with the service: section of the manifest it was built\n"
	       "from (at its commit): network, publish, volumes, init and resources.  Options\n"
	       "override them: -p replaces the whole publish list, -v adds a volume (replacing\n"
	       "one at the same path), --network, --memory, --pids, --cpus replace theirs.\n"
	       "\n"
	       "Options:\n"
	       "  -d, --detach            run in the background; print the container's id\n"
	       "      --rm                remove the container (and its writable layer) when it exits\n"
	       "      --init              run kiln's init as PID 1 (at /dev/init): it passes every\n"
	       "                          signal on to the command and reaps orphaned processes\n"
	       "      --name NAME         a unique name (default: the id's first 12 digits)\n"
	       "      --hostname NAME     the container's hostname (default: its name)\n"
	       "      --network MODE      bridge (the default: an address on the kiln0 bridge),\n"
	       "                          none (only lo), host, or container:NAME (share its)\n"
	       "  -p, --publish H:C[/P]   publish container port C on host port H (bridge only)\n"
	       "  -v, --volume V:PATH[:ro]  mount volume V ($KILN_ROOT/volumes/V, kept after rm;\n"
	       "                          a new one starts as a copy of the image's PATH)\n"
	       "                          or an absolute host path at PATH\n"
	       "  -e, --env K=V           set an environment variable (K alone: this one's value)\n"
	       "  -u, --user USER[:GROUP] run as this user (name from the image's /etc/passwd, or uid)\n"
	       "  -w, --workdir DIR       the working directory\n"
	       "      --entrypoint PROG   replace the image's entrypoint (and drop its Cmd)\n"
	       "  -m, --memory SIZE       memory limit: 64M, 1G, … (the kernel kills beyond it)\n"
	       "      --pids N            at most N processes (forks beyond fail; default 2048,\n"
	       "                          0 or -1: no limit)\n"
	       "      --cpus X            at most X CPUs' worth of time (e.g. 0.5)\n"
	       "      --cap-add CAP       add a capability (NET_RAW or CAP_NET_RAW, …; ALL: all)\n"
	       "      --cap-drop CAP      drop one from the default set (ALL: all but --cap-add's)\n"
	       "                          default: CHOWN DAC_OVERRIDE FOWNER FSETID KILL\n"
	       "                          NET_BIND_SERVICE SETFCAP SETGID SETPCAP SETUID SYS_CHROOT\n"
	       "      --log-max SIZE[:N]  rotate the log at SIZE, keeping N files (default 10M:2)\n"
	       "      --runtime NAME      kiln (kiln's own, the default) or runc: the same bundle\n"
	       "  -f, --file MANIFEST     the manifest whose name @REV means (default ./kiln.yaml)\n"
	       "      --store DIR         the store\n"
	       "      --insecure          run a named snapshot whose record is unsigned (--no-sign)\n"
	       "                          or not signed by a trusted key (also KILN_INSECURE=1)\n"
	       "      --no-service        ignore the service: section of the snapshot's manifest\n"
	       "  -h, --help              this help\n"
	       "\n"
	       "Environment: KILN_ROOT (default /var/lib/kiln and /run/kiln) holds layers,\n"
	       "volumes and container state; KILN_CGROUP_PARENT (default kiln) the parent\n"
	       "cgroup; KILN_RUNTIME the default runtime; KILN_NET_BRIDGE, KILN_NET_SUBNET,\n"
	       "KILN_NET_TABLE the bridge (kiln0), its subnet (10.88.0.0/16) and nftables table.\n");
}

/* SNAP → manifest digest, as `kiln export` resolves it; with service,
 * *manifest is the manifest a named snapshot was built from (read from git
 * at its commit; NULL for sha256: or when none is known). */
static int resolve_snap(struct kiln_cli *cli, const char *text, unsigned flags, bool service,
			struct kiln_store **store, struct kiln_snapref *ref, struct kiln_manifest **manifest,
			struct kiln_error *err)
{
	/* A digest needs no git (whose start-up alone costs milliseconds). */
	bool digest = kiln_str_has_prefix(text, "sha256:");
	struct kiln_git *git = digest && kiln_cli_store(cli) ? NULL : kiln_git_open(".", err);
	_cleanup_free_ char *default_name = NULL;
	int rc = 0;

	*manifest = NULL;
	if (!git && !digest)
		return -1;
	kiln_error_clear(err);
	*store = kiln_store_open_default(kiln_cli_store(cli), git ? kiln_git_workdir(git) : ".", false, err);
	if (!*store) {
		kiln_git_free(git);
		return -1;
	}
	if (text[0] == '@') { /* only @REV needs the manifest's name */
		struct kiln_manifest *m = kiln_manifest_load(kiln_cli_manifest(cli), KILN_ERROR_IGNORE);
		if (m) {
			default_name = kiln_xstrdup(m->name);
			kiln_manifest_free(m);
		}
	}
	if (kiln_snapref_resolve(git, *store, text, default_name, flags, ref, err) < 0)
		rc = -1;
	else if (service && !digest &&
		 kiln_service_snapshot_manifest(git, *store, ref, kiln_cli_manifest(cli), manifest, err) < 0)
		rc = kiln_error_prefix(err, "the service: of %s (--no-service runs without it)", text);
	kiln_git_free(git);
	return rc;
}

static void push(char ***v, size_t *n, size_t *alloc, char *s)
{
	kiln_xgrow(v, alloc, *n + 2, sizeof(char *));
	(*v)[(*n)++] = s;
	(*v)[*n] = NULL;
}

/* The container path of a volume "SOURCE:PATH[:ro|:rw]" (length in *len). */
static const char *volume_path(const char *v, size_t *len)
{
	const char *p = strchr(v, ':');

	p = p ? p + 1 : v;
	*len = strcspn(p, ":");
	return p;
}

/* The service: of the snapshot's manifest, under what the command line
 * says (docs/containers.md, "A service's settings"): --network, --memory,
 * --pids and --cpus replace its values, -p replaces its whole publish
 * list (as docker-compose run; so does a --network other than bridge),
 * -v adds to its volumes, replacing one at the same container path.
 * Returns the merged volume vector (its strings borrowed from o and s),
 * for the caller to free. */
static char **apply_service(struct kiln_container_options *o, const struct kiln_service_spec *s)
{
	char **volumes = kiln_xcalloc(o->n_volumes + s->n_volumes + 1, sizeof(char *));
	size_t n = 0;

	if (!o->network)
		o->network = s->network;
	/* Ports are published from the bridge only: a --network that leaves
	 * it leaves the manifest's ports behind (a -p is still refused). */
	if (!o->n_ports && strcmp(o->network, "bridge") == 0) {
		o->ports = s->publish;
		o->n_ports = s->n_publish;
	}
	for (size_t i = 0; i < s->n_volumes; i++) {
		size_t len, cli_len;
		const char *path = volume_path(s->volumes[i], &len);
		bool replaced = false;
		for (size_t k = 0; k < o->n_volumes && !replaced; k++) {
			const char *cli_path = volume_path(o->volumes[k], &cli_len);
			replaced = cli_len == len && memcmp(cli_path, path, len) == 0;
		}
		if (!replaced)
			volumes[n++] = s->volumes[i];
	}
	for (size_t k = 0; k < o->n_volumes; k++)
		volumes[n++] = o->volumes[k];
	o->volumes = volumes;
	o->n_volumes = n;
	if (!o->memory)
		o->memory = s->memory;
	if (!o->pids)
		o->pids = s->pids;
	if (!o->cpus)
		o->cpus = s->cpus;
	o->init = o->init || s->init;
	return volumes;
}

int cmd_run(int argc, char **argv, struct kiln_cli *cli)
{
	enum { O_RM = 256, O_NAME, O_HOSTNAME, O_NETWORK, O_ENTRYPOINT, O_PIDS, O_CPUS, O_RUNTIME, O_STORE,
	       O_INSECURE, O_CAP_ADD, O_CAP_DROP, O_LOG_MAX, O_NO_SERVICE, O_INIT };
	static const struct option opts[] = {
		{ "detach", no_argument, NULL, 'd' },
		{ "rm", no_argument, NULL, O_RM },
		{ "init", no_argument, NULL, O_INIT },
		{ "name", required_argument, NULL, O_NAME },
		{ "hostname", required_argument, NULL, O_HOSTNAME },
		{ "network", required_argument, NULL, O_NETWORK },
		{ "net", required_argument, NULL, O_NETWORK },
		{ "publish", required_argument, NULL, 'p' },
		{ "volume", required_argument, NULL, 'v' },
		{ "env", required_argument, NULL, 'e' },
		{ "user", required_argument, NULL, 'u' },
		{ "workdir", required_argument, NULL, 'w' },
		{ "entrypoint", required_argument, NULL, O_ENTRYPOINT },
		{ "memory", required_argument, NULL, 'm' },
		{ "pids", required_argument, NULL, O_PIDS },
		{ "pids-limit", required_argument, NULL, O_PIDS },
		{ "cpus", required_argument, NULL, O_CPUS },
		{ "runtime", required_argument, NULL, O_RUNTIME },
		{ "cap-add", required_argument, NULL, O_CAP_ADD },
		{ "cap-drop", required_argument, NULL, O_CAP_DROP },
		{ "log-max", required_argument, NULL, O_LOG_MAX },
		{ "file", required_argument, NULL, 'f' },
		{ "store", required_argument, NULL, O_STORE },
		{ "insecure", no_argument, NULL, O_INSECURE },
		{ "no-service", no_argument, NULL, O_NO_SERVICE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kiln_container_options o = { 0 };
	struct kiln_manifest *manifest = NULL;
	struct kiln_service_spec spec = { 0 };
	_cleanup_free_ char **merged_volumes = NULL;
	_cleanup_free_ char *snapshot_text = NULL;
	bool no_service = false;
	struct kiln_error err = { 0 };
	_cleanup_free_ char **ports = NULL, **volumes = NULL, **env = NULL, **cap_add = NULL, **cap_drop = NULL;
	size_t a_ports = 0, a_volumes = 0, a_env = 0, a_cap_add = 0, a_cap_drop = 0;
	char **resolved_env = NULL;
	size_t n_resolved_env = 0;
	uint64_t caps;
	char *entrypoint[2] = { NULL, NULL };
	struct kiln_store *store = NULL;
	struct kiln_snapref ref = { 0 };
	struct kiln_container_root *root = NULL;
	struct kiln_container c = { 0 };
	int ch, rc = 0, code = 0;
	bool insecure = false;
	char *end;

	/* Running a container takes no TLS: OpenSSL is only asked for sha256
	 * of small blobs, and its configuration file and exit-time cleanup
	 * would cost about a millisecond of the start. */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG | OPENSSL_INIT_NO_ATEXIT, NULL);
	while ((ch = getopt_long(argc, argv, "+dp:v:e:u:w:m:f:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': o.detach = true; break;
		case O_RM: o.auto_remove = true; break;
		case O_INIT: o.init = true; break;
		case O_NAME: o.name = optarg; break;
		case O_HOSTNAME: o.hostname = optarg; break;
		case O_NETWORK: o.network = optarg; break;
		case 'p': push(&ports, &o.n_ports, &a_ports, optarg); break;
		case 'v': push(&volumes, &o.n_volumes, &a_volumes, optarg); break;
		case 'e': push(&env, &o.n_env, &a_env, optarg); break;
		case 'u': o.user = optarg; break;
		case 'w': o.workdir = optarg; break;
		case O_ENTRYPOINT:
			entrypoint[0] = optarg;
			o.has_entrypoint = true;
			o.n_entrypoint = *optarg ? 1 : 0;
			break;
		case 'm':
			if (kiln_bundle_parse_size(optarg, &o.memory, &err) < 0)
				return kiln_cli_usage(cli, "--memory: %s", err.message);
			break;
		case O_PIDS:
			o.pids = strtoll(optarg, &end, 10);
			if (end == optarg || *end || o.pids < -1)
				return kiln_cli_usage(cli, "--pids '%s': expected a positive number, or 0 or -1 "
						      "(no limit)", optarg);
			if (o.pids == 0)
				o.pids = -1;
			break;
		case O_CPUS:
			o.cpus = strtod(optarg, &end);
			if (*end || !(o.cpus > 0) || o.cpus > 4096)
				return kiln_cli_usage(cli, "--cpus '%s': expected a positive number such as 0.5", optarg);
			break;
		case O_RUNTIME: o.runtime = optarg; break;
		case O_CAP_ADD: push(&cap_add, &o.n_cap_add, &a_cap_add, optarg); break;
		case O_CAP_DROP: push(&cap_drop, &o.n_cap_drop, &a_cap_drop, optarg); break;
		case O_LOG_MAX:
			if (kiln_container_parse_log_max(optarg, &o.log_max, &o.log_files, &err) < 0)
				return kiln_cli_usage(cli, "--log-max %s", err.message);
			break;
		case 'f': cli->manifest = optarg; break;
		case O_STORE: cli->store = optarg; break;
		case O_INSECURE: insecure = true; break;
		case O_NO_SERVICE: no_service = true; break;
		case 'h': run_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (optind >= argc)
		return kiln_cli_usage(cli, "expected SNAP [CMD…]");
	o.entrypoint = entrypoint;
	o.cmd = argv + optind + 1;
	o.n_cmd = (size_t)(argc - optind - 1);
	o.ports = ports;
	o.volumes = volumes;
	o.env = env;
	o.cap_add = cap_add;
	o.cap_drop = cap_drop;
	o.snapshot = argv[optind];
	if (!o.runtime)
		o.runtime = kiln_env_runtime();
	o.terminal = !o.detach && isatty(0) && isatty(1);
	/* What the command line alone gets wrong is a usage error (exit 2),
	 * said before anything is unpacked or created. */
	if (o.name && !kiln_container_name_valid(o.name))
		return kiln_cli_usage(cli, "--name '%s': use letters, digits, '_', '.', '-' (at most 64)", o.name);
	if (o.network) {
		enum kiln_net_mode mode;
		const char *other;
		if (kiln_net_parse_mode(o.network, &mode, &other, &err) < 0)
			return kiln_cli_usage(cli, "--network: %s", err.message);
	}
	for (size_t i = 0; i < o.n_ports; i++) {
		struct kiln_net_port port;
		if (kiln_net_parse_port(o.ports[i], &port, &err) < 0)
			return kiln_cli_usage(cli, "-p %s: %s", o.ports[i], err.message);
	}
	for (size_t i = 0; i < o.n_env; i++)
		if (o.env[i][0] == '=' || !o.env[i][0])
			return kiln_cli_usage(cli, "-e '%s': expected K=V or K", o.env[i]);
	if (kiln_bundle_capabilities(o.cap_add, o.n_cap_add, o.cap_drop, o.n_cap_drop, &caps, &err) < 0)
		return kiln_cli_usage(cli, "%s", err.message);
	/* -e K takes the caller's value here, where the environment is read
	 * (env.c); an unset K is not passed. */
	resolved_env = kiln_xcalloc(o.n_env + 1, sizeof(*resolved_env));
	for (size_t i = 0; i < o.n_env; i++)
		if ((resolved_env[n_resolved_env] = kiln_env_resolve_var(env[i])))
			n_resolved_env++;
	o.env = resolved_env;
	o.n_env = n_resolved_env;

	if (resolve_snap(cli, argv[optind], kiln_cli_snapref_flags(insecure), !no_service, &store, &ref, &manifest,
			 &err) < 0) {
		rc = kiln_cli_fail(cli, &err);
		goto out;
	}
	o.store = store;
	o.manifest_digest = ref.manifest_digest;
	if (ref.commit[0])
		o.commit = ref.commit;
	/* "@REV" is kept with the name it stood for. */
	if (argv[optind][0] == '@' && ref.name)
		o.snapshot = snapshot_text = kiln_xasprintf("%s%s", ref.name, argv[optind]);
	if (manifest && manifest->service.present) {
		if (kiln_service_spec_from_manifest(manifest, &spec, &err) < 0) {
			kiln_error_prefix(&err, "the service: of %s (--no-service runs without it)", argv[optind]);
			rc = kiln_cli_fail(cli, &err);
			goto out;
		}
		merged_volumes = apply_service(&o, &spec);
	}
	root = kiln_env_container_root_open(&err);
	if (!root) {
		rc = kiln_cli_fail(cli, &err);
		goto out;
	}
	fflush(stdout);
	if (kiln_container_run(root, &o, &c, &code, &err) < 0) {
		rc = kiln_cli_fail(cli, &err);
		goto out;
	}
	if (o.detach)
		printf("%s\n", c.id);
	rc = code;
out:
	for (size_t i = 0; i < n_resolved_env; i++)
		free(resolved_env[i]);
	free(resolved_env);
	kiln_container_release(&c);
	kiln_container_root_free(root);
	kiln_snapref_release(&ref);
	kiln_store_free(store);
	kiln_service_spec_release(&spec);
	if (manifest)
		kiln_manifest_free(manifest);
	return rc;
}

/* "3 seconds", "5 minutes", … */
static void ago(char *buf, size_t size, int64_t seconds)
{
	if (seconds < 0)
		seconds = 0;
	if (seconds < 60)
		snprintf(buf, size, "%lld second%s", (long long)seconds, seconds == 1 ? "" : "s");
	else if (seconds < 3600)
		snprintf(buf, size, "%lld minute%s", (long long)seconds / 60, seconds / 60 == 1 ? "" : "s");
	else if (seconds < 86400)
		snprintf(buf, size, "%lld hour%s", (long long)seconds / 3600, seconds / 3600 == 1 ? "" : "s");
	else
		snprintf(buf, size, "%lld days", (long long)seconds / 86400);
}

static char *joined(char *const *v, size_t n, const char *sep)
{
	struct kiln_buf b = KILN_BUF_INIT;
	for (size_t i = 0; i < n; i++) {
		if (i)
			kiln_buf_adds(&b, sep);
		kiln_buf_adds(&b, v[i]);
	}
	return kiln_buf_detach(&b);
}

/* What a container runs, not the revision as typed (which moves with
 * new commits): NAME@COMMIT12, or the digest's first 12 hex. */
static char *ps_snapshot(const struct kiln_container *c)
{
	const char *snap = c->snapshot ? c->snapshot : "";
	const char *at = strchr(snap, '@');

	if (c->commit)
		return kiln_xasprintf("%.*s@%.12s", (int)(at ? at - snap : (ptrdiff_t)strlen(snap)), snap, c->commit);
	if (kiln_str_has_prefix(snap, "sha256:"))
		return kiln_xasprintf("%.19s", snap);
	return kiln_xstrdup(snap);
}

static void ps_help(void)
{
	printf("usage: kiln ps [-a] [-q] [--json]\n"
	       "\n"
	       "List containers: running ones, or all with -a.  Containers whose monitor\n"
	       "died (even by SIGKILL) are reaped first: their mounts, cgroups and network\n"
	       "go, and they show as exited (or are gone, when run with --rm).\n"
	       "\n"
	       "Options:\n"
	       "  -a, --all     exited containers too\n"
	       "  -q, --quiet   only the ids\n"
	       "      --json    one JSON array of objects\n"
	       "  -h, --help    this help\n");
}

int cmd_ps(int argc, char **argv, struct kiln_cli *cli)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kiln_error err = { 0 };
	struct kiln_container_root *root;
	struct kiln_container *v = NULL;
	size_t n = 0;
	bool all = false, quiet = false, json = cli->json;
	int ch;
	int64_t now = (int64_t)time(NULL);

	while ((ch = getopt_long(argc, argv, "aqh", opts, NULL)) != -1) {
		switch (ch) {
		case 'a': all = true; break;
		case 'q': quiet = true; break;
		case 'j': json = true; break;
		case 'h': ps_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (optind != argc)
		return kiln_cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	root = kiln_env_container_root_open(&err);
	if (!root || kiln_container_list(root, &v, &n, &err) < 0) {
		kiln_container_root_free(root);
		return kiln_cli_fail(cli, &err);
	}
	if (json) {
		json_t *a = json_array();
		for (size_t i = 0; i < n; i++) {
			struct kiln_container *c = &v[i];
			json_t *o = json_object(), *cmd = json_array(), *ports = json_array();
			if (!all && c->status == KILN_CONTAINER_EXITED)
				continue;
			for (size_t k = 0; k < c->n_command; k++)
				json_array_append_new(cmd, json_string(c->command[k]));
			for (size_t k = 0; k < c->n_ports; k++)
				json_array_append_new(ports, json_string(c->ports[k]));
			json_object_set_new(o, "id", json_string(c->id));
			json_object_set_new(o, "name", json_string(c->name));
			json_object_set_new(o, "snapshot", json_string(c->snapshot ? c->snapshot : ""));
			json_object_set_new(o, "image", json_string(c->image ? c->image : ""));
			if (c->commit)
				json_object_set_new(o, "commit", json_string(c->commit));
			if (c->service)
				json_object_set_new(o, "service", json_string(c->service));
			json_object_set_new(o, "command", cmd);
			json_object_set_new(o, "status", json_string(kiln_container_status_name(c->status)));
			if (c->status == KILN_CONTAINER_EXITED)
				json_object_set_new(o, "exit_code", json_integer(c->exit_code));
			json_object_set_new(o, "pid", json_integer(c->pid));
			json_object_set_new(o, "monitor_pid", json_integer(c->monitor_pid));
			json_object_set_new(o, "created", json_integer(c->created));
			json_object_set_new(o, "network", json_string(c->network ? c->network : ""));
			json_object_set_new(o, "ports", ports);
			json_object_set_new(o, "runtime", json_string(c->runtime));
			if (c->address)
				json_object_set_new(o, "address", json_string(c->address));
			if (c->error)
				json_object_set_new(o, "error", json_string(c->error));
			json_array_append_new(a, o);
		}
		char *s = json_dumps(a, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("%s\n", s);
		free(s);
		json_decref(a);
	} else {
		if (!quiet)
			printf("%-12s  %-20s  %-24s  %-12s  %-24s  %-14s  %-26s  %s\n", "CONTAINER ID", "NAME",
			       "SNAPSHOT", "IMAGE", "COMMAND", "CREATED", "STATUS", "NETWORK");
		for (size_t i = 0; i < n; i++) {
			struct kiln_container *c = &v[i];
			char created[48], status[80], since[32];
			_cleanup_free_ char *cmd = NULL;
			if (!all && c->status == KILN_CONTAINER_EXITED)
				continue;
			if (quiet) {
				printf("%.12s\n", c->id);
				continue;
			}
			cmd = joined(c->command, c->n_command, " ");
			if (strlen(cmd) > 22)
				strcpy(cmd + 19, "…");
			ago(since, sizeof(since), now - c->created);
			snprintf(created, sizeof(created), "%s ago", since);
			if (c->status == KILN_CONTAINER_RUNNING) {
				ago(since, sizeof(since), now - c->started);
				snprintf(status, sizeof(status), "Up %s", since);
			} else if (c->status == KILN_CONTAINER_EXITED) {
				ago(since, sizeof(since), now - c->finished);
				snprintf(status, sizeof(status), "Exited (%d) %s ago", c->exit_code, since);
			} else {
				snprintf(status, sizeof(status), "Created");
			}
			_cleanup_free_ char *ports = joined(c->ports, c->n_ports, ",");
			_cleanup_free_ char *snap = ps_snapshot(c);
			const char *image = c->image ? c->image : "";
			if (kiln_str_has_prefix(image, "sha256:"))
				image += 7;
			printf("%.12s  %-20s  %-24s  %-12.12s  \"%s\"%*s  %-14s  %-26s  %s%s%s%s%s\n", c->id, c->name,
			       snap, image, cmd, (int)(22 - (strlen(cmd) > 22 ? 22 : strlen(cmd))), "",
			       created, status, c->network ? c->network : "", c->address ? " " : "",
			       c->address ? c->address : "", *ports ? " " : "", ports);
		}
	}
	kiln_container_list_free(v, n);
	kiln_container_root_free(root);
	return 0;
}

static void logs_help(void)
{
	printf("usage: kiln logs [-f] CONTAINER\n"
	       "\n"
	       "Print a container's output (stdout and stderr, as it wrote them).\n"
	       "CONTAINER is a name, an id or a unique id prefix.\n"
	       "\n"
	       "Options:\n"
	       "  -f, --follow  keep printing new output until the container exits\n"
	       "  -h, --help    this help\n");
}

int cmd_logs(int argc, char **argv, struct kiln_cli *cli)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kiln_error err = { 0 };
	struct kiln_container_root *root;
	struct kiln_container c;
	bool follow = false;
	int ch, rc = 0;

	while ((ch = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (ch) {
		case 'f': follow = true; break;
		case 'h': logs_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (argc - optind != 1)
		return kiln_cli_usage(cli, "expected one CONTAINER");
	root = kiln_env_container_root_open(&err);
	if (!root || kiln_container_find(root, argv[optind], &c, &err) < 0) {
		kiln_container_root_free(root);
		return kiln_cli_fail(cli, &err);
	}
	fflush(stdout);
	if (kiln_container_logs(root, &c, follow, 1, &err) < 0)
		rc = kiln_cli_fail(cli, &err);
	kiln_container_release(&c);
	kiln_container_root_free(root);
	return rc;
}

/* stop and rm: the action on each named container, each failure said
 * and the last one's exit code kept, the names done printed. */
typedef int (*container_action)(struct kiln_container_root *root, const struct kiln_container *c,
				const void *arg, struct kiln_error *err);

static int each_container(struct kiln_cli *cli, char **names, int n, container_action action,
			  const void *arg)
{
	struct kiln_error err = { 0 };
	struct kiln_container_root *root = kiln_env_container_root_open(&err);
	int rc = 0;

	if (!root)
		return kiln_cli_fail(cli, &err);
	for (int i = 0; i < n; i++) {
		struct kiln_container c;
		kiln_error_clear(&err);
		if (kiln_container_find(root, names[i], &c, &err) < 0 || action(root, &c, arg, &err) < 0)
			rc = kiln_cli_fail(cli, &err);
		else if (!cli->quiet)
			printf("%s\n", names[i]);
		kiln_container_release(&c);
	}
	kiln_container_root_free(root);
	return rc;
}

static int stop_one(struct kiln_container_root *root, const struct kiln_container *c, const void *arg,
		    struct kiln_error *err)
{
	return kiln_container_stop(root, c, *(const int *)arg, err);
}

static int remove_one(struct kiln_container_root *root, const struct kiln_container *c, const void *arg,
		      struct kiln_error *err)
{
	return kiln_container_remove(root, c, *(const bool *)arg, err);
}

static void stop_help(void)
{
	printf("usage: kiln stop [-t SECS] CONTAINER…\n"
	       "\n"
	       "Stop running containers: the image's stop signal (SIGTERM by default), then\n"
	       "SIGKILL after SECS seconds.  Returns once each has exited and its monitor\n"
	       "has released what it held; prints each name.  Stopping an exited\n"
	       "container does nothing.\n"
	       "\n"
	       "Options:\n"
	       "  -t, --time SECS  seconds to wait before SIGKILL (default 10)\n"
	       "  -h, --help       this help\n");
}

int cmd_stop(int argc, char **argv, struct kiln_cli *cli)
{
	static const struct option opts[] = {
		{ "time", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int ch, timeout = 10;
	char *end;

	while ((ch = getopt_long(argc, argv, "t:h", opts, NULL)) != -1) {
		switch (ch) {
		case 't':
			timeout = (int)strtol(optarg, &end, 10);
			if (*end || timeout < 0 || timeout > 86400)
				return kiln_cli_usage(cli, "-t '%s': expected seconds", optarg);
			break;
		case 'h': stop_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (optind >= argc)
		return kiln_cli_usage(cli, "expected CONTAINER…");
	return each_container(cli, argv + optind, argc - optind, stop_one, &timeout);
}

static void rm_help(void)
{
	printf("usage: kiln rm [-f] CONTAINER…\n"
	       "\n"
	       "Remove containers: their state, log, writable layer and name.  Volumes\n"
	       "stay.  A running container is refused unless -f, which kills it first.\n"
	       "\n"
	       "Options:\n"
	       "  -f, --force  kill a running container (SIGKILL) and remove it\n"
	       "  -h, --help   this help\n");
}

int cmd_rm(int argc, char **argv, struct kiln_cli *cli)
{
	static const struct option opts[] = {
		{ "force", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool force = false;
	int ch;

	while ((ch = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (ch) {
		case 'f': force = true; break;
		case 'h': rm_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (optind >= argc)
		return kiln_cli_usage(cli, "expected CONTAINER…");
	return each_container(cli, argv + optind, argc - optind, remove_one, &force);
}

static void exec_help(void)
{
	printf("usage: kiln exec CONTAINER CMD [ARG…]\n"
	       "\n"
	       "Run a command inside a running container: its namespaces, cgroup, user,\n"
	       "environment, capabilities and working directory.  With a terminal on\n"
	       "stdin and stdout, the command gets one.  kiln exits with its exit code.\n"
	       "\n"
	       "Options:\n"
	       "  -h, --help   this help\n");
}

int cmd_exec(int argc, char **argv, struct kiln_cli *cli)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kiln_error err = { 0 };
	struct kiln_container_root *root;
	struct kiln_container c;
	int ch, rc, code = 0;

	while ((ch = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (ch) {
		case 'h': exec_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (argc - optind < 2)
		return kiln_cli_usage(cli, "expected CONTAINER CMD…");
	if (kiln_sealed_reexec(&err) < 0)
		return kiln_cli_fail(cli, &err);
	root = kiln_env_container_root_open(&err);
	if (!root || kiln_container_find(root, argv[optind], &c, &err) < 0) {
		kiln_container_root_free(root);
		return kiln_cli_fail(cli, &err);
	}
	fflush(stdout);
	if (kiln_container_exec(root, &c, argv + optind + 1, isatty(0) && isatty(1), &code, &err) < 0)
		rc = kiln_cli_fail(cli, &err);
	else
		rc = code;
	kiln_container_release(&c);
	kiln_container_root_free(root);
	return rc;
}
