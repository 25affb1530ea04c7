/* pool.h - a fixed set of threads working through N items.
 *
 * kiln_pool_run calls fn(ctx, i, err) once for each i in [0, n), on up to
 * n_threads threads of which the caller's is one.  Items are handed out
 * in index order; fn writes its result into the caller's arrays at index
 * i, so results are in item order whatever the scheduling.
 *
 * First error wins: once an item fails no further item is started, and
 * the error returned is that of the lowest failing index.  Every item
 * below a failing one was handed out before it and runs to its end, so
 * the error reported does not depend on which thread was faster.
 *
 * fn runs concurrently with itself: it must only touch item i's data and
 * what is safe to share.  It must not call kiln_pool_run.
 */
#ifndef KILN_POOL_H
#define KILN_POOL_H

#include <stddef.h>

#include "error.h"

/* More threads than this do not help kiln's work (deflate, unpacking). */
#define KILN_POOL_THREADS_MAX 16

typedef int (*kiln_pool_fn)(void *ctx, size_t i, struct kiln_error *err);

/* n_threads 0: one per online core.  Capped at KILN_POOL_THREADS_MAX and
 * at n; threads that cannot be created leave their share to the others.
 * Returns 0 when every item returned 0, else -1 with *err that of the
 * lowest failing item. */
int kiln_pool_run(size_t n, size_t n_threads, kiln_pool_fn fn, void *ctx, struct kiln_error *err);

/* The number of online cores (at least 1). */
size_t kiln_pool_cores(void);

#endif
