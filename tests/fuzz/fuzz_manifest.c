/* fuzz_manifest.c - libFuzzer target for the kiln.yaml parser.
 *
 * Any bytes must give either a manifest that keeps the parser's promises
 * or an error of the form "FILE:LINE:COL: …"; never a crash, a leak or
 * undefined behaviour.  Broken promises abort, so the fuzzer reports them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "debversion.h"
#include "manifest.h"

#define PROMISE(cond)                                                                \
	do {                                                                         \
		if (!(cond))                                                         \
			abort();                                                     \
	} while (0)

static const char file[] = "fuzz.yaml";

/* "fuzz.yaml:LINE:COL: " with both numbers at least 1. */
static void check_message(const char *msg)
{
	const char *p = msg + strlen(file);
	char *end;

	PROMISE(strncmp(msg, file, strlen(file)) == 0 && *p == ':');
	PROMISE(strtoul(p + 1, &end, 10) >= 1 && *end == ':');
	PROMISE(strtoul(end + 1, &end, 10) >= 1 && *end == ':' && end[1] == ' ');
	/* Values are escaped: no control characters reach a terminal. */
	for (const unsigned char *c = (const unsigned char *)msg; *c; c++)
		PROMISE(*c >= 0x20 && *c != 0x7f);
}

static bool relative_inside(const char *path)
{
	size_t len = strlen(path);

	if (len == 0 || path[0] == '/')
		return false;
	for (const char *p = path; p; p = strchr(p, '/')) {
		if (*p == '/')
			p++;
		if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0'))
			return false;
	}
	return true;
}

static void check_manifest(const struct kiln_manifest *m)
{
	PROMISE(m->name && m->architecture && m->epoch && m->base);
	PROMISE(m->n_sources >= 1 && m->n_packages >= 1);
	for (size_t i = 0; i < m->n_sources; i++) {
		const struct kiln_source *s = &m->sources[i];

		PROMISE(s->name && s->suite && s->n_components >= 1);
		PROMISE(s->trusted != (s->keyring != NULL));
		for (size_t j = 0; j < i; j++)
			PROMISE(strcmp(s->name, m->sources[j].name) != 0);
	}
	for (size_t i = 0; i < m->n_packages; i++) {
		const struct kiln_package_pin *p = &m->packages[i];

		PROMISE(kiln_debversion_package_name_valid(p->name, strlen(p->name)));
		PROMISE(kiln_debversion_valid(p->version, strlen(p->version), NULL));
		PROMISE(p->mark.line >= 1 && p->mark.column >= 1);
	}
	for (size_t i = 0; i < m->n_files; i++) {
		PROMISE(relative_inside(m->files[i].src));
		PROMISE(m->files[i].dst[0] == '/');
	}
	for (size_t i = 0; i < m->n_users; i++)
		PROMISE(m->users[i].name && m->users[i].uid && m->users[i].gid);
	for (size_t i = 0; i < m->config.n_ports; i++)
		PROMISE(strchr(m->config.ports[i], '/'));
	if (m->service.has_health)
		PROMISE((m->service.health.http != NULL) != (m->service.health.n_cmd > 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_error err = { 0 };
	struct kiln_manifest *m = kiln_manifest_parse(file, (const char *)data, size, &err);

	if (m) {
		check_manifest(m);
		kiln_manifest_free(m);
	} else {
		check_message(err.message);
	}
	return 0;
}
