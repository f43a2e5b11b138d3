/* Fuzz target: the AppArmor audit record parser (denial_record) and the
 * source's payload cutters (netlink "audit(...): ", /dev/kmsg records): all
 * three see kernel text that embeds bytes a confined process chose. Built as
 * a corpus replay program for ctest and, with ARMORGATE_FUZZ, as a
 * libFuzzer binary. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "denial_record.h"
#include "denial_source.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(const denial_record *r)
{
	/* Every string field is terminated inside its buffer and the profile
	 * is one of ours: an invariant, so a crash here is a finding. */
	if (strnlen(r->profile, sizeof(r->profile)) == sizeof(r->profile) || !contract_profile_name_valid(r->profile) ||
	    strnlen(r->name, sizeof(r->name)) == sizeof(r->name) ||
	    strnlen(r->operation, sizeof(r->operation)) == sizeof(r->operation) ||
	    strnlen(r->comm, sizeof(r->comm)) == sizeof(r->comm) ||
	    strnlen(r->requested, sizeof(r->requested)) == sizeof(r->requested) ||
	    strnlen(r->denied, sizeof(r->denied)) == sizeof(r->denied) ||
	    strnlen(r->capname, sizeof(r->capname)) == sizeof(r->capname) ||
	    strnlen(r->family, sizeof(r->family)) == sizeof(r->family) ||
	    strnlen(r->sock_type, sizeof(r->sock_type)) == sizeof(r->sock_type))
		abort();
}

static void fuzz_record(void *ctx, const char *text, size_t len)
{
	denial_record r;
	(void)ctx;
	if (denial_record_parse(text, len, &r) == DENIAL_PARSE_OK)
		fuzz_check(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* An exact-size heap copy: ASan sees any read past len. */
	char *s = malloc(size ? size : 1);
	const char *t;
	size_t n;
	denial_record r;

	if (!s)
		return 0;
	if (size)
		memcpy(s, data, size);
	if (denial_record_parse(s, size, &r) == DENIAL_PARSE_OK)
		fuzz_check(&r);
	if (denial_source_avc_text(s, size, &t, &n) && denial_record_parse(t, n, &r) == DENIAL_PARSE_OK)
		fuzz_check(&r);
	if (denial_source_kmsg_text(s, size, &t, &n) && denial_record_parse(t, n, &r) == DENIAL_PARSE_OK)
		fuzz_check(&r);
	/* The same bytes as a netlink datagram from the kernel. */
	static denial_source src;
	static _Alignas(8) char dgram[DENIAL_SOURCE_BUF];
	size_t dn = size < sizeof(dgram) ? size : sizeof(dgram);
	memcpy(dgram, s, dn);
	(void)denial_source_netlink_datagram(&src, dgram, dn, 0, fuzz_record, NULL);
	free(s);
	return 0;
}
