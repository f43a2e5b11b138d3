/* budget: a byte count shared by threads with a ceiling (lock-free). The
 * webhook's memory limits: buffered review bodies, full JSON parses. */
#ifndef ARMORGATE_WEBHOOK_BUDGET_H
#define ARMORGATE_WEBHOOK_BUDGET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct budget {
	atomic_size_t b_used;
	size_t b_max;
} budget;

void budget_init(budget *b, size_t max);
/* Takes n bytes when used + n stays <= limit (limit <= b_max, so part of the
 * budget can be kept for some takers); false, and nothing taken, otherwise. */
bool budget_take(budget *b, size_t n, size_t limit);
void budget_give(budget *b, size_t n);
size_t budget_used(budget *b);

#endif
