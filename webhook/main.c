/* armorgate-webhook: placeholder entry point until the daemon lands. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		printf("armorgate-webhook %s\n", ARMORGATE_VERSION);
		return 0;
	}
	fprintf(stderr, "armorgate-webhook: not implemented yet\n");
	return 1;
}
