#ifndef TOKENTRA_CSYSTEMSHIMS_H
#define TOKENTRA_CSYSTEMSHIMS_H
/// syncfs(2): flush every dirty page of the filesystem holding fd (Linux); -1/ENOSYS elsewhere.
int tokentra_syncfs(int fd);
/// Sets the calling thread's nice value (Linux: per thread); returns 0 or -1 with errno.
int tokentra_set_thread_nice(int nice);
#endif
