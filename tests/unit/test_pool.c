/* test_pool.c - lib/base/pool.c: every item once, results in item order,
 * the lowest failing item's error whatever the scheduling, no new item
 * after a failure, the thread cap, and n = 0. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

#include "pool.h"
#include "tap.h"
#include "util.h"

struct square {
	size_t n;
	atomic_int *calls;
	unsigned long *out;
	size_t fail_a, fail_b;     /* indices that fail; SIZE_MAX for none */
	pthread_mutex_t mu;
	pthread_t seen[64];
	size_t n_seen;
};

static int square(void *ctx, size_t i, struct kiln_error *err)
{
	struct square *s = ctx;
	pthread_t self = pthread_self();
	bool known = false;

	atomic_fetch_add(&s->calls[i], 1);
	pthread_mutex_lock(&s->mu);
	for (size_t k = 0; k < s->n_seen; k++)
		known = known || pthread_equal(s->seen[k], self);
	if (!known && s->n_seen < KILN_ARRAY_SIZE(s->seen))
		s->seen[s->n_seen++] = self;
	pthread_mutex_unlock(&s->mu);
	/* Some work, so that the threads do overlap. */
	for (volatile int spin = 0; spin < 2000; spin++)
		;
	if (i == s->fail_a || i == s->fail_b)
		return kiln_error_set(err, "item %zu failed", i);
	s->out[i] = (unsigned long)i * i;
	return 0;
}

static void square_init(struct square *s, size_t n)
{
	*s = (struct square){ .n = n, .fail_a = SIZE_MAX, .fail_b = SIZE_MAX };
	s->calls = kiln_xcalloc(n + 1, sizeof(*s->calls));
	s->out = kiln_xcalloc(n + 1, sizeof(*s->out));
	pthread_mutex_init(&s->mu, NULL);
}

static void square_release(struct square *s)
{
	free((void *)s->calls);
	free(s->out);
	pthread_mutex_destroy(&s->mu);
}

TEST(every_item_once_results_in_order)
{
	struct square s;
	struct kiln_error err = { 0 };
	bool once = true, right = true;

	square_init(&s, 5000);
	CHECK(kiln_pool_run(s.n, 4, square, &s, &err) == 0);
	for (size_t i = 0; i < s.n; i++) {
		once = once && s.calls[i] == 1;
		right = right && s.out[i] == (unsigned long)i * i;
	}
	CHECK(once);
	CHECK(right);
	CHECK(err.message[0] == '\0');
	square_release(&s);
}

TEST(lowest_failing_item_wins)
{
	/* Item 3000 fails too; whichever thread gets there first, every item
	 * below it ran, so item 40's error is the one returned. */
	for (int round = 0; round < 20; round++) {
		struct square s;
		struct kiln_error err = { 0 };

		square_init(&s, 5000);
		s.fail_a = 3000;
		s.fail_b = 40;
		CHECK(kiln_pool_run(s.n, 4, square, &s, &err) == -1);
		CHECK_STR(err.message, "item 40 failed");
		for (size_t i = 0; i < 40; i++)
			CHECK(s.calls[i] == 1);
		square_release(&s);
	}
}

TEST(no_new_item_after_a_failure)
{
	struct square s;
	struct kiln_error err = { 0 };
	int later = 0;

	square_init(&s, 100);
	s.fail_a = 0;
	/* One thread: item 0 fails before any other is handed out. */
	CHECK(kiln_pool_run(s.n, 1, square, &s, &err) == -1);
	CHECK_STR(err.message, "item 0 failed");
	for (size_t i = 1; i < s.n; i++)
		later += s.calls[i];
	CHECK(later == 0);
	square_release(&s);
}

TEST(threads_capped)
{
	struct square s;
	struct kiln_error err = { 0 };

	square_init(&s, 20000);
	CHECK(kiln_pool_run(s.n, 1000, square, &s, &err) == 0);
	CHECK(s.n_seen >= 1 && s.n_seen <= KILN_POOL_THREADS_MAX);
	square_release(&s);
	/* Never more threads than items. */
	square_init(&s, 1);
	CHECK(kiln_pool_run(s.n, 8, square, &s, &err) == 0);
	CHECK(s.n_seen == 1 && pthread_equal(s.seen[0], pthread_self()));
	square_release(&s);
}

TEST(no_items)
{
	struct square s;
	struct kiln_error err = { 0 };

	square_init(&s, 0);
	CHECK(kiln_pool_run(0, 0, square, &s, &err) == 0);
	CHECK(s.n_seen == 0);
	CHECK(kiln_pool_cores() >= 1);
	square_release(&s);
}

int main(void)
{
	RUN(every_item_once_results_in_order);
	RUN(lowest_failing_item_wins);
	RUN(no_new_item_after_a_failure);
	RUN(threads_capped);
	RUN(no_items);
	return tap_done();
}
