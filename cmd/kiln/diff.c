/* diff.c - `kiln diff SNAP SNAP`. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "gitrepo.h"
#include "kiln.h"
#include "manifest.h"
#include "snapdiff.h"
#include "snapref.h"
#include "store.h"
#include "util.h"

static void diff_help(void)
{
	printf("usage: kiln diff [--stat] [--mtime] [--exit-code] [-f MANIFEST] [--store DIR] [--insecure]\n"
	       "                 SNAP SNAP\n"
	       "\n"
	       "Show what changed from the first snapshot to the second, as a reviewer reads a\n"
	       "lock diff: the image config fields that differ (only when one does), the\n"
	       "Debian packages added, removed and changed (from each image's\n"
	       "var/lib/dpkg/status), then the files added, removed and changed (the merged\n"
	       "filesystems compared path by path), each group sorted by name:\n"
	       "\n"
	       "  config (2 changed, 1 added, 0 removed):\n"
	       "    ~ Entrypoint: [\"/usr/bin/app\"] → [\"/usr/bin/app\",\"--fast\"]\n"
	       "    ~ Env MODE: blue → green\n"
	       "    + ExposedPorts 8080/tcp\n"
	       "  packages (1 changed, 1 added, 0 removed):\n"
	       "    ~ libc6 2.36-9+deb12u3 → 2.36-9+deb12u4\n"
	       "    + curl 7.88.1-10+deb12u5\n"
	       "  files (2 changed, 1 added, 0 removed, 40 mtime-only):\n"
	       "    ~ etc/motd (mode, owner)\n"
	       "    ~ usr/lib/x86_64-linux-gnu/libc.so.6 (content)\n"
	       "    + usr/bin/curl\n"
	       "\n"
	       "A changed file says what changed: type, link target, content, size (only when\n"
	       "the content is the same), mode, owner, xattrs, device.  Files whose only\n"
	       "change is their mtime are counted as mtime-only and listed with --mtime (a\n"
	       "package upgrade moves the mtime of every file it ships; a changed file's\n"
	       "list never says mtime).  The config's Entrypoint, Cmd, Env (a set of\n"
	       "variables: order does not matter), WorkingDir, User, ExposedPorts, Volumes,\n"
	       "Labels, StopSignal and platform are compared; its creation time and history,\n"
	       "which change with every commit, are not.  Snapshots with the same config,\n"
	       "packages and files print `no differences`.\n"
	       "\n"
	       "Both snapshots are read from the same store; every layer blob is checked\n"
	       "against its digest as it is read (exit 3 names a blob that is not), and a\n"
	       "layer both snapshots share is read once.\n"
	       "\n"
	       "SNAP is NAME@REV (any git revision), NAME (NAME@HEAD), @REV (the manifest's\n"
	       "name) or sha256:DIGEST.  A NAME is used only when its record is signed by a\n"
	       "key of .kiln/trusted/ (as kiln verify checks it; else exit 3): --insecure\n"
	       "or KILN_INSECURE=1 skips that, for snapshots built with --no-sign.\n"
	       "\n"
	       "Options:\n"
	       "  --stat               only the counts\n"
	       "  --mtime              also list the files whose only change is the mtime\n"
	       "  --exit-code          exit 1 when the snapshots differ (0 when they do not)\n"
	       "  --json               {\"config\":{\"added\":[{field,key,value}],\"removed\":[…],\n"
	       "                       \"changed\":[{field,key,from,to}]} (key: Env, Labels,\n"
	       "                       ExposedPorts, Volumes only), \"packages\":{\"added\":[{name,version,architecture}],\n"
	       "                       \"removed\":[…],\"changed\":[{name,from,to,architecture}]},\n"
	       "                       \"files\":{\"added\":[PATH…],\"removed\":[…],\n"
	       "                       \"changed\":[{path,what:[…]}],\"mtime_only\":[…]}, \"differ\":BOOL}\n"
	       "                       (with --stat: the counts)\n"
	       "  -f, --file MANIFEST  the manifest whose name @REV means (default ./kiln.yaml)\n"
	       "  --store DIR          the store\n"
	       "  --insecure           use a named snapshot whose record is unsigned or\n"
	       "                       not signed by a trusted key (also KILN_INSECURE=1)\n"
	       "  -h, --help           this help\n"
	       "\n"
	       "Exit codes: 0 (also when they differ, as git diff), 1 when they differ with\n"
	       "--exit-code or on an error (an unknown snapshot, a missing blob), 2 usage,\n"
	       "3 a blob whose bytes do not match its digest, or a snapshot whose record does\n"
	       "not verify.\n");
}

static json_t *json_packages(const struct kiln_snapdiff_package *v, size_t n, int kind)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "name", kiln_cli_json_bytes(v[i].name));
		json_object_set_new(o, "architecture", kiln_cli_json_bytes(v[i].architecture));
		if (kind == '~') {
			json_object_set_new(o, "from", kiln_cli_json_bytes(v[i].from));
			json_object_set_new(o, "to", kiln_cli_json_bytes(v[i].to));
			if (v[i].from_architecture)
				json_object_set_new(o, "from_architecture", kiln_cli_json_bytes(v[i].from_architecture));
		} else {
			json_object_set_new(o, "version", kiln_cli_json_bytes(kind == '+' ? v[i].to : v[i].from));
		}
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *json_configs(const struct kiln_snapdiff_config *v, size_t n, int kind)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object();
		json_object_set_new(o, "field", json_string(v[i].field));
		if (v[i].key)
			json_object_set_new(o, "key", kiln_cli_json_bytes(v[i].key));
		if (kind == '~') {
			json_object_set_new(o, "from", kiln_cli_json_bytes(v[i].from));
			json_object_set_new(o, "to", kiln_cli_json_bytes(v[i].to));
		} else if (!v[i].member) {
			json_object_set_new(o, "value", kiln_cli_json_bytes(kind == '+' ? v[i].to : v[i].from));
		}
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *json_paths(const struct kiln_snapdiff_file *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, kiln_cli_json_bytes(v[i].path));
	return a;
}

static json_t *json_changed(const struct kiln_snapdiff_file *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *o = json_object(), *what = json_array();
		for (unsigned bit = 1; bit <= KILN_FSCHANGE_DEVICE; bit <<= 1)
			if (v[i].changes & bit)
				json_array_append_new(what, json_string(kiln_fsentry_change_name(bit)));
		json_object_set_new(o, "path", kiln_cli_json_bytes(v[i].path));
		json_object_set_new(o, "what", what);
		json_array_append_new(a, o);
	}
	return a;
}

static json_t *json_counts(size_t changed, size_t added, size_t removed)
{
	json_t *o = json_object();
	json_object_set_new(o, "changed", json_integer((json_int_t)changed));
	json_object_set_new(o, "added", json_integer((json_int_t)added));
	json_object_set_new(o, "removed", json_integer((json_int_t)removed));
	return o;
}

static void print_json(const struct kiln_snapdiff *d, bool stat)
{
	json_t *o = json_object(), *c, *p, *f;
	char *text;

	if (stat) {
		c = json_counts(d->n_cfg_changed, d->n_cfg_added, d->n_cfg_removed);
		p = json_counts(d->n_pkg_changed, d->n_pkg_added, d->n_pkg_removed);
		f = json_counts(d->n_changed, d->n_added, d->n_removed);
		json_object_set_new(f, "mtime_only", json_integer((json_int_t)d->n_mtime_only));
	} else {
		c = json_object();
		json_object_set_new(c, "added", json_configs(d->cfg_added, d->n_cfg_added, '+'));
		json_object_set_new(c, "removed", json_configs(d->cfg_removed, d->n_cfg_removed, '-'));
		json_object_set_new(c, "changed", json_configs(d->cfg_changed, d->n_cfg_changed, '~'));
		p = json_object();
		json_object_set_new(p, "added", json_packages(d->pkg_added, d->n_pkg_added, '+'));
		json_object_set_new(p, "removed", json_packages(d->pkg_removed, d->n_pkg_removed, '-'));
		json_object_set_new(p, "changed", json_packages(d->pkg_changed, d->n_pkg_changed, '~'));
		f = json_object();
		json_object_set_new(f, "added", json_paths(d->added, d->n_added));
		json_object_set_new(f, "removed", json_paths(d->removed, d->n_removed));
		json_object_set_new(f, "changed", json_changed(d->changed, d->n_changed));
		json_object_set_new(f, "mtime_only", json_paths(d->mtime_only, d->n_mtime_only));
	}
	json_object_set_new(o, "config", c);
	json_object_set_new(o, "packages", p);
	json_object_set_new(o, "files", f);
	json_object_set_new(o, "differ", json_boolean(!kiln_snapdiff_empty(d)));
	text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	printf("%s\n", text);
	free(text);
	json_decref(o);
}

/* "~ Env FOO: a → b", "+ Env BAR=x", "- ExposedPorts 8080/tcp",
 * "~ Entrypoint: [\"/a\"] → [\"/b\"]", "+ WorkingDir: /srv". */
static void print_config(const struct kiln_snapdiff_config *c, int kind)
{
	const char *value = kind == '+' ? c->to : c->from;

	printf("  %c %s", kind, c->field);
	if (c->key) {
		putchar(' ');
		kiln_cli_print_bytes(stdout, c->key);
	}
	if (c->member) {
		putchar('\n');
		return;
	}
	if (kind == '~') {
		printf(": ");
		kiln_cli_print_bytes(stdout, c->from);
		printf(" → ");
		kiln_cli_print_bytes(stdout, c->to);
	} else {
		printf(c->key ? "=" : ": ");
		kiln_cli_print_bytes(stdout, value);
	}
	putchar('\n');
}

static void print_text(const struct kiln_snapdiff *d, bool stat, bool mtime)
{
	if (kiln_snapdiff_empty(d)) {
		printf("no differences\n");
		return;
	}
	if (d->n_cfg_changed || d->n_cfg_added || d->n_cfg_removed) {
		printf("config (%zu changed, %zu added, %zu removed)%s\n", d->n_cfg_changed,
		       d->n_cfg_added, d->n_cfg_removed, stat ? "" : ":");
		for (size_t i = 0; !stat && i < d->n_cfg_changed; i++)
			print_config(&d->cfg_changed[i], '~');
		for (size_t i = 0; !stat && i < d->n_cfg_added; i++)
			print_config(&d->cfg_added[i], '+');
		for (size_t i = 0; !stat && i < d->n_cfg_removed; i++)
			print_config(&d->cfg_removed[i], '-');
	}
	printf("packages (%zu changed, %zu added, %zu removed)%s\n", d->n_pkg_changed, d->n_pkg_added,
	       d->n_pkg_removed, stat ? "" : ":");
	for (size_t i = 0; !stat && i < d->n_pkg_changed; i++) {
		const struct kiln_snapdiff_package *p = &d->pkg_changed[i];
		printf("  ~ ");
		kiln_cli_print_bytes(stdout, p->name);
		putchar(' ');
		kiln_cli_print_bytes(stdout, p->from);
		if (p->from_architecture) {
			printf(" (");
			kiln_cli_print_bytes(stdout, p->from_architecture);
			putchar(')');
		}
		printf(" → ");
		kiln_cli_print_bytes(stdout, p->to);
		if (p->from_architecture) {
			printf(" (");
			kiln_cli_print_bytes(stdout, p->architecture);
			putchar(')');
		}
		putchar('\n');
	}
	for (size_t i = 0; !stat && i < d->n_pkg_added; i++) {
		printf("  + ");
		kiln_cli_print_bytes(stdout, d->pkg_added[i].name);
		putchar(' ');
		kiln_cli_print_bytes(stdout, d->pkg_added[i].to);
		putchar('\n');
	}
	for (size_t i = 0; !stat && i < d->n_pkg_removed; i++) {
		printf("  - ");
		kiln_cli_print_bytes(stdout, d->pkg_removed[i].name);
		putchar(' ');
		kiln_cli_print_bytes(stdout, d->pkg_removed[i].from);
		putchar('\n');
	}
	printf("files (%zu changed, %zu added, %zu removed", d->n_changed, d->n_added, d->n_removed);
	if (d->n_mtime_only)
		printf(", %zu mtime-only", d->n_mtime_only);
	printf(")%s\n", stat ? "" : ":");
	if (stat)
		return;
	for (size_t i = 0; i < d->n_changed; i++) {
		_cleanup_free_ char *what = kiln_snapdiff_changes_text(d->changed[i].changes);
		printf("  ~ ");
		kiln_cli_print_bytes(stdout, d->changed[i].path);
		printf(" (%s)\n", what);
	}
	for (size_t i = 0; mtime && i < d->n_mtime_only; i++) {
		printf("  ~ ");
		kiln_cli_print_bytes(stdout, d->mtime_only[i].path);
		printf(" (mtime)\n");
	}
	for (size_t i = 0; i < d->n_added; i++) {
		printf("  + ");
		kiln_cli_print_bytes(stdout, d->added[i].path);
		putchar('\n');
	}
	for (size_t i = 0; i < d->n_removed; i++) {
		printf("  - ");
		kiln_cli_print_bytes(stdout, d->removed[i].path);
		putchar('\n');
	}
}

int cmd_diff(int argc, char **argv, struct kiln_cli *cli)
{
	static const struct option opts[] = {
		{ "stat", no_argument, NULL, 'S' },
		{ "mtime", no_argument, NULL, 'm' },
		{ "exit-code", no_argument, NULL, 'x' },
		{ "json", no_argument, NULL, 'j' },
		{ "file", required_argument, NULL, 'f' },
		{ "store", required_argument, NULL, 's' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kiln_error err = { 0 };
	struct kiln_cli_snapshots snaps = { 0 };
	struct kiln_snapref ref[2] = { { 0 }, { 0 } };
	struct kiln_snapdiff d = { 0 };
	bool stat = false, mtime = false, exit_code = false, insecure = false;
	int ch, rc = 0;

	while ((ch = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'S': stat = true; break;
		case 'm': mtime = true; break;
		case 'x': exit_code = true; break;
		case 'j': cli->json = true; break;
		case 'f': cli->manifest = optarg; break;
		case 's': cli->store = optarg; break;
		case 'I': insecure = true; break;
		case 'h': diff_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (argc - optind != 2)
		return kiln_cli_usage(cli, "expected two snapshots: SNAP SNAP");
	if (kiln_cli_snapshots_open(cli, &snaps, &err) < 0) {
		rc = kiln_cli_fail(cli, &err);
		goto out;
	}
	for (int i = 0; i < 2; i++) {
		if (kiln_snapref_resolve(snaps.git, snaps.store, argv[optind + i], snaps.default_name,
					 kiln_cli_snapref_flags(insecure), &ref[i], &err) < 0) {
			kiln_error_prefix(&err, "snapshot %s", argv[optind + i]);
			rc = kiln_cli_fail(cli, &err);
			goto out;
		}
	}
	{
		_cleanup_free_ char *la = kiln_xasprintf("snapshot %s", argv[optind]);
		_cleanup_free_ char *lb = kiln_xasprintf("snapshot %s", argv[optind + 1]);
		if (kiln_snapdiff_images(snaps.store, ref[0].manifest_digest, la, ref[1].manifest_digest, lb, &d,
					 &err) < 0) {
			rc = kiln_cli_fail(cli, &err);
			goto out;
		}
	}
	if (cli->json)
		print_json(&d, stat);
	else
		print_text(&d, stat, mtime);
	if (exit_code && !kiln_snapdiff_empty(&d))
		rc = 1;
out:
	kiln_snapdiff_release(&d);
	kiln_snapref_release(&ref[0]);
	kiln_snapref_release(&ref[1]);
	kiln_cli_snapshots_close(&snaps);
	return rc;
}
