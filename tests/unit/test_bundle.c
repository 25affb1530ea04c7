/* test_bundle.c - image config → process → config.json (lib/bundle). */
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle.h"
#include "fsutil.h"
#include "tap.h"
#include "util.h"

static const char image_json[] =
	"{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{"
	"\"User\":\"web\",\"WorkingDir\":\"/srv\",\"StopSignal\":\"SIGQUIT\","
	"\"Env\":[\"PATH=/usr/bin:/bin\",\"LANG=C.UTF-8\",\"FOO=image\"],"
	"\"Entrypoint\":[\"/bin/app\",\"--serve\"],\"Cmd\":[\"--port\",\"80\"]},"
	"\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";

static const char passwd[] =
	"root:x:0:0:root:/root:/bin/sh\n"
	"web:x:10001:10001::/srv:/usr/sbin/nologin\n"
	"broken:x:notanumber:1::/:/bin/sh\n"
	"nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin";
static const char group[] =
	"root:x:0:\n"
	"web:x:10001:\n"
	"audio:x:29:web,other\n"
	"video:x:44:other\n"
	"staff:x:50:web";

static size_t find(char **v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i], s) == 0)
			return i;
	return (size_t)-1;
}

TEST(image_parse)
{
	struct kiln_bundle_image img;
	struct kiln_error err = { 0 };

	CHECK(kiln_bundle_image_parse(image_json, strlen(image_json), &img, &err) == 0);
	CHECK_STR(img.user, "web");
	CHECK_STR(img.workdir, "/srv");
	CHECK_STR(img.stop_signal, "SIGQUIT");
	CHECK(img.n_env == 3 && img.n_entrypoint == 2 && img.n_cmd == 2);
	CHECK_STR(img.entrypoint[0], "/bin/app");
	CHECK_STR(img.cmd[1], "80");
	kiln_bundle_image_release(&img);

	CHECK(kiln_bundle_image_parse("{}", 2, &img, &err) == 0);
	CHECK(img.n_env == 0 && !img.user);
	kiln_bundle_image_release(&img);
	CHECK(kiln_bundle_image_parse("{\"config\":", 10, &img, &err) < 0);
	CHECK_CONTAINS(err.message, "image config");
	CHECK(kiln_bundle_image_parse("{\"config\":{\"Env\":\"x\"}}", 22, &img, &err) < 0);
	CHECK_CONTAINS(err.message, "Env");
	CHECK(kiln_bundle_image_parse("{\"config\":{\"Cmd\":[1]}}", 22, &img, &err) < 0);
	CHECK_CONTAINS(err.message, "Cmd[0]");
	CHECK(kiln_bundle_image_parse("{\"a\":1,\"a\":2}", 13, &img, &err) < 0);
}

TEST(process_args)
{
	struct kiln_bundle_image img;
	struct kiln_bundle_process p;
	struct kiln_error err = { 0 };
	char *cmd[] = { "sh", "-c", "x" }, *ep[] = { "/bin/other" };

	kiln_bundle_image_parse(image_json, strlen(image_json), &img, &err);
	struct kiln_bundle_process_options o = { .passwd = passwd, .group = group };
	CHECK(kiln_bundle_process_resolve(&img, &o, &p, &err) == 0);
	CHECK(p.n_args == 4);
	CHECK_STR(p.args[0], "/bin/app");
	CHECK_STR(p.args[3], "80");
	CHECK(p.args[4] == NULL);
	kiln_bundle_process_release(&p);

	o.cmd = cmd;
	o.n_cmd = 3;
	CHECK(kiln_bundle_process_resolve(&img, &o, &p, &err) == 0);
	CHECK(p.n_args == 5); /* entrypoint stays, CMD replaces the image's */
	CHECK_STR(p.args[2], "sh");
	kiln_bundle_process_release(&p);

	o.entrypoint = ep;
	o.n_entrypoint = 1;
	o.has_entrypoint = true;
	o.n_cmd = 0;
	CHECK(kiln_bundle_process_resolve(&img, &o, &p, &err) == 0);
	CHECK(p.n_args == 1); /* a new entrypoint drops the image's Cmd */
	CHECK_STR(p.args[0], "/bin/other");
	kiln_bundle_process_release(&p);

	o.n_entrypoint = 0; /* --entrypoint "" and no CMD: nothing to run */
	CHECK(kiln_bundle_process_resolve(&img, &o, &p, &err) < 0);
	CHECK_CONTAINS(err.message, "no command");
	kiln_bundle_image_release(&img);

	struct kiln_bundle_image empty = { 0 };
	struct kiln_bundle_process_options none = { 0 };
	CHECK(kiln_bundle_process_resolve(&empty, &none, &p, &err) < 0);
	char *blank[] = { "" };
	none.cmd = blank;
	none.n_cmd = 1;
	CHECK(kiln_bundle_process_resolve(&empty, &none, &p, &err) < 0);
}

TEST(process_env_user_cwd)
{
	struct kiln_bundle_image img;
	struct kiln_bundle_process p;
	struct kiln_error err = { 0 };
	/* -e FROM_HOST comes resolved by the command line; a bare KEY is
	 * one that was unset there, and the library reads no environment
	 * (set here to prove it). */
	char *env[] = { "FOO=cli", "NEW=1", "FROM_HOST=hostval", "UNSET_ON_HOST_XYZ" };

	setenv("UNSET_ON_HOST_XYZ", "leaked", 1);
	kiln_bundle_image_parse(image_json, strlen(image_json), &img, &err);
	struct kiln_bundle_process_options o = {
		.env = env, .n_env = 4, .hostname = "box", .terminal = true, .passwd = passwd, .group = group,
	};
	CHECK(kiln_bundle_process_resolve(&img, &o, &p, &err) == 0);
	CHECK(find(p.env, p.n_env, "FOO=cli") != (size_t)-1);
	CHECK(find(p.env, p.n_env, "FOO=image") == (size_t)-1);
	CHECK(find(p.env, p.n_env, "NEW=1") != (size_t)-1);
	CHECK(find(p.env, p.n_env, "FROM_HOST=hostval") != (size_t)-1);
	CHECK(find(p.env, p.n_env, "HOSTNAME=box") != (size_t)-1);
	CHECK(find(p.env, p.n_env, "TERM=xterm") != (size_t)-1);
	CHECK(find(p.env, p.n_env, "PATH=/usr/bin:/bin") != (size_t)-1);
	for (size_t i = 0; i < p.n_env; i++)
		CHECK(strncmp(p.env[i], "UNSET_ON_HOST_XYZ", 17) != 0);
	unsetenv("UNSET_ON_HOST_XYZ");
	CHECK(p.env[p.n_env] == NULL);
	CHECK_STR(p.cwd, "/srv");
	CHECK(p.uid == 10001 && p.gid == 10001);
	CHECK(p.n_gids == 2 && p.gids[0] == 29 && p.gids[1] == 50);
	kiln_bundle_process_release(&p);

	/* No PATH in the image: Docker's default; no TERM without a terminal. */
	struct kiln_bundle_image bare = { 0 };
	char *cmd[] = { "x" };
	struct kiln_bundle_process_options b = { .cmd = cmd, .n_cmd = 1 };
	CHECK(kiln_bundle_process_resolve(&bare, &b, &p, &err) == 0);
	CHECK_STR(p.env[0], "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	CHECK(p.n_env == 1);
	CHECK_STR(p.cwd, "/");
	CHECK(p.uid == 0 && p.gid == 0 && p.n_gids == 0);
	kiln_bundle_process_release(&p);

	char *bad[] = { "=x" };
	o.env = bad;
	o.n_env = 1;
	CHECK(kiln_bundle_process_resolve(&img, &o, &p, &err) < 0);
	CHECK_CONTAINS(err.message, "=x");
	o.n_env = 0;
	o.workdir = "relative";
	CHECK(kiln_bundle_process_resolve(&img, &o, &p, &err) < 0);
	CHECK_CONTAINS(err.message, "not absolute");
	o.workdir = NULL;
	o.user = "nosuch";
	CHECK(kiln_bundle_process_resolve(&img, &o, &p, &err) < 0);
	CHECK_CONTAINS(err.message, "nosuch");
	kiln_bundle_image_release(&img);
}

TEST(resolve_user)
{
	uint32_t uid, gid, *gids;
	size_t n;
	struct kiln_error err = { 0 };

	CHECK(kiln_bundle_resolve_user(NULL, passwd, group, &uid, &gid, &gids, &n, &err) == 0);
	CHECK(uid == 0 && gid == 0 && n == 0);
	free(gids);
	CHECK(kiln_bundle_resolve_user("10001", passwd, group, &uid, &gid, &gids, &n, &err) == 0);
	CHECK(uid == 10001 && gid == 10001 && n == 2); /* a known uid brings its gid and groups */
	free(gids);
	CHECK(kiln_bundle_resolve_user("4242", passwd, group, &uid, &gid, &gids, &n, &err) == 0);
	CHECK(uid == 4242 && gid == 0 && n == 0);
	free(gids);
	CHECK(kiln_bundle_resolve_user("4242:77", NULL, NULL, &uid, &gid, &gids, &n, &err) == 0);
	CHECK(uid == 4242 && gid == 77);
	free(gids);
	CHECK(kiln_bundle_resolve_user("web:video", passwd, group, &uid, &gid, &gids, &n, &err) == 0);
	CHECK(uid == 10001 && gid == 44);
	free(gids);
	CHECK(kiln_bundle_resolve_user("nobody", passwd, group, &uid, &gid, &gids, &n, &err) == 0);
	CHECK(uid == 65534 && gid == 65534);
	free(gids);
	CHECK(kiln_bundle_resolve_user("web:nogroup", passwd, group, &uid, &gid, &gids, &n, &err) < 0);
	CHECK_CONTAINS(err.message, "nogroup");
	CHECK(kiln_bundle_resolve_user("broken", passwd, group, &uid, &gid, &gids, &n, &err) < 0);
	CHECK(kiln_bundle_resolve_user("web", NULL, NULL, &uid, &gid, &gids, &n, &err) < 0);
	CHECK(kiln_bundle_resolve_user("99999999999", passwd, group, &uid, &gid, &gids, &n, &err) < 0);
	/* A name that is a prefix of an entry is not that entry. */
	CHECK(kiln_bundle_resolve_user("we", passwd, group, &uid, &gid, &gids, &n, &err) < 0);
}

static json_t *config_of(const struct kiln_bundle_spec *s, char **text)
{
	struct kiln_error err = { 0 };
	*text = kiln_bundle_config_json(s, &err);
	return *text ? json_loads(*text, 0, NULL) : NULL;
}

TEST(config_json)
{
	char *args[] = { "/bin/sh", "-c", "true" }, *env[] = { "PATH=/bin" };
	struct kiln_bundle_process p = { .args = args, .n_args = 3, .env = env, .n_env = 1, .cwd = "/w",
					 .uid = 5, .gid = 6 };
	struct kiln_bundle_mount vols[] = { { "/var/lib/kiln/volumes/data", "/data", false },
					    { "/host/ro", "/ro", true } };
	struct kiln_bundle_spec s = {
		.root_path = "rootfs", .hostname = "box", .process = &p, .volumes = vols, .n_volumes = 2,
		.network = KILN_BUNDLE_NET_NONE, .memory = 64 << 20, .pids = 32, .cpus = 0.5,
		.cgroups_path = "/kiln/abc", .nofile_soft = 1024, .nofile_hard = 4096,
	};
	char *text, *again;
	json_t *c = config_of(&s, &text), *caps, *ns, *m;

	CHECK(c != NULL);
	again = kiln_bundle_config_json(&s, NULL);
	CHECK_STR(again, text); /* deterministic */
	free(again);
	{
		char *sorted = json_dumps(c, JSON_INDENT(2) | JSON_SORT_KEYS);
		CHECK_STR(sorted, text); /* keys sorted */
		free(sorted);
	}
	CHECK_STR(json_string_value(json_object_get(c, "ociVersion")), "1.0.2");
	CHECK_STR(json_string_value(json_object_get(c, "hostname")), "box");
	CHECK(json_is_false(json_object_get(json_object_get(c, "root"), "readonly")));
	json_t *proc = json_object_get(c, "process");
	CHECK(json_is_true(json_object_get(proc, "noNewPrivileges")));
	CHECK(json_is_false(json_object_get(proc, "terminal")));
	CHECK(json_integer_value(json_object_get(json_object_get(proc, "user"), "uid")) == 5);
	CHECK_STR(json_string_value(json_object_get(proc, "cwd")), "/w");
	caps = json_object_get(json_object_get(proc, "capabilities"), "effective");
	{
		/* podman's default set, in capability order. */
		char *names = json_dumps(caps, JSON_COMPACT);
		CHECK_STR(names, "[\"CAP_CHOWN\",\"CAP_DAC_OVERRIDE\",\"CAP_FOWNER\",\"CAP_FSETID\",\"CAP_KILL\","
				 "\"CAP_SETGID\",\"CAP_SETUID\",\"CAP_SETPCAP\",\"CAP_NET_BIND_SERVICE\","
				 "\"CAP_SYS_CHROOT\",\"CAP_SETFCAP\"]");
		free(names);
	}
	CHECK(json_array_size(json_object_get(json_object_get(proc, "capabilities"), "bounding")) == 11);
	CHECK(json_array_size(json_object_get(json_object_get(proc, "capabilities"), "permitted")) == 11);
	json_t *rl = json_array_get(json_object_get(proc, "rlimits"), 0);
	CHECK_STR(json_string_value(json_object_get(rl, "type")), "RLIMIT_NOFILE");
	CHECK(json_integer_value(json_object_get(rl, "hard")) == 4096);

	json_t *linux_ = json_object_get(c, "linux");
	ns = json_object_get(linux_, "namespaces");
	CHECK(json_array_size(ns) == 5);
	CHECK_STR(json_string_value(json_object_get(json_array_get(ns, 4), "type")), "network");
	CHECK(!json_object_get(json_array_get(ns, 4), "path"));
	m = json_object_get(linux_, "resources");
	CHECK(json_integer_value(json_object_get(json_object_get(m, "memory"), "limit")) == 64 << 20);
	CHECK(json_integer_value(json_object_get(json_object_get(m, "pids"), "limit")) == 32);
	CHECK(json_integer_value(json_object_get(json_object_get(m, "cpu"), "quota")) == 50000);
	CHECK(json_integer_value(json_object_get(json_object_get(m, "cpu"), "period")) == 100000);
	CHECK_STR(json_string_value(json_object_get(linux_, "cgroupsPath")), "/kiln/abc");
	/* Ping without CAP_NET_RAW: ICMP datagram sockets for every group. */
	CHECK_STR(json_string_value(json_object_get(json_object_get(linux_, "sysctl"), "net.ipv4.ping_group_range")),
		  "0 2147483647");
	CHECK(json_array_size(json_object_get(linux_, "maskedPaths")) == 11);
	CHECK(json_array_size(json_object_get(linux_, "readonlyPaths")) == 5);

	json_t *mounts = json_object_get(c, "mounts");
	CHECK(json_array_size(mounts) == 9);
	json_t *vol = json_array_get(mounts, 7), *ro = json_array_get(mounts, 8);
	CHECK_STR(json_string_value(json_object_get(vol, "destination")), "/data");
	CHECK_STR(json_string_value(json_array_get(json_object_get(vol, "options"), 0)), "rbind");
	/* Volumes are nosuid and nodev: the container's root writes them. */
	CHECK_STR(json_string_value(json_array_get(json_object_get(vol, "options"), 2)), "nosuid");
	CHECK_STR(json_string_value(json_array_get(json_object_get(vol, "options"), 3)), "nodev");
	CHECK_STR(json_string_value(json_array_get(json_object_get(vol, "options"), 4)), "rw");
	CHECK_STR(json_string_value(json_array_get(json_object_get(ro, "options"), 4)), "ro");
	CHECK_STR(json_string_value(json_object_get(json_array_get(mounts, 5), "destination")), "/sys");
	json_decref(c);
	free(text);

	/* host: no network namespace; container:NAME: join by path. */
	s.network = KILN_BUNDLE_NET_HOST;
	s.memory = s.pids = 0;
	s.cpus = 0;
	c = config_of(&s, &text);
	ns = json_object_get(json_object_get(c, "linux"), "namespaces");
	CHECK(json_array_size(ns) == 4);
	CHECK(!json_object_get(json_object_get(c, "linux"), "sysctl")); /* the host's own */
	CHECK(!json_object_get(json_object_get(json_object_get(c, "linux"), "resources"), "memory"));
	json_decref(c);
	free(text);
	s.network = KILN_BUNDLE_NET_JOIN;
	s.netns_path = "/proc/42/ns/net";
	c = config_of(&s, &text);
	ns = json_object_get(json_object_get(c, "linux"), "namespaces");
	CHECK_STR(json_string_value(json_object_get(json_array_get(ns, 4), "path")), "/proc/42/ns/net");
	CHECK(!json_object_get(json_object_get(c, "linux"), "sysctl")); /* the other container's */
	json_decref(c);
	free(text);

	s.process = NULL;
	struct kiln_error err = { 0 };
	CHECK(kiln_bundle_config_json(&s, &err) == NULL);
}

TEST(capabilities)
{
	struct kiln_error err = { 0 };
	uint64_t set;
	char *net_raw[] = { "NET_RAW" }, *lower[] = { "cap_net_raw", "audit_write" }, *all[] = { "ALL" };
	char *chown_[] = { "chown" }, *admin[] = { "CAP_SYS_ADMIN", "all" }, *bogus[] = { "NET_RAW", "FROB" };
	char *prefix_only[] = { "CAP_" };

	CHECK(kiln_bundle_capabilities(NULL, 0, NULL, 0, &set, &err) == 0);
	CHECK(set == 0x800405fbULL); /* podman's CapEff */
	CHECK(kiln_bundle_capabilities(net_raw, 1, NULL, 0, &set, &err) == 0);
	CHECK(set == (0x800405fbULL | 1ULL << 13));
	CHECK(kiln_bundle_capabilities(lower, 2, NULL, 0, &set, &err) == 0);
	CHECK(set == (0x800405fbULL | 1ULL << 13 | 1ULL << 29));
	CHECK(kiln_bundle_capabilities(NULL, 0, chown_, 1, &set, &err) == 0);
	CHECK(set == (0x800405fbULL & ~1ULL));
	/* --cap-drop ALL: only what is added. */
	CHECK(kiln_bundle_capabilities(chown_, 1, all, 1, &set, &err) == 0);
	CHECK(set == 1);
	CHECK(kiln_bundle_capabilities(NULL, 0, all, 1, &set, &err) == 0);
	CHECK(set == 0);
	/* --cap-add ALL: everything this kernel has, less what is dropped. */
	CHECK(kiln_bundle_capabilities(all, 1, admin, 1, &set, &err) == 0);
	CHECK((set & 0x800405fbULL) == 0x800405fbULL && !(set & (1ULL << 21)) && (set & (1ULL << 13)));
	CHECK(!(set & (1ULL << 63)));

	CHECK(kiln_bundle_capabilities(bogus, 2, NULL, 0, &set, &err) < 0);
	CHECK_STR(err.message, "--cap-add 'FROB': unknown capability (expected a name such as NET_RAW or "
			       "CAP_NET_RAW, or ALL)");
	kiln_error_clear(&err);
	CHECK(kiln_bundle_capabilities(NULL, 0, prefix_only, 1, &set, &err) < 0);
	CHECK_CONTAINS(err.message, "--cap-drop 'CAP_'");
	kiln_error_clear(&err);

	/* In config.json: the set, and a seccomp profile for it. */
	char *args[] = { "/bin/true" };
	struct kiln_bundle_process p = { .args = args, .n_args = 1, .cwd = "/" };
	struct kiln_bundle_spec s = { .process = &p, .network = KILN_BUNDLE_NET_BRIDGE, .cap_add = net_raw,
				      .n_cap_add = 1, .cap_drop = chown_, .n_cap_drop = 1 };
	char *text = kiln_bundle_config_json(&s, &err);
	CHECK(text && strstr(text, "\"CAP_NET_RAW\"") && !strstr(text, "\"CAP_CHOWN\""));
	free(text);
	s.cap_add = bogus;
	s.n_cap_add = 2;
	CHECK(kiln_bundle_config_json(&s, &err) == NULL);
	CHECK_CONTAINS(err.message, "FROB");
}

TEST(parse_size)
{
	int64_t v;
	struct kiln_error err = { 0 };

	CHECK(kiln_bundle_parse_size("64M", &v, &err) == 0 && v == 64 << 20);
	CHECK(kiln_bundle_parse_size("64mb", &v, &err) == 0 && v == 64 << 20);
	CHECK(kiln_bundle_parse_size("1g", &v, &err) == 0 && v == 1 << 30);
	CHECK(kiln_bundle_parse_size("512k", &v, &err) == 0 && v == 512 << 10);
	CHECK(kiln_bundle_parse_size("1000", &v, &err) == 0 && v == 1000);
	CHECK(kiln_bundle_parse_size("0", &v, &err) < 0);
	CHECK(kiln_bundle_parse_size("", &v, &err) < 0);
	CHECK(kiln_bundle_parse_size("-1", &v, &err) < 0);
	CHECK(kiln_bundle_parse_size("12x", &v, &err) < 0);
	CHECK(kiln_bundle_parse_size("99999999999999999999", &v, &err) < 0);
	CHECK(kiln_bundle_parse_size("9999999999999T", &v, &err) < 0);
}

TEST(read_image_file)
{
	char dir[] = "/tmp/kiln-test-bundle-XXXXXX";
	struct kiln_error err = { 0 };
	char *text;

	CHECK(mkdtemp(dir) != NULL);
	_cleanup_free_ char *etc = kiln_path_join(dir, "etc"), *secret = kiln_path_join(dir, "secret");
	_cleanup_free_ char *pw = kiln_path_join(dir, "etc/passwd"), *grp = kiln_path_join(dir, "etc/group");
	mkdir(etc, 0755);
	CHECK(kiln_file_write_atomic(secret, "inside\n", 7, 0644, &err) == 0);
	/* Absolute and ..-climbing links resolve inside the root, as in a chroot. */
	CHECK(symlink("/secret", pw) == 0);
	CHECK(symlink("../../../../../secret", grp) == 0);
	text = kiln_bundle_read_image_file(dir, "etc/passwd", 1024, &err);
	CHECK_STR(text, "inside\n");
	free(text);
	text = kiln_bundle_read_image_file(dir, "etc/group", 1024, &err);
	CHECK_STR(text, "inside\n");
	free(text);
	err.message[0] = 0;
	CHECK(kiln_bundle_read_image_file(dir, "etc/missing", 1024, &err) == NULL);
	CHECK(err.message[0] == 0);
	CHECK(kiln_bundle_read_image_file(dir, "secret", 3, &err) == NULL);
	CHECK_CONTAINS(err.message, "larger");
	unlink(pw);
	unlink(grp);
	unlink(secret);
	rmdir(etc);
	rmdir(dir);
}

int main(void)
{
	RUN(image_parse);
	RUN(process_args);
	RUN(process_env_user_cwd);
	RUN(resolve_user);
	RUN(config_json);
	RUN(capabilities);
	RUN(parse_size);
	RUN(read_image_file);
	return tap_done();
}
