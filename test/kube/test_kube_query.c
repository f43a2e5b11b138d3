/* Unit tests: query escaping and path building. */
#include <criterion/criterion.h>

#include <errno.h>
#include <string.h>

#include "kube_internal.h"

Test(query, escape)
{
	char out[64];

	cr_assert_eq(kube_query_escape("app=web,tier in (a,b)", out, sizeof(out)), 35);
	cr_assert_str_eq(out, "app%3Dweb%2Ctier%20in%20%28a%2Cb%29");
	cr_assert_eq(kube_query_escape("AZaz09-._~", out, sizeof(out)), 10);
	cr_assert_str_eq(out, "AZaz09-._~");
	cr_assert_eq(kube_query_escape("a/b?c&d#e+f%\xc3\xa9", out, sizeof(out)), 30);
	cr_assert_str_eq(out, "a%2Fb%3Fc%26d%23e%2Bf%25%C3%A9");
	cr_assert_eq(kube_query_escape("", out, sizeof(out)), 0);
	cr_assert_str_eq(out, "");
}

Test(query, escape_bounds)
{
	char out[4];

	cr_assert_eq(kube_query_escape("abc", out, sizeof(out)), 3); /* exact fit */
	errno = 0;
	cr_assert_eq(kube_query_escape("abcd", out, sizeof(out)), -1);
	cr_assert_eq(errno, E2BIG);
	cr_assert_str_eq(out, "");
	cr_assert_eq(kube_query_escape("=", out, 3), -1); /* "%3D" needs 4 */
	cr_assert_eq(kube_query_escape("=", out, 4), 3);
	cr_assert_eq(kube_query_escape(NULL, out, 4), -1);
	cr_assert_eq(kube_query_escape("a", out, 0), -1);
}

Test(query, path_building)
{
	buf p;

	buf_init(&p, 256);
	cr_assert_eq(buf_appends(&p, "/api/v1/nodes"), 0);
	cr_assert_eq(kube_path_add_query(&p, "labelSelector", "a=b"), 0);
	cr_assert_eq(kube_path_add_query(&p, "continue", "eyJ2Ijo+/=="), 0);
	cr_assert_str_eq(buf_cstr(&p), "/api/v1/nodes?labelSelector=a%3Db&continue=eyJ2Ijo%2B%2F%3D%3D");
	buf_cleanup(&p);

	buf_init(&p, 20);
	cr_assert_eq(buf_appends(&p, "/api/v1/nodes"), 0);
	cr_assert_eq(kube_path_add_query(&p, "labelSelector", "much-too-long"), -1);
	buf_cleanup(&p);
}
