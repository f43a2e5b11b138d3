/* budget: see budget.h. */
#include "budget.h"

void budget_init(budget *b, size_t max)
{
	atomic_init(&b->b_used, 0);
	b->b_max = max;
}

bool budget_take(budget *b, size_t n, size_t limit)
{
	size_t cur = atomic_load(&b->b_used);

	if (limit > b->b_max)
		limit = b->b_max;
	do {
		if (n > limit || cur > limit - n)
			return false;
	} while (!atomic_compare_exchange_weak(&b->b_used, &cur, cur + n));
	return true;
}

void budget_give(budget *b, size_t n)
{
	atomic_fetch_sub(&b->b_used, n);
}

size_t budget_used(budget *b)
{
	return atomic_load(&b->b_used);
}
