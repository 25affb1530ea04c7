#include "resolve.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "util.h"

#define MAX_RESTARTS 256

/* A small map from package name to the chosen index entry. */
struct chosen_map {
	uint32_t *slots;            /* index entry, KILN_PKG_NONE when empty */
	size_t cap, used;
};

struct state {
	const struct kiln_resolve_request *req;
	const struct kiln_packages *idx;
	struct chosen_map chosen;
	uint32_t *order; size_t n_order, alloc_order;   /* chosen, in the order taken */
	uint32_t *parent;           /* per order position: order position of who pulled it, or NONE */
	size_t alloc_parent;
	struct kiln_deps *conflicts; /* per order position: Conflicts + Breaks parsed */
	size_t alloc_conflicts;
	uint32_t *banned; size_t n_banned, alloc_banned; /* entries set aside */
	/* Set by a failed clause so a restart can revise an earlier choice. */
	uint32_t revise;            /* index entry to ban, or NONE */
	struct kiln_buf why;        /* what went wrong, for the final message */
	/* Clauses that failed only because a virtual name has several
	 * providers: checked again once the closure is complete, since a
	 * provider pulled in later (breadth-first) settles them. */
	bool ambiguous;             /* set by pick_for_atom for the current clause */
	bool final;                 /* no more deferring */
	struct deferred { uint32_t pos; bool pre; } *deferred;
	size_t n_deferred, alloc_deferred;
};

static const struct kiln_pkg *P(const struct state *s, uint32_t i)
{
	return kiln_packages_get(s->idx, i);
}

static size_t map_slot(const struct state *s, const char *name, size_t len)
{
	size_t m = s->chosen.cap - 1, k = kiln_hash_fnv1a(name, len) & m;
	while (s->chosen.slots[k] != KILN_PKG_NONE) {
		const struct kiln_pkg *p = P(s, s->chosen.slots[k]);
		if (p->name.len == len && memcmp(p->name.ptr, name, len) == 0)
			return k;
		k = (k + 1) & m;
	}
	return k;
}

static uint32_t chosen_get(const struct state *s, const char *name, size_t len)
{
	return s->chosen.slots[map_slot(s, name, len)];
}

static void chosen_put(struct state *s, uint32_t pkg)
{
	const struct kiln_pkg *p = P(s, pkg);

	if ((s->chosen.used + 1) * 2 > s->chosen.cap) {
		uint32_t *old = s->chosen.slots;
		size_t ocap = s->chosen.cap;
		s->chosen.cap = ocap ? ocap * 2 : 256;
		s->chosen.slots = kiln_xmalloc(s->chosen.cap * sizeof(uint32_t));
		memset(s->chosen.slots, 0xff, s->chosen.cap * sizeof(uint32_t));
		for (size_t i = 0; i < ocap; i++)
			if (old[i] != KILN_PKG_NONE) {
				const struct kiln_pkg *q = P(s, old[i]);
				s->chosen.slots[map_slot(s, q->name.ptr, q->name.len)] = old[i];
			}
		free(old);
	}
	s->chosen.slots[map_slot(s, p->name.ptr, p->name.len)] = pkg;
	s->chosen.used++;
}

static const struct kiln_resolve_pin *find_pin(const struct kiln_resolve_pin *pins, size_t n,
					       const char *name, size_t len)
{
	for (size_t i = 0; i < n; i++)
		if (strlen(pins[i].name) == len && memcmp(pins[i].name, name, len) == 0)
			return &pins[i];
	return NULL;
}

static bool same_version(const struct kiln_pkg *p, const char *v)
{
	return kiln_debversion_compare_n(p->version.ptr, p->version.len, v, strlen(v)) == 0;
}

static bool is_banned(const struct state *s, uint32_t pkg)
{
	const struct kiln_pkg *p = P(s, pkg);
	for (size_t i = 0; i < s->n_banned; i++) {
		const struct kiln_pkg *b = P(s, s->banned[i]);
		if (b->name.len == p->name.len && memcmp(b->name.ptr, p->name.ptr, p->name.len) == 0 &&
		    kiln_debversion_compare_n(b->version.ptr, b->version.len, p->version.ptr,
					      p->version.len) == 0)
			return true;
	}
	return false;
}

static bool atom_arch_ok(const struct state *s, const struct kiln_dep_atom *a)
{
	return a->arch_qualifier.len == 0 || kiln_slice_eq(a->arch_qualifier, "any") ||
	       kiln_slice_eq(a->arch_qualifier, "native") ||
	       kiln_slice_eq(a->arch_qualifier, s->req->architecture);
}

static bool version_fits(const struct kiln_slice v, const struct kiln_dep_atom *a)
{
	return kiln_debversion_satisfies(v.ptr, v.len, a->rel, a->version.ptr, a->version.len);
}

/* Does package pkg (chosen or a candidate) satisfy atom by name or Provides? */
static bool pkg_satisfies(const struct state *s, uint32_t pkg, const struct kiln_dep_atom *a)
{
	const struct kiln_pkg *p = P(s, pkg);

	if (p->name.len == a->name.len && memcmp(p->name.ptr, a->name.ptr, a->name.len) == 0)
		return version_fits(p->version, a);
	for (uint32_t pv = kiln_packages_providers(s->idx, a->name.ptr, a->name.len);
	     pv != KILN_PKG_NONE; pv = kiln_packages_provide(s->idx, pv)->next) {
		const struct kiln_provide *pr = kiln_packages_provide(s->idx, pv);
		if (pr->pkg != pkg)
			continue;
		if (a->rel == KILN_REL_ANY)
			return true;
		/* An unversioned Provides never satisfies a versioned dependency. */
		if (pr->version.len && version_fits(pr->version, a))
			return true;
	}
	return false;
}

/* The chosen package that satisfies atom, or NONE. */
static uint32_t chosen_satisfier(const struct state *s, const struct kiln_dep_atom *a)
{
	uint32_t c;

	if (!atom_arch_ok(s, a))
		return KILN_PKG_NONE;
	c = chosen_get(s, a->name.ptr, a->name.len);
	if (c != KILN_PKG_NONE && version_fits(P(s, c)->version, a))
		return c;
	for (uint32_t pv = kiln_packages_providers(s->idx, a->name.ptr, a->name.len);
	     pv != KILN_PKG_NONE; pv = kiln_packages_provide(s->idx, pv)->next) {
		const struct kiln_provide *pr = kiln_packages_provide(s->idx, pv);
		const struct kiln_pkg *q = P(s, pr->pkg);
		if (chosen_get(s, q->name.ptr, q->name.len) != pr->pkg)
			continue;
		if (a->rel == KILN_REL_ANY || (pr->version.len && version_fits(pr->version, a)))
			return pr->pkg;
	}
	return KILN_PKG_NONE;
}

static int parse_conflicts(const struct kiln_pkg *p, struct kiln_deps *out, struct kiln_error *err)
{
	struct kiln_deps breaks = KILN_DEPS_INIT;

	if (kiln_deps_parse(p->conflicts, false, out, err) < 0)
		return kiln_error_prefix(err, "%.*s %.*s: Conflicts", (int)p->name.len, p->name.ptr,
					 (int)p->version.len, p->version.ptr);
	if (kiln_deps_parse(p->breaks, false, &breaks, err) < 0) {
		kiln_deps_release(&breaks);
		return kiln_error_prefix(err, "%.*s %.*s: Breaks", (int)p->name.len, p->name.ptr,
					 (int)p->version.len, p->version.ptr);
	}
	for (size_t i = 0; i < breaks.n_atoms; i++) {
		kiln_xgrow(&out->atoms, &out->alloc_atoms, out->n_atoms + 1, sizeof(*out->atoms));
		out->atoms[out->n_atoms++] = breaks.atoms[i];
		kiln_xgrow(&out->clause_end, &out->alloc_clauses, out->n_clauses + 1,
			   sizeof(*out->clause_end));
		out->clause_end[out->n_clauses++] = out->n_atoms;
	}
	kiln_deps_release(&breaks);
	return 0;
}

/* Does `a` (with parsed conflicts ca) rule out `b`?  A package never
 * conflicts with itself (Conflicts on a name it Provides is the usual way
 * to say "only one provider"). */
static bool rules_out(const struct state *s, uint32_t a, const struct kiln_deps *ca, uint32_t b)
{
	if (a == b)
		return false;
	/* "Conflicts: x:i386" is about another architecture's x, not ours. */
	for (size_t i = 0; i < ca->n_atoms; i++)
		if (atom_arch_ok(s, &ca->atoms[i]) && pkg_satisfies(s, b, &ca->atoms[i]))
			return true;
	return false;
}

/* The chosen package candidate c would clash with, or NONE. */
static uint32_t clash_with_chosen(struct state *s, uint32_t c, struct kiln_error *err, int *failed)
{
	struct kiln_deps cc = KILN_DEPS_INIT;
	uint32_t hit = KILN_PKG_NONE;

	*failed = 0;
	if (parse_conflicts(P(s, c), &cc, err) < 0) {
		*failed = 1;
		kiln_deps_release(&cc);
		return KILN_PKG_NONE;
	}
	for (size_t i = 0; i < s->n_order && hit == KILN_PKG_NONE; i++) {
		uint32_t q = s->order[i];
		if (rules_out(s, c, &cc, q) || rules_out(s, q, &s->conflicts[i], c))
			hit = q;
	}
	kiln_deps_release(&cc);
	return hit;
}

static void choose(struct state *s, uint32_t pkg, uint32_t parent_pos, struct kiln_error *err,
		   int *failed)
{
	size_t pos = s->n_order;

	kiln_xgrow(&s->order, &s->alloc_order, pos + 1, sizeof(*s->order));
	kiln_xgrow(&s->parent, &s->alloc_parent, pos + 1, sizeof(*s->parent));
	kiln_xgrow(&s->conflicts, &s->alloc_conflicts, pos + 1, sizeof(*s->conflicts));
	memset(&s->conflicts[pos], 0, sizeof(s->conflicts[pos]));
	*failed = parse_conflicts(P(s, pkg), &s->conflicts[pos], err) < 0;
	s->order[pos] = pkg;
	s->parent[pos] = parent_pos;
	s->n_order++;
	chosen_put(s, pkg);
}

static void describe_chain(struct state *s, uint32_t pos)
{
	uint32_t chain[64];
	size_t n = 0;

	while (pos != KILN_PKG_NONE && n < KILN_ARRAY_SIZE(chain)) {
		chain[n++] = pos;
		pos = s->parent[pos];
	}
	kiln_buf_adds(&s->why, "\n  required by: ");
	for (size_t i = n; i-- > 0;) {
		const struct kiln_pkg *p = P(s, s->order[chain[i]]);
		kiln_buf_printf(&s->why, "%.*s %.*s%s%s", (int)p->name.len, p->name.ptr,
				(int)p->version.len, p->version.ptr,
				s->parent[chain[i]] == KILN_PKG_NONE ? " (pinned)" : "",
				i ? " -> " : "");
	}
}

static void describe_atom(struct kiln_buf *b, const struct kiln_dep_atom *a)
{
	kiln_buf_add(b, a->name.ptr, a->name.len);
	if (a->arch_qualifier.len)
		kiln_buf_printf(b, ":%.*s", (int)a->arch_qualifier.len, a->arch_qualifier.ptr);
	if (a->rel != KILN_REL_ANY)
		kiln_buf_printf(b, " (%s %.*s)", kiln_debversion_relation_str(a->rel), (int)a->version.len,
				a->version.ptr);
}

/* List the versions of name the sources have, "1.0 (stable), 2.0 (updates)". */
static void describe_versions(const struct state *s, struct kiln_buf *b, const char *name,
			      size_t len)
{
	size_t n = 0;
	for (uint32_t i = kiln_packages_lookup(s->idx, name, len); i != KILN_PKG_NONE;
	     i = P(s, i)->next_same_name) {
		const struct kiln_pkg *p = P(s, i);
		const char *src = p->origin < s->req->n_origins ? s->req->origin_names[p->origin] : "?";
		kiln_buf_printf(b, "%s%.*s (%s)", n++ ? ", " : "", (int)p->version.len, p->version.ptr,
				src);
		if (n >= 20) {
			kiln_buf_adds(b, ", …");
			break;
		}
	}
	if (!n)
		kiln_buf_adds(b, "none");
}

static bool same_name(const struct state *s, uint32_t a, uint32_t b)
{
	const struct kiln_pkg *x = P(s, a), *y = P(s, b);
	return x->name.len == y->name.len && memcmp(x->name.ptr, y->name.ptr, x->name.len) == 0;
}

/* "a, b and c": the distinct names of packages that could satisfy atom. */
static void describe_providers(const struct state *s, struct kiln_buf *b, const struct kiln_dep_atom *a)
{
	size_t n = 0;

	for (uint32_t pv = kiln_packages_providers(s->idx, a->name.ptr, a->name.len);
	     pv != KILN_PKG_NONE; pv = kiln_packages_provide(s->idx, pv)->next) {
		const struct kiln_provide *pr = kiln_packages_provide(s->idx, pv);
		const struct kiln_pkg *q = P(s, pr->pkg);
		bool seen = false;

		if (!(a->rel == KILN_REL_ANY || (pr->version.len && version_fits(pr->version, a))))
			continue;
		for (uint32_t pw = kiln_packages_providers(s->idx, a->name.ptr, a->name.len); pw != pv;
		     pw = kiln_packages_provide(s->idx, pw)->next)
			if (same_name(s, kiln_packages_provide(s->idx, pw)->pkg, pr->pkg))
				seen = true;
		if (seen)
			continue;
		if (n++ >= 12) {
			kiln_buf_adds(b, ", …");
			break;
		}
		kiln_buf_printf(b, "%s%.*s", n > 1 ? ", " : "", (int)q->name.len, q->name.ptr);
	}
}

/* Is candidate better than best?  Preferred (previously locked) versions
 * first, then newer versions, then earlier sources. */
static bool better(const struct state *s, uint32_t cand, uint32_t best)
{
	const struct kiln_pkg *c = P(s, cand), *b = P(s, best);
	const struct kiln_resolve_pin *pc = find_pin(s->req->prefer, s->req->n_prefer, c->name.ptr, c->name.len);
	const struct kiln_resolve_pin *pb = find_pin(s->req->prefer, s->req->n_prefer, b->name.ptr, b->name.len);
	bool cp = pc && same_version(c, pc->version), bp = pb && same_version(b, pb->version);
	int cmp;

	if (cp != bp)
		return cp;
	if (c->name.len != b->name.len || memcmp(c->name.ptr, b->name.ptr, c->name.len) != 0) {
		/* Different providers: the alphabetically first, for stability. */
		size_t m = c->name.len < b->name.len ? c->name.len : b->name.len;
		int r = memcmp(c->name.ptr, b->name.ptr, m);
		return r ? r < 0 : c->name.len < b->name.len;
	}
	cmp = kiln_debversion_compare_n(c->version.ptr, c->version.len, b->version.ptr, b->version.len);
	if (cmp)
		return cmp > 0;
	return c->origin < b->origin;
}

/* May cand be taken at all (pins, bans, one version per name)? */
static bool admissible(const struct state *s, uint32_t cand)
{
	const struct kiln_pkg *c = P(s, cand);
	const struct kiln_resolve_pin *pin = find_pin(s->req->pins, s->req->n_pins, c->name.ptr, c->name.len);
	uint32_t have = chosen_get(s, c->name.ptr, c->name.len);

	if (pin && !same_version(c, pin->version))
		return false;
	if (have != KILN_PKG_NONE)
		return false;
	return !is_banned(s, cand);
}

/* Pick a new package for atom; NONE when there is none (s->why says why). */
static uint32_t pick_for_atom(struct state *s, const struct kiln_dep_atom *a, struct kiln_error *err,
			      int *failed)
{
	uint32_t best = KILN_PKG_NONE, have, clash = KILN_PKG_NONE, clash_cand = KILN_PKG_NONE;
	uint32_t ambiguous_with = KILN_PKG_NONE;
	bool any_real = false;

	*failed = 0;
	if (!atom_arch_ok(s, a)) {
		kiln_buf_printf(&s->why, "; %.*s:%.*s is for another architecture", (int)a->name.len,
				a->name.ptr, (int)a->arch_qualifier.len, a->arch_qualifier.ptr);
		return KILN_PKG_NONE;
	}
	have = chosen_get(s, a->name.ptr, a->name.len);
	if (have != KILN_PKG_NONE) {
		/* The name is taken at a version that does not fit. */
		const struct kiln_pkg *h = P(s, have);
		kiln_buf_printf(&s->why, "; %.*s %.*s is already chosen", (int)h->name.len, h->name.ptr,
				(int)h->version.len, h->version.ptr);
		if (!find_pin(s->req->pins, s->req->n_pins, h->name.ptr, h->name.len) &&
		    s->revise == KILN_PKG_NONE) {
			/* Only revise if some other version would fit. */
			for (uint32_t i = kiln_packages_lookup(s->idx, a->name.ptr, a->name.len);
			     i != KILN_PKG_NONE; i = P(s, i)->next_same_name)
				if (version_fits(P(s, i)->version, a) && !is_banned(s, i)) {
					s->revise = have;
					break;
				}
		}
		return KILN_PKG_NONE;
	}
	/* Two passes: real packages of the name, then providers. */
	for (int pass = 0; pass < 2 && best == KILN_PKG_NONE; pass++) {
		uint32_t it = pass == 0 ? kiln_packages_lookup(s->idx, a->name.ptr, a->name.len)
					: kiln_packages_providers(s->idx, a->name.ptr, a->name.len);
		while (it != KILN_PKG_NONE) {
			uint32_t cand;
			bool fits;
			if (pass == 0) {
				cand = it;
				fits = version_fits(P(s, cand)->version, a);
				any_real = true;
				it = P(s, it)->next_same_name;
			} else {
				const struct kiln_provide *pr = kiln_packages_provide(s->idx, it);
				cand = pr->pkg;
				fits = a->rel == KILN_REL_ANY || (pr->version.len && version_fits(pr->version, a));
				it = pr->next;
			}
			if (!fits || !admissible(s, cand))
				continue;
			uint32_t c = clash_with_chosen(s, cand, err, failed);
			if (*failed)
				return KILN_PKG_NONE;
			if (c != KILN_PKG_NONE) {
				clash = c;
				clash_cand = cand;
				continue;
			}
			if (best == KILN_PKG_NONE) {
				best = cand;
			} else if (pass == 1 && !same_name(s, cand, best)) {
				/* Two packages could stand for this virtual name and
				 * nothing in the manifest says which: a lock must not
				 * guess, the user pins the one they want. */
				ambiguous_with = cand;
				s->ambiguous = true;
			} else if (better(s, cand, best)) {
				best = cand;
			}
		}
	}
	if (best != KILN_PKG_NONE && ambiguous_with != KILN_PKG_NONE) {
		kiln_buf_printf(&s->why, "; %.*s is a virtual package provided by ", (int)a->name.len,
				a->name.ptr);
		describe_providers(s, &s->why, a);
		kiln_buf_adds(&s->why, ": pin the one you want in packages:");
		return KILN_PKG_NONE;
	}
	if (best != KILN_PKG_NONE)
		return best;
	if (clash != KILN_PKG_NONE) {
		const struct kiln_pkg *c = P(s, clash_cand), *q = P(s, clash);
		kiln_buf_printf(&s->why, "; %.*s %.*s would conflict with %.*s %.*s", (int)c->name.len,
				c->name.ptr, (int)c->version.len, c->version.ptr, (int)q->name.len,
				q->name.ptr, (int)q->version.len, q->version.ptr);
	} else if (any_real) {
		kiln_buf_printf(&s->why, "; %.*s has ", (int)a->name.len, a->name.ptr);
		describe_versions(s, &s->why, a->name.ptr, a->name.len);
	} else if (kiln_packages_providers(s->idx, a->name.ptr, a->name.len) != KILN_PKG_NONE) {
		kiln_buf_printf(&s->why, "; no provider of %.*s fits", (int)a->name.len, a->name.ptr);
	} else {
		kiln_buf_printf(&s->why, "; no source has a package %.*s", (int)a->name.len, a->name.ptr);
	}
	return KILN_PKG_NONE;
}

/* Satisfy every clause of one field of the package at order position pos. */
static int satisfy_field(struct state *s, uint32_t pos, struct kiln_slice field, const char *fname,
			 struct kiln_error *err)
{
	struct kiln_deps deps = KILN_DEPS_INIT;
	const struct kiln_pkg *p = P(s, s->order[pos]);
	int failed;

	if (kiln_deps_parse(field, true, &deps, err) < 0) {
		kiln_deps_release(&deps);
		return kiln_error_prefix(err, "%.*s %.*s: %s", (int)p->name.len, p->name.ptr,
					 (int)p->version.len, p->version.ptr, fname);
	}
	for (size_t c = 0; c < deps.n_clauses; c++) {
		size_t first = kiln_deps_clause_start(&deps, c), end = deps.clause_end[c];
		uint32_t pick = KILN_PKG_NONE;
		bool done = false;

		for (size_t a = first; a < end && !done; a++)
			done = chosen_satisfier(s, &deps.atoms[a]) != KILN_PKG_NONE;
		if (done)
			continue;
		kiln_buf_reset(&s->why);
		s->revise = KILN_PKG_NONE;
		s->ambiguous = false;
		for (size_t a = first; a < end && pick == KILN_PKG_NONE; a++) {
			pick = pick_for_atom(s, &deps.atoms[a], err, &failed);
			if (failed) {
				kiln_deps_release(&deps);
				return -1;
			}
		}
		if (pick == KILN_PKG_NONE && s->ambiguous && !s->final) {
			bool pre = strcmp(fname, "Pre-Depends") == 0, seen = false;
			for (size_t k = 0; k < s->n_deferred && !seen; k++)
				seen = s->deferred[k].pos == pos && s->deferred[k].pre == pre;
			if (!seen) {
				kiln_xgrow(&s->deferred, &s->alloc_deferred, s->n_deferred + 1,
					   sizeof(*s->deferred));
				s->deferred[s->n_deferred++] = (struct deferred){ pos, pre };
			}
			continue;
		}
		if (pick == KILN_PKG_NONE) {
			struct kiln_buf msg = KILN_BUF_INIT;
			kiln_buf_printf(&msg, "cannot satisfy %s of %.*s %.*s: ", fname, (int)p->name.len,
					p->name.ptr, (int)p->version.len, p->version.ptr);
			for (size_t a = first; a < end; a++) {
				if (a > first)
					kiln_buf_adds(&msg, " | ");
				describe_atom(&msg, &deps.atoms[a]);
			}
			kiln_buf_add(&msg, s->why.data ? s->why.data : "", s->why.len);
			kiln_buf_reset(&s->why);
			kiln_buf_add(&s->why, msg.data, msg.len);
			kiln_buf_release(&msg);
			describe_chain(s, pos);
			kiln_deps_release(&deps);
			return 1;
		}
		choose(s, pick, pos, err, &failed);
		p = P(s, s->order[pos]);
		if (failed) {
			kiln_deps_release(&deps);
			return -1;
		}
	}
	kiln_deps_release(&deps);
	return 0;
}

static void state_reset(struct state *s)
{
	for (size_t i = 0; i < s->n_order; i++)
		kiln_deps_release(&s->conflicts[i]);
	s->n_order = 0;
	if (s->chosen.slots)
		memset(s->chosen.slots, 0xff, s->chosen.cap * sizeof(uint32_t));
	s->chosen.used = 0;
	s->revise = KILN_PKG_NONE;
	s->n_deferred = 0;
	s->final = false;
	kiln_buf_reset(&s->why);
}

static void state_release(struct state *s)
{
	state_reset(s);
	free(s->chosen.slots);
	free(s->order);
	free(s->parent);
	free(s->conflicts);
	free(s->banned);
	free(s->deferred);
	kiln_buf_release(&s->why);
}

/* Take the pins; errors here are the manifest's, not the closure's. */
static int choose_pins(struct state *s, struct kiln_error *err)
{
	const struct kiln_resolve_request *req = s->req;
	int failed;

	for (size_t i = 0; i < req->n_pins; i++) {
		const struct kiln_resolve_pin *pin = &req->pins[i];
		size_t len = strlen(pin->name);
		uint32_t found = KILN_PKG_NONE;

		for (uint32_t it = kiln_packages_lookup(s->idx, pin->name, len); it != KILN_PKG_NONE;
		     it = P(s, it)->next_same_name)
			if (same_version(P(s, it), pin->version) &&
			    (found == KILN_PKG_NONE || P(s, it)->origin < P(s, found)->origin))
				found = it;
		if (found == KILN_PKG_NONE) {
			struct kiln_buf b = KILN_BUF_INIT;
			if (kiln_packages_lookup(s->idx, pin->name, len) != KILN_PKG_NONE) {
				describe_versions(s, &b, pin->name, len);
				kiln_error_set(err, "%s%spackages.%s: version \"%s\" is in no source; "
					       "available: %s", pin->where ? pin->where : "",
					       pin->where ? ": " : "", pin->name, pin->version, b.data);
			} else if (kiln_packages_providers(s->idx, pin->name, len) != KILN_PKG_NONE) {
				size_t n = 0;
				for (uint32_t pv = kiln_packages_providers(s->idx, pin->name, len);
				     pv != KILN_PKG_NONE && n < 10; pv = kiln_packages_provide(s->idx, pv)->next, n++) {
					const struct kiln_pkg *q = P(s, kiln_packages_provide(s->idx, pv)->pkg);
					kiln_buf_printf(&b, "%s%.*s", n ? ", " : "", (int)q->name.len, q->name.ptr);
				}
				kiln_error_set(err, "%s%spackages.%s: a virtual package; pin one of its "
					       "providers instead: %s", pin->where ? pin->where : "",
					       pin->where ? ": " : "", pin->name, b.data);
			} else {
				kiln_error_set(err, "%s%spackages.%s: no source has a package of that name",
					       pin->where ? pin->where : "", pin->where ? ": " : "",
					       pin->name);
			}
			kiln_buf_release(&b);
			return -1;
		}
		if (chosen_get(s, pin->name, len) != KILN_PKG_NONE)
			continue;
		choose(s, found, KILN_PKG_NONE, err, &failed);
		if (failed)
			return -1;
	}
	/* Pins that clash with each other cannot be helped by any search. */
	for (size_t i = 0; i < s->n_order; i++)
		for (size_t j = 0; j < s->n_order; j++)
			if (rules_out(s, s->order[i], &s->conflicts[i], s->order[j])) {
				const struct kiln_pkg *a = P(s, s->order[i]), *b = P(s, s->order[j]);
				return kiln_error_set(err, "pinned packages conflict: %.*s %.*s "
						      "conflicts with or breaks %.*s %.*s",
						      (int)a->name.len, a->name.ptr, (int)a->version.len,
						      a->version.ptr, (int)b->name.len, b->name.ptr,
						      (int)b->version.len, b->version.ptr);
			}
	return 0;
}

/* One attempt: 0 done, 1 unsatisfiable (s->why, maybe s->revise), -1 error. */
static int attempt(struct state *s, struct kiln_error *err)
{
	size_t pos = 0;

	if (choose_pins(s, err) < 0)
		return -1;
	for (;;) {
		for (; pos < s->n_order; pos++) {
			const struct kiln_pkg *p = P(s, s->order[pos]);
			struct kiln_slice pre = p->pre_depends, dep = p->depends;
			int rc = satisfy_field(s, (uint32_t)pos, pre, "Pre-Depends", err);
			if (rc == 0)
				rc = satisfy_field(s, (uint32_t)pos, dep, "Depends", err);
			if (rc != 0)
				return rc;
		}
		if (s->final || s->n_deferred == 0)
			return 0;
		/* The closure is complete but for the deferred clauses: a
		 * provider chosen since satisfies them, else they are errors. */
		s->final = true;
		for (size_t k = 0; k < s->n_deferred; k++) {
			const struct kiln_pkg *p = P(s, s->order[s->deferred[k].pos]);
			int rc = s->deferred[k].pre
					 ? satisfy_field(s, s->deferred[k].pos, p->pre_depends, "Pre-Depends", err)
					 : satisfy_field(s, s->deferred[k].pos, p->depends, "Depends", err);
			if (rc != 0)
				return rc;
		}
	}
}

static int compare_resolved(const void *a, const void *b, void *ctx)
{
	const struct state *s = ctx;
	const struct kiln_pkg *x = P(s, ((const struct kiln_resolved *)a)->pkg);
	const struct kiln_pkg *y = P(s, ((const struct kiln_resolved *)b)->pkg);
	size_t m = x->name.len < y->name.len ? x->name.len : y->name.len;
	int r = memcmp(x->name.ptr, y->name.ptr, m);
	return r ? r : (x->name.len > y->name.len) - (x->name.len < y->name.len);
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The lock's `depends:` of one package: who satisfies each of its clauses. */
static int record_depends(struct state *s, struct kiln_resolved *r, struct kiln_error *err)
{
	const struct kiln_pkg *p = P(s, r->pkg);
	struct kiln_slice fields[2] = { p->pre_depends, p->depends };
	size_t alloc = 0;

	for (int f = 0; f < 2; f++) {
		struct kiln_deps deps = KILN_DEPS_INIT;
		if (kiln_deps_parse(fields[f], true, &deps, err) < 0) {
			kiln_deps_release(&deps);
			return -1;
		}
		for (size_t c = 0; c < deps.n_clauses; c++) {
			uint32_t who = KILN_PKG_NONE;
			for (size_t a = kiln_deps_clause_start(&deps, c); a < deps.clause_end[c] &&
			     who == KILN_PKG_NONE; a++)
				who = chosen_satisfier(s, &deps.atoms[a]);
			if (who == KILN_PKG_NONE) {
				kiln_deps_release(&deps);
				return kiln_error_set(err, "internal: %.*s lost a dependency",
						      (int)p->name.len, p->name.ptr);
			}
			if (who == r->pkg)
				continue;
			const struct kiln_pkg *q = P(s, who);
			bool dup = false;
			for (size_t k = 0; k < r->n_depends && !dup; k++)
				dup = strlen(r->depends[k]) == q->name.len &&
				      memcmp(r->depends[k], q->name.ptr, q->name.len) == 0;
			if (dup)
				continue;
			kiln_xgrow(&r->depends, &alloc, r->n_depends + 1, sizeof(*r->depends));
			r->depends[r->n_depends++] = kiln_xstrndup(q->name.ptr, q->name.len);
		}
		kiln_deps_release(&deps);
	}
	if (r->n_depends) /* qsort's base must not be NULL, even for 0 items */
		qsort(r->depends, r->n_depends, sizeof(*r->depends), compare_strings);
	return 0;
}

int kiln_resolve(const struct kiln_resolve_request *req, struct kiln_resolution *out,
		 struct kiln_error *err)
{
	struct state s = { .req = req, .idx = req->index, .revise = KILN_PKG_NONE };
	/* What each restart set aside and why, so a final failure does not
	 * read "b (= 1); b has 1" without saying what ruled b 1 out. */
	struct kiln_buf set_aside = KILN_BUF_INIT;
	int rc;

	memset(out, 0, sizeof(*out));
	s.chosen.cap = 256;
	s.chosen.slots = kiln_xmalloc(s.chosen.cap * sizeof(uint32_t));
	memset(s.chosen.slots, 0xff, s.chosen.cap * sizeof(uint32_t));
	for (;;) {
		state_reset(&s);
		rc = attempt(&s, err);
		if (rc <= 0)
			break;
		if (s.revise == KILN_PKG_NONE || out->restarts >= MAX_RESTARTS) {
			kiln_error_set(err, "%s%s", s.why.data, set_aside.data ? set_aside.data : "");
			rc = -1;
			break;
		}
		/* Set the version that stood in the way aside, and start over. */
		if (s.n_banned < 8) {
			const struct kiln_pkg *b = P(&s, s.revise);
			kiln_buf_printf(&set_aside, "\n  set aside %.*s %.*s: %.*s", (int)b->name.len,
					b->name.ptr, (int)b->version.len, b->version.ptr,
					(int)strcspn(s.why.data, ";\n"), s.why.data);
		}
		kiln_xgrow(&s.banned, &s.alloc_banned, s.n_banned + 1, sizeof(*s.banned));
		s.banned[s.n_banned++] = s.revise;
		out->restarts++;
	}
	if (rc == 0) {
		/* Conflicts and Breaks are checked on every choice; check the
		 * final set once more as a whole. */
		for (size_t i = 0; i < s.n_order && rc == 0; i++)
			for (size_t j = 0; j < s.n_order; j++)
				if (rules_out(&s, s.order[i], &s.conflicts[i], s.order[j])) {
					const struct kiln_pkg *a = P(&s, s.order[i]), *b = P(&s, s.order[j]);
					rc = kiln_error_set(err, "conflict inside the closure: %.*s %.*s "
							    "conflicts with or breaks %.*s %.*s",
							    (int)a->name.len, a->name.ptr, (int)a->version.len,
							    a->version.ptr, (int)b->name.len, b->name.ptr,
							    (int)b->version.len, b->version.ptr);
					break;
				}
	}
	if (rc == 0) {
		out->pkgs = kiln_xcalloc(s.n_order, sizeof(*out->pkgs));
		out->n_pkgs = s.n_order;
		for (size_t i = 0; i < s.n_order; i++) {
			out->pkgs[i].pkg = s.order[i];
			out->pkgs[i].pinned = s.parent[i] == KILN_PKG_NONE;
		}
		for (size_t i = 0; i < s.n_order && rc == 0; i++)
			rc = record_depends(&s, &out->pkgs[i], err);
		qsort_r(out->pkgs, out->n_pkgs, sizeof(*out->pkgs), compare_resolved, &s);
	}
	state_release(&s);
	kiln_buf_release(&set_aside);
	if (rc < 0)
		kiln_resolution_release(out);
	return rc < 0 ? -1 : 0;
}

void kiln_resolution_release(struct kiln_resolution *res)
{
	for (size_t i = 0; i < res->n_pkgs; i++) {
		for (size_t k = 0; k < res->pkgs[i].n_depends; k++)
			free(res->pkgs[i].depends[k]);
		free(res->pkgs[i].depends);
	}
	free(res->pkgs);
	res->pkgs = NULL;
	res->n_pkgs = 0;
}
