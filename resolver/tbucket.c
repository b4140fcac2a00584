/* tbucket.c - token bucket (see tbucket.h). */
#include "tbucket.h"

int tbucket_take(struct tbucket *b, uint32_t rate, uint32_t burst, uint64_t now_ms)
{
	uint64_t cap = (uint64_t)burst * 1000;

	if (!b->last_ms) {
		b->milli = cap;
	} else if (now_ms > b->last_ms) {
		uint64_t add = (now_ms - b->last_ms) * rate;   /* ms x tokens/s = milli-tokens */

		b->milli = add >= cap || b->milli + add >= cap ? cap : b->milli + add;
	}
	b->last_ms = now_ms;
	if (b->milli < 1000)
		return 0;
	b->milli -= 1000;
	return 1;
}
