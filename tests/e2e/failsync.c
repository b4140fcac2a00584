/* failsync.c - an LD_PRELOAD shim for tests/e2e/syncfail.sh: fsync() and
 * fdatasync() fail with EIO while the file named by $FAILSYNC_FLAG exists,
 * as they do when a disk reports a write error. No file system on a test
 * machine fails a sync on demand; this is the smallest stand-in. */
#ifndef _GNU_SOURCE           /* config.h's AC_USE_SYSTEM_EXTENSIONS may set it */
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static int failing(void)
{
	const char *flag = getenv("FAILSYNC_FLAG");

	return flag && access(flag, F_OK) == 0;
}

int fdatasync(int fd)
{
	static int (*real)(int);

	if (failing()) {
		errno = EIO;
		return -1;
	}
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "fdatasync");
	return real ? real(fd) : (errno = ENOSYS, -1);
}

int fsync(int fd)
{
	static int (*real)(int);

	if (failing()) {
		errno = EIO;
		return -1;
	}
	if (!real)
		*(void **)&real = dlsym(RTLD_NEXT, "fsync");
	return real ? real(fd) : (errno = ENOSYS, -1);
}
