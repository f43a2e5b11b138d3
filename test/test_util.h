/* Helpers shared by the Criterion tests (header-only; include after criterion.h). */
#ifndef ARMORGATE_TEST_UTIL_H
#define ARMORGATE_TEST_UTIL_H

#include <stddef.h>

#include "buf.h"
#include "buf_file.h"

enum { TEST_FILE_MAX = 16u << 20 };

/* The whole file as a heap string (caller frees); fails the test when unreadable. */
/* noinline: once inlined, GCC 12 mistakes pointers into the result for pointers to the local. */
__attribute__((noinline, unused)) static char *test_read_file(const char *path, size_t *len)
{
	char *data = NULL;
	ag_err e;

	cr_assert_eq(buf_read_file_dup(path, TEST_FILE_MAX, &data, len, &e), 0, "%s", e.msg);
	return data;
}

#endif
