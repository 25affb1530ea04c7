/* fuzz_provenance.c - libFuzzer target: kiln_provenance_parse, and for what
 * parses, a statement made from what was read must parse back to the same
 * subject, commit and external parameters. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "provenance.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const char *a, const char *b)
{
	if (!a || !b || strcmp(a, b) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kiln_error err = { 0 };
	struct kiln_provenance_info info, back;
	struct kiln_provenance p = { 0 };
	char *statement;

	if (kiln_provenance_parse((const char *)data, size, &info, &err) < 0) {
		if (err.code != KILN_EXIT_VERIFY)
			abort(); /* every refusal is a failed verification */
		return 0;
	}
	p.name = info.subject_name;
	p.image_digest = info.subject_digest;
	p.commit = info.commit;
	p.manifest_path = info.manifest_path;
	p.lock_path = "kiln.lock";
	p.lock_digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
	p.compression = info.compression;
	p.has_source_date = info.has_source_date;
	p.source_date = info.source_date;
	p.layer_format = "1";
	p.kiln_version = info.builder_version;
	statement = kiln_provenance_statement(&p, &err);
	if (!statement)
		abort(); /* everything came from valid JSON strings */
	if (kiln_provenance_parse(statement, strlen(statement), &back, &err) < 0)
		abort();
	same(back.subject_name, info.subject_name);
	same(back.subject_digest, info.subject_digest);
	same(back.commit, info.commit);
	same(back.manifest_path, info.manifest_path);
	same(back.compression, info.compression);
	same(back.builder_version, info.builder_version);
	if (back.has_source_date != info.has_source_date || back.source_date != info.source_date)
		abort();
	kiln_provenance_info_release(&back);
	kiln_provenance_info_release(&info);
	free(statement);
	return 0;
}
