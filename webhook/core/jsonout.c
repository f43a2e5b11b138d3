/* jsonout: JSON text building (see jsonout.h). These run on every answer:
 * no printf, and escaping skips clean runs sixteen bytes at a time. */
#include "jsonout.h"

#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

int jsonout_escn(buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	/* The two-character escapes; every other byte below 0x20 is \u00XX. */
	static const char two[] = { ['"'] = '"', ['\\'] = '\\', ['\n'] = 'n', ['\r'] = 'r', ['\t'] = 't' };
	const char *run = s;
	const char *end = s + n;
	int rc = 0;

	for (; s < end; s++) {
		unsigned char c;
		char e[7];

#if defined(__SSE2__)
		/* To the next byte that needs escaping: denial messages run to
		 * hundreds of bytes with none. */
		while (end - s >= 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
			/* bytes < 0x20: min(v, 0x1f) == v, unsigned */
			__m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
			unsigned m = (unsigned)_mm_movemask_epi8(
				_mm_or_si128(ctl,
					     _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
							  _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')))));

			if (m) {
				s += __builtin_ctz(m);
				break;
			}
			s += 16;
		}
		if (s == end)
			break;
#endif
		c = (unsigned char)*s;
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		rc |= buf_append(b, run, (size_t)(s - run));
		run = s + 1;
		e[0] = '\\';
		if (c < sizeof(two) && two[c]) {
			e[1] = two[c];
			rc |= buf_append(b, e, 2);
		} else {
			e[1] = 'u';
			e[2] = '0';
			e[3] = '0';
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			rc |= buf_append(b, e, 6);
		}
	}
	rc |= buf_append(b, run, (size_t)(s - run));
	return rc ? -1 : 0;
}

int jsonout_esc(buf *b, const char *s)
{
	return jsonout_escn(b, s, strlen(s));
}

int jsonout_ptr_token(buf *b, const char *s)
{
	int rc = 0;

	while (*s) {
		size_t run = strcspn(s, "~/");

		rc |= jsonout_escn(b, s, run);
		s += run;
		if (*s) {
			rc |= buf_append(b, *s == '~' ? "~0" : "~1", 2);
			s++;
		}
	}
	return rc ? -1 : 0;
}

int jsonout_base64(buf *b, const char *in, size_t n)
{
	static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const unsigned char *p = (const unsigned char *)in;
	char out[1024];
	size_t o = 0;
	int rc = 0;
	size_t i;

	for (i = 0; i + 3 <= n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];

		out[o++] = tbl[v >> 18];
		out[o++] = tbl[(v >> 12) & 63];
		out[o++] = tbl[(v >> 6) & 63];
		out[o++] = tbl[v & 63];
		if (o == sizeof(out)) {
			rc |= buf_append(b, out, o);
			o = 0;
		}
	}
	if (i < n) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0u);

		out[o++] = tbl[v >> 18];
		out[o++] = tbl[(v >> 12) & 63];
		out[o++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	rc |= buf_append(b, out, o);
	return rc ? -1 : 0;
}

char *jsonout_decimal(char *end, size_t v)
{
	do {
		*--end = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	return end;
}

int jsonout_size(buf *b, size_t v)
{
	char d[JSONOUT_DECIMAL_MAX];
	const char *first = jsonout_decimal(d + sizeof(d), v);

	return buf_append(b, first, (size_t)(d + sizeof(d) - first));
}
