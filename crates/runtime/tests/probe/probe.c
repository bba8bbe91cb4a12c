/*
 * Containment probe: runs inside a container and prints what the container sees
 * and which operations it may do, one `key=value` line each, for the differential
 * test of the runtimes (crates/runtime/tests/containment.rs). Built statically by
 * the test with the host's gcc; it needs nothing from the container's rootfs.
 *
 *   probe report     the view: mounts, capabilities, namespaces, cgroups, devices,
 *                    rlimits, environment, fds, and the syscall matrix
 *   probe breakout   the known breakout attempts (writes to cgroup files,
 *                    release_agent, ...), each printed with its result
 *
 * A result is `ok` or the errno name (`EPERM`, ...).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *result(long rc) {
    static char buf[32];
    if (rc >= 0) return "ok";
    const char *name = strerrorname_np(errno);
    if (name) return name;
    snprintf(buf, sizeof buf, "E%d", errno);
    return buf;
}

static void put(const char *key, long rc) { printf("%s=%s\n", key, result(rc)); }

static void print_file(const char *prefix, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("%s=<%s>\n", prefix, result(-1));
        return;
    }
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        printf("%s=%s\n", prefix, line);
    }
    fclose(f);
}

/* /proc/self/mountinfo as `mount.<mount point>=<per-mount opts> <fstype> <propagation>`,
 * with the options that matter for containment only. */
static void mounts(void) {
    FILE *f = fopen("/proc/self/mountinfo", "r");
    if (!f) return;
    char line[8192];
    while (fgets(line, sizeof line, f)) {
        char *fields[64];
        int n = 0;
        line[strcspn(line, "\n")] = 0;
        for (char *tok = strtok(line, " "); tok && n < 64; tok = strtok(NULL, " ")) fields[n++] = tok;
        if (n < 10) continue;
        int dash = 6;
        while (dash < n && strcmp(fields[dash], "-") != 0) dash++;
        if (dash + 1 >= n) continue;
        const char *prop = "private";
        for (int i = 6; i < dash; i++) {
            if (!strncmp(fields[i], "shared:", 7)) prop = "shared";
            else if (!strncmp(fields[i], "master:", 7) && strcmp(prop, "shared")) prop = "slave";
            else if (!strcmp(fields[i], "unbindable")) prop = "unbindable";
        }
        char opts[256] = "";
        for (char *o = strtok(fields[5], ","); o; o = strtok(NULL, ",")) {
            if (!strcmp(o, "ro") || !strcmp(o, "rw") || !strcmp(o, "nosuid") || !strcmp(o, "nodev") ||
                !strcmp(o, "noexec")) {
                if (opts[0]) strcat(opts, ",");
                strcat(opts, o);
            }
        }
        printf("mount.%s=%s %s %s\n", fields[4], opts, fields[dash + 1], prop);
    }
    fclose(f);
}

static void status(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return;
    char line[512];
    const char *keys[] = {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp",
                          "Seccomp_filters", "Uid", "Gid", "Groups", NULL};
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        *colon = 0;
        for (int i = 0; keys[i]; i++) {
            if (!strcmp(line, keys[i])) {
                char *v = colon + 1;
                while (*v == ' ' || *v == '\t') v++;
                for (char *c = v; *c; c++)
                    if (*c == '\t') *c = ' ';
                printf("status.%s=%s\n", line, v);
            }
        }
    }
    fclose(f);
}

static void namespaces(void) {
    const char *ns[] = {"cgroup", "ipc", "mnt", "net", "pid", "uts", "user", "time", NULL};
    for (int i = 0; ns[i]; i++) {
        char path[64], target[128];
        snprintf(path, sizeof path, "/proc/self/ns/%s", ns[i]);
        ssize_t len = readlink(path, target, sizeof target - 1);
        target[len < 0 ? 0 : len] = 0;
        printf("ns.%s=%s\n", ns[i], len < 0 ? result(-1) : target);
    }
}

/* Whether a file can be opened for writing, without writing to it. */
static void writable(const char *key, const char *path) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    put(key, fd);
    if (fd >= 0) close(fd);
}

static void cgroups(void) {
    print_file("cgroup.self", "/proc/self/cgroup");
    DIR *d = opendir("/sys/fs/cgroup");
    if (!d) {
        printf("cgroupfs=<%s>\n", result(-1));
        return;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[512], key[512];
        /* Every hierarchy: can a child cgroup be made, and its control files opened for writing? */
        snprintf(path, sizeof path, "/sys/fs/cgroup/%s/berth-probe", e->d_name);
        snprintf(key, sizeof key, "cgroup.mkdir.%s", e->d_name);
        long rc = mkdir(path, 0755);
        put(key, rc);
        if (rc == 0) rmdir(path);
        const char *files[] = {"cgroup.procs", "notify_on_release", "pids.max", "memory.limit_in_bytes",
                               "memory.max", "cpu.shares", "cgroup.subtree_control", "devices.allow", NULL};
        for (int i = 0; files[i]; i++) {
            snprintf(path, sizeof path, "/sys/fs/cgroup/%s/%s", e->d_name, files[i]);
            if (access(path, F_OK) != 0) continue;
            snprintf(key, sizeof key, "cgroup.write.%s/%s", e->d_name, files[i]);
            writable(key, path);
        }
    }
    closedir(d);
    writable("cgroup.write.root-file", "/sys/fs/cgroup/cgroup.procs");
}

static void devices(void) {
    DIR *d = opendir("/dev");
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char path[300];
        struct stat st;
        snprintf(path, sizeof path, "/dev/%s", e->d_name);
        if (lstat(path, &st) != 0) continue;
        if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
            printf("dev.%s=%c %u:%u %o\n", e->d_name, S_ISCHR(st.st_mode) ? 'c' : 'b', major(st.st_rdev),
                   minor(st.st_rdev), st.st_mode & 07777);
        else if (S_ISLNK(st.st_mode)) {
            char t[256];
            ssize_t n = readlink(path, t, sizeof t - 1);
            t[n < 0 ? 0 : n] = 0;
            printf("dev.%s=-> %s\n", e->d_name, t);
        } else
            printf("dev.%s=%s\n", e->d_name, S_ISDIR(st.st_mode) ? "dir" : "other");
    }
    closedir(d);
    /* The devices cgroup / eBPF device filter: a node of a host disk and of kmem. */
    long rc = mknod("/tmp/probe-sda", S_IFBLK | 0600, makedev(8, 0));
    put("mknod.block-8-0", rc);
    if (rc == 0) {
        int fd = open("/tmp/probe-sda", O_RDONLY);
        put("open.block-8-0", fd);
        if (fd >= 0) close(fd);
        unlink("/tmp/probe-sda");
    }
    rc = mknod("/tmp/probe-mem", S_IFCHR | 0600, makedev(1, 1));
    put("mknod.char-1-1", rc);
    if (rc == 0) {
        int fd = open("/tmp/probe-mem", O_RDONLY);
        put("open.char-1-1", fd);
        if (fd >= 0) close(fd);
        unlink("/tmp/probe-mem");
    }
    int fd = open("/dev/null", O_RDWR);
    put("open.dev-null", fd);
    if (fd >= 0) close(fd);
}

static void limits(void) {
    const struct {
        int res;
        const char *name;
    } r[] = {{RLIMIT_AS, "as"},         {RLIMIT_CORE, "core"},     {RLIMIT_CPU, "cpu"},
             {RLIMIT_DATA, "data"},     {RLIMIT_FSIZE, "fsize"},   {RLIMIT_LOCKS, "locks"},
             {RLIMIT_MEMLOCK, "memlock"}, {RLIMIT_MSGQUEUE, "msgqueue"}, {RLIMIT_NICE, "nice"},
             {RLIMIT_NOFILE, "nofile"}, {RLIMIT_NPROC, "nproc"},   {RLIMIT_RSS, "rss"},
             {RLIMIT_RTPRIO, "rtprio"}, {RLIMIT_SIGPENDING, "sigpending"}, {RLIMIT_STACK, "stack"}};
    for (unsigned i = 0; i < sizeof r / sizeof r[0]; i++) {
        struct rlimit l;
        getrlimit(r[i].res, &l);
        printf("rlimit.%s=%lld %lld\n", r[i].name, (long long)l.rlim_cur, (long long)l.rlim_max);
    }
    print_file("oom_score_adj", "/proc/self/oom_score_adj");
    printf("umask=%04o\n", umask(022));
}

static int cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void env_and_fds(void) {
    int n = 0;
    while (environ[n]) n++;
    char **sorted = calloc(n + 1, sizeof *sorted);
    memcpy(sorted, environ, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp);
    for (int i = 0; i < n; i++) printf("env.%s\n", sorted[i]);
    DIR *d = opendir("/proc/self/fd");
    if (!d) return;
    int self = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || atoi(e->d_name) == self) continue;
        char path[300], t[256];
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t len = readlink(path, t, sizeof t - 1);
        t[len < 0 ? 0 : len] = 0;
        /* pipe:[inode] and socket:[inode] differ per run: keep the kind. */
        char *bracket = strchr(t, '[');
        if (bracket) *bracket = 0;
        printf("fd.%s=%s\n", e->d_name, t);
    }
    closedir(d);
}

/* clone(2) with `flags` (+ SIGCHLD); the child exits at once. */
static long try_clone(unsigned long flags) {
    long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    if (pid > 0) waitpid(pid, NULL, 0);
    return pid;
}

/* unshare in a child, so that the probe keeps its own namespaces. */
static long try_unshare(int flags) {
    int p[2];
    if (pipe(p) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        int rc = unshare(flags);
        int err = rc == 0 ? 0 : errno;
        (void)!write(p[1], &err, sizeof err);
        _exit(0);
    }
    int err = EIO;
    close(p[1]);
    (void)!read(p[0], &err, sizeof err);
    close(p[0]);
    waitpid(pid, NULL, 0);
    errno = err;
    return err ? -1 : 0;
}

struct clone_args_v0 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static void syscalls(void) {
    put("sys.clone.plain", try_clone(0));
    put("sys.clone.newuser", try_clone(CLONE_NEWUSER));
    put("sys.clone.newns", try_clone(CLONE_NEWNS));
    put("sys.clone.newcgroup", try_clone(CLONE_NEWCGROUP));
    put("sys.clone.newnet", try_clone(CLONE_NEWNET));
    put("sys.clone.newpid", try_clone(CLONE_NEWPID));
    {
        struct clone_args_v0 args = {.flags = CLONE_NEWUSER, .exit_signal = SIGCHLD};
        long pid = syscall(SYS_clone3, &args, sizeof args);
        if (pid == 0) _exit(0);
        if (pid > 0) waitpid(pid, NULL, 0);
        put("sys.clone3.newuser", pid);
        struct clone_args_v0 plain = {.exit_signal = SIGCHLD};
        pid = syscall(SYS_clone3, &plain, sizeof plain);
        if (pid == 0) _exit(0);
        if (pid > 0) waitpid(pid, NULL, 0);
        put("sys.clone3.plain", pid);
    }
    put("sys.unshare.newuser", try_unshare(CLONE_NEWUSER));
    put("sys.unshare.newns", try_unshare(CLONE_NEWNS));
    put("sys.unshare.newcgroup", try_unshare(CLONE_NEWCGROUP));
    put("sys.unshare.newnet", try_unshare(CLONE_NEWNET));
    put("sys.sethostname", sethostname("probe", 5));
    put("sys.chroot", chroot("/"));
    int ns = open("/proc/self/ns/net", O_RDONLY);
    put("sys.setns", setns(ns, 0));
    close(ns);
    {
        struct {
            unsigned int handle_bytes;
            int handle_type;
            unsigned char f_handle[128];
        } h = {.handle_bytes = 128};
        int mount_id;
        long rc = syscall(SYS_name_to_handle_at, AT_FDCWD, "/etc", &h, &mount_id, 0);
        put("sys.name_to_handle_at", rc);
        rc = syscall(SYS_open_by_handle_at, AT_FDCWD, &h, O_RDONLY);
        put("sys.open_by_handle_at", rc);
        if (rc >= 0) close((int)rc);
    }
    put("sys.add_key", syscall(SYS_add_key, "user", "probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
    put("sys.keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    {
        struct io_uring_params p;
        memset(&p, 0, sizeof p);
        long fd = syscall(SYS_io_uring_setup, 1, &p);
        put("sys.io_uring_setup", fd);
        if (fd >= 0) close((int)fd);
    }
    put("sys.init_module", syscall(SYS_init_module, NULL, 0, ""));
    put("sys.finit_module", syscall(SYS_finit_module, -1, "", 0));
    put("sys.delete_module", syscall(SYS_delete_module, "probe_nonexistent", O_NONBLOCK));
    put("sys.kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    put("sys.bpf", syscall(SYS_bpf, 0, NULL, 0));
    put("sys.perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    put("sys.syslog", syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0));
    put("sys.userfaultfd", syscall(SYS_userfaultfd, O_CLOEXEC));
    put("sys.acct", syscall(SYS_acct, NULL));
    put("sys.swapoff", syscall(SYS_swapoff, "/nonexistent"));
    put("sys.settimeofday", syscall(SYS_settimeofday, NULL, NULL));
    put("sys.personality.query", syscall(SYS_personality, 0xffffffff));
    put("sys.mknod.fifo", mknod("/tmp/probe-fifo", S_IFIFO | 0600, 0));
    unlink("/tmp/probe-fifo");
    put("sys.setuid", setuid(0));
    put("sys.chown", chown("/tmp", 0, 0));
    put("sys.sysrq-trigger.open", open("/proc/sysrq-trigger", O_WRONLY));
    put("sys.proc-sys-kernel.open", open("/proc/sys/kernel/core_pattern", O_WRONLY));
    put("sys.sys-kernel.open", open("/sys/kernel/uevent_helper", O_WRONLY));
    put("sys.proc-kcore.read", open("/proc/kcore", O_RDONLY));
    put("sys.proc-keys.open", open("/proc/keys", O_RDONLY));
    /* Last: if they succeeded they would change what the probe sees. */
    put("sys.mount.tmpfs", mount("tmpfs", "/mnt", "tmpfs", 0, NULL));
    put("sys.umount.proc", umount2("/proc", MNT_DETACH));
}

static void report(void) {
    mounts();
    status();
    namespaces();
    cgroups();
    devices();
    limits();
    env_and_fds();
    syscalls();
}

/* Breakout attempts, each printed with its result. */
static void breakout(void) {
    char path[512];
    const char *attempts[][2] = {
        {"pids/pids.max", "max"},
        {"memory/memory.limit_in_bytes", "-1"},
        {"memory/memory.memsw.limit_in_bytes", "-1"},
        {"pids/notify_on_release", "1"},
        {"pids.max", "max"},
        {"memory.max", "max"},
        {"cgroup.procs", "1"},
        {"unified/cgroup.procs", "1"},
        {"release_agent", "/probe"},
        {"pids/release_agent", "/probe"},
        {"memory/release_agent", "/probe"},
        {"rdma/release_agent", "/probe"},
    };
    for (unsigned i = 0; i < sizeof attempts / sizeof attempts[0]; i++) {
        snprintf(path, sizeof path, "/sys/fs/cgroup/%s", attempts[i][0]);
        int fd = open(path, O_WRONLY);
        long rc = fd;
        if (fd >= 0) {
            rc = write(fd, attempts[i][1], strlen(attempts[i][1]));
            close(fd);
        } else if (errno == ENOENT) {
            continue;
        }
        printf("breakout.write.%s=%s\n", attempts[i][0], result(rc));
    }
    /* A cgroup of our own to escape the limits. */
    put("breakout.mkdir.pids", mkdir("/sys/fs/cgroup/pids/escape", 0755));
    put("breakout.mkdir.root", mkdir("/sys/fs/cgroup/escape", 0755));
    /* Remount the cgroup filesystem read-write. */
    put("breakout.remount.cgroup",
        mount(NULL, "/sys/fs/cgroup", NULL, MS_REMOUNT | MS_BIND, NULL));
    put("breakout.mount.cgroup1", mount("cgroup", "/tmp", "cgroup", 0, "pids"));
    put("breakout.mount.cgroup2", mount("cgroup2", "/tmp", "cgroup2", 0, NULL));
    int fd = open("/proc/sysrq-trigger", O_WRONLY);
    put("breakout.sysrq", fd >= 0 ? write(fd, "h", 1) : -1); /* 'h' only prints help */
    if (fd >= 0) close(fd);
    fd = open("/proc/sys/kernel/core_pattern", O_WRONLY);
    put("breakout.core_pattern", fd >= 0 ? 0 : -1);
    if (fd >= 0) close(fd);
    fflush(stdout);
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* The probe tries privileged operations (mount, umount, sethostname...): it
     * refuses to run anywhere but in a test container, whose hostname the test
     * sets to this name. */
    char host[64] = "";
    gethostname(host, sizeof host);
    if (strcmp(host, "berth-probe") != 0) {
        fprintf(stderr, "probe: refusing to run outside a test container (hostname %s)\n", host);
        return 3;
    }
    if (argc > 1 && !strcmp(argv[1], "report")) report();
    else if (argc > 1 && !strcmp(argv[1], "breakout")) breakout();
    else {
        fprintf(stderr, "usage: probe report|breakout\n");
        return 2;
    }
    printf("probe.done=1\n");
    return 0;
}
