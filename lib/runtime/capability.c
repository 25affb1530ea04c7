#include "capability.h"

#include <linux/capability.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util.h"

/* In kernel order: the index is the capability's number
 * (include/uapi/linux/capability.h). */
static const char *const names[] = {
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
	"CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
	"CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
	"CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
	"CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
	"CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};

int kiln_capability_from_name(const char *name)
{
	for (size_t i = 0; i < KILN_ARRAY_SIZE(names); i++)
		if (strcasecmp(name, names[i]) == 0)
			return (int)i;
	return -1;
}

const char *kiln_capability_name(int number)
{
	return number >= 0 && (size_t)number < KILN_ARRAY_SIZE(names) ? names[number] : NULL;
}

uint64_t kiln_capability_held(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	uint64_t known = (1ULL << KILN_ARRAY_SIZE(names)) - 1;

	if (syscall(SYS_capget, &h, d) < 0)
		return 0;
	return (((uint64_t)d[1].permitted << 32) | d[0].permitted) & known;
}
