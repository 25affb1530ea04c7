/* service.c - a manifest's service: as typed values (service.h). */
#include "service.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "container.h"
#include "dsse.h"
#include "fsutil.h"
#include "provenance.h"
#include "record.h"
#include "util.h"
#include "values.h"

/* An envelope holds one statement: far below this. */
#define ENVELOPE_MAX (16u << 20)

/* A duration the manifest checked; def when absent. */
static int duration(const char *text, int64_t def, const char *key, int64_t *out, struct kiln_error *err)
{
	const char *why;

	if (!text) {
		*out = def;
		return 0;
	}
	if ((why = kiln_values_duration(text, strlen(text), out)))
		return kiln_error_set(err, "service.%s: \"%s\" is not a valid duration: %s", key, text, why);
	return 0;
}

/* A decimal count of at most 9 digits (the manifest's rule_count). */
static int count(const char *text, const char *key, int64_t *out, struct kiln_error *err)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno || end == text || *end || v < 0 || v > 999999999)
		return kiln_error_set(err, "service.%s: \"%s\" is not a decimal count", key, text);
	*out = v;
	return 0;
}

/* The container port of the first TCP entry of publish, or 0. */
static uint16_t first_tcp_publish(const struct kiln_service_spec *s)
{
	for (size_t i = 0; i < s->n_publish; i++)
		if (s->ports[i].proto == IPPROTO_TCP)
			return s->ports[i].container;
	return 0;
}

/* The image's first exposed TCP port (config.ports, "8080/tcp"), or 0. */
static uint16_t first_exposed_tcp(const struct kiln_manifest *m)
{
	for (size_t i = 0; i < m->config.n_ports; i++) {
		char *end;
		unsigned long v = strtoul(m->config.ports[i], &end, 10);
		if (strcmp(end, "/tcp") == 0 && v > 0 && v <= 65535)
			return (uint16_t)v;
	}
	return 0;
}

static int port_number(const char *text, const char *key, uint16_t *out, struct kiln_error *err)
{
	char *end;
	unsigned long v = strtoul(text, &end, 10);

	if (end == text || *end || v == 0 || v > 65535)
		return kiln_error_set(err, "service.%s: \"%s\" is not a port number from 1 to 65535", key, text);
	*out = (uint16_t)v;
	return 0;
}

static int health_from(const struct kiln_manifest *m, struct kiln_service_spec *s, struct kiln_error *err)
{
	const struct kiln_service *ms = &m->service;
	const struct kiln_health *h = &ms->health;
	int64_t retries = KILN_SERVICE_HEALTH_RETRIES;

	if (!ms->has_health) {
		s->health.port = first_tcp_publish(s);
		s->health.kind = s->health.port ? KILN_HEALTH_TCP : KILN_HEALTH_NONE;
	} else if (h->http) {
		s->health.kind = KILN_HEALTH_HTTP;
		s->health.path = kiln_xstrdup(h->http);
		if (h->port) {
			if (port_number(h->port, "health.port", &s->health.port, err) < 0)
				return -1;
		} else {
			s->health.port = first_tcp_publish(s);
			if (!s->health.port)
				s->health.port = first_exposed_tcp(m);
			if (!s->health.port)
				return kiln_error_set(err, "service.health.http: no port to request %s on: give "
						      "health.port, or publish or expose a TCP port", h->http);
		}
	} else if (h->tcp) {
		s->health.kind = KILN_HEALTH_TCP;
		if (port_number(h->tcp, "health.tcp", &s->health.port, err) < 0)
			return -1;
	} else {
		s->health.kind = KILN_HEALTH_CMD;
		s->health.cmd = kiln_strv_dup(h->cmd, h->n_cmd);
		s->health.n_cmd = h->n_cmd;
	}
	if (duration(h->interval, KILN_SERVICE_HEALTH_INTERVAL_MS, "health.interval", &s->health.interval_ms, err) < 0 ||
	    duration(h->timeout, KILN_SERVICE_HEALTH_TIMEOUT_MS, "health.timeout", &s->health.timeout_ms, err) < 0 ||
	    duration(h->start_period, KILN_SERVICE_HEALTH_START_PERIOD_MS, "health.start_period",
		     &s->health.start_period_ms, err) < 0)
		return -1;
	if (h->retries && count(h->retries, "health.retries", &retries, err) < 0)
		return -1;
	s->health.retries = (int)retries;
	return 0;
}

static int update_from(const struct kiln_service *ms, struct kiln_service_spec *s, struct kiln_error *err)
{
	const char *f = ms->update_on_failure;

	s->update.stop_first = ms->update_order && strcmp(ms->update_order, "stop-first") == 0;
	if (ms->update_order && !s->update.stop_first && strcmp(ms->update_order, "start-first") != 0)
		return kiln_error_set(err, "service.update.order: \"%s\" is not start-first or stop-first",
				      ms->update_order);
	if (!f || strcmp(f, "rollback") == 0)
		s->update.on_failure = KILN_UPDATE_ROLLBACK;
	else if (strcmp(f, "pause") == 0)
		s->update.on_failure = KILN_UPDATE_PAUSE;
	else if (strcmp(f, "continue") == 0)
		s->update.on_failure = KILN_UPDATE_CONTINUE;
	else
		return kiln_error_set(err, "service.update.on_failure: \"%s\" is not rollback, pause or continue", f);
	if (duration(ms->update_drain, KILN_SERVICE_UPDATE_DRAIN_MS, "update.drain", &s->update.drain_ms, err) < 0 ||
	    duration(ms->update_grace, KILN_SERVICE_UPDATE_GRACE_MS, "update.grace", &s->update.grace_ms, err) < 0 ||
	    duration(ms->update_monitor, KILN_SERVICE_UPDATE_MONITOR_MS, "update.monitor", &s->update.monitor_ms,
		     err) < 0)
		return -1;
	return 0;
}

/* The resources; the manifest checked them with the same grammars. */
static int resources_from(const struct kiln_service *ms, struct kiln_service_spec *s, struct kiln_error *err)
{
	const char *why;

	if (ms->memory && (why = kiln_values_size(ms->memory, strlen(ms->memory), &s->memory)))
		return kiln_error_set(err, "service.resources.memory: \"%s\" is not a valid size: %s", ms->memory, why);
	if (ms->pids) {
		if (count(ms->pids, "resources.pids", &s->pids, err) < 0)
			return -1;
		if (s->pids == 0)
			return kiln_error_set(err, "service.resources.pids: must be greater than 0");
	}
	if (ms->cpus) {
		char *end;
		errno = 0;
		s->cpus = strtod(ms->cpus, &end);
		if (errno || end == ms->cpus || *end || !(s->cpus > 0))
			return kiln_error_set(err, "service.resources.cpus: \"%s\" is not a number of CPUs greater "
					      "than 0", ms->cpus);
	}
	return 0;
}

static int spec_fill(const struct kiln_manifest *m, struct kiln_service_spec *s, struct kiln_error *err)
{
	const struct kiln_service *ms = &m->service;
	const char *why;

	if (!m->name || !kiln_container_name_valid(m->name))
		return kiln_error_set(err, "name \"%s\": a service's name is a container name too: at most 64 "
				      "characters", m->name ? m->name : "");
	s->name = kiln_xstrdup(m->name);
	s->network = kiln_xstrdup(ms->network ? ms->network : "bridge");
	if ((why = kiln_values_network(s->network, strlen(s->network))))
		return kiln_error_set(err, "service.network: \"%s\" is not a valid network: %s", s->network, why);
	s->publish = kiln_strv_dup(ms->publish, ms->n_publish);
	s->n_publish = ms->n_publish;
	s->ports = kiln_xcalloc(ms->n_publish + 1, sizeof(*s->ports));
	for (size_t i = 0; i < ms->n_publish; i++)
		if (kiln_net_parse_port(ms->publish[i], &s->ports[i], err) < 0)
			return kiln_error_prefix(err, "service.publish[%zu]", i);
	s->volumes = kiln_strv_dup(ms->volumes, ms->n_volumes);
	s->n_volumes = ms->n_volumes;
	s->after = kiln_strv_dup(ms->after, ms->n_after);
	s->n_after = ms->n_after;
	/* Off unless asked for, as Docker's and compose's init: the process
	 * the image names is pid 1 (docs/manifest.md). */
	if (ms->init && strcmp(ms->init, "true") == 0)
		s->init = true;
	else if (!ms->init || strcmp(ms->init, "false") == 0)
		s->init = false;
	else
		return kiln_error_set(err, "service.init: \"%s\" is not true or false", ms->init);
	if (resources_from(ms, s, err) < 0 || health_from(m, s, err) < 0 || update_from(ms, s, err) < 0)
		return -1;
	return 0;
}

int kiln_service_spec_from_manifest(const struct kiln_manifest *m, struct kiln_service_spec *out,
				    struct kiln_error *err)
{
	struct kiln_service_spec s = { 0 };

	if (!m->service.present)
		return kiln_error_set(err, "%s: the manifest has no service: section (docs/manifest.md)",
				      m->path ? m->path : "manifest");
	if (spec_fill(m, &s, err) < 0) {
		kiln_service_spec_release(&s);
		return m->path ? kiln_error_prefix(err, "%s", m->path) : -1;
	}
	*out = s;
	return 0;
}

void kiln_service_spec_release(struct kiln_service_spec *s)
{
	free(s->name);
	free(s->network);
	kiln_strv_free(s->publish, s->n_publish);
	free(s->ports);
	kiln_strv_free(s->volumes, s->n_volumes);
	kiln_strv_free(s->after, s->n_after);
	free(s->health.path);
	kiln_strv_free(s->health.cmd, s->health.n_cmd);
	memset(s, 0, sizeof(*s));
}

/* ---- the manifest a snapshot was built from ------------------------------ */

/* The manifest path the signed statement of envelope digest names
 * (malloc'd), read from the store by digest. */
static char *statement_manifest_path(const struct kiln_store *store, const char *digest, struct kiln_error *err)
{
	_cleanup_free_ char *envelope = NULL;
	_cleanup_free_ unsigned char *payload = NULL;
	struct kiln_provenance_info info = { 0 };
	json_t *o = NULL, *p;
	size_t len, payload_len = 0;
	char *path = NULL;

	envelope = kiln_store_read_blob(store, digest, ENVELOPE_MAX, &len, err);
	if (!envelope) {
		kiln_error_prefix(err, "envelope");
		return NULL;
	}
	o = json_loadb(envelope, len, 0, NULL);
	p = o ? json_object_get(o, "payload") : NULL;
	if (json_is_string(p))
		payload = kiln_dsse_base64_decode(json_string_value(p), json_string_length(p), &payload_len);
	json_decref(o);
	if (!payload) {
		kiln_error_set(err, "envelope %s: no base64 payload", digest);
		return NULL;
	}
	if (kiln_provenance_parse((const char *)payload, payload_len, &info, err) < 0) {
		kiln_error_prefix(err, "envelope %s", digest);
		return NULL;
	}
	path = info.manifest_path ? kiln_xstrdup(info.manifest_path) : NULL;
	kiln_provenance_info_release(&info);
	if (!path)
		kiln_error_set(err, "envelope %s: the statement names no manifest", digest);
	return path;
}

/* path (relative to the current directory, or absolute) relative to the
 * work tree workdir, symbolic links of its directory resolved; NULL when
 * it is not inside. */
static char *relative_to(const char *workdir, const char *path)
{
	_cleanup_free_ char *wd = realpath(workdir, NULL);
	_cleanup_free_ char *dir = kiln_path_dirname(path);
	_cleanup_free_ char *real_dir = realpath(dir, NULL);
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	size_t n;

	if (!wd || !real_dir)
		return NULL;
	n = strlen(wd);
	if (strcmp(real_dir, wd) == 0)
		return kiln_xstrdup(base);
	if (strncmp(real_dir, wd, n) != 0 || real_dir[n] != '/')
		return NULL;
	return kiln_xasprintf("%s/%s", real_dir + n + 1, base);
}

int kiln_service_snapshot_manifest(struct kiln_git *git, const struct kiln_store *store,
				   const struct kiln_snapref *ref, const char *fallback_path,
				   struct kiln_manifest **out, struct kiln_error *err)
{
	_cleanup_free_ char *rel = NULL, *text = NULL, *label = NULL;
	struct kiln_record r;
	struct kiln_manifest *m;
	bool found = false, named = false;
	size_t len;

	*out = NULL;
	if (!ref->name || !ref->commit[0])
		return 0;
	if (!git)
		return kiln_error_set(err, "snapshot %s@%.12s: its manifest is in git, and there is no repository",
				      ref->name, ref->commit);
	if (kiln_record_read(store, ref->commit, ref->name, &r, &found, err) < 0)
		return -1;
	if (found && r.envelope[0]) {
		rel = statement_manifest_path(store, r.envelope, err);
		named = true;
	}
	if (found)
		kiln_record_release(&r);
	if (named && !rel)
		return kiln_error_prefix(err, "snapshot %s@%.12s", ref->name, ref->commit);
	if (!rel && fallback_path)
		rel = relative_to(kiln_git_workdir(git), fallback_path);
	if (!rel)
		return 0;
	text = kiln_git_read_file(git, ref->commit, rel, &len, &found, err);
	if (!text) {
		if (found || kiln_error_isset(err))
			return -1;
		if (!named)
			return 0;
		return kiln_error_set(err, "snapshot %s@%.12s: its manifest %s is not in the commit", ref->name,
				      ref->commit, rel);
	}
	label = kiln_xasprintf("%s@%.12s", rel, ref->commit);
	m = kiln_manifest_parse(label, text, len, err);
	if (!m)
		return -1;
	if (!m->name || strcmp(m->name, ref->name) != 0) {
		/* The fallback is only a guess: another manifest's is not ours. */
		bool guessed = !named;
		kiln_manifest_free(m);
		if (guessed)
			return 0;
		return kiln_error_set(err, "snapshot %s@%.12s: its manifest %s is named otherwise", ref->name,
				      ref->commit, label);
	}
	*out = m;
	return 0;
}
