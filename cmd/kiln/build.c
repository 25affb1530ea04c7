/* build.c - `kiln build` and `kiln export`. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "build.h"
#include "export.h"
#include "gitrepo.h"
#include "kiln.h"
#include "manifest.h"
#include "snapref.h"
#include "store.h"
#include "util.h"

static void build_help(void)
{
	printf("usage: kiln build [-f MANIFEST] [--rev REV] [--no-cache] [--zstd] [--key FILE] [--no-sign]\n"
	       "                  [--store DIR]\n"
	       "\n"
	       "Build the snapshot of one git commit (default HEAD): read the manifest, its lock\n"
	       "and the files it copies from that commit's tree (never the work directory),\n"
	       "fetch the locked packages into the shared cache (checking each sha256), and\n"
	       "write a reproducible OCI image into the store under NAME@COMMIT.  The same\n"
	       "commit gives the same bytes on any machine, any day.\n"
	       "\n"
	       "Every layer has a cache key made of everything that produces it; a key seen\n"
	       "before is reused without reading any package, and the output says `cached`.\n"
	       "The image manifest digest is printed last.\n"
	       "\n"
	       "run: steps run as root in kiln's sandbox on the image so far (no network,\n"
	       "no host files, a fixed environment); their output is shown prefixed `|`, and\n"
	       "each one's changes become a cached layer.  A failing step stops the build,\n"
	       "naming its manifest line, and stores nothing.\n"
	       "\n"
	       "Then the snapshot is signed and recorded: an in-toto statement with SLSA\n"
	       "provenance (the commit, the lock, every package with its sha256) is signed\n"
	       "into a DSSE envelope, stored with an OCI 1.1 referrer manifest pointing at the\n"
	       "image, and a signed record commits/<commit>/<name>.json is written to the\n"
	       "store and mirrored as a git note (git notes --ref=kiln show COMMIT).  With no\n"
	       "signing key the build stops before any work and says how to make one.\n"
	       "\n"
	       "Options:\n"
	       "  -f, --file MANIFEST  the manifest (default ./kiln.yaml), inside a git work tree\n"
	       "  --rev REV            the commit to build (any git revision; default HEAD)\n"
	       "  --no-cache           rebuild every layer\n"
	       "  --zstd               zstd-compressed layers (default gzip)\n"
	       "  --key FILE           the signing key (default $KILN_KEY, else .kiln/signing.key\n"
	       "                       at the top of the work tree)\n"
	       "  --no-sign            build and record an unsigned snapshot (a local try;\n"
	       "                       kiln verify refuses it)\n"
	       "  --store DIR          the store (default $KILN_STORE, else snapshots/ at the top\n"
	       "                       of the work tree)\n"
	       "  -h, --help           this help\n"
	       "\n"
	       "Time: layers do not depend on the commit time (package files keep their .deb\n"
	       "mtimes, files kiln writes get the manifest's epoch:); only the config's created\n"
	       "times carry the committer time, or $SOURCE_DATE_EPOCH when set.\n");
}

static void print_note(void *ctx, const char *line)
{
	const struct kiln_cli *cli = ctx;
	if (!cli->quiet && !cli->json) {
		kiln_cli_progress_done(cli);
		printf("  %s\n", line);
		fflush(stdout);
	}
}

int cmd_build(int argc, char **argv, struct kiln_cli *cli)
{
	static const struct option opts[] = {
		{ "file", required_argument, NULL, 'f' },
		{ "rev", required_argument, NULL, 'r' },
		{ "no-cache", no_argument, NULL, 'n' },
		{ "zstd", no_argument, NULL, 'z' },
		{ "key", required_argument, NULL, 'k' },
		{ "no-sign", no_argument, NULL, 'S' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct kiln_build_options opt = { 0 };
	_cleanup_free_ char *cache_dir = NULL;
	struct kiln_build_result res;
	struct kiln_error err = { 0 };
	int ch;

	while ((ch = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'f': cli->manifest = optarg; break;
		case 'r': opt.rev = optarg; break;
		case 'n': opt.no_cache = true; break;
		case 'z': opt.zstd = true; break;
		case 'k': opt.key_path = optarg; break;
		case 'S': opt.no_sign = true; break;
		case 's': cli->store = optarg; break;
		case 'h': build_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (optind < argc)
		return kiln_cli_usage(cli, "unexpected argument '%s'", argv[optind]);
	opt.manifest_path = kiln_cli_manifest(cli);
	opt.store_dir = kiln_cli_store(cli);
	if (!opt.key_path)
		opt.key_path = kiln_env_key();
	opt.cache_dir = cache_dir = kiln_env_cache_dir();
	opt.tmp_dir = kiln_env_tmpdir();
	opt.cgroup_parent = kiln_env_build_cgroup_parent();
	opt.mirrors = kiln_env_mirrors();
	opt.source_date_epoch = kiln_env_source_date_epoch();
	opt.progress = kiln_cli_progress;
	opt.progress_ctx = cli;
	opt.note = print_note;
	opt.note_ctx = cli;
	if (kiln_build_run(&opt, &res, &err) < 0) {
		int code = kiln_cli_fail(cli, &err);
		kiln_build_result_release(&res);
		return code;
	}
	kiln_cli_progress_done(cli);
	if (res.warning)
		fprintf(stderr, "kiln: build: warning: %s\n", res.warning);
	if (cli->json) {
		json_t *o = json_object(), *layers = json_array();
		for (size_t i = 0; i < res.n_layers; i++) {
			json_t *l = json_object();
			json_object_set_new(l, "digest", json_string(res.layers[i].blob.digest));
			json_object_set_new(l, "diff_id", json_string(res.layers[i].diff_id));
			json_object_set_new(l, "size", json_integer((json_int_t)res.layers[i].blob.size));
			json_object_set_new(l, "cached", json_boolean(res.layers[i].cached));
			json_object_set_new(l, "what", json_string(res.layers[i].what));
			json_array_append_new(layers, l);
		}
		json_object_set_new(o, "name", json_string(res.name));
		json_object_set_new(o, "commit", json_string(res.commit));
		json_object_set_new(o, "manifest", json_string(res.manifest_digest));
		json_object_set_new(o, "config", json_string(res.config_digest));
		json_object_set_new(o, "store", json_string(res.store_dir));
		json_object_set_new(o, "layers", layers);
		json_object_set_new(o, "size", json_integer((json_int_t)res.size));
		json_object_set_new(o, "envelope", res.envelope_digest[0] ? json_string(res.envelope_digest) : json_null());
		json_object_set_new(o, "referrer", res.referrer_digest[0] ? json_string(res.referrer_digest) : json_null());
		json_object_set_new(o, "keyid", res.keyid[0] ? json_string(res.keyid) : json_null());
		json_object_set_new(o, "record", res.record_path ? json_string(res.record_path) : json_null());
		json_object_set_new(o, "seconds", json_real(res.seconds));
		char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		printf("%s\n", text);
		free(text);
		json_decref(o);
	} else {
		if (!cli->quiet) {
			printf("built %s@%.12s in %.2f s (%u packages downloaded, %u from the cache) into %s\n",
			       res.name, res.commit, res.seconds, res.packages_downloaded,
			       res.packages_cached, res.store_dir);
			if (res.keyid[0])
				printf("signed by %s (envelope %.19s, recorded in %s)\n", res.keyid,
				       res.envelope_digest, res.record_path);
			else
				printf("not signed (--no-sign); recorded in %s\n", res.record_path);
		}
		printf("%s\n", res.manifest_digest);
	}
	kiln_build_result_release(&res);
	return 0;
}

static void export_help(void)
{
	printf("usage: kiln export SNAP -o FILE [--format oci-archive|docker-archive]\n"
	       "\n"
	       "Write one snapshot from the store as a single archive: an OCI image layout\n"
	       "in a tar (oci-archive, the default: `skopeo copy oci-archive:FILE …`,\n"
	       "`podman load -i FILE`), or `docker save`'s format (docker-archive:\n"
	       "`docker load -i FILE`, `podman load -i FILE`).  Every blob is checked\n"
	       "against its digest on the way out.\n"
	       "\n"
	       "SNAP is NAME@REV (any git revision), NAME (NAME@HEAD), @REV (the manifest's\n"
	       "name) or sha256:DIGEST.  A NAME is used only when its record is signed by a\n"
	       "key of .kiln/trusted/ (as kiln verify checks it; else exit 3): --insecure\n"
	       "or KILN_INSECURE=1 skips that, for snapshots built with --no-sign.\n"
	       "\n"
	       "Options:\n"
	       "  -o, --output FILE    where to write (replaced atomically)\n"
	       "  --format FORMAT      oci-archive (default) or docker-archive\n"
	       "  -f, --file MANIFEST  the manifest whose name @REV means (default ./kiln.yaml)\n"
	       "  --store DIR          the store\n"
	       "  --insecure           use a named snapshot whose record is unsigned or\n"
	       "                       not signed by a trusted key (also KILN_INSECURE=1)\n"
	       "  -h, --help           this help\n");
}

int cmd_export(int argc, char **argv, struct kiln_cli *cli)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'F' },
		{ "file", required_argument, NULL, 'f' },
		{ "store", required_argument, NULL, 's' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum kiln_export_format format = KILN_EXPORT_OCI_ARCHIVE;
	const char *output = NULL;
	struct kiln_error err = { 0 };
	struct kiln_cli_snapshots snaps = { 0 };
	struct kiln_snapref ref = { 0 };
	_cleanup_free_ char *tag = NULL;
	bool insecure = false;
	int ch, rc = 0;

	while ((ch = getopt_long(argc, argv, "o:f:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'o': output = optarg; break;
		case 'F':
			if (strcmp(optarg, "oci-archive") == 0)
				format = KILN_EXPORT_OCI_ARCHIVE;
			else if (strcmp(optarg, "docker-archive") == 0)
				format = KILN_EXPORT_DOCKER_ARCHIVE;
			else
				return kiln_cli_usage(cli, "--format %s: expected oci-archive or docker-archive", optarg);
			break;
		case 'f': cli->manifest = optarg; break;
		case 's': cli->store = optarg; break;
		case 'I': insecure = true; break;
		case 'h': export_help(); return 0;
		default: return kiln_cli_usage(cli, "bad option");
		}
	}
	if (argc - optind != 1)
		return kiln_cli_usage(cli, "expected one SNAP");
	if (!output)
		return kiln_cli_usage(cli, "-o FILE is required");
	if (kiln_cli_snapshots_open(cli, &snaps, &err) < 0 ||
	    kiln_snapref_resolve(snaps.git, snaps.store, argv[optind], snaps.default_name,
				 kiln_cli_snapref_flags(insecure), &ref, &err) < 0) {
		rc = kiln_cli_fail(cli, &err);
		goto out;
	}
	tag = ref.name ? kiln_xasprintf("%s:%.12s", ref.name, ref.commit) : kiln_xasprintf("kiln:%.12s", ref.manifest_digest + 7);
	if (kiln_export(snaps.store, ref.manifest_digest, tag, format, output, &err) < 0) {
		rc = kiln_cli_fail(cli, &err);
		goto out;
	}
	if (!cli->quiet)
		printf("exported %s (%s) to %s as %s\n", argv[optind], ref.manifest_digest, output,
		       format == KILN_EXPORT_OCI_ARCHIVE ? "oci-archive" : "docker-archive");
out:
	kiln_snapref_release(&ref);
	kiln_cli_snapshots_close(&snaps);
	return rc;
}
