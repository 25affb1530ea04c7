/* manifest.c - kiln.yaml, parsed strictly (docs/manifest.md).
 *
 * Two passes.  The first is the shared YAML reader (yamltree.h): it is
 * where anchors, aliases, tags, NULs, duplicate keys, deep nesting, too
 * many nodes and extra documents are refused, before any of them can cost
 * memory or surprise a reader.  The second walks that tree with the
 * manifest's schema (the walker of yamltree.h keeps the key path,
 * "sources[0].suite", for messages), and copies every accepted value into
 * struct kiln_manifest.  The first problem found stops the parse; whatever
 * was built so far is freed.
 *
 * Every scalar is taken as the text it is written as: `version: 1.10` is
 * "1.10" and `trusted: yes` is the string "yes" (which is then refused,
 * since only "true" and "false" are booleans here).
 */
#include "manifest.h"

#include <arpa/inet.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "debversion.h"
#include "fsutil.h"
#include "hash.h"
#include "util.h"
#include "values.h"
#include "yamltree.h"

/* Longest URL and path accepted, in bytes. */
#define URL_MAX 2048
#define PATH_MAX_LEN 4096

/* Is ch one of the characters of set?  (strchr alone would say yes to NUL.) */
static bool in_set(char ch, const char *set)
{
	return ch != '\0' && strchr(set, ch) != NULL;
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_lower_alnum(char ch)
{
	return (ch >= 'a' && ch <= 'z') || is_digit(ch);
}

static bool is_alnum(char ch)
{
	return is_lower_alnum(ch) || (ch >= 'A' && ch <= 'Z');
}

static struct kiln_mark node_mark(const struct kiln_yaml_node *n)
{
	return (struct kiln_mark){ n->line, n->column };
}

/* ------------------------------------------------------------------------ */
/* A set of strings, to find duplicates in linear time                      */

struct strset_slot {
	const char *s;
	size_t len;
	unsigned line;
};

struct strset {
	struct strset_slot *slots;
	size_t cap, n;
};

static inline void strset_release(struct strset *set)
{
	free(set->slots);
	set->slots = NULL;
	set->cap = set->n = 0;
}
#define _cleanup_strset_ _cleanup_(strset_release)

static struct strset_slot *strset_find(struct strset_slot *slots, size_t cap, const char *s,
				       size_t len)
{
	size_t i = (size_t)kiln_hash_fnv1a(s, len) & (cap - 1);

	while (slots[i].s && (slots[i].len != len || memcmp(slots[i].s, s, len) != 0))
		i = (i + 1) & (cap - 1);
	return &slots[i];
}

/* Remember s (which must outlive the set); 0 when it is new, else the line
 * where it was first added. */
static unsigned strset_add(struct strset *set, const char *s, size_t len, unsigned line)
{
	struct strset_slot *slot;

	if ((set->n + 1) * 2 > set->cap) {
		size_t cap = set->cap ? set->cap * 2 : 16;
		struct strset_slot *slots = kiln_xcalloc(cap, sizeof(*slots));

		for (size_t i = 0; i < set->cap; i++)
			if (set->slots[i].s)
				*strset_find(slots, cap, set->slots[i].s, set->slots[i].len) = set->slots[i];
		free(set->slots);
		set->slots = slots;
		set->cap = cap;
	}
	slot = strset_find(set->slots, set->cap, s, len);
	if (slot->s)
		return slot->line;
	slot->s = s;
	slot->len = len;
	slot->line = line ? line : 1;
	set->n++;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Value rules: NULL when s[0..len) is fine, else why not                    */

typedef kiln_yaml_rule_fn rule_fn;

static bool all_digits(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_digit(s[i]))
			return false;
	return true;
}

/* Decimal digits without a leading zero (other than "0" itself) whose value
 * is at most max. */
static bool decimal_at_most(const char *s, size_t len, uint64_t max)
{
	uint64_t v = 0;

	if (!all_digits(s, len) || (len > 1 && s[0] == '0') || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	return v <= max;
}

static bool has_control(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f)
			return true;
	}
	return false;
}

/* Does the '/'-separated path have a component equal to `comp`? */
static bool has_component(const char *s, size_t len, const char *comp)
{
	size_t clen = strlen(comp), start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '/') {
			if (i - start == clen && memcmp(s + start, comp, clen) == 0)
				return true;
			start = i + 1;
		}
	}
	return false;
}

static const char *rule_name(const char *s, size_t len)
{
	if (len == 0 || len > 128)
		return "use 1 to 128 characters";
	if (!is_lower_alnum(s[0]))
		return "must start with a lowercase letter or a digit";
	for (size_t i = 1; i < len; i++)
		if (!is_lower_alnum(s[i]) && !in_set(s[i], "._-"))
			return "may contain only a-z, 0-9, '.', '_' and '-'";
	return NULL;
}

static const char *rule_architecture(const char *s, size_t len)
{
	if (len == 0 || len > 64)
		return "use 1 to 64 characters";
	if (!is_lower_alnum(s[0]))
		return "must start with a lowercase letter or a digit";
	for (size_t i = 1; i < len; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return "may contain only a-z, 0-9 and '-', as Debian architecture names do";
	return NULL;
}

/* Suites and components become parts of URLs and paths (dists/SUITE/…). */
static const char *rule_repo_path(const char *s, size_t len, bool upper)
{
	if (len == 0 || len > 128)
		return "use 1 to 128 characters";
	if (!(upper ? is_alnum(s[0]) : is_lower_alnum(s[0])))
		return upper ? "must start with a letter or a digit"
			     : "must start with a lowercase letter or a digit";
	for (size_t i = 1; i < len; i++)
		if (!(upper ? is_alnum(s[i]) : is_lower_alnum(s[i])) && !in_set(s[i], "._/-"))
			return upper ? "may contain only letters, digits, '.', '_', '/' and '-'"
				     : "may contain only a-z, 0-9, '.', '_', '/' and '-'";
	if (has_component(s, len, "..") || has_component(s, len, ".") ||
	    has_component(s, len, ""))
		return "must not have empty, \".\" or \"..\" path components";
	return NULL;
}

static const char *rule_suite(const char *s, size_t len)
{
	return rule_repo_path(s, len, true);
}

static const char *rule_component(const char *s, size_t len)
{
	return rule_repo_path(s, len, false);
}

static const char *rule_keyring(const char *s, size_t len)
{
	if (len == 0)
		return "must not be empty";
	if (len > PATH_MAX_LEN)
		return "is longer than 4096 bytes";
	if (has_control(s, len))
		return "must not contain control characters";
	return NULL;
}

static const char *rule_url(const char *s, size_t len)
{
	size_t scheme;

	if (kiln_str_has_prefix(s, "http://"))
		scheme = 7;
	else if (kiln_str_has_prefix(s, "https://"))
		scheme = 8;
	else
		return "must start with http:// or https://";
	if (len > URL_MAX)
		return "is longer than 2048 bytes";
	if (len == scheme || s[scheme] == '/')
		return "has no host after the scheme";
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch <= 0x20 || ch >= 0x7f)
			return "must not contain whitespace, control or non-ASCII characters (percent-encode them)";
		if (ch == '?' || ch == '#')
			return "must not contain a query ('?') or a fragment ('#'): it is a base URL";
	}
	return NULL;
}

static const char *rule_epoch(const char *s, size_t len)
{
	if (!all_digits(s, len))
		return "must be decimal digits (seconds since 1970-01-01 UTC)";
	while (len > 1 && *s == '0')
		s++, len--;
	if (!decimal_at_most(s, len, INT64_MAX))
		return "must be at most 9223372036854775807";
	return NULL;
}

/* A path relative to the manifest's directory that stays inside it. */
static const char *relative_path(const char *s, size_t len)
{
	if (len == 0)
		return "must not be empty";
	if (len > PATH_MAX_LEN)
		return "is longer than 4096 bytes";
	if (s[0] == '/')
		return "must be relative to the manifest's directory, not absolute";
	if (has_control(s, len))
		return "must not contain control characters";
	if (has_component(s, len, ".."))
		return "must not contain \"..\" components: it may not leave the repository";
	return NULL;
}

static bool is_lower_hex(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (!is_digit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return false;
	return true;
}

static const char *rule_base(const char *s, size_t len)
{
	static const char what[] =
		"must be scratch, a manifest path relative to this one (.yaml or .yml), or oci:PATH@sha256:DIGEST";
	const char *why;

	if (len == 7 && memcmp(s, "scratch", 7) == 0)
		return NULL;
	if (len == 0 || s[0] == '/')
		return what;
	if (kiln_str_has_prefix(s, "oci:")) {
		const char *at = memrchr(s, '@', len);
		size_t dlen;

		if (!at || at == s + 4)
			return "must be oci:PATH@sha256:DIGEST";
		if (has_control(s, len) || len > PATH_MAX_LEN)
			return "must not contain control characters or be longer than 4096 bytes";
		dlen = len - (size_t)(at + 1 - s);
		if (dlen != 7 + 64 || memcmp(at + 1, "sha256:", 7) != 0 || !is_lower_hex(at + 8, 64))
			return "the digest after '@' must be sha256: and 64 lowercase hex digits";
		return NULL;
	}
	why = relative_path(s, len);
	if (why)
		return why;
	if (!kiln_str_has_suffix(s, ".yaml") && !kiln_str_has_suffix(s, ".yml"))
		return what;
	return NULL;
}

static const char *rule_src(const char *s, size_t len)
{
	return relative_path(s, len);
}

static const char *rule_absolute(const char *s, size_t len)
{
	if (len == 0 || s[0] != '/')
		return "must be an absolute path (starting with '/')";
	if (len > PATH_MAX_LEN)
		return "is longer than 4096 bytes";
	if (has_control(s, len))
		return "must not contain control characters";
	if (has_component(s, len, ".."))
		return "must not contain \"..\" components";
	return NULL;
}

/* A volatile: pattern: an absolute path in one spelling (no empty, "." or
 * ".." component, no trailing '/'), below "/", in which *, ? and [...]
 * match as fnmatch(3) with FNM_PATHNAME does. */
static const char *rule_volatile(const char *s, size_t len)
{
	const char *why = rule_absolute(s, len);

	if (why)
		return why;
	if (len == 1)
		return "must name something below \"/\" (\"/\" would leave every change out)";
	if (s[len - 1] == '/' || memmem(s, len, "//", 2) || has_component(s, len, "."))
		return "must be written without empty or \".\" components and without a trailing '/'";
	return NULL;
}

/* Home directories and shells go into /etc/passwd, where ':' separates
 * fields. */
static const char *rule_passwd_path(const char *s, size_t len)
{
	const char *why = rule_absolute(s, len);

	if (why)
		return why;
	if (memchr(s, ':', len))
		return "must not contain ':'";
	return NULL;
}

static const char *rule_mode(const char *s, size_t len)
{
	unsigned long v = 0;

	if (len == 0 || len > 8)
		return "must be an octal mode such as \"0644\"";
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '7')
			return "must be an octal mode such as \"0644\" (digits 0-7)";
		v = v * 8 + (unsigned long)(s[i] - '0');
	}
	if (v > 07777)
		return "must be at most 07777";
	return NULL;
}

static const char *rule_id(const char *s, size_t len)
{
	/* 2^32-1 is (uid_t)-1, "no id" to the kernel. */
	if (!decimal_at_most(s, len, 4294967294ULL))
		return "must be a decimal number from 0 to 4294967294, without leading zeros";
	return NULL;
}

static const char *rule_owner(const char *s, size_t len)
{
	const char *colon = memchr(s, ':', len);

	if (!colon || rule_id(s, (size_t)(colon - s)) ||
	    rule_id(colon + 1, len - (size_t)(colon - s) - 1))
		return "must be UID:GID in decimal, such as \"0:0\"";
	return NULL;
}

static const char *rule_account_name(const char *s, size_t len)
{
	if (len == 0 || len > 32)
		return "use 1 to 32 characters";
	if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return "must start with a lowercase letter or '_'";
	for (size_t i = 1; i < len; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '_' && s[i] != '-')
			return "may contain only a-z, 0-9, '_' and '-'";
	return NULL;
}

static const char *rule_scripts(const char *s, size_t len)
{
	if (strcmp(s, "run") != 0 && strcmp(s, "skip") != 0)
		return "must be run (configure the packages as dpkg would) or skip (unpack only)";
	return NULL;
}

/* "PACKAGE QUESTION TYPE VALUE" as debconf-set-selections reads it, with
 * one space between the first three words: a Debian package name, a
 * question name, a debconf type, then the value (may be empty; true or
 * false for a boolean). */
static const char *rule_debconf(const char *s, size_t len)
{
	static const char *const types[] = { "boolean", "string", "select", "multiselect", "note",
					      "text", "password", "title", NULL };
	const char *q, *t, *v;
	size_t n;

	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return "must be one line without control characters";
	n = strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+-.");
	if (n < 2 || (!(s[0] >= 'a' && s[0] <= 'z') && !(s[0] >= '0' && s[0] <= '9')) || s[n] != ' ')
		return "must start with a package name (\"PACKAGE QUESTION TYPE VALUE\", e.g. "
		       "\"tzdata tzdata/Areas select Etc\")";
	q = s + n + 1;
	n = strspn(q, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-._/:");
	if (n == 0 || q[n] != ' ')
		return "needs a question name after the package (\"PACKAGE QUESTION TYPE VALUE\")";
	t = q + n + 1;
	for (size_t i = 0; types[i]; i++) {
		n = strlen(types[i]);
		if (strncmp(t, types[i], n) == 0 && (t[n] == ' ' || t[n] == '\0')) {
			v = t[n] ? t + n + 1 : t + n;
			if (strcmp(types[i], "boolean") == 0 && strcmp(v, "true") != 0 && strcmp(v, "false") != 0)
				return "a boolean's value must be true or false";
			return NULL;
		}
	}
	return "needs a type after the question: boolean, string, select, multiselect, note, text, password "
	       "or title";
}

static const char *rule_not_empty(const char *s, size_t len)
{
	return len == 0 ? "must not be empty" : NULL;
}

static const char *rule_env_name(const char *s, size_t len)
{
	if (len == 0)
		return "must not be empty";
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return "must start with a letter or '_'";
	for (size_t i = 1; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '_')
			return "may contain only letters, digits and '_'";
	return NULL;
}

/* config.user: USER[:GROUP], each a name or a numeric id. */
static const char *rule_user_spec(const char *s, size_t len)
{
	const char *colon = memchr(s, ':', len);
	size_t ulen = colon ? (size_t)(colon - s) : len;
	static const char why[] = "must be USER or USER:GROUP, each an account name or a decimal id";

	if (rule_account_name(s, ulen) && rule_id(s, ulen))
		return why;
	if (colon) {
		const char *g = colon + 1;
		size_t glen = len - ulen - 1;

		if (rule_account_name(g, glen) && rule_id(g, glen))
			return why;
	}
	return NULL;
}

static bool port_number(const char *s, size_t len)
{
	return decimal_at_most(s, len, 65535) && !(len == 1 && s[0] == '0');
}

static const char *rule_port(const char *s, size_t len)
{
	return port_number(s, len) ? NULL : "must be a port number from 1 to 65535";
}

static const char *rule_port_spec(const char *s, size_t len)
{
	const char *slash = memchr(s, '/', len);
	size_t plen = slash ? (size_t)(slash - s) : len;

	if (!port_number(s, plen))
		return "must be PORT, PORT/tcp or PORT/udp with PORT from 1 to 65535";
	if (slash) {
		size_t rest = len - plen - 1;
		if (!(rest == 3 && (memcmp(slash + 1, "tcp", 3) == 0 || memcmp(slash + 1, "udp", 3) == 0)))
			return "must be PORT, PORT/tcp or PORT/udp with PORT from 1 to 65535";
	}
	return NULL;
}

static const char *rule_signal(const char *s, size_t len)
{
	return kiln_values_signal(s, len, NULL);
}

static bool container_name(const char *s, size_t len)
{
	return kiln_values_name(s, len) == NULL;
}

static const char *rule_network(const char *s, size_t len)
{
	return kiln_values_network(s, len);
}

static const char *rule_publish(const char *s, size_t len)
{
	return kiln_values_publish(s, len, NULL, NULL, NULL, NULL);
}

/* "NAME:/path[:ro|:rw]". */
static const char *rule_named_volume(const char *s, size_t len)
{
	static const char why[] = "must be NAME:/absolute/path, optionally followed by :ro or :rw";
	const char *colon = memchr(s, ':', len);
	const char *path;
	size_t plen;

	if (!colon)
		return why;
	if (!container_name(s, (size_t)(colon - s)))
		return "must start with a volume NAME of letters, digits, '_', '.' and '-' (starting with a letter or digit) and a ':'";
	path = colon + 1;
	plen = len - (size_t)(path - s);
	if (plen > 3 && (kiln_str_has_suffix(s, ":ro") || kiln_str_has_suffix(s, ":rw")))
		plen -= 3;
	if (memchr(path, ':', plen))
		return why;
	if (rule_absolute(path, plen))
		return "the path after NAME: must be absolute, without \"..\" components or control characters";
	return NULL;
}

static const char *rule_boolean(const char *s, size_t len)
{
	return (len == 4 && !memcmp(s, "true", 4)) || (len == 5 && !memcmp(s, "false", 5))
		       ? NULL
		       : "must be true or false";
}

/* A service is named by its manifest's name (rule_name), and its name
 * is a container name too: at most 64 characters (docs/manifest.md). */
static const char *rule_service_name(const char *s, size_t len)
{
	if (len > 64)
		return "use 1 to 64 characters";
	return rule_name(s, len);
}

static const char *rule_http_path(const char *s, size_t len)
{
	if (len == 0 || s[0] != '/')
		return "must be a URL path starting with '/'";
	if (len > URL_MAX)
		return "is longer than 2048 bytes";
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch <= 0x20 || ch >= 0x7f)
			return "must not contain whitespace, control or non-ASCII characters";
	}
	return NULL;
}

static const char *rule_duration(const char *s, size_t len)
{
	return kiln_values_duration(s, len, NULL);
}

static const char *rule_count(const char *s, size_t len)
{
	if (!all_digits(s, len) || len > 9)
		return "must be a decimal number of at most 9 digits";
	return NULL;
}

static const char *rule_positive_count(const char *s, size_t len)
{
	const char *why = rule_count(s, len);

	if (why)
		return why;
	for (size_t i = 0; i < len; i++)
		if (s[i] != '0')
			return NULL;
	return "must be greater than 0";
}

static const char *rule_memory(const char *s, size_t len)
{
	return kiln_values_size(s, len, NULL);
}

static const char *rule_cpus(const char *s, size_t len)
{
	static const char why[] = "must be a decimal number of CPUs greater than 0, such as 0.5 or 2";
	size_t i = 0, int_digits, frac_digits = 0;
	bool nonzero = false;

	while (i < len && is_digit(s[i]))
		nonzero |= s[i++] != '0';
	int_digits = i;
	if (int_digits == 0 || int_digits > 6)
		return why;
	if (i < len) {
		if (s[i++] != '.')
			return why;
		while (i < len && is_digit(s[i])) {
			nonzero |= s[i++] != '0';
			frac_digits++;
		}
		if (frac_digits == 0 || frac_digits > 9 || i != len)
			return why;
	}
	return nonzero ? NULL : why;
}

static const char *rule_update_order(const char *s, size_t len)
{
	return !strcmp(s, "start-first") || !strcmp(s, "stop-first")
		       ? NULL
		       : "must be start-first or stop-first";
}

static const char *rule_on_failure(const char *s, size_t len)
{
	return !strcmp(s, "rollback") || !strcmp(s, "pause") || !strcmp(s, "continue")
		       ? NULL
		       : "must be rollback, pause or continue";
}

/* ------------------------------------------------------------------------ */
/* Schema helpers                                                            */

/* A scalar checked by rule and copied into *out.  `what` names the value in
 * the message: "\"x\" is not a valid WHAT: WHY". */
static int string_field(struct kiln_yaml_walk *c, const struct kiln_yaml_node *n, const char *what, rule_fn rule,
			char **out)
{
	const char *why;

	if (kiln_yaml_walk_expect(c, n, KILN_YAML_SCALAR) < 0)
		return -1;
	if (rule && (why = rule(n->value, n->value_len)))
		return kiln_yaml_walk_fail(c, n, "%s is not a valid %s: %s", kiln_yaml_walk_quote_node(c, n), what, why);
	free(*out);
	*out = kiln_xstrndup(n->value, n->value_len);
	return 0;
}

static int bool_field(struct kiln_yaml_walk *c, const struct kiln_yaml_node *n, bool *out)
{
	if (kiln_yaml_walk_expect(c, n, KILN_YAML_SCALAR) < 0)
		return -1;
	if (!strcmp(n->value, "true"))
		*out = true;
	else if (!strcmp(n->value, "false"))
		*out = false;
	else
		return kiln_yaml_walk_fail(c, n, "%s is not a boolean: write true or false", kiln_yaml_walk_quote_node(c, n));
	return 0;
}

/* A list of strings; *count is set before the items are read so that a
 * failure half-way still frees what was copied. */
static int string_list(struct kiln_yaml_walk *c, const struct kiln_yaml_node *n, const char *what, rule_fn rule,
		       char ***out, size_t *count)
{
	if (kiln_yaml_walk_expect(c, n, KILN_YAML_SEQUENCE) < 0)
		return -1;
	*out = kiln_xcalloc(n->n_items, sizeof(**out));
	*count = n->n_items;
	for (size_t i = 0; i < n->n_items; i++) {
		size_t old = kiln_yaml_walk_push_index(c, i);
		int rc = string_field(c, n->items[i], what, rule, &(*out)[i]);

		kiln_yaml_walk_pop(c, old);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int nonempty_list(struct kiln_yaml_walk *c, const struct kiln_yaml_node *n, const char *what)
{
	if (n->kind == KILN_YAML_SEQUENCE && n->n_items == 0)
		return kiln_yaml_walk_fail(c, n, "must list at least one %s", what);
	return 0;
}

/* ------------------------------------------------------------------------ */
/* sources                                                                   */

static const char *const source_keys[] = { "name", "suite", "components", "keyring",
					    "trusted", "url", "fallback", NULL };
enum { SRC_NAME, SRC_SUITE, SRC_COMPONENTS, SRC_KEYRING, SRC_TRUSTED, SRC_URL, SRC_FALLBACK };

struct source_walk {
	struct kiln_source *src;
	struct strset *names;
	const struct kiln_yaml_node *keyring, *trusted;
};

static int source_field(struct kiln_yaml_walk *c, unsigned key, const struct kiln_yaml_node *v, void *obj)
{
	struct source_walk *w = obj;
	struct kiln_source *s = w->src;
	unsigned first;

	switch (key) {
	case SRC_NAME:
		if (string_field(c, v, "source name", rule_name, &s->name) < 0)
			return -1;
		if ((first = strset_add(w->names, v->value, v->value_len, v->line)))
			return kiln_yaml_walk_fail(c, v, "duplicate source name %s (first at line %u)",
				    kiln_yaml_walk_quote_node(c, v), first);
		return 0;
	case SRC_SUITE:
		return string_field(c, v, "suite", rule_suite, &s->suite);
	case SRC_COMPONENTS: {
		_cleanup_strset_ struct strset seen = { 0 };

		if (string_list(c, v, "component", rule_component, &s->components,
				&s->n_components) < 0 ||
		    nonempty_list(c, v, "component") < 0)
			return -1;
		for (size_t i = 0; i < v->n_items; i++) {
			const struct kiln_yaml_node *item = v->items[i];

			if ((first = strset_add(&seen, item->value, item->value_len, item->line))) {
				size_t old = kiln_yaml_walk_push_index(c, i);
				kiln_yaml_walk_fail(c, item, "duplicate component %s (first at line %u)",
				     kiln_yaml_walk_quote_node(c, item), first);
				kiln_yaml_walk_pop(c, old);
				return -1;
			}
		}
		return 0;
	}
	case SRC_KEYRING:
		w->keyring = v;
		return string_field(c, v, "keyring path", rule_keyring, &s->keyring);
	case SRC_TRUSTED:
		w->trusted = v;
		return bool_field(c, v, &s->trusted);
	case SRC_URL:
		return string_field(c, v, "URL", rule_url, &s->url);
	case SRC_FALLBACK:
		return string_list(c, v, "URL", rule_url, &s->fallback, &s->n_fallback);
	}
	return 0;
}

static int parse_sources(struct kiln_yaml_walk *c, const struct kiln_yaml_node *v, struct kiln_manifest *m)
{
	_cleanup_strset_ struct strset names = { 0 };

	if (kiln_yaml_walk_expect(c, v, KILN_YAML_SEQUENCE) < 0 || nonempty_list(c, v, "source") < 0)
		return -1;
	m->sources = kiln_xcalloc(v->n_items, sizeof(*m->sources));
	m->n_sources = v->n_items;
	for (size_t i = 0; i < v->n_items; i++) {
		const struct kiln_yaml_node *item = v->items[i];
		struct kiln_source *s = &m->sources[i];
		struct source_walk w = { .src = s, .names = &names };
		size_t old = kiln_yaml_walk_push_index(c, i);
		int rc;

		s->mark = node_mark(item);
		rc = kiln_yaml_walk_map(c, item, source_keys, 1u << SRC_NAME | 1u << SRC_SUITE, source_field, &w);
		if (rc == 0 && s->trusted && w.keyring)
			rc = kiln_yaml_walk_fail(c, w.trusted,
				  "give either keyring or trusted: true, not both");
		if (rc == 0 && !s->trusted && !w.keyring)
			rc = kiln_yaml_walk_fail(c, item,
				  "missing required key \"keyring\" (or trusted: true to skip signature checks)");
		if (rc == 0 && !s->components) {
			s->components = kiln_xcalloc(1, sizeof(*s->components));
			s->components[0] = kiln_xstrdup("main");
			s->n_components = 1;
		}
		kiln_yaml_walk_pop(c, old);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* packages                                                                  */

static const char *rule_package_name(const char *s, size_t len)
{
	return kiln_debversion_package_name_valid(s, len)
		       ? NULL
		       : "Debian package names are at least 2 characters of a-z, 0-9, '+', '-' and '.', starting with a letter or digit";
}

/* Does a refused version look like a range, a wildcard or a channel name
 * rather than a typo?  Then the message says what to write instead. */
static bool looks_unpinned(const char *s, size_t len)
{
	bool letters = len > 0;

	if (len == 0 || in_set(s[0], "<>=!~^*") || memchr(s, '*', len))
		return true;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
			letters = false;
	return letters;
}

static int package_entry(struct kiln_yaml_walk *c, size_t index, const struct kiln_yaml_node *k, const struct kiln_yaml_node *v,
			 void *obj)
{
	struct kiln_manifest *m = obj;
	struct kiln_package_pin *p = &m->packages[index];
	const char *why;

	p->name = kiln_xstrndup(k->value, k->value_len);
	p->mark = node_mark(v);
	if (kiln_yaml_walk_expect(c, v, KILN_YAML_SCALAR) < 0)
		return -1;
	if (!kiln_debversion_valid(v->value, v->value_len, &why)) {
		if (looks_unpinned(v->value, v->value_len))
			return kiln_yaml_walk_fail(c, v,
				    "version %s is not an exact Debian version (%s); pin an exact version, e.g. 1.35.0-4",
				    kiln_yaml_walk_quote_node(c, v), why);
		return kiln_yaml_walk_fail(c, v, "version %s is not an exact Debian version (%s)", kiln_yaml_walk_quote_node(c, v),
			    why);
	}
	p->version = kiln_xstrndup(v->value, v->value_len);
	return 0;
}

static int parse_packages(struct kiln_yaml_walk *c, const struct kiln_yaml_node *v, struct kiln_manifest *m)
{
	if (kiln_yaml_walk_expect(c, v, KILN_YAML_MAPPING) < 0)
		return -1;
	if (v->n_items == 0)
		return kiln_yaml_walk_fail(c, v, "must list at least one package (name: exact version)");
	m->packages = kiln_xcalloc(v->n_items, sizeof(*m->packages));
	m->n_packages = v->n_items;
	return kiln_yaml_walk_entries(c, v, "package name", rule_package_name, package_entry, m);
}

/* ------------------------------------------------------------------------ */
/* files                                                                     */

static const char *const file_keys[] = { "src", "dst", "mode", "dir_mode", "owner", "from", NULL };
enum { FILE_SRC, FILE_DST, FILE_MODE, FILE_DIR_MODE, FILE_OWNER, FILE_FROM };

/* src: relative to the manifest (from the commit's tree), or, with
 * from:, an absolute path in that image: which one is checked once the
 * whole entry is read. */
static const char *rule_src_any(const char *s, size_t len)
{
	return len && s[0] == '/' ? rule_absolute(s, len) : rule_src(s, len);
}

/* from: another manifest of the repository, as base: names one. */
static const char *rule_from(const char *s, size_t len)
{
	const char *why = relative_path(s, len);

	if (why)
		return why;
	if (!kiln_str_has_suffix(s, ".yaml") && !kiln_str_has_suffix(s, ".yml"))
		return "must be a manifest path relative to this one (.yaml or .yml)";
	return NULL;
}

static int file_field(struct kiln_yaml_walk *c, unsigned key, const struct kiln_yaml_node *v, void *obj)
{
	struct kiln_file_copy *f = obj;

	switch (key) {
	case FILE_SRC:
		return string_field(c, v, "source path", rule_src_any, &f->src);
	case FILE_DST:
		return string_field(c, v, "destination", rule_absolute, &f->dst);
	case FILE_MODE:
		return string_field(c, v, "mode", rule_mode, &f->mode);
	case FILE_DIR_MODE:
		return string_field(c, v, "mode", rule_mode, &f->dir_mode);
	case FILE_OWNER:
		return string_field(c, v, "owner", rule_owner, &f->owner);
	case FILE_FROM:
		return string_field(c, v, "manifest", rule_from, &f->from);
	}
	return 0;
}

/* An absolute src without from: (with the message the relative rule
 * gives), or a relative one with from:, reported at the src value. */
static int src_form_error(struct kiln_yaml_walk *c, const struct kiln_yaml_node *entry,
			  const struct kiln_file_copy *f)
{
	const struct kiln_yaml_node *at = entry;
	size_t old;
	int rc;

	for (size_t k = 0; k < entry->n_items; k++)
		if (strcmp(entry->keys[k]->value, "src") == 0)
			at = entry->items[k];
	old = kiln_yaml_walk_push_key(c, "src", 3);
	if (f->from)
		rc = kiln_yaml_walk_fail(c, at, "%s is not a valid source path: with from:, it is an absolute "
					 "path in that manifest's image", kiln_yaml_walk_quote(c, f->src, strlen(f->src)));
	else
		rc = kiln_yaml_walk_fail(c, at, "%s is not a valid source path: %s (or give from: to copy it "
					 "from another manifest's image)", kiln_yaml_walk_quote(c, f->src, strlen(f->src)),
					 relative_path(f->src, strlen(f->src)));
	kiln_yaml_walk_pop(c, old);
	return rc;
}

static int parse_files(struct kiln_yaml_walk *c, const struct kiln_yaml_node *v, struct kiln_manifest *m)
{
	if (kiln_yaml_walk_expect(c, v, KILN_YAML_SEQUENCE) < 0)
		return -1;
	m->files = kiln_xcalloc(v->n_items, sizeof(*m->files));
	m->n_files = v->n_items;
	for (size_t i = 0; i < v->n_items; i++) {
		size_t old = kiln_yaml_walk_push_index(c, i);
		int rc;

		m->files[i].mark = node_mark(v->items[i]);
		rc = kiln_yaml_walk_map(c, v->items[i], file_keys, 1u << FILE_SRC | 1u << FILE_DST, file_field,
			      &m->files[i]);
		/* src's form depends on from:, known once the whole entry is read. */
		if (rc == 0 && (m->files[i].from != NULL) != (m->files[i].src[0] == '/'))
			rc = src_form_error(c, v->items[i], &m->files[i]);
		kiln_yaml_walk_pop(c, old);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* accounts                                                                  */

static const char *const accounts_keys[] = { "groups", "users", NULL };
static const char *const group_keys[] = { "name", "gid", "members", NULL };
static const char *const user_keys[] = { "name", "uid", "gid", "home", "shell", "groups", NULL };
enum { ACC_GROUPS, ACC_USERS };
enum { GROUP_NAME, GROUP_GID, GROUP_MEMBERS };
enum { USER_NAME, USER_UID, USER_GID, USER_HOME, USER_SHELL, USER_GROUPS };

struct account_walk {
	void *entry;             /* struct kiln_group or struct kiln_user */
	struct strset *names, *ids;
};

static int unique(struct kiln_yaml_walk *c, struct strset *set, const struct kiln_yaml_node *v, const char *what)
{
	unsigned first = strset_add(set, v->value, v->value_len, v->line);

	if (first)
		return kiln_yaml_walk_fail(c, v, "duplicate %s %s (first at line %u)", what, kiln_yaml_walk_quote_node(c, v), first);
	return 0;
}

static int group_field(struct kiln_yaml_walk *c, unsigned key, const struct kiln_yaml_node *v, void *obj)
{
	struct account_walk *w = obj;
	struct kiln_group *g = w->entry;

	switch (key) {
	case GROUP_NAME:
		if (string_field(c, v, "group name", rule_account_name, &g->name) < 0)
			return -1;
		return unique(c, w->names, v, "group name");
	case GROUP_GID:
		if (string_field(c, v, "gid", rule_id, &g->gid) < 0)
			return -1;
		return unique(c, w->ids, v, "gid");
	case GROUP_MEMBERS:
		return string_list(c, v, "user name", rule_account_name, &g->members, &g->n_members);
	}
	return 0;
}

static int user_field(struct kiln_yaml_walk *c, unsigned key, const struct kiln_yaml_node *v, void *obj)
{
	struct account_walk *w = obj;
	struct kiln_user *u = w->entry;

	switch (key) {
	case USER_NAME:
		if (string_field(c, v, "user name", rule_account_name, &u->name) < 0)
			return -1;
		return unique(c, w->names, v, "user name");
	case USER_UID:
		if (string_field(c, v, "uid", rule_id, &u->uid) < 0)
			return -1;
		return unique(c, w->ids, v, "uid");
	case USER_GID:
		return string_field(c, v, "gid", rule_id, &u->gid);
	case USER_HOME:
		return string_field(c, v, "home directory", rule_passwd_path, &u->home);
	case USER_SHELL:
		return string_field(c, v, "shell", rule_passwd_path, &u->shell);
	case USER_GROUPS:
		return string_list(c, v, "group name", rule_account_name, &u->groups, &u->n_groups);
	}
	return 0;
}

static int parse_account_list(struct kiln_yaml_walk *c, const struct kiln_yaml_node *v, bool users,
			      struct kiln_manifest *m)
{
	_cleanup_strset_ struct strset names = { 0 }, ids = { 0 };

	if (kiln_yaml_walk_expect(c, v, KILN_YAML_SEQUENCE) < 0)
		return -1;
	if (users) {
		m->users = kiln_xcalloc(v->n_items, sizeof(*m->users));
		m->n_users = v->n_items;
	} else {
		m->groups = kiln_xcalloc(v->n_items, sizeof(*m->groups));
		m->n_groups = v->n_items;
	}
	for (size_t i = 0; i < v->n_items; i++) {
		struct account_walk w = { .names = &names, .ids = &ids };
		size_t old = kiln_yaml_walk_push_index(c, i);
		int rc;

		if (users) {
			w.entry = &m->users[i];
			rc = kiln_yaml_walk_map(c, v->items[i], user_keys,
				      1u << USER_NAME | 1u << USER_UID | 1u << USER_GID, user_field, &w);
		} else {
			w.entry = &m->groups[i];
			rc = kiln_yaml_walk_map(c, v->items[i], group_keys, 1u << GROUP_NAME | 1u << GROUP_GID,
				      group_field, &w);
		}
		kiln_yaml_walk_pop(c, old);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static int accounts_field(struct kiln_yaml_walk *c, unsigned key, const struct kiln_yaml_node *v, void *obj)
{
	return parse_account_list(c, v, key == ACC_USERS, obj);
}

/* ------------------------------------------------------------------------ */
/* config                                                                    */

static const char *const config_keys[] = { "entrypoint", "cmd", "env", "workdir", "user",
					    "ports", "labels", "stop_signal", "volumes", NULL };
enum { CFG_ENTRYPOINT, CFG_CMD, CFG_ENV, CFG_WORKDIR, CFG_USER, CFG_PORTS, CFG_LABELS,
       CFG_STOP_SIGNAL, CFG_VOLUMES };

static const char *rule_label_key(const char *s, size_t len)
{
	return len == 0 ? "must not be empty" : NULL;
}

static int keyval_entry(struct kiln_yaml_walk *c, size_t index, const struct kiln_yaml_node *k, const struct kiln_yaml_node *v,
			void *obj)
{
	struct kiln_keyval *kv = &((struct kiln_keyval *)obj)[index];

	kv->key = kiln_xstrndup(k->value, k->value_len);
	return string_field(c, v, "value", NULL, &kv->value);
}

static int keyval_map(struct kiln_yaml_walk *c, const struct kiln_yaml_node *v, const char *key_what, rule_fn key_rule,
		      struct kiln_keyval **out, size_t *count)
{
	if (kiln_yaml_walk_expect(c, v, KILN_YAML_MAPPING) < 0)
		return -1;
	*out = kiln_xcalloc(v->n_items, sizeof(**out));
	*count = v->n_items;
	return kiln_yaml_walk_entries(c, v, key_what, key_rule, keyval_entry, *out);
}

static int config_field(struct kiln_yaml_walk *c, unsigned key, const struct kiln_yaml_node *v, void *obj)
{
	struct kiln_image_config *cfg = obj;

	switch (key) {
	case CFG_ENTRYPOINT:
		cfg->has_entrypoint = true;
		return string_list(c, v, "argument", NULL, &cfg->entrypoint, &cfg->n_entrypoint);
	case CFG_CMD:
		cfg->has_cmd = true;
		return string_list(c, v, "argument", NULL, &cfg->cmd, &cfg->n_cmd);
	case CFG_ENV:
		return keyval_map(c, v, "environment variable name", rule_env_name, &cfg->env,
				  &cfg->n_env);
	case CFG_WORKDIR:
		return string_field(c, v, "working directory", rule_absolute, &cfg->workdir);
	case CFG_USER:
		return string_field(c, v, "user", rule_user_spec, &cfg->user);
	case CFG_PORTS:
		if (string_list(c, v, "port", rule_port_spec, &cfg->ports, &cfg->n_ports) < 0)
			return -1;
		/* "8080" means "8080/tcp", as in a Dockerfile's EXPOSE. */
		for (size_t i = 0; i < cfg->n_ports; i++) {
			if (!strchr(cfg->ports[i], '/')) {
				char *p = kiln_xasprintf("%s/tcp", cfg->ports[i]);
				free(cfg->ports[i]);
				cfg->ports[i] = p;
			}
		}
		return 0;
	case CFG_LABELS:
		return keyval_map(c, v, "label", rule_label_key, &cfg->labels, &cfg->n_labels);
	case CFG_STOP_SIGNAL:
		return string_field(c, v, "signal", rule_signal, &cfg->stop_signal);
	case CFG_VOLUMES:
		return string_list(c, v, "volume path", rule_absolute, &cfg->volumes,
				   &cfg->n_volumes);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* service                                                                   */

static const char *const service_keys[] = { "network", "publish", "volumes", "health",
					     "resources", "update", "init", "after", NULL };
static const char *const health_keys[] = { "http", "port", "cmd", "interval", "timeout",
					    "start_period", "retries", "tcp", NULL };
static const char *const resources_keys[] = { "memory", "pids", "cpus", NULL };
static const char *const update_keys[] = { "order", "drain", "on_failure", "grace", "monitor", NULL };
enum { SVC_NETWORK, SVC_PUBLISH, SVC_VOLUMES, SVC_HEALTH, SVC_RESOURCES, SVC_UPDATE, SVC_INIT,
       SVC_AFTER };
enum { HEALTH_HTTP, HEALTH_PORT, HEALTH_CMD, HEALTH_INTERVAL, HEALTH_TIMEOUT,
       HEALTH_START_PERIOD, HEALTH_RETRIES, HEALTH_TCP };
enum { RES_MEMORY, RES_PIDS, RES_CPUS };
enum { UPD_ORDER, UPD_DRAIN, UPD_ON_FAILURE, UPD_GRACE, UPD_MONITOR };

struct health_walk {
	struct kiln_health *h;
	const struct kiln_yaml_node *http, *port, *cmd, *tcp;
};

static int health_field(struct kiln_yaml_walk *c, unsigned key, const struct kiln_yaml_node *v, void *obj)
{
	struct health_walk *w = obj;
	struct kiln_health *h = w->h;

	switch (key) {
	case HEALTH_HTTP:
		w->http = v;
		return string_field(c, v, "HTTP path", rule_http_path, &h->http);
	case HEALTH_PORT:
		w->port = v;
		return string_field(c, v, "port", rule_port, &h->port);
	case HEALTH_CMD:
		w->cmd = v;
		if (string_list(c, v, "argument", NULL, &h->cmd, &h->n_cmd) < 0)
			return -1;
		return nonempty_list(c, v, "argument");
	case HEALTH_INTERVAL:
		return string_field(c, v, "duration", rule_duration, &h->interval);
	case HEALTH_TIMEOUT:
		return string_field(c, v, "duration", rule_duration, &h->timeout);
	case HEALTH_START_PERIOD:
		return string_field(c, v, "duration", rule_duration, &h->start_period);
	case HEALTH_RETRIES:
		return string_field(c, v, "count", rule_count, &h->retries);
	case HEALTH_TCP:
		w->tcp = v;
		return string_field(c, v, "port", rule_port, &h->tcp);
	}
	return 0;
}

static int resources_field(struct kiln_yaml_walk *c, unsigned key, const struct kiln_yaml_node *v, void *obj)
{
	struct kiln_service *s = obj;

	switch (key) {
	case RES_MEMORY:
		return string_field(c, v, "memory size", rule_memory, &s->memory);
	case RES_PIDS:
		return string_field(c, v, "process count", rule_positive_count, &s->pids);
	case RES_CPUS:
		return string_field(c, v, "CPU count", rule_cpus, &s->cpus);
	}
	return 0;
}

static int update_field(struct kiln_yaml_walk *c, unsigned key, const struct kiln_yaml_node *v, void *obj)
{
	struct kiln_service *s = obj;

	switch (key) {
	case UPD_ORDER:
		return string_field(c, v, "update order", rule_update_order, &s->update_order);
	case UPD_DRAIN:
		return string_field(c, v, "duration", rule_duration, &s->update_drain);
	case UPD_ON_FAILURE:
		return string_field(c, v, "failure action", rule_on_failure, &s->update_on_failure);
	case UPD_GRACE:
		return string_field(c, v, "duration", rule_duration, &s->update_grace);
	case UPD_MONITOR:
		return string_field(c, v, "duration", rule_duration, &s->update_monitor);
	}
	return 0;
}

static int service_field(struct kiln_yaml_walk *c, unsigned key, const struct kiln_yaml_node *v, void *obj)
{
	struct kiln_service *s = obj;

	switch (key) {
	case SVC_NETWORK:
		return string_field(c, v, "network", rule_network, &s->network);
	case SVC_PUBLISH:
		return string_list(c, v, "published port", rule_publish, &s->publish, &s->n_publish);
	case SVC_VOLUMES:
		return string_list(c, v, "volume", rule_named_volume, &s->volumes, &s->n_volumes);
	case SVC_HEALTH: {
		struct health_walk w = { .h = &s->health };

		s->has_health = true;
		if (kiln_yaml_walk_map(c, v, health_keys, 0, health_field, &w) < 0)
			return -1;
		/* The later of two kinds is the one named wrong. */
		if ((w.http != NULL) + (w.tcp != NULL) + (w.cmd != NULL) > 1) {
			const struct kiln_yaml_node *later = w.cmd ? w.cmd : w.tcp;
			if (w.cmd && w.tcp && w.tcp->line > w.cmd->line)
				later = w.tcp;
			return kiln_yaml_walk_fail(c, later, "give one of http, tcp and cmd, not more");
		}
		if (!w.http && !w.cmd && !w.tcp)
			return kiln_yaml_walk_fail(c, v, "needs http (a URL path to GET), tcp (a port to connect "
						   "to) or cmd (a command to run)");
		if (w.port && !w.http)
			return kiln_yaml_walk_fail(c, w.port, "port is used only with http");
		return 0;
	}
	case SVC_INIT:
		return string_field(c, v, "boolean", rule_boolean, &s->init);
	case SVC_AFTER: {
		_cleanup_strset_ struct strset seen = { 0 };
		unsigned first;

		if (string_list(c, v, "service name", rule_service_name, &s->after, &s->n_after) < 0)
			return -1;
		for (size_t i = 0; i < v->n_items; i++) {
			const struct kiln_yaml_node *item = v->items[i];

			if ((first = strset_add(&seen, item->value, item->value_len, item->line))) {
				size_t old = kiln_yaml_walk_push_index(c, i);
				kiln_yaml_walk_fail(c, item, "duplicate service name %s (first at line %u)",
						    kiln_yaml_walk_quote_node(c, item), first);
				kiln_yaml_walk_pop(c, old);
				return -1;
			}
		}
		return 0;
	}
	case SVC_RESOURCES:
		return kiln_yaml_walk_map(c, v, resources_keys, 0, resources_field, s);
	case SVC_UPDATE:
		return kiln_yaml_walk_map(c, v, update_keys, 0, update_field, s);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* run                                                                       */

/* Each step a non-empty string (a shell command) or a non-empty list of
 * strings whose first is not empty (exec form). */
static int parse_run(struct kiln_yaml_walk *c, const struct kiln_yaml_node *v, struct kiln_manifest *m)
{
	if (kiln_yaml_walk_expect(c, v, KILN_YAML_SEQUENCE) < 0)
		return -1;
	m->run = kiln_xcalloc(v->n_items + 1, sizeof(*m->run));
	m->n_run = v->n_items;
	for (size_t i = 0; i < v->n_items; i++) {
		const struct kiln_yaml_node *item = v->items[i];
		struct kiln_run_step *s = &m->run[i];
		size_t old = kiln_yaml_walk_push_index(c, i);
		int rc;

		s->mark = node_mark(item);
		if (item->kind == KILN_YAML_SEQUENCE) {
			s->exec = true;
			rc = string_list(c, item, "argument", NULL, &s->argv, &s->n_argv);
			if (rc == 0 && (item->n_items == 0 || !*s->argv[0]))
				rc = kiln_yaml_walk_fail(c, item, "a step in exec form needs a command: a "
							 "non-empty first string");
		} else {
			s->argv = kiln_xcalloc(1, sizeof(char *));
			s->n_argv = 1;
			rc = string_field(c, item, "command", rule_not_empty, &s->argv[0]);
		}
		kiln_yaml_walk_pop(c, old);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* The top level                                                             */

static const char *const top_keys[] = { "kiln", "name", "architecture", "sources", "packages",
					 "epoch", "base", "files", "accounts", "run", "scripts", "debconf",
					 "volatile", "config", "service", NULL };
enum { TOP_KILN, TOP_NAME, TOP_ARCHITECTURE, TOP_SOURCES, TOP_PACKAGES, TOP_EPOCH, TOP_BASE,
       TOP_FILES, TOP_ACCOUNTS, TOP_RUN, TOP_SCRIPTS, TOP_DEBCONF, TOP_VOLATILE, TOP_CONFIG, TOP_SERVICE };

static int top_field(struct kiln_yaml_walk *c, unsigned key, const struct kiln_yaml_node *v, void *obj)
{
	struct kiln_manifest *m = obj;

	switch (key) {
	case TOP_KILN:
		if (kiln_yaml_walk_expect(c, v, KILN_YAML_SCALAR) < 0)
			return -1;
		if (strcmp(v->value, "1") != 0)
			return kiln_yaml_walk_fail(c, v, "unsupported schema version %s (this kiln reads kiln: 1)",
				    kiln_yaml_walk_quote_node(c, v));
		return 0;
	case TOP_NAME:
		return string_field(c, v, "name", rule_name, &m->name);
	case TOP_ARCHITECTURE:
		return string_field(c, v, "architecture", rule_architecture, &m->architecture);
	case TOP_SOURCES:
		return parse_sources(c, v, m);
	case TOP_PACKAGES:
		return parse_packages(c, v, m);
	case TOP_EPOCH:
		return string_field(c, v, "epoch", rule_epoch, &m->epoch);
	case TOP_BASE:
		return string_field(c, v, "base", rule_base, &m->base);
	case TOP_FILES:
		return parse_files(c, v, m);
	case TOP_ACCOUNTS:
		return kiln_yaml_walk_map(c, v, accounts_keys, 0, accounts_field, m);
	case TOP_RUN:
		return parse_run(c, v, m);
	case TOP_CONFIG:
		return kiln_yaml_walk_map(c, v, config_keys, 0, config_field, &m->config);
	case TOP_SCRIPTS:
		return string_field(c, v, "scripts", rule_scripts, &m->scripts);
	case TOP_DEBCONF:
		return string_list(c, v, "answer", rule_debconf, &m->debconf, &m->n_debconf);
	case TOP_VOLATILE:
		return string_list(c, v, "path pattern", rule_volatile, &m->volatile_paths, &m->n_volatile_paths);
	case TOP_SERVICE:
		m->service.present = true;
		return kiln_yaml_walk_map(c, v, service_keys, 0, service_field, &m->service);
	}
	return 0;
}

struct kiln_manifest *kiln_manifest_parse(const char *path, const char *data, size_t len,
					  struct kiln_error *err)
{
	/* Hostile input is bounded before it is walked: a manifest nests a
	 * few levels and holds a few thousand values, never more. */
	static const struct kiln_yaml_options opts = { "manifest", KILN_MANIFEST_MAX_NODES };
	_cleanup_yaml_ struct kiln_yaml_node *root = NULL;
	_cleanup_manifest_ struct kiln_manifest *m = NULL;
	_cleanup_yaml_walk_ struct kiln_yaml_walk c = KILN_YAML_WALK_INIT(path, err);
	int rc;

	if (!data)
		data = "";
	if (len > KILN_MANIFEST_MAX_SIZE) {
		kiln_error_set(err, "%s:1:1: the manifest is larger than %d bytes", path,
			       KILN_MANIFEST_MAX_SIZE);
		return NULL;
	}
	root = kiln_yaml_parse(path, data, len, &opts, err);
	if (!root)
		return NULL;
	if (root->kind != KILN_YAML_MAPPING) {
		kiln_error_set(err, "%s:%u:%u: expected a mapping at the top level (kiln: 1, name: …), got %s",
			       path, root->line, root->column, kiln_yaml_node_kind(root));
		return NULL;
	}
	m = kiln_xcalloc(1, sizeof(*m));
	m->path = kiln_xstrdup(path);
	rc = kiln_yaml_walk_map(&c, root, top_keys,
		      1u << TOP_KILN | 1u << TOP_NAME | 1u << TOP_SOURCES | 1u << TOP_PACKAGES,
		      top_field, m);
	if (rc < 0)
		return NULL;
	if (!m->architecture)
		m->architecture = kiln_xstrdup("amd64");
	if (!m->epoch)
		m->epoch = kiln_xstrdup("0");
	if (!m->base)
		m->base = kiln_xstrdup("scratch");
	return kiln_steal_pointer(&m);
}

struct kiln_manifest *kiln_manifest_load(const char *path, struct kiln_error *err)
{
	_cleanup_free_ char *data = NULL;
	size_t len = 0;

	data = kiln_file_read(path, KILN_MANIFEST_MAX_SIZE, &len, err);
	if (!data)
		return NULL;
	return kiln_manifest_parse(path, data, len, err);
}

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void free_keyvals(struct kiln_keyval *kv, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void kiln_manifest_free(struct kiln_manifest *m)
{
	if (!m)
		return;
	free(m->path);
	free(m->name);
	free(m->architecture);
	for (size_t i = 0; i < m->n_sources; i++) {
		struct kiln_source *s = &m->sources[i];

		free(s->name);
		free(s->suite);
		free_strings(s->components, s->n_components);
		free(s->keyring);
		free(s->url);
		free_strings(s->fallback, s->n_fallback);
	}
	free(m->sources);
	for (size_t i = 0; i < m->n_packages; i++) {
		free(m->packages[i].name);
		free(m->packages[i].version);
	}
	free(m->packages);
	free(m->epoch);
	free(m->base);
	for (size_t i = 0; i < m->n_files; i++) {
		free(m->files[i].src);
		free(m->files[i].dst);
		free(m->files[i].mode);
		free(m->files[i].dir_mode);
		free(m->files[i].owner);
		free(m->files[i].from);
	}
	free(m->files);
	for (size_t i = 0; i < m->n_groups; i++) {
		free(m->groups[i].name);
		free(m->groups[i].gid);
		free_strings(m->groups[i].members, m->groups[i].n_members);
	}
	free(m->groups);
	for (size_t i = 0; i < m->n_users; i++) {
		struct kiln_user *u = &m->users[i];

		free(u->name);
		free(u->uid);
		free(u->gid);
		free(u->home);
		free(u->shell);
		free_strings(u->groups, u->n_groups);
	}
	free(m->users);
	for (size_t i = 0; i < m->n_run; i++)
		free_strings(m->run[i].argv, m->run[i].n_argv);
	free(m->run);
	free(m->scripts);
	free_strings(m->debconf, m->n_debconf);
	free_strings(m->volatile_paths, m->n_volatile_paths);
	free_strings(m->config.entrypoint, m->config.n_entrypoint);
	free_strings(m->config.cmd, m->config.n_cmd);
	free_keyvals(m->config.env, m->config.n_env);
	free(m->config.workdir);
	free(m->config.user);
	free_strings(m->config.ports, m->config.n_ports);
	free_keyvals(m->config.labels, m->config.n_labels);
	free(m->config.stop_signal);
	free_strings(m->config.volumes, m->config.n_volumes);
	free(m->service.network);
	free_strings(m->service.publish, m->service.n_publish);
	free_strings(m->service.volumes, m->service.n_volumes);
	free(m->service.health.http);
	free(m->service.health.port);
	free(m->service.health.tcp);
	free(m->service.init);
	free_strings(m->service.after, m->service.n_after);
	free(m->service.update_grace);
	free(m->service.update_monitor);
	free_strings(m->service.health.cmd, m->service.health.n_cmd);
	free(m->service.health.interval);
	free(m->service.health.timeout);
	free(m->service.health.start_period);
	free(m->service.health.retries);
	free(m->service.memory);
	free(m->service.pids);
	free(m->service.cpus);
	free(m->service.update_order);
	free(m->service.update_drain);
	free(m->service.update_on_failure);
	free(m);
}
