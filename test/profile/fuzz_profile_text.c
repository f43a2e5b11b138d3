/* Fuzz target for the profile text rules (untrusted ConfigMap bytes):
 * must never crash, must stay linear, and a refusal always names the key. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ag_err err;
	profile_entry e;
	profile_limits lim = {.max_bytes = 0, .max_count = 0};
	size_t refused;

	err_clear(&err);
	if (profile_check_text("custom.fuzz", (const char *)data, size, 0, &err) != 0) {
		if (strncmp(err.msg, "custom.fuzz: ", 13) != 0)
			abort();
	}
	/* the first line as a key, the rest as the text */
	{
		const uint8_t *nl = memchr(data, '\n', size);
		size_t klen = nl ? (size_t)(nl - data) : size;
		char key[80];

		if (klen >= sizeof(key))
			klen = sizeof(key) - 1;
		memcpy(key, data, klen);
		key[klen] = '\0';
		(void)contract_profile_name_valid(key);
		e.key = key;
		e.text = nl ? (const char *)nl + 1 : "";
		e.len = nl ? size - klen - 1 : 0;
		if (klen != (size_t)(nl ? nl - data : (ptrdiff_t)size))
			e.len = 0; /* key was cut: keep text/len consistent */
		e.ok = false;
		e.message[0] = '\0';
		refused = profile_check_entries(&e, 1, &lim, &err);
		if ((refused == 0) != e.ok || (!e.ok && e.message[0] == '\0'))
			abort();
	}
	return 0;
}
