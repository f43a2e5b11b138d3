/* denial_source: AppArmor audit records from the audit netlink multicast
 * group or /dev/kmsg (I/O shell; the trust boundary is in the header). */
#include "denial_source.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/audit.h>
#include <linux/netlink.h>

/* "audit(" ... "): " as the kernel's audit_log_start writes it. */
bool denial_source_avc_text(const char *payload, size_t n, const char **text, size_t *tlen)
{
	static const char open_tag[] = "audit(";
	const char *end;
	size_t skip;

	if (n < sizeof(open_tag) - 1 || memcmp(payload, open_tag, sizeof(open_tag) - 1) != 0)
		return false;
	/* The time stamp is short: look for "): " within a bounded prefix. */
	end = memmem(payload, n < 64 ? n : 64, "): ", 3);
	if (!end)
		return false;
	skip = (size_t)(end - payload) + 3;
	*text = payload + skip;
	*tlen = n - skip;
	return true;
}

bool denial_source_kmsg_text(const char *rec, size_t n, const char **text, size_t *tlen)
{
	static const char avc[] = "audit: type=1400 ";
	const char *semi = memchr(rec, ';', n), *nl;
	unsigned long pri = 0;
	size_t i = 0, off, ml;

	if (!semi)
		return false;
	/* PRI = facility << 3 | level; facility 0 is the kernel's alone. */
	for (; i < n && rec[i] >= '0' && rec[i] <= '9' && pri < 1024; i++)
		pri = pri * 10 + (unsigned long)(rec[i] - '0');
	if (i == 0 || i >= n || rec[i] != ',' || (pri >> 3) != 0)
		return false;
	off = (size_t)(semi - rec) + 1;
	/* The message ends at the first newline; dictionary lines follow. */
	nl = memchr(rec + off, '\n', n - off);
	ml = nl ? (size_t)(nl - rec) - off : n - off;
	/* At the start, not anywhere: other kernel messages may embed a
	 * process's comm, but no comm is long enough to forge this prefix. */
	if (ml < sizeof(avc) - 1 || memcmp(rec + off, avc, sizeof(avc) - 1) != 0)
		return false;
	return denial_source_avc_text(rec + off + sizeof(avc) - 1, ml - (sizeof(avc) - 1), text, tlen);
}

const char *denial_source_kind_name(denial_source_kind kind)
{
	switch (kind) {
	case DENIAL_SOURCE_AUTO: return "auto";
	case DENIAL_SOURCE_NETLINK: return "netlink";
	case DENIAL_SOURCE_KMSG: return "kmsg";
	case DENIAL_SOURCE_NONE: return "none";
	}
	return "none";
}

/* Is this process in the network namespace of PID 1 (the host's, with
 * hostPID)? Unknown (unreadable) counts as yes: the open then succeeds and
 * the worst case is a quiet source, which the caller's counters show. */
static bool denial_source_host_netns(void)
{
	char self[64], init[64];
	ssize_t a = readlink("/proc/self/ns/net", self, sizeof(self) - 1);
	ssize_t b = readlink("/proc/1/ns/net", init, sizeof(init) - 1);

	if (a <= 0 || b <= 0)
		return true;
	return a == b && memcmp(self, init, (size_t)a) == 0;
}

static int denial_source_open_netlink(denial_source *s, ag_err *err)
{
	struct sockaddr_nl sa;
	int fd = -1;

	if (!denial_source_host_netns())
		return err_set(err, ENETUNREACH,
			       "audit netlink: not in the host network namespace, where alone the kernel multicasts "
			       "audit records (run the agent with hostNetwork)");
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_AUDIT);
	if (fd < 0) {
		err_set(err, errno, "audit netlink socket: %s", strerror(errno));
		goto fail;
	}
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	sa.nl_groups = 1u << (AUDIT_NLGRP_READLOG - 1);
	if (bind(fd, (const struct sockaddr *)&sa, sizeof(sa)) != 0) {
		err_set(err, errno, "audit netlink: joining the read-only log group: %s%s", strerror(errno),
			errno == EPERM ? " (needs CAP_AUDIT_READ)" : "");
		goto fail;
	}
	s->fd = fd;
	s->kind = DENIAL_SOURCE_NETLINK;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

static int denial_source_open_kmsg(denial_source *s, ag_err *err)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return err_set(err, errno, "/dev/kmsg: %s%s", strerror(errno),
			       errno == EPERM ? " (needs CAP_SYSLOG with kernel.dmesg_restrict=1)" : "");
	/* Only what happens from now on (see the header). */
	if (lseek(fd, 0, SEEK_END) < 0) {
		err_set(err, errno, "/dev/kmsg: seeking to the end: %s", strerror(errno));
		close(fd);
		return -1;
	}
	s->fd = fd;
	s->kind = DENIAL_SOURCE_KMSG;
	return 0;
}

int denial_source_open(denial_source *s, denial_source_kind prefer, ag_err *err)
{
	ag_err nl_err;

	s->fd = -1;
	s->kind = DENIAL_SOURCE_NONE;
	s->records = s->ignored = s->overruns = 0;
	switch (prefer) {
	case DENIAL_SOURCE_NONE: return 0;
	case DENIAL_SOURCE_NETLINK: return denial_source_open_netlink(s, err);
	case DENIAL_SOURCE_KMSG: return denial_source_open_kmsg(s, err);
	case DENIAL_SOURCE_AUTO: break;
	}
	err_clear(&nl_err);
	if (denial_source_open_netlink(s, &nl_err) == 0)
		return 0;
	if (denial_source_open_kmsg(s, err) == 0)
		return 0;
	return err_wrap(err, "%s; and", nl_err.msg);
}

int denial_source_fd(const denial_source *s)
{
	return s->fd;
}

int denial_source_netlink_datagram(denial_source *s, const void *dgram, size_t len, unsigned from_pid,
				   denial_source_cb cb, void *ctx)
{
	const struct nlmsghdr *h = dgram;
	/* int, as NLMSG_OK/NLMSG_NEXT expect: NLMSG_NEXT subtracts the
	 * aligned length, which may exceed what is left by up to 3 bytes. */
	int left = len > DENIAL_SOURCE_BUF ? DENIAL_SOURCE_BUF : (int)len;
	int delivered = 0;

	if (from_pid != 0 || !NLMSG_OK(h, left)) {
		s->ignored++; /* not the kernel's, or cut short */
		return 0;
	}
	for (; NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
		const char *text, *p = NLMSG_DATA(h);
		size_t n = h->nlmsg_len - NLMSG_HDRLEN, tlen;
		const char *nul;

		if (h->nlmsg_type != AUDIT_AVC) {
			s->ignored++;
			continue;
		}
		/* Text, not a C string: stop at a NUL if the kernel padded. */
		nul = memchr(p, '\0', n);
		if (nul)
			n = (size_t)(nul - p);
		if (!denial_source_avc_text(p, n, &text, &tlen)) {
			s->ignored++;
			continue;
		}
		s->records++;
		delivered++;
		cb(ctx, text, tlen);
	}
	return delivered;
}

/* One read unit: 1 = something read (delivered adds the cb calls), 0 =
 * nothing waiting, -1 = failed for good. */
static int denial_source_read_one(denial_source *s, denial_source_cb cb, void *ctx, int *delivered)
{
	const char *text;
	size_t tlen;
	ssize_t got;

	if (s->kind == DENIAL_SOURCE_NETLINK) {
		struct sockaddr_nl from;
		socklen_t fl = sizeof(from);

		memset(&from, 0, sizeof(from));
		got = recvfrom(s->fd, s->buf, sizeof(s->buf), MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
		if (got >= 0) {
			unsigned pid = from.nl_family == AF_NETLINK ? from.nl_pid : 1;
			*delivered += denial_source_netlink_datagram(s, s->buf, (size_t)got, pid, cb, ctx);
			return 1;
		}
	} else {
		got = read(s->fd, s->buf, sizeof(s->buf));
		if (got >= 0) {
			if (denial_source_kmsg_text(s->buf, (size_t)got, &text, &tlen)) {
				s->records++;
				(*delivered)++;
				cb(ctx, text, tlen);
			} else {
				s->ignored++;
			}
			return 1;
		}
	}
	if (errno == EAGAIN) /* == EWOULDBLOCK on Linux */
		return 0;
	/* The kernel dropped records we were too slow for: count, go on (the
	 * next read returns the oldest record still there). */
	if (errno == ENOBUFS || errno == EPIPE) {
		s->overruns++;
		return 1;
	}
	if (errno == EINTR)
		return 1;
	return -1;
}

int denial_source_read(denial_source *s, denial_source_cb cb, void *ctx, size_t max_records)
{
	int delivered = 0;

	if (s->fd < 0 || s->kind == DENIAL_SOURCE_NONE)
		return 0;
	for (size_t i = 0; i < max_records; i++) {
		int r = denial_source_read_one(s, cb, ctx, &delivered);
		if (r < 0)
			return -1;
		if (r == 0)
			break;
	}
	return delivered;
}

void denial_source_close(denial_source *s)
{
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->kind = DENIAL_SOURCE_NONE;
}
