#define _GNU_SOURCE
#include <errno.h>
#include <unistd.h>
#include "CSystemShims.h"

int tokentra_syncfs(int fd) {
#ifdef __linux__
    return syncfs(fd);
#else
    errno = ENOSYS;
    return -1;
#endif
}

