/* Placeholder so the core library is never empty; replaced as the core grows. */
const char *agent_core_version(void);
const char *agent_core_version(void)
{
	return ARMORGATE_VERSION;
}
