/* What the file-system side of one small download costs, per file, with and without the
 * promises fetchpool keeps (no clobber, a locked NAME.part, the version kept with the file).
 *
 *     gcc -O2 -o /tmp/fs_sequence benches/fs_sequence.c && /tmp/fs_sequence /dev/shm
 *
 * Each sequence creates 20,000 files of 4 KiB in a fresh directory under DIR (tmpfs, as the
 * benchmarks use) and prints the time per file:
 *   fetchpool  stat the target (absent), create NAME.part (O_EXCL), flock, fstat, pwrite,
 *              the ETag as an extended attribute, the server's time, stat the .part (still
 *              ours?), renameat2(RENAME_NOREPLACE), close
 *   no-stamp   the same without the extended attribute and the time
 *   tmpfile    O_TMPFILE, pwrite, attribute, time, linkat(AT_EMPTY_PATH) (fails on an existing
 *              target by itself; nothing is left after kill -9; but no NAME.part for another
 *              run to see and respect)
 *   curl       open(O_CREAT|O_TRUNC) the target itself, write, close: no promise kept
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

enum { FILES = 20000, SIZE = 4096 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static const char *names[] = {"fetchpool", "no-stamp", "tmpfile", "curl"};

static double run(const char *base, int mode) {
    char dir[4096], name[64], part[64], cmd[4200];
    static char buf[SIZE];
    struct stat st;
    struct timespec times[2] = {{1000000000, 0}, {1000000000, 0}};
    snprintf(dir, sizeof dir, "%s/fs_sequence.%d.%d", base, (int)getpid(), mode);
    if (mkdir(dir, 0755) != 0) { perror(dir); exit(1); }
    int d = open(dir, O_RDONLY | O_DIRECTORY);
    double started = now();
    for (int i = 0; i < FILES; i++) {
        snprintf(name, sizeof name, "f%06d.bin", i);
        snprintf(part, sizeof part, "f%06d.bin.part", i);
        if (mode == 3) {
            int fd = openat(d, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
            if (write(fd, buf, SIZE) != SIZE) { perror("write"); exit(1); }
            close(fd);
            continue;
        }
        fstatat(d, name, &st, AT_SYMLINK_NOFOLLOW);
        if (mode == 2) {
            int fd = openat(d, ".", O_RDWR | O_TMPFILE | O_CLOEXEC, 0666);
            if (pwrite(fd, buf, SIZE, 0) != SIZE) { perror("pwrite"); exit(1); }
            fsetxattr(fd, "user.fetchpool.etag", "\"5f1a-4000\"", 11, 0);
            futimens(fd, times);
            if (linkat(fd, "", d, name, AT_EMPTY_PATH) != 0) { perror("linkat"); exit(1); }
            close(fd);
            continue;
        }
        int fd = openat(d, part, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        flock(fd, LOCK_EX | LOCK_NB);
        fstat(fd, &st);
        if (pwrite(fd, buf, SIZE, 0) != SIZE) { perror("pwrite"); exit(1); }
        if (mode == 0) {
            fsetxattr(fd, "user.fetchpool.etag", "\"5f1a-4000\"", 11, 0);
            futimens(fd, times);
        }
        fstatat(d, part, &st, AT_SYMLINK_NOFOLLOW);
        if (renameat2(d, part, d, name, RENAME_NOREPLACE) != 0) { perror("renameat2"); exit(1); }
        close(fd);
    }
    double took = now() - started;
    close(d);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) { perror("rm"); }
    return took / FILES * 1e6;
}

int main(int argc, char **argv) {
    const char *base = argc > 1 ? argv[1] : "/dev/shm";
    double best[4] = {1e9, 1e9, 1e9, 1e9};
    /* Five rounds, the sequences taking turns; the best of each is printed. */
    for (int round = 0; round < 5; round++)
        for (int mode = 0; mode < 4; mode++) {
            double us = run(base, mode);
            if (us < best[mode]) best[mode] = us;
        }
    for (int mode = 0; mode < 4; mode++)
        printf("%-10s %5.2f us per file\n", names[mode], best[mode]);
    return 0;
}
