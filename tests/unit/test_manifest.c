/* test_manifest.c - the strict kiln.yaml parser.
 *
 * The docs/manifest.md Synopsis example must parse to the values it shows; then every
 * kind of bad input must fail with "FILE:LINE:COL: key.path: message",
 * checked here by its exact location prefix and a key phrase.  Run under
 * valgrind to check that failures free everything they built.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "debversion.h"
#include "fsutil.h"
#include "manifest.h"
#include "tap.h"
#include "util.h"

/* docs/manifest.md, Synopsis, verbatim. */
static const char design_example[] =
	"kiln: 1                         # schema version, required\n"
	"name: hello-web                 # [a-z0-9][a-z0-9._-]{0,127}\n"
	"architecture: amd64\n"
	"sources:\n"
	"  - name: debian\n"
	"    suite: bookworm\n"
	"    components: [main]\n"
	"    keyring: /usr/share/keyrings/debian-archive-keyring.gpg  # or trusted: true\n"
	"    # url: http://mirror.example/debian   optional, see \"Mirrors\" below\n"
	"    # fallback: [URL, …]        more base URLs (e.g. a snapshot archive) tried for pinned files\n"
	"packages:                       # FROM + apt-get install, but every version exact\n"
	"  busybox-static: \"1:1.35.0-4+b3\"\n"
	"  ca-certificates: \"20230311\"\n"
	"epoch: \"0\"                      # mtime of files kiln writes; optional (see building.md, Time)\n"
	"base: scratch                   # scratch | manifests/base.yaml (another manifest, built at the same commit) | oci:PATH@sha256:DIGEST\n"
	"files:                          # COPY, from the commit's tree, relative to this manifest's directory\n"
	"  - src: www/\n"
	"    dst: /srv/www/\n"
	"    mode: \"0644\"                # files; directories get 0755 unless dir_mode is set\n"
	"    owner: \"0:0\"\n"
	"accounts:\n"
	"  groups: [{name: web, gid: 10001}]\n"
	"  users:  [{name: web, uid: 10001, gid: 10001, home: /srv, shell: /usr/sbin/nologin}]\n"
	"run:                            # RUN: build-time commands, no network, each one a cached layer\n"
	"  - update-ca-certificates\n"
	"config:                         # CMD, ENTRYPOINT and the rest of the OCI image config\n"
	"  entrypoint: [/bin/busybox, httpd, -f, -p, \"8080\", -h, /srv/www]\n"
	"  cmd: []\n"
	"  env: {LANG: C.UTF-8}\n"
	"  workdir: /srv\n"
	"  user: web\n"
	"  ports: [8080/tcp]\n"
	"  labels: {org.opencontainers.image.title: hello-web}\n"
	"  stop_signal: SIGTERM\n"
	"service:                        # how `kiln deploy` runs it\n"
	"  network: bridge               # bridge | host | none | container:NAME\n"
	"  publish: [\"8080:8080/tcp\"]    # host port : container port\n"
	"  volumes: [\"web-data:/var/lib/web\"]\n"
	"  health: {http: /, port: 8080, interval: 500ms, timeout: 1s, retries: 20}\n"
	"  resources: {memory: 128M, pids: 256, cpus: 0.5}\n"
	"  update: {order: start-first, drain: 2s, on_failure: rollback}\n";

/* A minimal valid manifest of 6 lines; cases append from line 7. */
#define HEAD                                                                         \
	"kiln: 1\n"                                                                  \
	"name: t\n"                                                                  \
	"sources:\n"                                                                 \
	"  - {name: d, suite: bookworm, trusted: true}\n"                            \
	"packages:\n"                                                                \
	"  curl: 7.88.1-10\n"

static struct kiln_manifest *parse(const char *yaml, struct kiln_error *err)
{
	kiln_error_clear(err);
	return kiln_manifest_parse("kiln.yaml", yaml, strlen(yaml), err);
}

/* Parse yaml, which must fail with a message starting with `prefix` and
 * containing `phrase`; false (with the message printed) otherwise. */
static bool fails_with(const char *yaml, size_t len, const char *prefix, const char *phrase)
{
	struct kiln_error err = { 0 };
	struct kiln_manifest *m = kiln_manifest_parse("kiln.yaml", yaml, len, &err);

	if (m) {
		printf("# parsed, but expected: %s…%s\n", prefix, phrase);
		kiln_manifest_free(m);
		return false;
	}
	if (strncmp(err.message, prefix, strlen(prefix)) != 0 || !strstr(err.message, phrase)) {
		printf("# got:  %s\n# want: %s…%s\n", err.message, prefix, phrase);
		return false;
	}
	return true;
}

#define CHECK_FAILS(yaml, prefix, phrase) CHECK(fails_with(yaml, strlen(yaml), prefix, phrase))

/* ------------------------------------------------------------------------ */

TEST(design_example_parses)
{
	struct kiln_error err = { 0 };
	_cleanup_manifest_ struct kiln_manifest *m = parse(design_example, &err);

	CHECK(m != NULL);
	if (!m) {
		printf("# %s\n", err.message);
		return;
	}
	CHECK_STR(m->path, "kiln.yaml");
	CHECK_STR(m->name, "hello-web");
	CHECK_STR(m->architecture, "amd64");
	CHECK(m->n_sources == 1);
	CHECK_STR(m->sources[0].name, "debian");
	CHECK_STR(m->sources[0].suite, "bookworm");
	CHECK(m->sources[0].n_components == 1);
	CHECK_STR(m->sources[0].components[0], "main");
	CHECK_STR(m->sources[0].keyring, "/usr/share/keyrings/debian-archive-keyring.gpg");
	CHECK(!m->sources[0].trusted);
	CHECK(m->sources[0].url == NULL);
	CHECK(m->sources[0].n_fallback == 0);
	CHECK(m->sources[0].mark.line == 5 && m->sources[0].mark.column == 5);

	CHECK(m->n_packages == 2);
	CHECK_STR(m->packages[0].name, "busybox-static");
	CHECK_STR(m->packages[0].version, "1:1.35.0-4+b3");
	CHECK(m->packages[0].mark.line == 12 && m->packages[0].mark.column == 19);
	CHECK_STR(m->packages[1].name, "ca-certificates");
	CHECK_STR(m->packages[1].version, "20230311");

	CHECK_STR(m->epoch, "0");
	CHECK_STR(m->base, "scratch");

	CHECK(m->n_files == 1);
	CHECK_STR(m->files[0].src, "www/");
	CHECK_STR(m->files[0].dst, "/srv/www/");
	CHECK_STR(m->files[0].mode, "0644");
	CHECK(m->files[0].dir_mode == NULL);
	CHECK_STR(m->files[0].owner, "0:0");
	CHECK(m->files[0].mark.line == 17);

	CHECK(m->n_groups == 1);
	CHECK_STR(m->groups[0].name, "web");
	CHECK_STR(m->groups[0].gid, "10001");
	CHECK(m->groups[0].n_members == 0);
	CHECK(m->n_users == 1);
	CHECK_STR(m->users[0].name, "web");
	CHECK_STR(m->users[0].uid, "10001");
	CHECK_STR(m->users[0].gid, "10001");
	CHECK_STR(m->users[0].home, "/srv");
	CHECK_STR(m->users[0].shell, "/usr/sbin/nologin");
	CHECK(m->users[0].n_groups == 0);

	CHECK(m->n_run == 1);
	CHECK_STR(m->run[0].argv[0], "update-ca-certificates");
	CHECK(!m->run[0].exec && m->run[0].n_argv == 1);

	const struct kiln_image_config *c = &m->config;
	static const char *const ep[] = { "/bin/busybox", "httpd", "-f", "-p", "8080", "-h",
					  "/srv/www" };
	CHECK(c->has_entrypoint);
	CHECK(c->n_entrypoint == KILN_ARRAY_SIZE(ep));
	for (size_t i = 0; i < c->n_entrypoint && i < KILN_ARRAY_SIZE(ep); i++)
		CHECK_STR(c->entrypoint[i], ep[i]);
	CHECK(c->has_cmd);
	CHECK(c->n_cmd == 0);
	CHECK(c->n_env == 1);
	CHECK_STR(c->env[0].key, "LANG");
	CHECK_STR(c->env[0].value, "C.UTF-8");
	CHECK_STR(c->workdir, "/srv");
	CHECK_STR(c->user, "web");
	CHECK(c->n_ports == 1);
	CHECK_STR(c->ports[0], "8080/tcp");
	CHECK(c->n_labels == 1);
	CHECK_STR(c->labels[0].key, "org.opencontainers.image.title");
	CHECK_STR(c->labels[0].value, "hello-web");
	CHECK_STR(c->stop_signal, "SIGTERM");
	CHECK(c->n_volumes == 0);

	const struct kiln_service *s = &m->service;
	CHECK(s->present);
	CHECK_STR(s->network, "bridge");
	CHECK(s->n_publish == 1);
	CHECK_STR(s->publish[0], "8080:8080/tcp");
	CHECK(s->n_volumes == 1);
	CHECK_STR(s->volumes[0], "web-data:/var/lib/web");
	CHECK(s->has_health);
	CHECK_STR(s->health.http, "/");
	CHECK_STR(s->health.port, "8080");
	CHECK(s->health.n_cmd == 0);
	CHECK_STR(s->health.interval, "500ms");
	CHECK_STR(s->health.timeout, "1s");
	CHECK(s->health.start_period == NULL);
	CHECK_STR(s->health.retries, "20");
	CHECK_STR(s->memory, "128M");
	CHECK_STR(s->pids, "256");
	CHECK_STR(s->cpus, "0.5");
	CHECK_STR(s->update_order, "start-first");
	CHECK_STR(s->update_drain, "2s");
	CHECK_STR(s->update_on_failure, "rollback");
}

TEST(minimal_defaults)
{
	struct kiln_error err = { 0 };
	_cleanup_manifest_ struct kiln_manifest *m = parse(HEAD, &err);

	CHECK(m != NULL);
	if (!m) {
		printf("# %s\n", err.message);
		return;
	}
	CHECK_STR(m->architecture, "amd64");
	CHECK_STR(m->epoch, "0");
	CHECK_STR(m->base, "scratch");
	CHECK(m->sources[0].trusted);
	CHECK(m->sources[0].keyring == NULL);
	CHECK(m->sources[0].n_components == 1);
	CHECK_STR(m->sources[0].components[0], "main");
	CHECK(m->n_files == 0 && m->n_users == 0 && m->n_groups == 0 && m->n_run == 0);
	CHECK(!m->config.has_entrypoint && !m->config.has_cmd);
	CHECK(!m->service.present && !m->service.has_health);
	CHECK(m->config.workdir == NULL && m->service.network == NULL);
}

TEST(scalars_keep_their_text)
{
	/* No YAML 1.1 implicit typing: what is written is what kiln sees. */
	const char *yaml = HEAD
		"  vim: 1.10\n"
		"  less: 0590\n"
		"epoch: 1e3\n" /* refused below: only digits; checked separately */;
	struct kiln_error err = { 0 };
	struct kiln_manifest *bad = parse(yaml, &err);

	CHECK(bad == NULL);
	CHECK_CONTAINS(err.message, "kiln.yaml:9:8: epoch: \"1e3\" is not a valid epoch");

	yaml = HEAD
		"  vim: 1.10\n"
		"  less: 0590\n"
		"epoch: 0100\n"
		"files: [{src: a, dst: /a, mode: 0644, owner: 0:0}]\n"
		"config:\n"
		"  cmd: [1e3, 0x10, ~, null, yes, off, 1_000, .inf]\n"
		"  env: {A: 1.0, B: yes, C: ~, D: '', E: \"\", F: 010}\n";
	_cleanup_manifest_ struct kiln_manifest *m = parse(yaml, &err);
	CHECK(m != NULL);
	if (!m) {
		printf("# %s\n", err.message);
		return;
	}
	CHECK_STR(m->packages[1].name, "vim");
	CHECK_STR(m->packages[1].version, "1.10");
	CHECK_STR(m->packages[2].version, "0590");
	CHECK_STR(m->epoch, "0100");
	CHECK_STR(m->files[0].mode, "0644");
	CHECK_STR(m->files[0].owner, "0:0"); /* YAML 1.1 would make this sexagesimal 0 */
	static const char *const cmd[] = { "1e3", "0x10", "~", "null", "yes", "off", "1_000", ".inf" };
	CHECK(m->config.n_cmd == KILN_ARRAY_SIZE(cmd));
	for (size_t i = 0; i < m->config.n_cmd && i < KILN_ARRAY_SIZE(cmd); i++)
		CHECK_STR(m->config.cmd[i], cmd[i]);
	static const char *const env[] = { "1.0", "yes", "~", "", "", "010" };
	CHECK(m->config.n_env == KILN_ARRAY_SIZE(env));
	for (size_t i = 0; i < m->config.n_env && i < KILN_ARRAY_SIZE(env); i++)
		CHECK_STR(m->config.env[i].value, env[i]);
}

TEST(package_order_is_file_order)
{
	struct kiln_error err = { 0 };
	_cleanup_manifest_ struct kiln_manifest *m = parse(
		"kiln: 1\nname: t\nsources: [{name: d, suite: s, trusted: true}]\n"
		"packages:\n  zz: 1\n  aa: 2\n  mm: 3\n  libc6: 2.36-9+deb12u10\n  g++-12: 12.2.0-14\n",
		&err);

	CHECK(m != NULL);
	if (!m)
		return;
	CHECK(m->n_packages == 5);
	CHECK_STR(m->packages[0].name, "zz");
	CHECK_STR(m->packages[1].name, "aa");
	CHECK_STR(m->packages[2].name, "mm");
	CHECK_STR(m->packages[3].version, "2.36-9+deb12u10");
	CHECK_STR(m->packages[4].name, "g++-12");
	CHECK(m->packages[1].mark.line == 6 && m->packages[1].mark.column == 7);
}

TEST(full_sources_and_accounts)
{
	const char *yaml =
		"kiln: 1\n"
		"name: full.example_1\n"
		"architecture: arm64\n"
		"sources:\n"
		"  - name: debian\n"
		"    suite: bookworm\n"
		"    components: [main, contrib, non-free-firmware]\n"
		"    keyring: keys/debian.gpg\n"
		"    trusted: false\n"
		"    url: https://deb.debian.org/debian\n"
		"    fallback: [\"http://snapshot.debian.org/archive/debian/20240101T000000Z\"]\n"
		"  - name: security\n"
		"    suite: bookworm-security\n"
		"    trusted: true\n"
		"packages: {libc6: 2.36-9+deb12u10}\n"
		"epoch: \"1700000000\"\n"
		"base: manifests/base.yaml\n"
		"files:\n"
		"  - {src: ./conf/app.conf, dst: /etc/app.conf, mode: \"600\", dir_mode: \"0750\", owner: \"1000:1000\"}\n"
		"accounts:\n"
		"  groups:\n"
		"    - {name: app, gid: 1000, members: [app, _svc]}\n"
		"    - {name: log, gid: 4}\n"
		"  users:\n"
		"    - {name: app, uid: 1000, gid: 1000, groups: [log]}\n"
		"    - {name: _svc, uid: 0, gid: 0, home: /var/empty, shell: /bin/sh}\n"
		"run: [\"echo hi\", \"|\\nmultiline\", [/bin/touch, \"\", /x]]\n"
		"config:\n"
		"  entrypoint: []\n"
		"  user: \"1000:app\"\n"
		"  ports: [\"53/udp\", \"443\"]\n"
		"  labels: {\"a b\": c}\n"
		"  stop_signal: SIGRTMIN+3\n"
		"  volumes: [/data]\n"
		"service:\n"
		"  network: container:db-1\n"
		"  publish: [\"127.0.0.1:8080:80/tcp\", \"127.0.0.2:53:53/udp\", \"80:80\"]\n"
		"  volumes: [\"data:/data:ro\", \"cache.1:/var/cache:rw\"]\n"
		"  health: {cmd: [/bin/true], start_period: 0s, retries: 0}\n"
		"  resources: {memory: \"1073741824\", pids: 1, cpus: \"2\"}\n"
		"  update: {order: stop-first, on_failure: continue, grace: 3s, monitor: 1m}\n"
		"  init: \"false\"\n"
		"  after: [db, cache]\n";
	struct kiln_error err = { 0 };
	_cleanup_manifest_ struct kiln_manifest *m = parse(yaml, &err);

	CHECK(m != NULL);
	if (!m) {
		printf("# %s\n", err.message);
		return;
	}
	CHECK_STR(m->architecture, "arm64");
	CHECK(m->n_sources == 2);
	CHECK(m->sources[0].n_components == 3);
	CHECK_STR(m->sources[0].components[2], "non-free-firmware");
	CHECK(!m->sources[0].trusted);
	CHECK_STR(m->sources[0].keyring, "keys/debian.gpg");
	CHECK_STR(m->sources[0].url, "https://deb.debian.org/debian");
	CHECK(m->sources[0].n_fallback == 1);
	CHECK(m->sources[1].trusted);
	CHECK(m->sources[1].mark.line == 12);
	CHECK_STR(m->epoch, "1700000000");
	CHECK_STR(m->base, "manifests/base.yaml");
	CHECK_STR(m->files[0].mode, "600");
	CHECK_STR(m->files[0].dir_mode, "0750");
	CHECK(m->n_groups == 2 && m->groups[0].n_members == 2);
	CHECK_STR(m->groups[0].members[1], "_svc");
	CHECK(m->n_users == 2);
	CHECK(m->users[0].home == NULL && m->users[0].shell == NULL);
	CHECK(m->users[0].n_groups == 1);
	CHECK_STR(m->users[1].shell, "/bin/sh");
	CHECK(m->n_run == 3);
	CHECK(m->run[2].exec && m->run[2].n_argv == 3);
	CHECK_STR(m->run[2].argv[0], "/bin/touch");
	CHECK_STR(m->run[2].argv[1], "");
	CHECK(m->config.has_entrypoint && m->config.n_entrypoint == 0);
	CHECK(!m->config.has_cmd);
	CHECK_STR(m->config.ports[0], "53/udp");
	CHECK_STR(m->config.ports[1], "443/tcp");
	CHECK_STR(m->config.labels[0].key, "a b");
	CHECK_STR(m->service.network, "container:db-1");
	CHECK(m->service.n_publish == 3);
	CHECK(m->service.has_health && m->service.health.n_cmd == 1);
	CHECK(m->service.health.http == NULL);
	CHECK_STR(m->service.health.retries, "0");
	CHECK_STR(m->service.memory, "1073741824");
	CHECK(m->service.update_drain == NULL);
	CHECK_STR(m->service.update_grace, "3s");
	CHECK_STR(m->service.update_monitor, "1m");
	CHECK_STR(m->service.init, "false");
	CHECK(m->service.n_after == 2);
	CHECK_STR(m->service.after[1], "cache");
	CHECK(m->service.health.tcp == NULL);
}

TEST(base_forms)
{
	static const char *const good[] = {
		"scratch", "base.yaml", "manifests/base.yml", "./b/base.yaml",
		"oci:images/x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"oci:/abs/layout@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(good); i++) {
		_cleanup_free_ char *yaml = kiln_xasprintf(HEAD "base: \"%s\"\n", good[i]);
		struct kiln_error err = { 0 };
		_cleanup_manifest_ struct kiln_manifest *m = parse(yaml, &err);

		if (!m)
			printf("# %s: %s\n", good[i], err.message);
		CHECK(m != NULL);
		if (m)
			CHECK_STR(m->base, good[i]);
	}
}

TEST(scripts_and_debconf)
{
	struct kiln_error err = { 0 };
	_cleanup_manifest_ struct kiln_manifest *m = parse(HEAD "scripts: skip\ndebconf:\n"
							   "  - \"tzdata tzdata/Areas select Etc\"\n"
							   "  - \"nginx-common nginx/x boolean true\"\n"
							   "  - \"pkg q/empty string\"\n", &err);
	if (!m)
		printf("# %s\n", err.message);
	CHECK(m != NULL);
	if (!m)
		return;
	CHECK_STR(m->scripts, "skip");
	CHECK(m->n_debconf == 3);
	CHECK_STR(m->debconf[1], "nginx-common nginx/x boolean true");
	{
		_cleanup_manifest_ struct kiln_manifest *d = parse(HEAD, &err);
		CHECK(d && d->scripts == NULL && d->n_debconf == 0);
	}
}

TEST(value_forms_accepted)
{
	/* One good spelling of each rule, so the bad cases are not vacuous. */
	static const char *const good[] = {
		"config: {stop_signal: \"9\"}",
		"config: {stop_signal: SIGKILL}",
		"config: {stop_signal: SIGRTMAX-30}",
		"config: {user: web}",
		"config: {user: \"0\"}",
		"config: {user: \"web:100\"}",
		"config: {ports: [\"65535/udp\", \"1\"]}",
		"config: {workdir: /}",
		"service: {network: host}",
		"service: {network: none}",
		"service: {publish: [\"0.0.0.0:1:65535\"]}",
		"service: {health: {http: /healthz?x=1, port: 8080, interval: 9h, timeout: 999999999ms}}",
		"service: {resources: {memory: 512k, cpus: \"0.25\"}}",
		"service: {resources: {memory: 8G, cpus: \"64\"}}",
		"service: {update: {drain: 1m}}",
		"service: {update: {grace: 1m30s, monitor: 0s}}",
		"service: {health: {tcp: \"65535\", retries: \"1\"}}",
		"service: {init: false, after: [db, cache-1]}",
		"service: {after: []}",
		"files: [{src: \"a b/c\", dst: /x}]",
		"files: [{src: ./, dst: /}]",
		"files: [{src: a, dst: /b, mode: \"7777\"}]",
		"files: [{src: a..b, dst: /b}]",
		"accounts: {users: [{name: a, uid: \"4294967294\", gid: \"0\"}]}",
		"accounts: {}",
		"run: []",
		"config: {}",
		"service: {}",
	};
	for (size_t i = 0; i < KILN_ARRAY_SIZE(good); i++) {
		_cleanup_free_ char *yaml = kiln_xasprintf(HEAD "%s\n", good[i]);
		struct kiln_error err = { 0 };
		_cleanup_manifest_ struct kiln_manifest *m = parse(yaml, &err);

		if (!m)
			printf("# %s: %s\n", good[i], err.message);
		CHECK(m != NULL);
	}
}

/* ------------------------------------------------------------------------ */
/* Bad input: one TAP line per case                                          */

struct bad_case {
	const char *name;
	const char *yaml;
	const char *prefix; /* the message starts with this */
	const char *phrase; /* and contains this */
};

#define SRC_TRUSTED "sources: [{name: d, suite: s, trusted: true}]\n"

static const struct bad_case bad_cases[] = {
	/* scripts: and debconf: */
	{ "scripts: neither run nor skip", HEAD "scripts: no\n", "kiln.yaml:7:10: scripts: \"no\" is not a valid scripts", "must be run (configure the packages as dpkg would) or skip" },
	{ "debconf: not a list", HEAD "debconf: x\n", "kiln.yaml:7:10: debconf: expected a list", "" },
	{ "debconf: no package", HEAD "debconf: [\"Tzdata q select x\"]\n", "kiln.yaml:7:11: debconf[0]:", "must start with a package name" },
	{ "debconf: no question", HEAD "debconf: [\"tzdata  select x\"]\n", "kiln.yaml:7:11: debconf[0]:", "needs a question name" },
	{ "debconf: unknown type", HEAD "debconf: [\"tzdata q choice x\"]\n", "kiln.yaml:7:11: debconf[0]:", "needs a type" },
	{ "debconf: bad boolean", HEAD "debconf: [\"pk q boolean yes\"]\n", "kiln.yaml:7:11: debconf[0]:", "true or false" },
	{ "debconf: a newline", HEAD "debconf: [\"p q string a\\nb\"]\n", "kiln.yaml:7:11: debconf[0]:", "one line" },
	/* Keys */
	{ "unknown key at top level", "kiln: 1\nnmae: x\n", "kiln.yaml:2:1: unknown key \"nmae\" (expected one of: kiln, name, architecture, sources",
	  "did you mean \"name\"?" },
	{ "unknown key without a guess", HEAD "frobnicate: 1\n", "kiln.yaml:7:1: unknown key \"frobnicate\"",
	  "service)" },
	{ "short unknown key without a guess", HEAD "ab: 1\n", "kiln.yaml:7:1: unknown key \"ab\"", "service)" },
	{ "nearest guess", HEAD "config: {usr: x}\n", "kiln.yaml:7:10: config: unknown key \"usr\"", "did you mean \"user\"?" },
	{ "guess with a swap", HEAD "servcie: {}\n", "kiln.yaml:7:1: unknown key \"servcie\"", "did you mean \"service\"?" },
	{ "unknown key in a source", "kiln: 1\nname: t\nsources:\n  - name: d\n    suit: s\n",
	  "kiln.yaml:5:5: sources[0]: unknown key \"suit\" (expected one of: name, suite, components", "did you mean \"suite\"" },
	{ "unknown key in config", HEAD "config:\n  entrypiont: [x]\n", "kiln.yaml:8:3: config: unknown key \"entrypiont\"",
	  "did you mean \"entrypoint\"" },
	{ "unknown key in service.health", HEAD "service:\n  health: {http: /, intervall: 1s}\n",
	  "kiln.yaml:8:21: service.health: unknown key \"intervall\"", "interval" },
	{ "unknown key in files[1]", HEAD "files:\n  - {src: a, dst: /a}\n  - {src: b, dst: /b, user: x}\n",
	  "kiln.yaml:9:23: files[1]: unknown key \"user\"", "owner" },
	{ "duplicate key at top level", "kiln: 1\nname: a\nname: b\n", "kiln.yaml:3:1: duplicate key \"name\"",
	  "(first at line 2)" },
	{ "duplicate key in a source", "kiln: 1\nname: t\nsources:\n  - name: d\n    suite: a\n    suite: b\n",
	  "kiln.yaml:6:5: sources[0]: duplicate key \"suite\"", "(first at line 5)" },
	{ "duplicate package", HEAD "  curl: 7.88.1-11\n", "kiln.yaml:7:3: packages: duplicate key \"curl\"",
	  "(first at line 6)" },
	{ "duplicate env name", HEAD "config:\n  env:\n    A: 1\n    B: 2\n    A: 3\n",
	  "kiln.yaml:11:5: config.env: duplicate key \"A\"", "(first at line 9)" },
	{ "duplicate source name", "kiln: 1\nname: t\nsources:\n  - {name: d, suite: a, trusted: true}\n  - {name: d, suite: b, trusted: true}\n",
	  "kiln.yaml:5:12: sources[1].name: duplicate source name \"d\"", "(first at line 4)" },
	{ "duplicate component", "kiln: 1\nname: t\nsources: [{name: d, suite: s, trusted: true, components: [main, main]}]\n",
	  "kiln.yaml:3:65: sources[0].components[1]: duplicate component \"main\"", "first at line 3" },
	{ "key that is a list", HEAD "? [a]\n: b\n", "kiln.yaml:7:3: keys must be strings, got a list", "" },
	{ "package key that is a mapping", HEAD "  ? {a: b}\n  : 1\n", "kiln.yaml:7:5: packages: keys must be strings, got a mapping", "" },

	/* Types */
	{ "sources is a mapping", "kiln: 1\nname: t\nsources: {name: d}\n", "kiln.yaml:3:10: sources: expected a list, got a mapping", "" },
	{ "components is a mapping", "\n\nkiln: 1\nname: x\nsources:\n  - name: d\n    suite: s\n    trusted: true\n    components: {a: b}\n",
	  "kiln.yaml:9:17: sources[0].components: expected a list, got a mapping", "" },
	{ "components is a string", "kiln: 1\nname: t\nsources: [{name: d, suite: s, trusted: true, components: main}]\n",
	  "kiln.yaml:3:58: sources[0].components: expected a list, got a string", "" },
	{ "name is a list", "kiln: 1\nname: [a]\n", "kiln.yaml:2:7: name: expected a string, got a list", "" },
	{ "kiln is a mapping", "kiln: {v: 1}\n", "kiln.yaml:1:7: kiln: expected a string, got a mapping", "" },
	{ "packages is a list", "kiln: 1\nname: t\n" SRC_TRUSTED "packages: [curl]\n",
	  "kiln.yaml:4:11: packages: expected a mapping, got a list", "" },
	{ "config is empty", HEAD "config:\n", "kiln.yaml:7:8: config: expected a mapping, got an empty value", "" },
	{ "files item is a string", HEAD "files: [www/]\n", "kiln.yaml:7:9: files[0]: expected a mapping, got a string", "" },
	{ "env value is a list", HEAD "config:\n  env:\n    LANG: [C]\n", "kiln.yaml:9:11: config.env.LANG: expected a string, got a list", "" },
	{ "package version is a mapping", HEAD "  vim: {version: 1}\n", "kiln.yaml:7:8: packages.vim: expected a string, got a mapping", "" },
	{ "run is a string", HEAD "run: make\n", "kiln.yaml:7:6: run: expected a list, got a string", "" },
	{ "accounts.users is a mapping", HEAD "accounts:\n  users: {name: a}\n",
	  "kiln.yaml:8:10: accounts.users: expected a list, got a mapping", "" },
	{ "service.health is a list", HEAD "service:\n  health: [/]\n", "kiln.yaml:8:11: service.health: expected a mapping, got a list", "" },

	/* Missing keys */
	{ "missing sources and packages", "kiln: 1\nname: x\n", "kiln.yaml:1:1: missing required keys \"sources\" and \"packages\"", "" },
	{ "missing everything", "a: 1\n", "kiln.yaml:1:1: unknown key \"a\"", "" },
	{ "missing kiln", "name: t\n" SRC_TRUSTED "packages: {curl: 1}\n",
	  "kiln.yaml:1:1: missing required key \"kiln\"", "" },
	{ "missing suite", "\n\nkiln: 1\nname: x\nsources:\n  - name: d\n    trusted: true\npackages: {a1: 1}\n",
	  "kiln.yaml:6:5: sources[0]: missing required key \"suite\"", "" },
	{ "missing keyring", "kiln: 1\nname: t\nsources: [{name: d, suite: s}]\n",
	  "kiln.yaml:3:11: sources[0]: missing required key \"keyring\"", "or trusted: true" },
	{ "trusted false needs a keyring", "kiln: 1\nname: t\nsources: [{name: d, suite: s, trusted: false}]\n",
	  "kiln.yaml:3:11: sources[0]: missing required key \"keyring\"", "" },
	{ "keyring and trusted", "kiln: 1\nname: t\nsources: [{name: d, suite: s, keyring: k, trusted: true}]\n",
	  "kiln.yaml:3:52: sources[0]: give either keyring or trusted: true, not both", "" },
	{ "missing dst", HEAD "files:\n  - src: a\n", "kiln.yaml:8:5: files[0]: missing required key \"dst\"", "" },
	{ "missing uid", HEAD "accounts:\n  users:\n    - name: a\n      gid: 1\n",
	  "kiln.yaml:9:7: accounts.users[0]: missing required key \"uid\"", "" },
	{ "missing three keys", HEAD "accounts:\n  users: [{home: /}]\n",
	  "kiln.yaml:8:11: accounts.users[0]: missing required keys \"name\", \"uid\" and \"gid\"", "" },

	/* Versions */
	{ "version latest", HEAD "  vim: latest\n", "kiln.yaml:7:8: packages.vim: version \"latest\" is not an exact Debian version",
	  "pin an exact version, e.g. 1.35.0-4" },
	{ "version range", HEAD "  vim: \">= 1.0\"\n", "kiln.yaml:7:8: packages.vim: version \">= 1.0\" is not an exact Debian version",
	  "pin an exact version" },
	{ "version star", HEAD "  vim: \"*\"\n", "kiln.yaml:7:8: packages.vim: version \"*\" is not an exact", "pin an exact version" },
	{ "version empty", HEAD "  vim:\n", "kiln.yaml:7:7: packages.vim: version \"\" is not an exact Debian version (version is empty)",
	  "pin an exact version" },
	{ "version empty revision", HEAD "  vim: 1.0-\n", "kiln.yaml:7:8: packages.vim: version \"1.0-\" is not an exact Debian version (revision after the last '-' is empty)", "" },
	{ "version bad character", HEAD "  vim: 1_0\n", "kiln.yaml:7:8: packages.vim: version \"1_0\" is not an exact Debian version (upstream", "" },
	{ "version bad epoch", HEAD "  vim: \":1\"\n", "kiln.yaml:7:8: packages.vim: version \":1\"", "epoch" },
	{ "no packages", "kiln: 1\nname: t\n" SRC_TRUSTED "packages: {}\n", "kiln.yaml:4:11: packages: must list at least one package", "" },
	{ "no sources", "kiln: 1\nname: t\nsources: []\n", "kiln.yaml:3:10: sources: must list at least one source", "" },
	{ "no components", "kiln: 1\nname: t\nsources: [{name: d, suite: s, trusted: true, components: []}]\n",
	  "kiln.yaml:3:58: sources[0].components: must list at least one component", "" },

	/* Names */
	{ "manifest name uppercase", "kiln: 1\nname: Hello\n", "kiln.yaml:2:7: name: \"Hello\" is not a valid name", "lowercase" },
	{ "manifest name too long", "kiln: 1\nname: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
	  "kiln.yaml:2:7: name: \"aaaa", "1 to 128 characters" },
	{ "manifest name with slash", "kiln: 1\nname: a/b\n", "kiln.yaml:2:7: name: \"a/b\" is not a valid name", "" },
	{ "package name uppercase", HEAD "  Vim: 1\n", "kiln.yaml:7:3: packages: \"Vim\" is not a valid package name", "at least 2 characters" },
	{ "package name one letter", HEAD "  v: 1\n", "kiln.yaml:7:3: packages: \"v\" is not a valid package name", "" },
	{ "package name underscore", HEAD "  lib_x: 1\n", "kiln.yaml:7:3: packages: \"lib_x\" is not a valid package name", "" },
	{ "source name", "kiln: 1\nname: t\nsources: [{name: Debian, suite: s, trusted: true}]\n",
	  "kiln.yaml:3:18: sources[0].name: \"Debian\" is not a valid source name", "" },
	{ "architecture", HEAD "architecture: AMD64\n", "kiln.yaml:7:15: architecture: \"AMD64\" is not a valid architecture", "" },
	{ "schema version", "kiln: 2\n", "kiln.yaml:1:7: kiln: unsupported schema version \"2\"", "kiln: 1" },
	{ "schema version 1.0", "kiln: 1.0\n", "kiln.yaml:1:7: kiln: unsupported schema version \"1.0\"", "" },
	{ "env name", HEAD "config: {env: {1X: a}}\n", "kiln.yaml:7:16: config.env: \"1X\" is not a valid environment variable name", "" },
	{ "user name", HEAD "accounts: {users: [{name: Web, uid: 1, gid: 1}]}\n",
	  "kiln.yaml:7:27: accounts.users[0].name: \"Web\" is not a valid user name", "" },
	{ "group member name", HEAD "accounts: {groups: [{name: g, gid: 1, members: [ok, \"no:\"]}]}\n",
	  "kiln.yaml:7:53: accounts.groups[0].members[1]: \"no:\" is not a valid user name", "" },

	/* Sources */
	{ "trusted yes", "kiln: 1\nname: t\nsources: [{name: d, suite: s, trusted: yes}]\n",
	  "kiln.yaml:3:40: sources[0].trusted: \"yes\" is not a boolean: write true or false", "" },
	{ "trusted True", "kiln: 1\nname: t\nsources: [{name: d, suite: s, trusted: True}]\n",
	  "kiln.yaml:3:40: sources[0].trusted: \"True\" is not a boolean", "" },
	{ "suite with ..", "kiln: 1\nname: t\nsources: [{name: d, suite: a/../b, trusted: true}]\n",
	  "kiln.yaml:3:28: sources[0].suite: \"a/../b\" is not a valid suite", "\"..\"" },
	{ "suite starting with dot", "kiln: 1\nname: t\nsources: [{name: d, suite: ../x, trusted: true}]\n",
	  "kiln.yaml:3:28: sources[0].suite: \"../x\" is not a valid suite", "start with a letter" },
	{ "empty keyring", "kiln: 1\nname: t\nsources: [{name: d, suite: s, keyring: ''}]\n",
	  "kiln.yaml:3:40: sources[0].keyring: \"\" is not a valid keyring path: must not be empty", "" },
	{ "ftp url", "kiln: 1\nname: t\nsources: [{name: d, suite: s, trusted: true, url: ftp://x/}]\n",
	  "kiln.yaml:3:51: sources[0].url: \"ftp://x/\" is not a valid URL: must start with http:// or https://", "" },
	{ "url with query", "kiln: 1\nname: t\nsources: [{name: d, suite: s, trusted: true, url: \"http://x/?a\"}]\n",
	  "kiln.yaml:3:51: sources[0].url: \"http://x/?a\" is not a valid URL", "query" },
	{ "url without host", "kiln: 1\nname: t\nsources: [{name: d, suite: s, trusted: true, url: \"https://\"}]\n",
	  "kiln.yaml:3:51: sources[0].url", "no host" },
	{ "url with space", "kiln: 1\nname: t\nsources: [{name: d, suite: s, trusted: true, url: \"http://x/a b\"}]\n",
	  "kiln.yaml:3:51: sources[0].url", "whitespace" },
	{ "fallback url", "kiln: 1\nname: t\nsources: [{name: d, suite: s, trusted: true, fallback: [http://a, file:///b]}]\n",
	  "kiln.yaml:3:67: sources[0].fallback[1]: \"file:///b\" is not a valid URL", "" },

	/* Paths */
	{ "absolute src", HEAD "files:\n  - src: /etc/passwd\n    dst: /x\n",
	  "kiln.yaml:8:10: files[0].src: \"/etc/passwd\" is not a valid source path: must be relative", "" },
	{ "relative src with from", HEAD "files:\n  - {from: b.yaml, src: out/app, dst: /x}\n",
	  "kiln.yaml:8:25: files[0].src: \"out/app\" is not a valid source path: with from:", "absolute path in that manifest's image" },
	{ "from with dotdot", HEAD "files:\n  - {from: ../b.yaml, src: /out/app, dst: /x}\n",
	  "kiln.yaml:8:12: files[0].from: \"../b.yaml\" is not a valid manifest", "may not leave the repository" },
	{ "from not a manifest", HEAD "files:\n  - {from: b.txt, src: /out/app, dst: /x}\n",
	  "kiln.yaml:8:12: files[0].from: \"b.txt\" is not a valid manifest", ".yaml or .yml" },
	{ "dotdot src", HEAD "files:\n  - {src: ../x, dst: /x}\n", "kiln.yaml:8:11: files[0].src: \"../x\" is not a valid source path",
	  "may not leave the repository" },
	{ "nested dotdot src", HEAD "files:\n  - {src: a, dst: /a}\n  - {src: b, dst: /b}\n  - {src: a/../../x, dst: /x}\n",
	  "kiln.yaml:10:11: files[2].src: \"a/../../x\" is not a valid source path", "\"..\"" },
	{ "trailing dotdot src", HEAD "files: [{src: a/.., dst: /x}]\n", "kiln.yaml:7:15: files[0].src: \"a/..\"", "\"..\"" },
	{ "empty src", HEAD "files: [{src: \"\", dst: /x}]\n", "kiln.yaml:7:15: files[0].src: \"\" is not a valid source path: must not be empty", "" },
	{ "src with newline", HEAD "files: [{src: \"a\\nb\", dst: /x}]\n", "kiln.yaml:7:15: files[0].src: \"a\\nb\"", "control characters" },
	{ "relative dst", HEAD "files: [{src: a, dst: srv/www}]\n", "kiln.yaml:7:23: files[0].dst: \"srv/www\" is not a valid destination",
	  "absolute" },
	{ "mode not octal", HEAD "files: [{src: a, dst: /a, mode: \"0888\"}]\n", "kiln.yaml:7:33: files[0].mode: \"0888\" is not a valid mode", "octal" },
	{ "mode too large", HEAD "files: [{src: a, dst: /a, dir_mode: \"17777\"}]\n", "kiln.yaml:7:37: files[0].dir_mode: \"17777\"", "07777" },
	{ "owner names", HEAD "files: [{src: a, dst: /a, owner: root:root}]\n", "kiln.yaml:7:34: files[0].owner: \"root:root\" is not a valid owner", "UID:GID" },
	{ "owner too large", HEAD "files: [{src: a, dst: /a, owner: \"4294967295:0\"}]\n", "kiln.yaml:7:34: files[0].owner", "" },
	{ "absolute base", HEAD "base: /etc/base.yaml\n", "kiln.yaml:7:7: base: \"/etc/base.yaml\" is not a valid base", "scratch" },
	{ "dotdot base", HEAD "base: ../base.yaml\n", "kiln.yaml:7:7: base: \"../base.yaml\" is not a valid base", "\"..\"" },
	{ "base not yaml", HEAD "base: base.txt\n", "kiln.yaml:7:7: base: \"base.txt\" is not a valid base", ".yaml or .yml" },
	{ "oci base digest", HEAD "base: oci:x@sha256:ABCD\n", "kiln.yaml:7:7: base: \"oci:x@sha256:ABCD\" is not a valid base", "64 lowercase hex" },
	{ "oci base without path", HEAD "base: \"oci:@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"\n",
	  "kiln.yaml:7:7: base: ", "oci:PATH@sha256:DIGEST" },
	{ "epoch negative", HEAD "epoch: \"-1\"\n", "kiln.yaml:7:8: epoch: \"-1\" is not a valid epoch", "decimal digits" },
	{ "epoch too large", HEAD "epoch: 9223372036854775808\n", "kiln.yaml:7:8: epoch: \"9223372036854775808\" is not a valid epoch",
	  "9223372036854775807" },

	/* Accounts */
	{ "duplicate user", HEAD "accounts:\n  users:\n    - {name: a, uid: 1, gid: 1}\n    - {name: a, uid: 2, gid: 1}\n",
	  "kiln.yaml:10:14: accounts.users[1].name: duplicate user name \"a\"", "(first at line 9)" },
	{ "duplicate uid", HEAD "accounts:\n  users:\n    - {name: a, uid: 1, gid: 1}\n    - {name: b, uid: 1, gid: 1}\n",
	  "kiln.yaml:10:22: accounts.users[1].uid: duplicate uid \"1\"", "(first at line 9)" },
	{ "duplicate gid", HEAD "accounts:\n  groups: [{name: a, gid: 5}, {name: b, gid: 5}]\n",
	  "kiln.yaml:8:46: accounts.groups[1].gid: duplicate gid \"5\"", "(first at line 8)" },
	{ "uid too large", HEAD "accounts: {users: [{name: a, uid: 4294967295, gid: 1}]}\n",
	  "kiln.yaml:7:35: accounts.users[0].uid: \"4294967295\" is not a valid uid", "4294967294" },
	{ "uid leading zero", HEAD "accounts: {users: [{name: a, uid: 010, gid: 1}]}\n",
	  "kiln.yaml:7:35: accounts.users[0].uid: \"010\" is not a valid uid", "leading zeros" },
	{ "relative home", HEAD "accounts: {users: [{name: a, uid: 1, gid: 1, home: srv}]}\n",
	  "kiln.yaml:7:52: accounts.users[0].home: \"srv\" is not a valid home directory", "absolute" },
	{ "shell with colon", HEAD "accounts: {users: [{name: a, uid: 1, gid: 1, shell: \"/bin/sh:x\"}]}\n",
	  "kiln.yaml:7:53: accounts.users[0].shell", "':'" },

	/* run and config */
	{ "empty run step", HEAD "run:\n  - make\n  - \"\"\n", "kiln.yaml:9:5: run[1]: \"\" is not a valid command: must not be empty", "" },
	{ "empty exec step", HEAD "run:\n  - []\n", "kiln.yaml:8:5: run[0]: a step in exec form needs a command", "" },
	{ "exec step without command", HEAD "run:\n  - [\"\", x]\n", "kiln.yaml:8:5: run[0]: a step in exec form needs a command", "" },
	{ "exec step with a list", HEAD "run:\n  - [a, [b]]\n", "kiln.yaml:8:9: run[0][1]: expected a string, got a list", "" },
	{ "run step a mapping", HEAD "run:\n  - {a: b}\n", "kiln.yaml:8:5: run[0]: expected a string, got a mapping", "" },
	{ "relative workdir", HEAD "config: {workdir: srv}\n", "kiln.yaml:7:19: config.workdir: \"srv\" is not a valid working directory", "" },
	{ "port out of range", HEAD "config: {ports: [\"70000/tcp\"]}\n", "kiln.yaml:7:18: config.ports[0]: \"70000/tcp\" is not a valid port", "65535" },
	{ "port zero", HEAD "config: {ports: [\"0\"]}\n", "kiln.yaml:7:18: config.ports[0]: \"0\" is not a valid port", "" },
	{ "port protocol", HEAD "config: {ports: [80/sctp]}\n", "kiln.yaml:7:18: config.ports[0]: \"80/sctp\"", "PORT/udp" },
	{ "config user", HEAD "config: {user: \"a b\"}\n", "kiln.yaml:7:16: config.user: \"a b\" is not a valid user", "USER:GROUP" },
	{ "signal in lower case", HEAD "config: {stop_signal: sigterm}\n", "kiln.yaml:7:23: config.stop_signal: \"sigterm\" is not a valid signal", "SIGTERM" },
	{ "unknown signal", HEAD "config: {stop_signal: SIGFOO}\n", "kiln.yaml:7:23: config.stop_signal: \"SIGFOO\"", "" },
	{ "signal number", HEAD "config: {stop_signal: \"65\"}\n", "kiln.yaml:7:23: config.stop_signal: \"65\"", "1 to 64" },
	{ "relative volume", HEAD "config: {volumes: [data]}\n", "kiln.yaml:7:20: config.volumes[0]: \"data\" is not a valid volume path", "" },
	{ "empty label key", HEAD "config: {labels: {\"\": x}}\n", "kiln.yaml:7:19: config.labels: \"\" is not a valid label", "" },
	{ "odd label key in path", HEAD "config: {labels: {\"a b\": [x]}}\n", "kiln.yaml:7:26: config.labels[\"a b\"]: expected a string, got a list", "" },

	/* service */
	{ "network", HEAD "service: {network: bogus}\n", "kiln.yaml:7:20: service.network: \"bogus\" is not a valid network", "container:NAME" },
	{ "network container without name", HEAD "service: {network: \"container:\"}\n", "kiln.yaml:7:20: service.network", "" },
	{ "publish one port", HEAD "service: {publish: [\"8080\"]}\n", "kiln.yaml:7:21: service.publish[0]: \"8080\" is not a valid published port", "" },
	{ "publish bad ip", HEAD "service: {publish: [\"1.2.3:80:80\"]}\n", "kiln.yaml:7:21: service.publish[0]", "IPv4" },
	{ "publish bad ipv6", HEAD "service: {publish: [\"[::g]:80:80\"]}\n", "kiln.yaml:7:21: service.publish[0]", "IPv6" },
	/* The runtime publishes on IPv4 only: a manifest must not promise more (docs/containers.md). */
	{ "publish ipv6", HEAD "service: {publish: [\"[::1]:80:80\"]}\n", "kiln.yaml:7:21: service.publish[0]: \"[::1]:80:80\" is not a valid published port", "IPv4 only" },
	{ "publish port zero", HEAD "service: {publish: [\"0:80\"]}\n", "kiln.yaml:7:21: service.publish[0]", "" },
	{ "publish protocol", HEAD "service: {publish: [\"80:80/sctp\"]}\n", "kiln.yaml:7:21: service.publish[0]", "" },
	{ "volume without name", HEAD "service: {volumes: [\"/host:/c\"]}\n", "kiln.yaml:7:21: service.volumes[0]: \"/host:/c\" is not a valid volume", "NAME" },
	{ "volume relative path", HEAD "service: {volumes: [\"data:c\"]}\n", "kiln.yaml:7:21: service.volumes[0]", "absolute" },
	{ "volume bad option", HEAD "service: {volumes: [\"data:/c:rx\"]}\n", "kiln.yaml:7:21: service.volumes[0]", ":ro or :rw" },
	{ "health both", HEAD "service: {health: {http: /, cmd: [x]}}\n", "kiln.yaml:7:34: service.health: give one of http, tcp and cmd", "" },
	{ "health http and tcp", HEAD "service: {health: {http: /, tcp: 80}}\n", "kiln.yaml:7:34: service.health: give one of http, tcp and cmd", "" },
	{ "health tcp and cmd", HEAD "service: {health: {tcp: 80, cmd: [x]}}\n", "kiln.yaml:7:34: service.health: give one of http, tcp and cmd", "" },
	{ "health tcp port zero", HEAD "service: {health: {tcp: \"0\"}}\n", "kiln.yaml:7:25: service.health.tcp: \"0\" is not a valid port", "1 to 65535" },
	{ "health port with tcp", HEAD "service: {health: {tcp: 80, port: 80}}\n", "kiln.yaml:7:35: service.health: port is used only with http", "" },
	{ "init not a boolean", HEAD "service: {init: yes}\n", "kiln.yaml:7:17: service.init: \"yes\" is not a valid boolean", "true or false" },
	{ "init is a list", HEAD "service: {init: [true]}\n", "kiln.yaml:7:17: service.init: expected a string, got a list", "" },
	{ "after not a list", HEAD "service: {after: db}\n", "kiln.yaml:7:18: service.after: expected a list", "" },
	{ "after bad name", HEAD "service: {after: [Db]}\n", "kiln.yaml:7:19: service.after[0]: \"Db\" is not a valid service name", "lowercase" },
	{ "after duplicate", HEAD "service: {after: [db, db]}\n", "kiln.yaml:7:23: service.after[1]: duplicate service name \"db\" (first at line 7)", "" },
	{ "grace without unit", HEAD "service: {update: {grace: \"10\"}}\n", "kiln.yaml:7:27: service.update.grace: \"10\" is not a valid duration", "" },
	{ "monitor bad", HEAD "service: {update: {monitor: 1d}}\n", "kiln.yaml:7:29: service.update.monitor: \"1d\" is not a valid duration", "" },
	{ "health neither", HEAD "service: {health: {interval: 1s}}\n", "kiln.yaml:7:19: service.health: needs http", "" },
	{ "health port without http", HEAD "service: {health: {cmd: [x], port: 80}}\n", "kiln.yaml:7:36: service.health: port is used only with http", "" },
	{ "health path", HEAD "service: {health: {http: healthz}}\n", "kiln.yaml:7:26: service.health.http: \"healthz\" is not a valid HTTP path", "'/'" },
	{ "health empty cmd", HEAD "service: {health: {cmd: []}}\n", "kiln.yaml:7:25: service.health.cmd: must list at least one argument", "" },
	{ "duration without unit", HEAD "service: {health: {http: /, interval: \"5\"}}\n", "kiln.yaml:7:39: service.health.interval: \"5\" is not a valid duration", "500ms" },
	{ "fractional duration", HEAD "service: {update: {drain: 1.5s}}\n", "kiln.yaml:7:27: service.update.drain: \"1.5s\"", "duration" },
	{ "retries", HEAD "service: {health: {http: /, retries: many}}\n", "kiln.yaml:7:38: service.health.retries: \"many\" is not a valid count", "" },
	{ "memory zero", HEAD "service: {resources: {memory: \"0\"}}\n", "kiln.yaml:7:31: service.resources.memory: \"0\" is not a valid memory size", "" },
	{ "memory suffix", HEAD "service: {resources: {memory: 12X}}\n", "kiln.yaml:7:31: service.resources.memory: \"12X\"", "k, m, g or t" },
	{ "memory too large", HEAD "service: {resources: {memory: 9999999999999999999G}}\n", "kiln.yaml:7:31: service.resources.memory", "too large" },
	{ "cpus zero", HEAD "service: {resources: {cpus: \"0.0\"}}\n", "kiln.yaml:7:29: service.resources.cpus: \"0.0\" is not a valid CPU count", "" },
	{ "cpus no leading digit", HEAD "service: {resources: {cpus: \".5\"}}\n", "kiln.yaml:7:29: service.resources.cpus", "" },
	{ "pids zero", HEAD "service: {resources: {pids: \"0\"}}\n", "kiln.yaml:7:29: service.resources.pids: \"0\"", "greater than 0" },
	{ "update order", HEAD "service: {update: {order: rolling}}\n", "kiln.yaml:7:27: service.update.order: \"rolling\"", "start-first or stop-first" },
	{ "on_failure", HEAD "service: {update: {on_failure: ignore}}\n", "kiln.yaml:7:32: service.update.on_failure: \"ignore\"", "rollback, pause or continue" },

	/* YAML features a manifest refuses */
	{ "anchor", HEAD "config:\n  env: &e {A: b}\n", "kiln.yaml:8:8: anchors (&name) are not allowed in a manifest: found \"e\"", "" },
	{ "alias", HEAD "config:\n  cmd: [a]\n  entrypoint: *e\n", "kiln.yaml:9:15: aliases (*name) are not allowed in a manifest: found \"e\"", "" },
	{ "anchor on a scalar", "kiln: &v 1\n", "kiln.yaml:1:7: anchors (&name) are not allowed", "\"v\"" },
	{ "merge key", HEAD "config:\n  <<: {cmd: [a]}\n", "kiln.yaml:8:3: config: unknown key \"<<\"", "" },
	{ "billion laughs", "a: &a [\"lol\",\"lol\"]\nb: &b [*a,*a]\nc: &c [*b,*b]\n", "kiln.yaml:1:4: anchors (&name) are not allowed", "\"a\"" },
	{ "explicit tag", HEAD "epoch: !!int 5\n", "kiln.yaml:7:8: explicit tags are not allowed in a manifest (every value is a string): found \"tag:yaml.org,2002:int\"", "" },
	{ "local tag", HEAD "config: !cfg {}\n", "kiln.yaml:7:9: explicit tags are not allowed", "found \"!cfg\"" },
	{ "non-specific tag", HEAD "epoch: ! t\n", "kiln.yaml:7:8: explicit tags are not allowed", "found \"!\"" },
	{ "str tag", "kiln: !!str 1\n", "kiln.yaml:1:7: explicit tags", "" },
	{ "tag with escapes", "kiln: !a%1b%0a 1\n", "kiln.yaml:1:7: explicit tags", "found \"!a\\x1b\\n\"" },
	{ "multiple documents", HEAD "---\nkiln: 1\n", "kiln.yaml:7:1: a second YAML document", "single document" },
	{ "document end then more", HEAD "...\n---\n", "kiln.yaml:8:1: a second YAML document", "" },
	{ "empty file", "", "kiln.yaml:1:1: the manifest is empty", "" },
	{ "only comments", "# nothing\n\n# here\n", "kiln.yaml:1:1: the manifest is empty", "" },
	{ "only a document marker", "---\n", "kiln.yaml:2:1: expected a mapping at the top level", "got an empty value" },
	{ "top level list", "- kiln: 1\n", "kiln.yaml:1:1: expected a mapping at the top level", "got a list" },
	{ "top level scalar", "kiln\n", "kiln.yaml:1:1: expected a mapping at the top level", "got a string" },
	{ "unclosed flow list", HEAD "run: [a, b\n", "kiln.yaml:8:1: YAML syntax error: did not find expected ',' or ']'", "line 7, column 6" },
	{ "tab indentation", HEAD "config:\n\tcmd: []\n", "kiln.yaml:8:1: YAML syntax error", "tab" },
	{ "bad indentation", "kiln: 1\n name: x\n", "kiln.yaml:2:6: YAML syntax error", "" },
	{ "invalid UTF-8", HEAD "name: \"t\xff\"\n", "kiln.yaml:7:9: not valid UTF-8 text", "0xff" },
	{ "truncated UTF-8", "kiln: 1\nname: \xc3", "kiln.yaml:2:7: not valid UTF-8 text: incomplete UTF-8 octet sequence (byte 0xc3)", "" },
	/* libyaml's value is a code point here, not a byte: name the bytes. */
	{ "CESU-8 surrogate", HEAD "name: \"t\xed\xa0\x80\"\n", "kiln.yaml:7:9: not valid UTF-8 text: invalid Unicode character (bytes 0xed 0xa0 0x80: U+D800, a UTF-16 surrogate", "" },
	{ "above U+10FFFF", HEAD "name: \"t\xf4\x90\x80\x80\"\n", "kiln.yaml:7:9: not valid UTF-8 text: invalid Unicode character (bytes 0xf4 0x90 0x80 0x80: U+110000)", "" },
	{ "C1 control character", HEAD "name: \"\xc2\x80\"\n", "kiln.yaml:7:8: not valid UTF-8 text: control characters are not allowed (bytes 0xc2 0x80: U+0080)", "" },
	{ "noncharacter U+FFFE", HEAD "name: \"\xef\xbf\xbe\"\n", "kiln.yaml:7:8: not valid UTF-8 text: control characters are not allowed (bytes 0xef 0xbf 0xbe: U+FFFE)", "" },
	{ "overlong UTF-8", HEAD "name: \"\xc0\x80\"\n", "kiln.yaml:7:8: not valid UTF-8 text: invalid length of a UTF-8 sequence (bytes 0xc0 0x80)", "" },
	{ "bad trailing octet", HEAD "name: \"\xc3\x41\"\n", "kiln.yaml:7:9: not valid UTF-8 text: invalid trailing UTF-8 octet (byte 0x41)", "" },
	{ "UTF-16 BOM", "\xff\xfek\0i\0", "kiln.yaml:1:1: not valid UTF-8 text", "" },
	{ "NUL escape in a value", HEAD "  vim: \"1\\0\"\n", "kiln.yaml:7:8: packages.vim: \"1\\x00\" contains a NUL byte", "" },
	{ "NUL escape in a key", HEAD "config: {env: {\"A\\0\": b}}\n", "kiln.yaml:7:16: config.env: \"A\\x00\" contains a NUL byte", "" },
	{ "control character", HEAD "name: \"\x01\"\n", "kiln.yaml:7:8: not valid UTF-8 text: control characters are not allowed (byte 0x01)", "" },
};

static void run_bad_cases(void)
{
	for (size_t i = 0; i < KILN_ARRAY_SIZE(bad_cases); i++) {
		const struct bad_case *b = &bad_cases[i];

		tap_current_failed = 0;
		CHECK(fails_with(b->yaml, strlen(b->yaml), b->prefix, b->phrase));
		tap_count++;
		if (tap_current_failed)
			tap_failed++;
		printf("%sok %d - bad: %s\n", tap_current_failed ? "not " : "", tap_count, b->name);
	}
}

/* ------------------------------------------------------------------------ */

TEST(raw_nul_in_input)
{
	static const char yaml[] = "kiln: 1\nname: a\0b\n";

	CHECK(fails_with(yaml, sizeof(yaml) - 1, "kiln.yaml:2:8: not valid UTF-8 text", "control characters"));
}

TEST(deep_nesting)
{
	_cleanup_buf_ struct kiln_buf b = KILN_BUF_INIT;

	/* Flow: the top-level mapping is level 1, so the 64th '[' is refused
	 * where it stands. */
	kiln_buf_adds(&b, "run: ");
	for (int i = 0; i < 1000; i++)
		kiln_buf_addch(&b, '[');
	CHECK(fails_with(b.data, b.len, "kiln.yaml:1:69: nested deeper than 64 levels", ""));

	/* Block: mappings nested by indentation. */
	kiln_buf_reset(&b);
	for (int i = 0; i < 100; i++) {
		for (int j = 0; j < i; j++)
			kiln_buf_addch(&b, ' ');
		kiln_buf_adds(&b, "a:\n");
	}
	CHECK(fails_with(b.data, b.len, "kiln.yaml:65:65: nested deeper than 64 levels", ""));

	/* 64 levels are fine for the reader (and then wrong for the schema). */
	kiln_buf_reset(&b);
	kiln_buf_adds(&b, HEAD "run: ");
	for (int i = 0; i < 63; i++)
		kiln_buf_addch(&b, '[');
	for (int i = 0; i < 63; i++)
		kiln_buf_addch(&b, ']');
	kiln_buf_addch(&b, '\n');
	CHECK(fails_with(b.data, b.len, "kiln.yaml:7:8: run[0][0]: expected a string, got a list", ""));
}

TEST(too_many_values)
{
	_cleanup_buf_ struct kiln_buf b = KILN_BUF_INIT;

	kiln_buf_adds(&b, HEAD "run: [");
	for (int i = 0; i < 100001; i++)
		kiln_buf_adds(&b, "a,");
	kiln_buf_adds(&b, "]\n");
	CHECK(fails_with(b.data, b.len, "kiln.yaml:7:", "more than 100000 values"));
}

TEST(huge_input)
{
	size_t n = KILN_MANIFEST_MAX_SIZE + 1;
	_cleanup_free_ char *big = kiln_xmalloc(n);

	memset(big, '#', n);
	CHECK(fails_with(big, n, "kiln.yaml:1:1: the manifest is larger than 4194304 bytes", ""));

	/* Just under the limit: one huge comment and a valid manifest. */
	memcpy(big, HEAD, strlen(HEAD));
	big[strlen(HEAD)] = '#';
	struct kiln_error err = { 0 };
	_cleanup_manifest_ struct kiln_manifest *m =
		kiln_manifest_parse("kiln.yaml", big, n - 1, &err);
	CHECK(m != NULL);

	/* A huge value is quoted in the message only in part. */
	_cleanup_buf_ struct kiln_buf b = KILN_BUF_INIT;
	kiln_buf_adds(&b, HEAD "  vim: \"");
	for (int i = 0; i < 100000; i++)
		kiln_buf_addch(&b, 'x');
	kiln_buf_adds(&b, "\"\n");
	kiln_error_clear(&err);
	CHECK(kiln_manifest_parse("kiln.yaml", b.data, b.len, &err) == NULL);
	CHECK_CONTAINS(err.message, "kiln.yaml:7:8: packages.vim: version \"xxxxxxxx");
	CHECK_CONTAINS(err.message, "xxx\"... is not an exact Debian version");
	CHECK(strlen(err.message) < 400);
}

TEST(messages_escape_values)
{
	struct kiln_error err = { 0 };

	CHECK(parse(HEAD "\"\\e[31mred\": 1\n", &err) == NULL);
	CHECK_CONTAINS(err.message, "kiln.yaml:7:1: unknown key \"\\x1b[31mred\"");
	CHECK(parse("kiln: 1\nname: \"a\\\"b\\\\\"\n", &err) == NULL);
	CHECK_CONTAINS(err.message, "name: \"a\\\"b\\\\\" is not a valid name");
	CHECK(parse("kiln: 1\nname: \"\xc3\xa9t\xc3\xa9\"\n", &err) == NULL);
	CHECK_CONTAINS(err.message, "name: \"\xc3\xa9t\xc3\xa9\" is not a valid name");
}

TEST(load_file)
{
	char dir[] = "/tmp/kiln-test-manifest.XXXXXX";
	struct kiln_error err = { 0 };

	CHECK(mkdtemp(dir) != NULL);
	_cleanup_free_ char *good = kiln_xasprintf("%s/kiln.yaml", dir);
	_cleanup_free_ char *big = kiln_xasprintf("%s/big.yaml", dir);
	_cleanup_free_ char *missing = kiln_xasprintf("%s/missing.yaml", dir);

	CHECK(kiln_file_write_atomic(good, design_example, strlen(design_example), 0644, &err) == 0);
	{
		_cleanup_manifest_ struct kiln_manifest *m = kiln_manifest_load(good, &err);
		CHECK(m != NULL);
		if (m) {
			CHECK_STR(m->path, good);
			CHECK_STR(m->name, "hello-web");
		}
	}

	kiln_error_clear(&err);
	CHECK(kiln_manifest_load(missing, &err) == NULL);
	CHECK_CONTAINS(err.message, "missing.yaml");
	CHECK_CONTAINS(err.message, strerror(ENOENT));

	size_t n = KILN_MANIFEST_MAX_SIZE + 10;
	_cleanup_free_ char *data = kiln_xmalloc(n);
	memset(data, '#', n);
	CHECK(kiln_file_write_atomic(big, data, n, 0644, &err) == 0);
	kiln_error_clear(&err);
	CHECK(kiln_manifest_load(big, &err) == NULL);
	CHECK_CONTAINS(err.message, "larger than 4194304 bytes");

	/* The message names the file as given. */
	_cleanup_free_ char *bad = kiln_xasprintf("%s/bad.yaml", dir);
	CHECK(kiln_file_write_atomic(bad, "kiln: 1\nnmae: x\n", 16, 0644, &err) == 0);
	kiln_error_clear(&err);
	CHECK(kiln_manifest_load(bad, &err) == NULL);
	_cleanup_free_ char *want = kiln_xasprintf("%s:2:1: unknown key \"nmae\"", bad);
	CHECK_CONTAINS(err.message, want);

	unlink(good);
	unlink(big);
	unlink(bad);
	rmdir(dir);
}

TEST(package_name_valid)
{
	static const char *const good[] = { "curl", "g++", "libc6", "0ad", "x11-common",
					    "libstdc++6", "python3.11", "a-", "zz" };
	static const char *const bad[] = { "", "a", "Curl", "-a", "+a", ".a", "a_b", "a b", "a:b",
					   "libÃ©" };

	for (size_t i = 0; i < KILN_ARRAY_SIZE(good); i++)
		CHECK(kiln_debversion_package_name_valid(good[i], strlen(good[i])));
	for (size_t i = 0; i < KILN_ARRAY_SIZE(bad); i++)
		CHECK(!kiln_debversion_package_name_valid(bad[i], strlen(bad[i])));
	CHECK(!kiln_debversion_package_name_valid("ab\0c", 4));
	CHECK(kiln_debversion_package_name_valid("curlXX", 4));
}

TEST(byte_order_mark_and_crlf)
{
	struct kiln_error err = { 0 };
	_cleanup_manifest_ struct kiln_manifest *m = parse("\xef\xbb\xbf" HEAD, &err);

	CHECK(m != NULL);
	if (!m)
		printf("# %s\n", err.message);
	/* Columns are as an editor shows them: the mark takes none. */
	CHECK_FAILS("\xef\xbb\xbfkiln: 1\nnmae: x\n", "kiln.yaml:2:1: unknown key", "");
	CHECK_FAILS("\xef\xbb\xbfnmae: \xff\n", "kiln.yaml:1:7: not valid UTF-8", "");
	CHECK_FAILS("kiln: 1\r\nname: t\r\nnmae: x\r\n", "kiln.yaml:3:1: unknown key", "");
	/* A second mark is not at the start, and not allowed. */
	CHECK_FAILS("\xef\xbb\xbf\xef\xbb\xbfkiln: 1\n", "kiln.yaml:1:", "");
}

TEST(yaml_directives)
{
	struct kiln_error err = { 0 };
	_cleanup_manifest_ struct kiln_manifest *m =
		parse("%YAML 1.1\n---\n" HEAD "...\n", &err);

	CHECK(m != NULL);
	if (!m)
		printf("# %s\n", err.message);
	CHECK_FAILS("%TAG !e! tag:example.com,2000:\n---\nkiln: !e!x 1\n", "kiln.yaml:3:7: explicit tags are not allowed", "tag:example.com,2000:x");
}

TEST(parse_null_data)
{
	struct kiln_error err = { 0 };

	CHECK(kiln_manifest_parse("kiln.yaml", NULL, 0, &err) == NULL);
	CHECK_CONTAINS(err.message, "kiln.yaml:1:1: the manifest is empty");
	kiln_manifest_free(NULL);
}

int main(void)
{
	RUN(design_example_parses);
	RUN(minimal_defaults);
	RUN(scalars_keep_their_text);
	RUN(package_order_is_file_order);
	RUN(full_sources_and_accounts);
	RUN(base_forms);
	RUN(scripts_and_debconf);
	RUN(value_forms_accepted);
	run_bad_cases();
	RUN(raw_nul_in_input);
	RUN(deep_nesting);
	RUN(too_many_values);
	RUN(huge_input);
	RUN(messages_escape_values);
	RUN(load_file);
	RUN(package_name_valid);
	RUN(byte_order_mark_and_crlf);
	RUN(yaml_directives);
	RUN(parse_null_data);
	return tap_done();
}
