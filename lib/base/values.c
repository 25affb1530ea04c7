/* values.c - one grammar for each value the manifest, the command line and
 * the runtime share (values.h, docs/containers.md "Values"). */
#include "values.h"

#include <arpa/inet.h>
#include <signal.h>
#include <string.h>

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_alnum(char ch)
{
	return is_digit(ch) || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

/* DIGITS (1 to max_digits of them) at s, their count in *n, value in *v. */
static bool digits(const char *s, size_t len, size_t max_digits, size_t *n, uint64_t *v)
{
	*n = 0;
	*v = 0;
	while (*n < len && is_digit(s[*n])) {
		if (*n == max_digits)
			return false;
		*v = *v * 10 + (uint64_t)(s[*n] - '0');
		(*n)++;
	}
	return *n > 0;
}

const char *kiln_values_size(const char *s, size_t len, int64_t *bytes)
{
	static const char why[] = "must be a size: a number greater than 0 with an optional k, m, g or t (units of 1024) and an optional b (e.g. 128M, 1g, 100MB)";
	uint64_t v;
	size_t n;
	int shift = 0;

	/* 19 digits always fit in 64 bits. */
	if (!digits(s, len, 19, &n, &v) || v == 0)
		return why;
	if (n < len) {
		switch (s[n]) {
		case 'k': case 'K': shift = 10; n++; break;
		case 'm': case 'M': shift = 20; n++; break;
		case 'g': case 'G': shift = 30; n++; break;
		case 't': case 'T': shift = 40; n++; break;
		}
	}
	if (n < len && (s[n] == 'b' || s[n] == 'B'))
		n++;
	if (n != len)
		return why;
	if (v > ((uint64_t)INT64_MAX >> shift))
		return "is too large";
	if (bytes)
		*bytes = (int64_t)(v << shift);
	return NULL;
}

const char *kiln_values_duration(const char *s, size_t len, int64_t *ms)
{
	static const char why[] = "must be a duration: numbers with units h, m, s or ms, largest first, each once (e.g. 500ms, 30s, 1m30s)";
	static const struct { const char *unit; uint64_t ms; } units[] = {
		{ "h", 3600000 }, { "ms", 1 }, { "m", 60000 }, { "s", 1000 },
	};
	/* Order of the units, largest first: h m s ms. */
	static const int rank[] = { 0, 3, 1, 2 };
	uint64_t total = 0;
	int last = -1;
	size_t i = 0;

	if (len == 0)
		return why;
	while (i < len) {
		uint64_t v;
		size_t n, u;

		if (!digits(s + i, len - i, 9, &n, &v))
			return why;
		i += n;
		for (u = 0; u < 4; u++) {
			size_t ulen = strlen(units[u].unit);
			if (len - i >= ulen && memcmp(s + i, units[u].unit, ulen) == 0 &&
			    !(ulen == 1 && units[u].unit[0] == 'm' && len - i >= 2 && s[i + 1] == 's'))
				break;
		}
		if (u == 4 || rank[u] <= last)
			return why;
		last = rank[u];
		i += strlen(units[u].unit);
		total += v * units[u].ms;  /* 9 digits × 3,600,000 fits */
	}
	if (total > INT32_MAX)
		return "is too long (at most 596h)";
	if (ms)
		*ms = (int64_t)total;
	return NULL;
}

const char *kiln_values_name(const char *s, size_t len)
{
	if (len == 0 || len > KILN_VALUES_NAME_MAX || !is_alnum(s[0]))
		goto bad;
	for (size_t i = 1; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.' && s[i] != '-')
			goto bad;
	return NULL;
bad:
	return "must be 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit";
}

static bool equals(const char *s, size_t len, const char *word)
{
	return strlen(word) == len && memcmp(s, word, len) == 0;
}

const char *kiln_values_network(const char *s, size_t len)
{
	if (equals(s, len, "bridge") || equals(s, len, "host") || equals(s, len, "none"))
		return NULL;
	if (len > 10 && memcmp(s, "container:", 10) == 0 && !kiln_values_name(s + 10, len - 10))
		return NULL;
	return "must be bridge, host, none or container:NAME";
}

static bool port(const char *s, size_t len, unsigned *out)
{
	uint64_t v;
	size_t n;

	if (!digits(s, len, 5, &n, &v) || n != len || v == 0 || v > 65535)
		return false;
	*out = (unsigned)v;
	return true;
}

const char *kiln_values_publish(const char *s, size_t len, char host_address[16],
				unsigned *host_port, unsigned *container_port, bool *udp)
{
	static const char why[] = "must be [IPV4:]HOST_PORT:CONTAINER_PORT[/tcp|/udp] with ports from 1 to 65535";
	const char *colon[3];
	size_t n_colons = 0, end = len, start = 0;
	char addr[16] = "";
	unsigned h, c;
	bool is_udp = false;

	if (len > 4 && memcmp(s + len - 4, "/tcp", 4) == 0) {
		end = len - 4;
	} else if (len > 4 && memcmp(s + len - 4, "/udp", 4) == 0) {
		end = len - 4;
		is_udp = true;
	}
	for (size_t i = 0; i < end; i++) {
		if (s[i] == '[')
			return "must not name an IPv6 address: kiln publishes ports on IPv4 only";
		if (s[i] != ':')
			continue;
		if (n_colons == 2)
			return why;
		colon[n_colons++] = s + i;
	}
	if (n_colons == 0)
		return why;
	if (n_colons == 2) {
		struct in_addr a4;
		size_t alen = (size_t)(colon[0] - s);

		if (alen == 0 || alen >= sizeof(addr))
			return "has an invalid IPv4 address";
		memcpy(addr, s, alen);
		addr[alen] = '\0';
		if (inet_pton(AF_INET, addr, &a4) != 1)
			return "has an invalid IPv4 address";
		start = alen + 1;
	}
	if (!port(s + start, (size_t)(colon[n_colons - 1] - s) - start, &h) ||
	    !port(colon[n_colons - 1] + 1, end - (size_t)(colon[n_colons - 1] + 1 - s), &c))
		return why;
	if (host_address)
		memcpy(host_address, addr, sizeof(addr));
	if (host_port)
		*host_port = h;
	if (container_port)
		*container_port = c;
	if (udp)
		*udp = is_udp;
	return NULL;
}

const char *kiln_values_signal(const char *s, size_t len, int *signo)
{
	static const struct { const char *name; int no; } names[] = {
		{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "ILL", SIGILL },
		{ "TRAP", SIGTRAP }, { "ABRT", SIGABRT }, { "IOT", SIGIOT }, { "BUS", SIGBUS },
		{ "FPE", SIGFPE }, { "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "SEGV", SIGSEGV },
		{ "USR2", SIGUSR2 }, { "PIPE", SIGPIPE }, { "ALRM", SIGALRM }, { "TERM", SIGTERM },
		{ "STKFLT", SIGSTKFLT }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT }, { "STOP", SIGSTOP },
		{ "TSTP", SIGTSTP }, { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU }, { "URG", SIGURG },
		{ "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ }, { "VTALRM", SIGVTALRM }, { "PROF", SIGPROF },
		{ "WINCH", SIGWINCH }, { "IO", SIGIO }, { "POLL", SIGPOLL }, { "PWR", SIGPWR },
		{ "SYS", SIGSYS },
	};
	static const char why[] = "must be a signal name such as SIGTERM or TERM (or SIGRTMIN+N, SIGRTMAX-N) or a number from 1 to 64";
	uint64_t v;
	size_t n;
	int no = 0;

	if (len > 0 && is_digit(s[0])) {
		if (!digits(s, len, 2, &n, &v) || n != len || v == 0 || v > 64)
			return why;
		no = (int)v;
		goto ok;
	}
	if (len > 3 && memcmp(s, "SIG", 3) == 0) {
		s += 3;
		len -= 3;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (equals(s, len, names[i].name)) {
			no = names[i].no;
			goto ok;
		}
	if (equals(s, len, "RTMIN") || equals(s, len, "RTMAX")) {
		no = s[3] == 'I' ? SIGRTMIN : SIGRTMAX;
		goto ok;
	}
	/* Real-time signals: RTMIN+1 … RTMIN+30, RTMAX-1 … RTMAX-30. */
	if (len > 6 && (memcmp(s, "RTMIN+", 6) == 0 || memcmp(s, "RTMAX-", 6) == 0) &&
	    digits(s + 6, len - 6, 2, &n, &v) && n == len - 6 && v >= 1 && v <= 30 && s[6] != '0') {
		no = s[3] == 'I' ? SIGRTMIN + (int)v : SIGRTMAX - (int)v;
		goto ok;
	}
	return why;
ok:
	if (signo)
		*signo = no;
	return NULL;
}
