#define _GNU_SOURCE
#include <errno.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include "CSystemShims.h"

int tokentra_syncfs(int fd) {
#ifdef __linux__
    return syncfs(fd);
#else
    errno = ENOSYS;
    return -1;
#endif
}

int tokentra_set_thread_nice(int nice) {
#ifdef __linux__
    return setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), nice);
#else
    errno = ENOSYS;
    return -1;
#endif
}
