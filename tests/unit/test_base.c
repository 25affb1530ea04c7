/* test_base.c - lib/ops/base.c: base manifest paths (cycles, depth, ".."),
 * oci: specs, the merged config, dpkg status and accounts. */
#include <stdlib.h>

#include "base.h"
#include "tap.h"

TEST(manifest_path_relative_to_the_manifest)
{
	struct kiln_error err = { 0 };
	char *p = kiln_base_manifest_path("a/kiln.yaml", "base", "a", "./base/b.yaml", NULL, &err);

	CHECK_STR(p, "a/base/b.yaml");
	free(p);
	p = kiln_base_manifest_path("kiln.yaml", "base", "", "b.yaml", NULL, &err);
	CHECK_STR(p, "b.yaml");
	free(p);
}

TEST(manifest_path_refuses_dotdot_and_absolute)
{
	struct kiln_error err = { 0 };

	CHECK(!kiln_base_manifest_path("a/k.yaml", "base", "a", "../b.yaml", NULL, &err));
	CHECK(strstr(err.message, "a/k.yaml: base: ../b.yaml has a \"..\" component"));
	kiln_error_clear(&err);
	CHECK(!kiln_base_manifest_path("k.yaml", "files[1].from", "", "/etc/b.yaml", NULL, &err));
	CHECK(strstr(err.message, "k.yaml: files[1].from: /etc/b.yaml is absolute"));
	kiln_error_clear(&err);
}

TEST(manifest_path_cycle_names_the_loop)
{
	struct kiln_error err = { 0 };
	struct kiln_base_chain a = { "a.yaml", NULL }, b = { "b.yaml", &a }, c = { "c.yaml", &b };

	CHECK(!kiln_base_manifest_path("c.yaml", "base", "", "b.yaml", &c, &err));
	CHECK(strstr(err.message, "the manifests form a cycle: b.yaml → c.yaml → b.yaml"));
	kiln_error_clear(&err);
	CHECK(!kiln_base_manifest_path("a.yaml", "base", "", "a.yaml", &a, &err));
	CHECK(strstr(err.message, "cycle: a.yaml → a.yaml"));
	kiln_error_clear(&err);
}

TEST(manifest_path_depth)
{
	struct kiln_error err = { 0 };
	struct kiln_base_chain chain[KILN_BASE_MAX_DEPTH];
	char names[KILN_BASE_MAX_DEPTH][16];
	char *p;

	for (int i = 0; i < KILN_BASE_MAX_DEPTH; i++) {
		snprintf(names[i], sizeof(names[i]), "m%d.yaml", i);
		chain[i] = (struct kiln_base_chain){ names[i], i ? &chain[i - 1] : NULL };
	}
	p = kiln_base_manifest_path("x", "base", "", "next.yaml", &chain[KILN_BASE_MAX_DEPTH - 2], &err);
	CHECK(p != NULL);
	free(p);
	CHECK(!kiln_base_manifest_path("x", "base", "", "next.yaml", &chain[KILN_BASE_MAX_DEPTH - 1], &err));
	CHECK(strstr(err.message, "nested more than 8 deep"));
	kiln_error_clear(&err);
}

TEST(oci_spec)
{
	struct kiln_error err = { 0 };
	char digest[KILN_OCI_DIGEST_LEN + 1], *path = NULL;
	const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char *spec = kiln_xasprintf("oci:dir@x@%s", d);

	CHECK(kiln_base_parse_oci("k.yaml", spec, &path, digest, &err) == 0);
	CHECK_STR(path, "dir@x");
	CHECK_STR(digest, d);
	free(path);
	free(spec);
	CHECK(kiln_base_parse_oci("k.yaml", "oci:dir@sha256:12", &path, digest, &err) < 0);
	kiln_error_clear(&err);
}

static const char config[] =
	"{\"config\":{\"Env\":[\"PATH=/bin\",\"A=1\",\"B=2\"],\"Entrypoint\":[\"/e\"],\"Cmd\":[\"c\"],"
	"\"User\":\"u\",\"WorkingDir\":\"/w\",\"ExposedPorts\":{\"80/tcp\":{}},\"Volumes\":{\"/v\":{}},"
	"\"Labels\":{\"x\":\"base\",\"y\":\"base\"}}}";

TEST(config_inherited_and_overridden)
{
	struct kiln_base base = { .label = "b", .config = (char *)config, .config_len = sizeof(config) - 1 };
	struct kiln_keyval env[] = { { "B", "top" }, { "C", "3" } }, labels[] = { { "y", "top" }, { "z", "top" } };
	char *ports[] = { "80/tcp", "8080/tcp" }, *cmd[] = { "new" };
	struct kiln_image_config ic = { 0 };
	struct kiln_oci_config c = { 0 };
	struct kiln_error err = { 0 };

	ic.env = env, ic.n_env = 2, ic.labels = labels, ic.n_labels = 2, ic.ports = ports, ic.n_ports = 2;
	ic.cmd = cmd, ic.n_cmd = 1, ic.has_cmd = true;
	CHECK(kiln_base_config(&base, &ic, "PATH=/default", &c, &err) == 0);
	CHECK(c.n_env == 4);
	CHECK_STR(c.env[0], "PATH=/bin");
	CHECK_STR(c.env[1], "A=1");
	CHECK_STR(c.env[2], "B=top");
	CHECK_STR(c.env[3], "C=3");
	CHECK(c.n_labels == 3);
	CHECK_STR(c.label_values[0], "base");
	CHECK_STR(c.label_values[1], "top");
	CHECK_STR(c.label_keys[2], "z");
	CHECK(c.n_exposed_ports == 2);
	CHECK(c.n_volumes == 1);
	CHECK(c.has_entrypoint && c.n_entrypoint == 1);
	CHECK_STR(c.entrypoint[0], "/e");
	CHECK(c.has_cmd && c.n_cmd == 1);
	CHECK_STR(c.cmd[0], "new");
	CHECK_STR(c.user, "u");
	CHECK_STR(c.workdir, "/w");
	kiln_base_config_release(&c);

	/* An entrypoint without cmd drops the base's cmd. */
	memset(&ic, 0, sizeof(ic));
	ic.entrypoint = cmd, ic.n_entrypoint = 1, ic.has_entrypoint = true;
	CHECK(kiln_base_config(&base, &ic, "PATH=/default", &c, &err) == 0);
	CHECK(!c.has_cmd);
	CHECK_STR(c.entrypoint[0], "new");
	kiln_base_config_release(&c);

	/* Scratch: the manifest's, PATH defaulted first. */
	ic.env = env, ic.n_env = 1;
	CHECK(kiln_base_config(NULL, &ic, "PATH=/default", &c, &err) == 0);
	CHECK(c.n_env == 2);
	CHECK_STR(c.env[0], "PATH=/default");
	kiln_base_config_release(&c);
}

TEST(dpkg_status_merged)
{
	struct kiln_error err = { 0 };
	struct kiln_base base = { .label = "b" };
	char *out;

	base.dpkg_status = "Package: zz\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\n"
			   "Package: both\nArchitecture: amd64\nVersion: 2\nX: base\n";
	out = kiln_base_merge_status(&base, "Package: aa\nArchitecture: all\nVersion: 1\n\n"
					    "Package: both\nArchitecture: amd64\nVersion: 2\nX: ours\n", &err);
	CHECK_STR(out, "Package: aa\nArchitecture: all\nVersion: 1\n\n"
		       "Package: both\nArchitecture: amd64\nVersion: 2\nX: ours\n\n"
		       "Package: zz\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n");
	free(out);
	CHECK(!kiln_base_merge_status(&base, "Package: both\nArchitecture: amd64\nVersion: 3\n", &err));
	CHECK(strstr(err.message, "package both: the base b has version 2, this manifest's lock 3"));
	kiln_error_clear(&err);
}

TEST(accounts_merged)
{
	struct kiln_error err = { 0 };
	struct kiln_buf out = KILN_BUF_INIT;

	CHECK(kiln_base_merge_accounts("etc/passwd", "root:x:0:0:root:/root:/bin/bash\napp:x:1:1::/:/bin/sh\n",
				       "root:x:0:0:root:/root:/bin/sh\nweb:x:2:2::/:/bin/sh\n", &out, &err) == 0);
	CHECK_STR(out.data, "root:x:0:0:root:/root:/bin/bash\napp:x:1:1::/:/bin/sh\nweb:x:2:2::/:/bin/sh\n");
	kiln_buf_release(&out);
	CHECK(kiln_base_merge_accounts("etc/passwd", "app:x:1:1::/:/bin/sh\n", "app:x:5:5::/:/bin/sh\n", &out,
				       &err) < 0);
	CHECK(strstr(err.message, "etc/passwd of the base already has app"));
	kiln_error_clear(&err);
	kiln_buf_release(&out);
}

int main(void)
{
	RUN(manifest_path_relative_to_the_manifest);
	RUN(manifest_path_refuses_dotdot_and_absolute);
	RUN(manifest_path_cycle_names_the_loop);
	RUN(manifest_path_depth);
	RUN(oci_spec);
	RUN(config_inherited_and_overridden);
	RUN(dpkg_status_merged);
	RUN(accounts_merged);
	return tap_done();
}
