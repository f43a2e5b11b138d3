/* Fuzz target: the watch stream parser (line splitter + kube_event_parse).
 * The first input byte picks the chunk size, so chunk boundaries fall
 * anywhere in a line; a small line ceiling exercises the E2BIG path. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_line(void *ud, const char *line, size_t len)
{
	kube_event ev;
	ag_err err;
	size_t *n = ud;

	if (kube_event_parse(line, len, &ev, &err) == 0) {
		/* Touch what consumers touch. */
		if (ev.resource_version)
			*n += strlen(ev.resource_version);
		if (ev.type == KUBE_EVENT_ERROR)
			*n += (size_t)ev.error_code;
		kube_event_cleanup(&ev);
	}
	(*n)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kube_line_splitter *s;
	size_t chunk;
	size_t n = 0;
	size_t max_line;

	if (size < 1)
		return 0;
	chunk = (size_t)(data[0] & 0x3f) + 1;
	max_line = (data[0] & 0x40) ? 64 : KUBE_WATCH_LINE_MAX;
	data++;
	size--;
	s = kube_line_splitter_new(max_line);
	if (!s)
		return 0;
	for (size_t off = 0; off < size; off += chunk) {
		size_t len = size - off < chunk ? size - off : chunk;

		if (kube_line_splitter_feed(s, (const char *)data + off, len, fuzz_line, &n) != 0)
			break;
	}
	kube_line_splitter_free(s);
	return 0;
}
