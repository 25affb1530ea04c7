/* test_service.c - a manifest's service: as typed values (lib/ops/service):
 * every default of docs/manifest.md, every value through the grammar of
 * lib/base/values, the health check's kinds and ports. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "health.h"
#include "manifest.h"
#include "service.h"
#include "tap.h"
#include "util.h"

#define HEAD                                                                         \
	"kiln: 1\n"                                                                  \
	"name: web\n"                                                                \
	"sources:\n"                                                                 \
	"  - {name: d, suite: bookworm, trusted: true}\n"                            \
	"packages:\n"                                                                \
	"  curl: 7.88.1-10\n"

/* The spec of HEAD + tail; false with the message in err when it fails. */
static bool spec_of(const char *tail, struct kiln_service_spec *s, struct kiln_error *err)
{
	_cleanup_free_ char *yaml = kiln_xasprintf(HEAD "%s", tail);
	_cleanup_manifest_ struct kiln_manifest *m = NULL;

	kiln_error_clear(err);
	memset(s, 0, sizeof(*s));
	m = kiln_manifest_parse("kiln.yaml", yaml, strlen(yaml), err);
	if (!m) {
		printf("# parse: %s\n", err->message);
		return false;
	}
	return kiln_service_spec_from_manifest(m, s, err) == 0;
}

TEST(defaults)
{
	struct kiln_service_spec s;
	struct kiln_error err = { 0 };

	CHECK(spec_of("service: {}\n", &s, &err));
	CHECK_STR(s.name, "web");
	CHECK_STR(s.network, "bridge");
	CHECK(s.n_publish == 0 && s.n_volumes == 0 && s.n_after == 0);
	CHECK(s.memory == 0 && s.pids == 0 && s.cpus == 0);
	CHECK(!s.init); /* init: off by default, as Docker */
	CHECK(s.health.kind == KILN_HEALTH_NONE);
	CHECK(s.health.interval_ms == 1000);
	CHECK(s.health.timeout_ms == 5000);
	CHECK(s.health.start_period_ms == 30000);
	CHECK(s.health.retries == 3);
	CHECK(!s.update.stop_first);
	CHECK(s.update.drain_ms == 5000);
	CHECK(s.update.grace_ms == 10000);
	CHECK(s.update.monitor_ms == 0);
	CHECK(s.update.on_failure == KILN_UPDATE_ROLLBACK);
	kiln_service_spec_release(&s);
}

TEST(every_value)
{
	struct kiln_service_spec s;
	struct kiln_error err = { 0 };

	CHECK(spec_of("service:\n"
		      "  network: container:db-1\n"
		      "  publish: [\"127.0.0.1:8080:80/tcp\", \"53:5353/udp\"]\n"
		      "  volumes: [\"data:/data:ro\"]\n"
		      "  init: false\n"
		      "  after: [db, cache]\n"
		      "  health: {cmd: [/bin/check, -q], interval: 1m30s, timeout: 500ms, start_period: 0s, retries: 0}\n"
		      "  resources: {memory: 128M, pids: 256, cpus: \"0.5\"}\n"
		      "  update: {order: stop-first, drain: 2s, grace: 1h, monitor: 45s, on_failure: pause}\n",
		      &s, &err));
	if (kiln_error_isset(&err))
		printf("# %s\n", err.message);
	CHECK_STR(s.network, "container:db-1");
	CHECK(s.n_publish == 2);
	CHECK_STR(s.publish[1], "53:5353/udp");
	CHECK(s.ports[0].host == 8080 && s.ports[0].container == 80 && s.ports[0].proto == IPPROTO_TCP);
	CHECK_STR(s.ports[0].host_address, "127.0.0.1");
	CHECK(s.ports[1].host == 53 && s.ports[1].container == 5353 && s.ports[1].proto == IPPROTO_UDP);
	CHECK_STR(s.ports[1].host_address, "");
	CHECK(s.n_volumes == 1);
	CHECK_STR(s.volumes[0], "data:/data:ro");
	CHECK(!s.init);
	CHECK(s.n_after == 2);
	CHECK_STR(s.after[1], "cache");
	CHECK(s.health.kind == KILN_HEALTH_CMD && s.health.n_cmd == 2);
	CHECK_STR(s.health.cmd[1], "-q");
	CHECK(s.health.interval_ms == 90000);
	CHECK(s.health.timeout_ms == 500);
	CHECK(s.health.start_period_ms == 0);
	CHECK(s.health.retries == 0);
	CHECK(s.memory == 128 << 20);
	CHECK(s.pids == 256);
	CHECK(s.cpus == 0.5);
	CHECK(s.update.stop_first);
	CHECK(s.update.drain_ms == 2000);
	CHECK(s.update.grace_ms == 3600000);
	CHECK(s.update.monitor_ms == 45000);
	CHECK(s.update.on_failure == KILN_UPDATE_PAUSE);
	kiln_service_spec_release(&s);

	CHECK(spec_of("service: {update: {on_failure: continue, order: start-first}}\n", &s, &err));
	CHECK(s.update.on_failure == KILN_UPDATE_CONTINUE && !s.update.stop_first);
	kiln_service_spec_release(&s);
	CHECK(spec_of("service: {init: true, resources: {memory: \"1g\", cpus: \"2\"}}\n", &s, &err));
	CHECK(s.init && s.memory == 1LL << 30 && s.cpus == 2);
	kiln_service_spec_release(&s);
}

TEST(health_kinds)
{
	struct kiln_service_spec s;
	struct kiln_error err = { 0 };

	/* Without health: TCP on the first published TCP container port. */
	CHECK(spec_of("service: {publish: [\"53:5353/udp\", \"8080:80\", \"9090:90\"]}\n", &s, &err));
	CHECK(s.health.kind == KILN_HEALTH_TCP && s.health.port == 80);
	kiln_service_spec_release(&s);
	/* Only UDP published: nothing to connect to. */
	CHECK(spec_of("service: {publish: [\"53:5353/udp\"]}\n", &s, &err));
	CHECK(s.health.kind == KILN_HEALTH_NONE && s.health.port == 0);
	kiln_service_spec_release(&s);
	CHECK(spec_of("service: {health: {tcp: \"6379\"}}\n", &s, &err));
	CHECK(s.health.kind == KILN_HEALTH_TCP && s.health.port == 6379);
	CHECK(s.health.path == NULL && s.health.n_cmd == 0);
	kiln_service_spec_release(&s);
	CHECK(spec_of("service: {health: {http: /up, port: 8081}, publish: [\"80:8080\"]}\n", &s, &err));
	CHECK(s.health.kind == KILN_HEALTH_HTTP && s.health.port == 8081);
	CHECK_STR(s.health.path, "/up");
	kiln_service_spec_release(&s);
	/* http without port: the published container port, else the exposed one. */
	CHECK(spec_of("service: {health: {http: /}, publish: [\"80:8080\"]}\n", &s, &err));
	CHECK(s.health.kind == KILN_HEALTH_HTTP && s.health.port == 8080);
	kiln_service_spec_release(&s);
	CHECK(spec_of("config: {ports: [\"53/udp\", \"8443\"]}\nservice: {health: {http: /}}\n", &s, &err));
	CHECK(s.health.kind == KILN_HEALTH_HTTP && s.health.port == 8443);
	kiln_service_spec_release(&s);
}

TEST(refused)
{
	struct kiln_service_spec s;
	struct kiln_error err = { 0 };
	_cleanup_manifest_ struct kiln_manifest *m = NULL;
	const char *yaml = HEAD;

	/* No service: section at all. */
	m = kiln_manifest_parse("kiln.yaml", yaml, strlen(yaml), &err);
	CHECK(m != NULL);
	if (m) {
		memset(&s, 0, sizeof(s));
		CHECK(kiln_service_spec_from_manifest(m, &s, &err) < 0);
		CHECK(strstr(err.message, "kiln.yaml: the manifest has no service:") == err.message);
		CHECK(s.name == NULL);
	}
	/* http with no port to find. */
	CHECK(!spec_of("service: {health: {http: /}}\n", &s, &err));
	CHECK(strstr(err.message, "kiln.yaml: service.health.http: no port to request / on") == err.message);
	CHECK(s.name == NULL); /* out is untouched on failure */
}

TEST(long_name)
{
	/* A manifest name may be 128 characters; a service's is a container
	 * name, at most 64. */
	char name[66];
	struct kiln_service_spec s = { 0 };
	struct kiln_error err = { 0 };

	memset(name, 'a', 65);
	name[65] = 0;
	_cleanup_free_ char *yaml = kiln_xasprintf("kiln: 1\nname: %s\nsources: [{name: d, suite: b, trusted: true}]\n"
						   "packages: {curl: 7.88.1-10}\nservice: {}\n", name);
	_cleanup_manifest_ struct kiln_manifest *m = kiln_manifest_parse("kiln.yaml", yaml, strlen(yaml), &err);
	CHECK(m != NULL);
	if (m) {
		CHECK(kiln_service_spec_from_manifest(m, &s, &err) < 0);
		CHECK(strstr(err.message, "at most 64") != NULL);
	}
}

/* A probe bound to an interface goes only through it: through lo it
 * reaches a listener on 127.0.0.1; through an interface that is not there
 * (a bridge removed with the container's last lease) it fails, instead of
 * leaving by the default route (health.h, device). */
TEST(probe_device)
{
	struct kiln_service_spec s;
	struct kiln_error err = { 0 };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char *why = NULL, port[8];

	if (geteuid() != 0) {
		printf("# skip probe_device: SO_BINDTODEVICE needs root\n");
		if (lfd >= 0)
			close(lfd);
		return;
	}
	CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 4) == 0 &&
	      getsockname(lfd, (struct sockaddr *)&sa, &sl) == 0);
	snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));
	_cleanup_free_ char *tail = kiln_xasprintf("service: {health: {tcp: \"%s\", timeout: 2s}}\n", port);
	CHECK(spec_of(tail, &s, &err));
	struct kiln_health_target t = { .address = "127.0.0.1", .device = "lo" };
	CHECK(kiln_health_probe(&s, &t, &why, &err) == 1);
	free(why);
	why = NULL;
	t.device = "kilnnodev0";
	CHECK(kiln_health_probe(&s, &t, &why, &err) == 0);
	CHECK(why && strstr(why, "through kilnnodev0: No such device") != NULL);
	if (why)
		printf("# %s\n", why);
	free(why);
	kiln_service_spec_release(&s);
	close(lfd);
}

int main(void)
{
	RUN(defaults);
	RUN(every_value);
	RUN(health_kinds);
	RUN(refused);
	RUN(long_name);
	RUN(probe_device);
	return tap_done();
}
