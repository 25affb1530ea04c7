/* test_values.c - every shared value through every path that accepts it:
 * values.h itself, the manifest (a kiln.yaml with the value in service:
 * or config:, parsed by kiln_manifest_parse), the command line (the
 * functions cmd/kiln/run.c calls for --memory, --log-max, --name,
 * --network and -p) and the runtime/container layer (the same functions:
 * kiln run's checks are the runtime's own).  Each row expects one verdict
 * from all of them: a manifest that validates is never refused at run. */
#include <stdlib.h>
#include <string.h>

#include "bundle.h"
#include "container.h"
#include "manifest.h"
#include "net.h"
#include "tap.h"
#include "util.h"
#include "values.h"

enum kind { SIZE, DURATION, NAME, NETWORK, PUBLISH, SIGNAL };

struct row {
	enum kind kind;
	const char *text;
	bool valid;
};

#define NAME64 "a123456789012345678901234567890123456789012345678901234567890123"

static const struct row rows[] = {
	/* sizes: one grammar for memory: and --memory (and --log-max) */
	{ SIZE, "1", true }, { SIZE, "128M", true }, { SIZE, "128m", true }, { SIZE, "1g", true },
	{ SIZE, "1T", true }, { SIZE, "100MB", true }, { SIZE, "512b", true }, { SIZE, "4k", true },
	{ SIZE, "8388607T", true }, { SIZE, "8388608T", false },
	{ SIZE, "9223372036854775807", true }, { SIZE, "9223372036854775808", false },
	{ SIZE, "0", false }, { SIZE, "0M", false }, { SIZE, "", false }, { SIZE, "M", false },
	{ SIZE, "1.5G", false }, { SIZE, "-1", false }, { SIZE, "+1", false }, { SIZE, " 1", false },
	{ SIZE, "1 M", false }, { SIZE, "1MiB", false }, { SIZE, "1P", false }, { SIZE, "1BB", false },
	{ SIZE, "12345678901234567890", false },
	/* durations */
	{ DURATION, "30s", true }, { DURATION, "500ms", true }, { DURATION, "1m30s", true },
	{ DURATION, "2h", true }, { DURATION, "1h2m3s4ms", true }, { DURATION, "596h", true },
	{ DURATION, "597h", false }, { DURATION, "0s", true }, { DURATION, "0ms", true }, { DURATION, "s", false },
	{ DURATION, "30", false }, { DURATION, "30S", false }, { DURATION, "1s1m", false },
	{ DURATION, "1s1s", false }, { DURATION, "1.5s", false }, { DURATION, "", false },
	{ DURATION, "1d", false }, { DURATION, "1234567890s", false },
	/* names: one limit (64) and one charset */
	{ NAME, "web", true }, { NAME, "Web-1.a_b", true }, { NAME, "0", true }, { NAME, NAME64, true },
	{ NAME, NAME64 "4", false }, { NAME, "", false }, { NAME, "-web", false }, { NAME, ".web", false },
	{ NAME, "_web", false }, { NAME, "we b", false }, { NAME, "we/b", false }, { NAME, "wé", false },
	{ NAME, "a:b", false },
	/* network modes */
	{ NETWORK, "bridge", true }, { NETWORK, "host", true }, { NETWORK, "none", true },
	{ NETWORK, "container:db", true }, { NETWORK, "container:" NAME64, true },
	{ NETWORK, "container:" NAME64 "4", false }, { NETWORK, "container:", false },
	{ NETWORK, "container:-x", false }, { NETWORK, "Bridge", false }, { NETWORK, "", false },
	{ NETWORK, "slirp", false }, { NETWORK, "container:a/b", false },
	/* published ports: IPv4 only, as the runtime publishes */
	{ PUBLISH, "8080:80", true }, { PUBLISH, "8080:80/tcp", true }, { PUBLISH, "53:53/udp", true },
	{ PUBLISH, "127.0.0.1:8080:80", true }, { PUBLISH, "1:65535", true },
	{ PUBLISH, "0:80", false }, { PUBLISH, "80:0", false }, { PUBLISH, "65536:80", false },
	{ PUBLISH, "80", false }, { PUBLISH, "80:", false }, { PUBLISH, ":80", false },
	{ PUBLISH, "[::1]:8080:80", false }, { PUBLISH, "::1:8080:80", false },
	{ PUBLISH, "1.2.3:8080:80", false }, { PUBLISH, "localhost:8080:80", false },
	{ PUBLISH, "8080:80/sctp", false }, { PUBLISH, "8080:80/", false }, { PUBLISH, "a:b", false },
	{ PUBLISH, "1:2:3:4", false }, { PUBLISH, "", false }, { PUBLISH, "+80:80", false },
	/* signals */
	{ SIGNAL, "SIGTERM", true }, { SIGNAL, "TERM", true }, { SIGNAL, "15", true },
	{ SIGNAL, "SIGKILL", true }, { SIGNAL, "SIGRTMIN+3", true }, { SIGNAL, "RTMAX-1", true },
	{ SIGNAL, "64", true }, { SIGNAL, "1", true },
	{ SIGNAL, "0", false }, { SIGNAL, "65", false }, { SIGNAL, "sigterm", false },
	{ SIGNAL, "SIG", false }, { SIGNAL, "SIGFOO", false }, { SIGNAL, "SIGRTMIN+31", false },
	{ SIGNAL, "SIGRTMIN+0", false }, { SIGNAL, "", false }, { SIGNAL, "-15", false },
};

static const char *const kind_names[] = { "size", "duration", "name", "network", "publish", "signal" };

static bool by_values(const struct row *r)
{
	size_t len = strlen(r->text);

	switch (r->kind) {
	case SIZE: return !kiln_values_size(r->text, len, NULL);
	case DURATION: return !kiln_values_duration(r->text, len, NULL);
	case NAME: return !kiln_values_name(r->text, len);
	case NETWORK: return !kiln_values_network(r->text, len);
	case PUBLISH: return !kiln_values_publish(r->text, len, NULL, NULL, NULL, NULL);
	case SIGNAL: return !kiln_values_signal(r->text, len, NULL);
	}
	return false;
}

static bool by_manifest(const struct row *r)
{
	static const char *const where[][2] = {
		{ "service: {resources: {memory: '", "'}}\n" },
		{ "service: {update: {drain: '", "'}}\n" },
		{ "service: {network: 'container:", "'}\n" },
		{ "service: {network: '", "'}\n" },
		{ "service: {publish: ['", "']}\n" },
		{ "config: {stop_signal: '", "'}\n" },
	};
	_cleanup_free_ char *yaml = NULL, *tail = NULL;
	struct kiln_error err = { 0 };
	struct kiln_manifest *m;

	tail = kiln_xasprintf("%s%s%s", where[r->kind][0], r->text, where[r->kind][1]);
	yaml = kiln_xasprintf("kiln: 1\nname: t\nsources: [{name: d, suite: s, trusted: true}]\n"
			      "packages: {curl: 1}\n%s", tail);
	m = kiln_manifest_parse("kiln.yaml", yaml, strlen(yaml), &err);
	if (!m && !strstr(err.message, "kiln.yaml:5:"))
		printf("# unexpected manifest error: %s\n", err.message);
	kiln_manifest_free(m);
	return m != NULL;
}

/* What cmd/kiln/run.c calls, which are the runtime layer's own checks;
 * -1 where no command-line option or runtime takes the value yet. */
static int by_runtime(const struct row *r)
{
	struct kiln_error err = { 0 };
	int64_t size = 0;
	int files = 0;

	switch (r->kind) {
	case SIZE: {
		bool memory = kiln_bundle_parse_size(r->text, &size, &err) == 0;
		_cleanup_free_ char *log_max = kiln_xasprintf("%s:2", r->text);
		bool log = kiln_container_parse_log_max(log_max, &size, &files, &err) == 0;

		if (memory != log)
			printf("# --memory and --log-max disagree on '%s'\n", r->text);
		return memory == log ? memory : -2;
	}
	case NAME:
		return kiln_container_name_valid(r->text);
	case NETWORK: {
		enum kiln_net_mode mode;
		const char *other;

		return kiln_net_parse_mode(r->text, &mode, &other, &err) == 0;
	}
	case PUBLISH: {
		struct kiln_net_port port;

		return kiln_net_parse_port(r->text, &port, &err) == 0;
	}
	case DURATION:
	case SIGNAL:
		return -1;
	}
	return -2;
}

int main(void)
{
	(void)tap_current_failed;
	for (size_t i = 0; i < KILN_ARRAY_SIZE(rows); i++) {
		const struct row *r = &rows[i];
		bool v = by_values(r), m = by_manifest(r);
		int rt = by_runtime(r);
		bool ok = v == r->valid && m == r->valid && (rt == -1 || rt == (int)r->valid);

		tap_count++;
		if (!ok) {
			tap_failed++;
			printf("# %s '%s': want %s; values %d, manifest %d, run/runtime %d\n",
			       kind_names[r->kind], r->text, r->valid ? "valid" : "invalid", v, m, rt);
		}
		printf("%sok %d - %s '%s' %s everywhere\n", ok ? "" : "not ", tap_count,
		       kind_names[r->kind], r->text, r->valid ? "accepted" : "refused");
	}
	return tap_done();
}
