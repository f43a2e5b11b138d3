/* Unit tests: bounded buffers (common/buf.c). */
#include <criterion/criterion.h>

#include <errno.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "buf_file.h"

Test(buf, ceiling_exact_and_past)
{
	buf b;

	buf_init(&b, 8);
	cr_assert_str_eq(buf_cstr(&b), "");
	cr_assert_eq(buf_append(&b, "12345678", 8), 0); /* exactly the ceiling */
	cr_assert_eq(b.len, 8);
	errno = 0;
	cr_assert_eq(buf_append(&b, "9", 1), -1);
	cr_assert_eq(errno, E2BIG);
	cr_assert_str_eq(buf_cstr(&b), "12345678"); /* unchanged, never truncated */
	errno = 0;
	cr_assert_eq(buf_appendf(&b, "%d", 1), -1);
	cr_assert_eq(errno, E2BIG);
	buf_cleanup(&b);
}

Test(buf, overflowing_size_refused)
{
	buf b;

	buf_init(&b, 16);
	cr_assert_eq(buf_append(&b, "ab", 2), 0);
	/* A length that would wrap len + n must not pass the check. */
	cr_assert_eq(buf_append(&b, "x", (size_t)-1), -1);
	cr_assert_eq(errno, E2BIG);
	buf_cleanup(&b);
}

Test(buf, appendf_grow_consume_steal)
{
	buf b;
	char *s;

	buf_init(&b, 1 << 20);
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(buf_appendf(&b, "%04d,", i), 0);
	cr_assert_eq(b.len, 5000);
	cr_assert_eq(strncmp(b.data, "0000,0001,", 10), 0);
	buf_consume(&b, 4995);
	cr_assert_str_eq(buf_cstr(&b), "0999,");
	buf_consume(&b, 100);
	cr_assert_eq(b.len, 0);
	cr_assert_str_eq(buf_cstr(&b), "");
	cr_assert_eq(buf_appends(&b, "kept"), 0);
	s = buf_steal(&b);
	cr_assert_str_eq(s, "kept");
	cr_assert_null(b.data);
	free(s);
	s = buf_steal(&b); /* empty: still a valid string */
	cr_assert_str_eq(s, "");
	free(s);
	buf_reset(&b);
	buf_cleanup(&b);
}

static void write_tmp(char *path, size_t cap, const char *content, size_t len)
{
	int fd;

	snprintf(path, cap, "/tmp/armorgate-buf-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, content, len), (ssize_t)len);
	close(fd);
}

Test(buf, read_file_whole_and_bounded)
{
	char path[64];
	ag_err e;
	buf b;

	write_tmp(path, sizeof(path), "hello world", 11);
	buf_init(&b, 11);
	cr_assert_eq(buf_read_file(&b, path, &e), 0, "%s", e.msg);
	cr_assert_str_eq(buf_cstr(&b), "hello world");
	buf_cleanup(&b);

	/* One byte over the ceiling is an error that names the path and the limit. */
	buf_init(&b, 10);
	cr_assert_eq(buf_read_file(&b, path, &e), -1);
	cr_assert_eq(e.code, E2BIG);
	cr_assert(strstr(e.msg, path) && strstr(e.msg, "10 byte limit"), "%s", e.msg);
	buf_cleanup(&b);
	unlink(path);
}

Test(buf, read_file_sizeless_and_errors)
{
	ag_err e;
	buf b;

	/* /proc files report size 0 but have content. */
	buf_init(&b, 1u << 20);
	cr_assert_eq(buf_read_file(&b, "/proc/self/status", &e), 0, "%s", e.msg);
	cr_assert(strstr(buf_cstr(&b), "VmRSS") != NULL);
	buf_cleanup(&b);

	buf_init(&b, 100);
	cr_assert_eq(buf_read_file(&b, "/nonexistent/x", &e), -1);
	cr_assert(strstr(e.msg, "cannot read /nonexistent/x: No such file"), "%s", e.msg);
	cr_assert_eq(buf_read_file(&b, "/tmp", &e), -1);
	cr_assert(strstr(e.msg, "not a regular file"), "%s", e.msg);
	buf_cleanup(&b);
}
