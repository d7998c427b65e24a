#ifndef TOKENTRA_CSYSTEMSHIMS_H
#define TOKENTRA_CSYSTEMSHIMS_H
/// syncfs(2): flush every dirty page of the filesystem holding fd (Linux); -1/ENOSYS elsewhere.
int tokentra_syncfs(int fd);
#endif
