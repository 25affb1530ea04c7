#include "gitrepo.h"

#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "lockfile.h"
#include "util.h"

struct kiln_git {
	git_repository *repo;
	char *workdir;
};

static int git_fail(struct kiln_error *err, const char *what)
{
	const git_error *e = git_error_last();
	return kiln_error_set(err, "%s: %s", what, e && e->message ? e->message : "libgit2 error");
}

struct kiln_git *kiln_git_open(const char *path, struct kiln_error *err)
{
	struct kiln_git *g;
	git_repository *repo = NULL;
	const char *wd;

	git_libgit2_init();
	if (git_repository_open_ext(&repo, path, 0, NULL) < 0) {
		kiln_error_set(err, "'%s' is not inside a git repository: kiln builds commits "
			       "(git init, git add, git commit first)", path);
		return NULL;
	}
	wd = git_repository_workdir(repo);
	if (!wd) {
		git_repository_free(repo);
		kiln_error_set(err, "'%s': a bare repository has no work tree", path);
		return NULL;
	}
	g = kiln_xcalloc(1, sizeof(*g));
	g->repo = repo;
	g->workdir = kiln_xstrdup(wd);
	size_t n = strlen(g->workdir);
	while (n > 1 && g->workdir[n - 1] == '/')
		g->workdir[--n] = '\0';
	return g;
}

void kiln_git_free(struct kiln_git *g)
{
	if (!g)
		return;
	git_repository_free(g->repo);
	free(g->workdir);
	free(g);
	git_libgit2_shutdown();
}

const char *kiln_git_workdir(const struct kiln_git *g)
{
	return g->workdir;
}

const char *kiln_git_common_dir(const struct kiln_git *g)
{
	return git_repository_commondir(g->repo);
}

int kiln_git_config_path(struct kiln_git *g, const char *key, char **value,
			 struct kiln_error *err)
{
	git_config *cfg = NULL;
	git_buf buf = { 0 };
	int got;

	*value = NULL;
	if (git_repository_config_snapshot(&cfg, g->repo) < 0)
		return git_fail(err, "read git config");
	got = git_config_get_path(&buf, cfg, key);
	if (got < 0 && got != GIT_ENOTFOUND) {
		git_fail(err, key);
		git_config_free(cfg);
		return -1;
	}
	if (got == 0 && buf.ptr)
		*value = kiln_xstrdup(buf.ptr);
	git_buf_dispose(&buf);
	git_config_free(cfg);
	return 0;
}

int kiln_git_resolve(struct kiln_git *g, const char *rev, char id[KILN_GIT_OID_HEX + 1],
		     int64_t *commit_time, struct kiln_error *err)
{
	git_object *obj = NULL;
	git_commit *commit = NULL;

	if (git_revparse_single(&obj, g->repo, rev) < 0) {
		_cleanup_free_ char *what = kiln_xasprintf("revision '%s'", rev);
		return git_fail(err, what);
	}
	if (git_object_peel((git_object **)&commit, obj, GIT_OBJECT_COMMIT) < 0) {
		git_object_free(obj);
		_cleanup_free_ char *what = kiln_xasprintf("revision '%s' is not a commit", rev);
		return git_fail(err, what);
	}
	git_oid_tostr(id, KILN_GIT_OID_HEX + 1, git_commit_id(commit));
	*commit_time = (int64_t)git_commit_committer(commit)->when.time;
	git_commit_free(commit);
	git_object_free(obj);
	return 0;
}

static int commit_tree(struct kiln_git *g, const char *commit, git_tree **tree, struct kiln_error *err)
{
	git_oid oid;
	git_commit *c = NULL;

	if (git_oid_fromstr(&oid, commit) < 0 || git_commit_lookup(&c, g->repo, &oid) < 0) {
		_cleanup_free_ char *what = kiln_xasprintf("commit %s", commit);
		return git_fail(err, what);
	}
	if (git_commit_tree(tree, c) < 0) {
		git_commit_free(c);
		return git_fail(err, "commit tree");
	}
	git_commit_free(c);
	return 0;
}

/* The entry at path, or NULL with *missing set. */
static git_tree_entry *entry_at(git_tree *tree, const char *path, bool *missing, struct kiln_error *err)
{
	git_tree_entry *e = NULL;
	int rc;

	*missing = false;
	rc = git_tree_entry_bypath(&e, tree, path);
	if (rc == GIT_ENOTFOUND) {
		*missing = true;
		return NULL;
	}
	if (rc < 0) {
		_cleanup_free_ char *what = kiln_xasprintf("'%s'", path);
		git_fail(err, what);
		return NULL;
	}
	return e;
}

char *kiln_git_read_file(struct kiln_git *g, const char *commit, const char *path, size_t *len,
			 bool *found, struct kiln_error *err)
{
	git_tree *tree = NULL;
	git_tree_entry *e;
	git_blob *blob = NULL;
	bool missing;
	char *out = NULL;

	*found = false;
	if (commit_tree(g, commit, &tree, err) < 0)
		return NULL;
	e = entry_at(tree, path, &missing, err);
	if (!e) {
		git_tree_free(tree);
		if (missing)
			kiln_error_clear(err);
		return NULL;
	}
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB) {
		kiln_error_set(err, "'%s' in commit %.12s is not a file", path, commit);
	} else if (git_tree_entry_filemode(e) == GIT_FILEMODE_LINK) {
		/* A committed symlink's bytes are its target's name: refuse it as
		 * the work tree's reader does, so that a manifest or lock is the
		 * same regular file in the commit and in a checkout. */
		kiln_error_set(err, "'%s' in commit %.12s is a symbolic link; kiln reads it only as a "
			       "regular file", path, commit);
		kiln_error_verification(err);
	} else if (git_blob_lookup(&blob, g->repo, git_tree_entry_id(e)) < 0) {
		git_fail(err, path);
	} else {
		size_t n = (size_t)git_blob_rawsize(blob);
		out = kiln_xmalloc(n + 1);
		memcpy(out, git_blob_rawcontent(blob), n);
		out[n] = '\0';
		*len = n;
		*found = true;
	}
	git_blob_free(blob);
	git_tree_entry_free(e);
	git_tree_free(tree);
	return out;
}

struct walk_ctx {
	struct kiln_git *g;
	kiln_git_visit_fn fn;
	void *ctx;
	struct kiln_error *err;
	int failed;
};

static int visit_blob(struct walk_ctx *w, const char *rel, git_filemode_t mode, const git_oid *oid)
{
	git_blob *blob = NULL;
	char hex[KILN_GIT_OID_HEX + 1];
	enum kiln_git_kind kind;
	int rc;

	switch (mode) {
	case GIT_FILEMODE_BLOB: kind = KILN_GIT_FILE; break;
	case GIT_FILEMODE_BLOB_EXECUTABLE: kind = KILN_GIT_EXECUTABLE; break;
	case GIT_FILEMODE_LINK: kind = KILN_GIT_SYMLINK; break;
	case GIT_FILEMODE_COMMIT:
		return kiln_error_set(w->err, "'%s' is a git submodule: kiln copies only files "
				      "committed in this repository", rel);
	default:
		return kiln_error_set(w->err, "'%s': unsupported git file mode %o", rel, (unsigned)mode);
	}
	if (git_blob_lookup(&blob, w->g->repo, oid) < 0)
		return git_fail(w->err, rel);
	git_oid_tostr(hex, sizeof(hex), oid);
	rc = w->fn(w->ctx, rel, kind, hex, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob),
		   w->err);
	git_blob_free(blob);
	return rc;
}

static int walk_cb(const char *root, const git_tree_entry *e, void *payload)
{
	struct walk_ctx *w = payload;
	_cleanup_free_ char *rel = kiln_xasprintf("%s%s", root, git_tree_entry_name(e));
	char hex[KILN_GIT_OID_HEX + 1];

	if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
		git_oid_tostr(hex, sizeof(hex), git_tree_entry_id(e));
		if (w->fn(w->ctx, rel, KILN_GIT_DIR, hex, NULL, 0, w->err) < 0) {
			w->failed = 1;
			return -1;
		}
		return 0;
	}
	if (visit_blob(w, rel, git_tree_entry_filemode(e), git_tree_entry_id(e)) < 0) {
		w->failed = 1;
		return -1;
	}
	return 0;
}

int kiln_git_walk(struct kiln_git *g, const char *commit, const char *path, kiln_git_visit_fn fn,
		  void *ctx, bool *found, struct kiln_error *err)
{
	struct walk_ctx w = { g, fn, ctx, err, 0 };
	git_tree *tree = NULL, *sub = NULL;
	git_tree_entry *e = NULL;
	bool missing;
	int rc = -1;

	*found = false;
	if (commit_tree(g, commit, &tree, err) < 0)
		return -1;
	if (!*path || strcmp(path, ".") == 0) {
		sub = tree;
		tree = NULL;
	} else {
		e = entry_at(tree, path, &missing, err);
		if (!e) {
			git_tree_free(tree);
			if (missing) {
				kiln_error_clear(err);
				return 0;
			}
			return -1;
		}
		if (git_tree_entry_type(e) != GIT_OBJECT_TREE) {
			*found = true;
			rc = visit_blob(&w, "", git_tree_entry_filemode(e), git_tree_entry_id(e));
			goto out;
		}
		if (git_tree_lookup(&sub, g->repo, git_tree_entry_id(e)) < 0) {
			git_fail(err, path);
			goto out;
		}
	}
	*found = true;
	{
		char hex[KILN_GIT_OID_HEX + 1];
		git_oid_tostr(hex, sizeof(hex), git_tree_id(sub));
		if (fn(ctx, "", KILN_GIT_DIR, hex, NULL, 0, err) < 0)
			goto out;
	}
	if (git_tree_walk(sub, GIT_TREEWALK_PRE, walk_cb, &w) < 0) {
		if (!w.failed)
			git_fail(err, path);
		goto out;
	}
	rc = 0;
out:
	git_tree_entry_free(e);
	git_tree_free(sub);
	git_tree_free(tree);
	return rc;
}

int kiln_git_path_id(struct kiln_git *g, const char *commit, const char *path,
		     char id[KILN_GIT_OID_HEX + 1], struct kiln_error *err)
{
	git_tree *tree = NULL;
	git_tree_entry *e;
	bool missing;

	if (commit_tree(g, commit, &tree, err) < 0)
		return -1;
	if (!*path || strcmp(path, ".") == 0) {
		git_oid_tostr(id, KILN_GIT_OID_HEX + 1, git_tree_id(tree));
		git_tree_free(tree);
		return 0;
	}
	e = entry_at(tree, path, &missing, err);
	if (!e) {
		git_tree_free(tree);
		if (!missing)
			return -1;
		kiln_error_clear(err);
		id[0] = '\0';
		return 0;
	}
	git_oid_tostr(id, KILN_GIT_OID_HEX + 1, git_tree_entry_id(e));
	git_tree_entry_free(e);
	git_tree_free(tree);
	return 0;
}

/* Notes: commit's note text under notes_ref. */
char *kiln_git_note_read(struct kiln_git *g, const char *notes_ref, const char *commit, bool *found,
			 struct kiln_error *err)
{
	git_oid oid;
	git_note *note = NULL;
	char *text;
	int rc;

	*found = false;
	if (git_oid_fromstr(&oid, commit) < 0)
		return git_fail(err, commit), NULL;
	rc = git_note_read(&note, g->repo, notes_ref, &oid);
	if (rc == GIT_ENOTFOUND)
		return NULL;
	if (rc < 0) {
		git_fail(err, "read git note");
		return NULL;
	}
	*found = true;
	text = kiln_xstrdup(git_note_message(note));
	git_note_free(note);
	return text;
}

/* The identity notes are committed under: the repository's user when git
 * knows one, else "kiln". */
static int note_signature(struct kiln_git *g, git_signature **sig)
{
	if (git_signature_default(sig, g->repo) == 0)
		return 0;
	return git_signature_now(sig, "kiln", "kiln@localhost");
}

/* A ref lock (NOTES_REF.lock) older than this has no live git behind it:
 * git and libgit2 hold a ref lock for the milliseconds of one update. */
#define STALE_REF_LOCK_SECONDS 60

/* Notes writers and stale ref locks.  libgit2, like git, updates a ref by
 * creating REF.lock (O_EXCL) and renaming it over REF; a writer SIGKILLed
 * in between leaves REF.lock, and every later update fails on it.  So a
 * kiln writing a note first takes an flock on COMMON_DIR/kiln/notes.lock
 * (the kernel drops it when the holder dies) and, while holding it, writes
 * its pid there until the update is over.  Whoever holds the flock next
 * knows no other kiln is writing, and a pid left in the file means the
 * last kiln died mid-update: a REF.lock made then (its mtime close to the
 * file's) is that kiln's and is removed.  A REF.lock no kiln made is only
 * removed once it is older than any live git would keep it. */
struct note_guard {
	int fd;
	char *ref_lock;             /* COMMON_DIR/NOTES_REF.lock */
};

static bool ref_lock_stale(const struct note_guard *guard, const struct stat *lock_st)
{
	struct stat st;
	char pid[32];
	ssize_t n;

	if (time(NULL) - lock_st->st_mtime >= STALE_REF_LOCK_SECONDS)
		return true;
	n = pread(guard->fd, pid, sizeof(pid) - 1, 0);
	if (n <= 0 || fstat(guard->fd, &st) < 0)
		return false;
	return llabs((long long)(lock_st->st_mtime - st.st_mtime)) <= 10;
}

static int note_guard_take(struct kiln_git *g, const char *notes_ref, struct note_guard *guard,
			   struct kiln_error *err)
{
	_cleanup_free_ char *common = kiln_xstrdup(git_repository_commondir(g->repo));
	_cleanup_free_ char *dir = NULL, *path = NULL;
	struct stat st;
	char pid[32];
	size_t n = strlen(common);

	guard->fd = -1;
	guard->ref_lock = NULL;
	while (n > 1 && common[n - 1] == '/')
		common[--n] = '\0';
	dir = kiln_path_join(common, "kiln");
	path = kiln_path_join(dir, "notes.lock");
	if (kiln_mkdir_p(dir, 0755, err) < 0)
		return -1;
	/* Another kiln's note takes milliseconds: wait for it. */
	guard->fd = kiln_lockfile_open(path, 0644, 0, err);
	if (guard->fd < 0) {
		guard->fd = -1;
		return -1;
	}
	guard->ref_lock = kiln_xasprintf("%s/%s.lock", common, notes_ref);
	if (lstat(guard->ref_lock, &st) == 0 && S_ISREG(st.st_mode) && ref_lock_stale(guard, &st))
		unlink(guard->ref_lock);
	/* From here until note_guard_release, a kiln that dies leaves its pid. */
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(guard->fd, 0) < 0 || pwrite(guard->fd, pid, strlen(pid), 0) < 0)
		return kiln_error_errno(err, errno, "write '%s'", path);
	return 0;
}

static void note_guard_release(struct note_guard *guard)
{
	if (guard->fd >= 0) {
		if (ftruncate(guard->fd, 0) < 0) {
			/* Then the next writer may think this one died: at worst
			 * it removes a ref lock a git made within seconds. */
		}
		close(guard->fd);
	}
	free(guard->ref_lock);
	guard->fd = -1;
	guard->ref_lock = NULL;
}

int kiln_git_note_write(struct kiln_git *g, const char *notes_ref, const char *commit,
			const char *text, struct kiln_error *err)
{
	git_oid oid, note_oid;
	git_signature *sig = NULL;
	struct note_guard guard;
	int rc = -1;

	if (git_oid_fromstr(&oid, commit) < 0)
		return git_fail(err, commit);
	if (note_signature(g, &sig) < 0)
		return git_fail(err, "git note signature");
	if (note_guard_take(g, notes_ref, &guard, err) < 0) {
		git_signature_free(sig);
		note_guard_release(&guard);
		return kiln_error_prefix(err, "git notes");
	}
	rc = git_note_create(&note_oid, g->repo, notes_ref, sig, sig, &oid, text, 1);
	git_signature_free(sig);
	if (rc == GIT_ELOCKED) {
		kiln_error_set(err, "write git note: '%s' exists: another git command is updating %s, or one "
			       "that was killed left it (remove it if no git command is running; kiln does once it is "
			       "%d s old)", guard.ref_lock, notes_ref, STALE_REF_LOCK_SECONDS);
		rc = -2;
	} else if (rc == GIT_EMODIFIED) {
		git_fail(err, "write git note");
		rc = -2;
	} else if (rc < 0) {
		rc = git_fail(err, "write git note");
	}
	note_guard_release(&guard);
	return rc;
}

int kiln_git_history(struct kiln_git *g, const char *range, size_t max,
		     struct kiln_git_commit_info **out, size_t *n, struct kiln_error *err)
{
	git_revwalk *walk = NULL;
	git_oid oid;
	size_t alloc = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (git_revwalk_new(&walk, g->repo) < 0)
		return git_fail(err, "revwalk");
	git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
	if (strstr(range, ".."))
		rc = git_revwalk_push_range(walk, range);
	else {
		git_object *obj = NULL;
		rc = git_revparse_single(&obj, g->repo, range);
		if (rc == 0) {
			git_object *c = NULL;
			rc = git_object_peel(&c, obj, GIT_OBJECT_COMMIT);
			if (rc == 0)
				rc = git_revwalk_push(walk, git_object_id(c));
			git_object_free(c);
		}
		git_object_free(obj);
	}
	if (rc < 0) {
		git_revwalk_free(walk);
		return kiln_error_set(err, "'%s': %s", range,
				      git_error_last() ? git_error_last()->message : "bad revision");
	}
	while ((!max || *n < max) && git_revwalk_next(&oid, walk) == 0) {
		git_commit *c;
		const char *summary;
		if (git_commit_lookup(&c, g->repo, &oid) < 0) {
			git_revwalk_free(walk);
			kiln_git_history_free(*out, *n);
			*out = NULL;
			*n = 0;
			return git_fail(err, "commit");
		}
		kiln_xgrow(out, &alloc, *n + 1, sizeof(**out));
		git_oid_tostr((*out)[*n].id, KILN_GIT_OID_HEX + 1, &oid);
		(*out)[*n].time = (int64_t)git_commit_committer(c)->when.time;
		summary = git_commit_summary(c);
		(*out)[*n].subject = kiln_xstrdup(summary ? summary : "");
		(*n)++;
		git_commit_free(c);
	}
	git_revwalk_free(walk);
	return 0;
}

void kiln_git_history_free(struct kiln_git_commit_info *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(list[i].subject);
	free(list);
}
