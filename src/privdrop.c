/*
 * privdrop.c — lookup of the run-as user, spool hand-over, setuid.
 *
 * The order matters and is the caller's (main.c): bind, open the spool,
 * chown it, then privdrop_to(); after that the process can never get root
 * back (setuid from root sets real, effective and saved IDs). The group
 * list is reset to the user's own groups so no group of root's survives.
 */
#include "privdrop.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int privdrop_lookup(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errsize)
{
	errno = 0;
	struct passwd *pw = getpwnam(user);
	if (pw == NULL) {
		snprintf(err, errsize, "unknown user \"%s\"%s%s", user, errno ? ": " : "",
			 errno ? strerror(errno) : "");
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* Two levels are enough: spool/, spool/<sub>/ and the files there. */
static int chown_level(int dirfd, uid_t uid, gid_t gid, int depth)
{
	if (fchown(dirfd, uid, gid) < 0)
		return -1;
	if (depth == 0)
		return 0;
	int dup = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	if (dup < 0)
		return -1;
	DIR *d = fdopendir(dup);
	if (d == NULL) {
		close(dup);
		return -1;
	}
	int rc = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		int fd = openat(dirfd, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			continue;	/* gone meanwhile, or a socket/fifo: not ours */
		struct stat st;
		if (fstat(fd, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				rc |= chown_level(fd, uid, gid, depth - 1);
			else if (S_ISREG(st.st_mode))
				rc |= fchown(fd, uid, gid);
		}
		close(fd);
	}
	closedir(d);
	return rc;
}

int privdrop_chown_tree(const char *dir, uid_t uid, gid_t gid)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = chown_level(fd, uid, gid, 2);
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

int privdrop_to(const char *user, uid_t uid, gid_t gid, char *err, size_t errsize)
{
	if (initgroups(user, gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
		snprintf(err, errsize, "cannot become user \"%s\": %s", user, strerror(errno));
		return -1;
	}
	if (uid != 0 && setuid(0) == 0) {
		snprintf(err, errsize, "privileges of root could be regained after setuid");
		return -1;
	}
	return 0;
}
