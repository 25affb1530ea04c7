/* capfile.c - a static helper for tests/cli/t0263-step-xattr.sh: the
 * fixture's busybox has no setcap, getcap or getfattr, and no host file
 * may enter a step, so the test builds this (cc -static) and ships it with
 * files:.
 *   capfile set FILE   give FILE cap_net_raw+ep (what iputils-ping's
 *                      postinst does with setcap), as vfs_cap_data rev 2
 *   capfile get FILE   print "security.capability=HEX", or "none"
 *   capfile status     print this process's CapPrm and CapEff lines
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

int main(int argc, char **argv)
{
	/* magic 0x02000001 (revision 2, effective), permitted bit 13. */
	static const unsigned char cap[20] = { 0x01, 0x00, 0x00, 0x02, 0x00, 0x20 };
	unsigned char value[64];
	char line[256];
	ssize_t n;
	FILE *f;

	if (argc == 3 && strcmp(argv[1], "set") == 0) {
		if (setxattr(argv[2], "security.capability", cap, sizeof(cap), 0) < 0) {
			fprintf(stderr, "capfile: set '%s': %s\n", argv[2], strerror(errno));
			return 1;
		}
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "get") == 0) {
		n = getxattr(argv[2], "security.capability", value, sizeof(value));
		if (n < 0 && errno == ENODATA) {
			puts("none");
			return 0;
		}
		if (n < 0) {
			fprintf(stderr, "capfile: get '%s': %s\n", argv[2], strerror(errno));
			return 1;
		}
		printf("security.capability=");
		for (ssize_t i = 0; i < n; i++)
			printf("%02x", value[i]);
		putchar('\n');
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "status") == 0 && (f = fopen("/proc/self/status", "r"))) {
		while (fgets(line, sizeof(line), f))
			if (strncmp(line, "CapPrm:", 7) == 0 || strncmp(line, "CapEff:", 7) == 0)
				fputs(line, stdout);
		fclose(f);
		return 0;
	}
	fprintf(stderr, "usage: capfile set FILE | get FILE | status\n");
	return 2;
}
