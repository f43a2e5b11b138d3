/* mono: the monotonic clock, the one time base for timeouts, backoffs and
 * durations (never the wall clock, which jumps). Pure but for the clock read. */
#ifndef ARMORGATE_MONO_H
#define ARMORGATE_MONO_H

#include <stdint.h>

/* Nanoseconds / milliseconds / seconds since an arbitrary fixed point. */
int64_t mono_ns(void);
int64_t mono_ms(void);
double mono_sec(void);

#endif
