/* buf_file: whole files into bounded buffers (see buf_file.h). */
#include "buf_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int buf_read_file(buf *b, const char *path, ag_err *err)
{
	struct stat st;
	int fd;
	int rc = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_set(err, errno, "cannot read %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		err_set(err, EINVAL, "cannot read %s: not a regular file", path);
		goto out;
	}
	/* One allocation for files that report their size; /proc and sysfs say 0. */
	if (st.st_size > 0 &&
	    buf_reserve(b, (size_t)st.st_size <= b->max - b->len ? (size_t)st.st_size : b->max - b->len) != 0)
		goto too_big;
	for (;;) {
		ssize_t n;

		if (b->len == b->max) {
			char probe;

			n = read(fd, &probe, 1);
			if (n < 0 && errno == EINTR)
				continue;
			if (n > 0) {
				errno = E2BIG;
				goto too_big;
			}
		} else {
			size_t room = b->cap > b->len + 1 ? b->cap - b->len - 1 : 0;

			if (room == 0) {
				if (buf_reserve(b, b->max - b->len < 4096 ? b->max - b->len : 4096) != 0)
					goto too_big;
				room = b->cap - b->len - 1;
			}
			if (room > b->max - b->len)
				room = b->max - b->len;
			n = read(fd, b->data + b->len, room);
			if (n < 0 && errno == EINTR)
				continue;
			if (n > 0) {
				b->len += (size_t)n;
				b->data[b->len] = '\0';
				continue;
			}
		}
		if (n < 0) {
			err_set(err, errno, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		break;
	}
	rc = 0;
	goto out;
too_big:
	if (errno == ENOMEM)
		err_set(err, ENOMEM, "cannot read %s: out of memory", path);
	else
		err_set(err, E2BIG, "%s is larger than the %zu byte limit", path, b->max);
out:
	close(fd);
	return rc;
}

int buf_read_file_dup(const char *path, size_t max, char **out, size_t *len, ag_err *err)
{
	buf b;

	buf_init(&b, max);
	*out = NULL;
	if (len)
		*len = 0;
	if (buf_read_file(&b, path, err) != 0) {
		if (b.data)
			explicit_bzero(b.data, b.cap);
		buf_cleanup(&b);
		return -1;
	}
	if (len)
		*len = b.len;
	*out = buf_steal(&b);
	if (!*out)
		return err_set(err, ENOMEM, "cannot read %s: out of memory", path);
	return 0;
}
