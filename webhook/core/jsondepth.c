/* jsondepth: nesting depth of raw JSON bytes (see jsondepth.h). */
#include "jsondepth.h"

#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* State of the depth scan between chunks. */
typedef struct jsondepth_state {
	int depth;
	bool in_str;
	bool has_nul;
} jsondepth_state;

/* The byte-by-byte scan over s[i..end) (an escape may carry it to end + 1;
 * s + n bounds every read). Returns the position reached, or SIZE_MAX when
 * the nesting passed max. */
static size_t jsondepth_bytes(const char *s, size_t i, size_t end, size_t n, int max, jsondepth_state *st)
{
	for (; i < end; i++) {
		char c = s[i];

		if (st->in_str) {
			if (c == '\\') {
				if (i + 5 < n && memcmp(s + i + 1, "u0000", 5) == 0)
					st->has_nul = true;
				i++;
			} else if (c == '"') {
				st->in_str = false;
			}
			continue;
		}
		if (c == '"') {
			st->in_str = true;
		} else if (c == '{' || c == '[') {
			if (++st->depth > max)
				return SIZE_MAX;
		} else if (c == '}' || c == ']') {
			st->depth--;
		}
	}
	return i;
}

#if defined(__SSE2__)
/* Set bits of x; inline (the builtin is a libgcc call without -mpopcnt). */
static int jsondepth_popcount(uint64_t x)
{
	x = x - ((x >> 1) & 0x5555555555555555u);
	x = (x & 0x3333333333333333u) + ((x >> 2) & 0x3333333333333333u);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fu;
	return (int)((x * 0x0101010101010101u) >> 56);
}

/* Bit j set when byte j of the 16 at s equals c. */
static uint64_t jsondepth_eq16(__m128i v, char c)
{
	return (uint64_t)(unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(c)));
}
#endif

/* 64-byte blocks without a backslash are done with bit masks, giving
 * exactly the byte scan's result: a block's quotes toggle the in-string
 * state (the prefix XOR of the quote mask marks the bytes inside strings),
 * brackets outside strings count, and the running depth inside the block can
 * only exceed max if the depth before it plus the block's opening brackets
 * does, in which case the block is rescanned byte by byte. A block with a
 * backslash goes byte by byte. */
bool jsondepth_ok(const char *s, size_t n, int max, bool *has_nul)
{
	jsondepth_state st = { 0, false, false };
	size_t i = 0;

#if defined(__SSE2__)
	const __m128i low = _mm_set1_epi8(0x20);

	while (i < n && n - i >= 64) {
		uint64_t q = 0, bs = 0, op = 0, cl = 0, inside;

		for (unsigned k = 0; k < 4; k++) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i + 16 * k));
			/* '{' | 0x20 == '{' == '[' | 0x20; likewise '}' and ']'; no other byte. */
			__m128i l = _mm_or_si128(v, low);

			q |= jsondepth_eq16(v, '"') << (16 * k);
			bs |= jsondepth_eq16(v, '\\') << (16 * k);
			op |= jsondepth_eq16(l, '{') << (16 * k);
			cl |= jsondepth_eq16(l, '}') << (16 * k);
		}
		if (bs) {
			i = jsondepth_bytes(s, i, i + 64, n, max, &st);
			if (i == SIZE_MAX)
				return false;
			continue;
		}
		inside = q;
		inside ^= inside << 1;
		inside ^= inside << 2;
		inside ^= inside << 4;
		inside ^= inside << 8;
		inside ^= inside << 16;
		inside ^= inside << 32;
		if (st.in_str)
			inside = ~inside;
		op &= ~inside;
		cl &= ~inside;
		if (st.depth + jsondepth_popcount(op) > max) {
			i = jsondepth_bytes(s, i, i + 64, n, max, &st);
			if (i == SIZE_MAX)
				return false;
			continue;
		}
		st.depth += jsondepth_popcount(op) - jsondepth_popcount(cl);
		/* the state after the block's last byte */
		st.in_str = (inside >> 63) != 0;
		i += 64;
	}
#endif
	if (jsondepth_bytes(s, i, n, n, max, &st) == SIZE_MAX)
		return false;
	*has_nul = st.has_nul;
	return true;
}
