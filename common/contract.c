/* contract: the profile-name rule (see contract.h). */
#include "contract.h"

#include <string.h>

/* ASCII only, whatever the locale: upper case is allowed, as label names allow it. */
static bool contract_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool contract_profile_name_valid(const char *name)
{
	const size_t plen = sizeof(CONTRACT_PROFILE_PREFIX) - 1;
	size_t len;

	if (!name)
		return false;
	len = strnlen(name, CONTRACT_PROFILE_NAME_MAX + 1);
	if (len > CONTRACT_PROFILE_NAME_MAX || len <= plen || strncmp(name, CONTRACT_PROFILE_PREFIX, plen) != 0)
		return false;
	if (!contract_name_char(name[plen]) || !contract_name_char(name[len - 1]))
		return false;
	for (size_t i = plen + 1; i + 1 < len; i++) {
		char c = name[i];

		if (!contract_name_char(c) && c != '-' && c != '.' && c != '_')
			return false;
	}
	return true;
}
