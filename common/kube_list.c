/* kube_list: LIST with pagination (limit + continue). Each page is one bounded
 * response (KUBE_RESPONSE_MAX); items are handed out one by one, borrowed. */
#include "kube_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Page loop guard: a server that keeps returning continue tokens forever. */
enum { KUBE_LIST_MAX_PAGES = 100000 };

static int kube_list_path(buf *p, const char *collection, const kube_list_opts *o, const char *cont)
{
	char num[32];

	if (buf_appends(p, collection) < 0)
		return -1;
	if (o && o->label_selector && o->label_selector[0] &&
	    kube_path_add_query(p, "labelSelector", o->label_selector) < 0)
		return -1;
	if (o && o->field_selector && o->field_selector[0] &&
	    kube_path_add_query(p, "fieldSelector", o->field_selector) < 0)
		return -1;
	if (o && o->limit > 0) {
		snprintf(num, sizeof(num), "%ld", o->limit);
		if (kube_path_add_query(p, "limit", num) < 0)
			return -1;
	}
	if (cont && cont[0] && kube_path_add_query(p, "continue", cont) < 0)
		return -1;
	return 0;
}

int kube_list(kube_client *c, const char *collection_path, const kube_list_opts *opts, kube_item_fn fn, void *ud,
	      char **resource_version_out, ag_err *err)
{
	kube_req r = { .method = "GET" };
	char *cont = NULL;
	char *rv = NULL;
	cJSON *page = NULL;
	buf path;
	buf resp;
	int rc = -1;

	if (resource_version_out)
		*resource_version_out = NULL;
	buf_init(&path, KUBE_PATH_MAX);
	buf_init(&resp, KUBE_RESPONSE_MAX);
	if (!collection_path || collection_path[0] != '/' || strchr(collection_path, '?')) {
		err_set(err, EINVAL, "list: collection path must start with '/' and have no query (use opts)");
		goto out;
	}
	r.accept = opts && opts->metadata_only ? KUBE_ACCEPT_META_LIST : NULL;
	r.resp = &resp;
	for (long pages = 0;; pages++) {
		const cJSON *items;
		const cJSON *meta;
		const cJSON *v;
		const cJSON *it;

		if (pages >= KUBE_LIST_MAX_PAGES) {
			err_set(err, E2BIG, "list %s: more than %d pages", collection_path, KUBE_LIST_MAX_PAGES);
			goto out;
		}
		buf_reset(&path);
		buf_reset(&resp);
		if (kube_list_path(&path, collection_path, opts, cont) < 0) {
			err_set(err, E2BIG, "list %s: selector or continue token too long", collection_path);
			goto out;
		}
		r.path = buf_cstr(&path);
		if (kube_http_perform(c, &r, NULL, err) < 0) {
			err_wrap(err, "list %s", collection_path);
			goto out;
		}
		cJSON_Delete(page);
		page = cJSON_ParseWithLength(buf_cstr(&resp), resp.len);
		if (!page) {
			err_set(err, EBADMSG, "list %s: response is not JSON", collection_path);
			goto out;
		}
		items = cJSON_GetObjectItemCaseSensitive(page, "items");
		if (!cJSON_IsArray(items) && !cJSON_IsNull(items)) {
			err_set(err, EBADMSG, "list %s: response has no items array", collection_path);
			goto out;
		}
		meta = cJSON_GetObjectItemCaseSensitive(page, "metadata");
		v = cJSON_GetObjectItemCaseSensitive(meta, "resourceVersion");
		if (cJSON_IsString(v) && v->valuestring) {
			free(rv);
			rv = strdup(v->valuestring);
			if (!rv) {
				err_set(err, ENOMEM, "out of memory");
				goto out;
			}
		}
		if (cJSON_IsArray(items)) {
			cJSON_ArrayForEach (it, items) {
				int frc = fn ? fn(ud, it) : 0;

				if (frc != 0) {
					rc = frc;
					goto out;
				}
			}
		}
		v = cJSON_GetObjectItemCaseSensitive(meta, "continue");
		free(cont);
		cont = NULL;
		if (!cJSON_IsString(v) || !v->valuestring || !v->valuestring[0])
			break;
		cont = strdup(v->valuestring);
		if (!cont) {
			err_set(err, ENOMEM, "out of memory");
			goto out;
		}
	}
	if (resource_version_out) {
		*resource_version_out = rv;
		rv = NULL;
	}
	rc = 0;
out:
	cJSON_Delete(page);
	free(cont);
	free(rv);
	buf_cleanup(&path);
	buf_cleanup(&resp);
	return rc;
}
