/* pool.c - a fixed set of threads working through N items; see pool.h. */
#include "pool.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "util.h"

struct pool {
	kiln_pool_fn fn;
	void *ctx;
	size_t n, next;
	bool stop;
	size_t failed;             /* lowest failing index; SIZE_MAX when none */
	struct kiln_error err;     /* its error */
	pthread_mutex_t mu;
};

static void *worker(void *arg)
{
	struct pool *p = arg;

	for (;;) {
		struct kiln_error err = { 0 };
		size_t i;

		pthread_mutex_lock(&p->mu);
		if (p->stop || p->next >= p->n) {
			pthread_mutex_unlock(&p->mu);
			return NULL;
		}
		i = p->next++;
		pthread_mutex_unlock(&p->mu);
		if (p->fn(p->ctx, i, &err) == 0)
			continue;
		pthread_mutex_lock(&p->mu);
		p->stop = true;
		if (i < p->failed) {
			p->failed = i;
			p->err = err;
		}
		pthread_mutex_unlock(&p->mu);
	}
}

size_t kiln_pool_cores(void)
{
	long cores = sysconf(_SC_NPROCESSORS_ONLN);

	return cores > 1 ? (size_t)cores : 1;
}

int kiln_pool_run(size_t n, size_t n_threads, kiln_pool_fn fn, void *ctx, struct kiln_error *err)
{
	struct pool p = { .fn = fn, .ctx = ctx, .n = n, .failed = SIZE_MAX };
	pthread_t threads[KILN_POOL_THREADS_MAX];
	size_t started = 0;

	if (n_threads == 0)
		n_threads = kiln_pool_cores();
	if (n_threads > KILN_POOL_THREADS_MAX)
		n_threads = KILN_POOL_THREADS_MAX;
	if (n_threads > n)
		n_threads = n;
	pthread_mutex_init(&p.mu, NULL);
	for (size_t t = 1; t < n_threads; t++)
		if (pthread_create(&threads[started], NULL, worker, &p) == 0)
			started++;
	worker(&p);
	for (size_t t = 0; t < started; t++)
		pthread_join(threads[t], NULL);
	pthread_mutex_destroy(&p.mu);
	if (p.failed == SIZE_MAX)
		return 0;
	if (err)
		*err = p.err;
	return -1;
}
