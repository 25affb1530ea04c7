/* snapshots.c - what every command that names a SNAP opens first. */
#include <stdlib.h>
#include <string.h>

#include "kiln.h"
#include "manifest.h"
#include "snapref.h"
#include "util.h"

int kiln_cli_snapshots_open(const struct kiln_cli *cli, struct kiln_cli_snapshots *s,
			    struct kiln_error *err)
{
	struct kiln_manifest *m;

	memset(s, 0, sizeof(*s));
	/* Outside a work tree only sha256: names work; resolving says so. */
	s->git = kiln_git_open(".", KILN_ERROR_IGNORE);
	s->store_dir = kiln_store_default_dir(kiln_cli_store(cli), s->git ? kiln_git_workdir(s->git) : ".");
	s->store = kiln_store_open_default(kiln_cli_store(cli), s->git ? kiln_git_workdir(s->git) : ".", false, err);
	if (!s->store) {
		kiln_cli_snapshots_close(s);
		return -1;
	}
	m = kiln_manifest_load(kiln_cli_manifest(cli), KILN_ERROR_IGNORE);
	if (m) {
		s->default_name = kiln_xstrdup(m->name);
		kiln_manifest_free(m);
	}
	return 0;
}

void kiln_cli_snapshots_close(struct kiln_cli_snapshots *s)
{
	kiln_store_free(s->store);
	kiln_git_free(s->git);
	free(s->store_dir);
	free(s->default_name);
	memset(s, 0, sizeof(*s));
}

unsigned kiln_cli_snapref_flags(bool insecure_option)
{
	if (insecure_option || kiln_env_insecure())
		return KILN_SNAPREF_INSECURE;
	return 0;
}
