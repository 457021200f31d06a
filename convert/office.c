/* convert/office.c - office documents (DOCX, ODT, XLSX, PPTX) to PDF with
 * LibreOffice. Each conversion gets a private directory (mode 0700, under
 * $TMPDIR or /tmp) holding the input under a name of ours ("input.docx":
 * never the user's, which could start with "-" or hold a "/"), soffice's
 * profile (a shared one is locked by the first soffice that runs), its
 * output, its log and a lock file; the directory goes when the conversion
 * ends, or, if we are SIGKILLed, at the next conversion on the machine.
 * soffice runs under a guardian process (below), in a process group of its
 * own, from /dev/null, with no descriptor of ours but its log, so that the
 * whole tree is killed past the timeout, on cancel, or when we die.
 * A run in a fresh profile costs about a second here (LibreOffice 7.4):
 * the price of conversions that share nothing. */
#include "convert/convert.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/json.h"

#define OFFICE_TIMEOUT_S 300.0
/* soffice gives no progress: the estimate (wait_child()) takes a run to
 * last about this long, plus a second per this many bytes of input. */
#define OFFICE_EXPECTED_BASE_S 2.0
#define OFFICE_EXPECTED_BYTES_PER_S (512.0 * 1024)
#define OFFICE_PROGRESS_EVERY_S 0.5
#define LOG_TAIL 400 /* bytes of soffice's output shown in an error */
#define DIR_PREFIX "celeriac-office-"
#define LOCK_NAME "owner.lock"

static int
remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0; /* remove what can be removed */
}

/* rm -rf dir: depth first, symbolic links removed, not followed. */
static void
remove_tree(const char *dir)
{
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

/* A conversion's directory is in use while the lock file inside it is
 * flock()ed: by the converting process and by its guardian, which inherits
 * the descriptor. A free lock means both died (a SIGKILL leaves no time to
 * clean up): the next conversion removes what they left. */
static void
sweep_stale(const char *tmp)
{
    DIR *d = opendir(tmp);
    struct dirent *e;

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        char path[PATH_MAX], lock[PATH_MAX + 16];
        struct stat st;
        int fd;

        if (strncmp(e->d_name, DIR_PREFIX, strlen(DIR_PREFIX)) != 0 ||
            snprintf(path, sizeof path, "%s/%s", tmp, e->d_name) >= (int)sizeof path ||
            lstat(path, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid())
            continue;
        snprintf(lock, sizeof lock, "%s/" LOCK_NAME, path);
        if ((fd = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
            /* Made but not locked yet, or its lock removed on the way out:
             * its maker is at it now, unless that was an hour ago. */
            if (errno == ENOENT && st.st_mtime < time(NULL) - 3600)
                remove_tree(path);
            continue;
        }
        /* A free lock: its owner died, unless it has only just made the
         * directory and not locked it yet (a minute is plenty). */
        if (flock(fd, LOCK_EX | LOCK_NB) == 0 && st.st_mtime < time(NULL) - 60)
            remove_tree(path);
        close(fd);
    }
    closedir(d);
}

static int
write_file(const char *path, const void *data, size_t len)
{
    const char *p = data;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd < 0)
        return -1;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return close(fd);
}

/* "file://" + dir percent-encoded, for -env:UserInstallation. */
static void
file_url(struct buf *b, const char *dir)
{
    buf_put(b, "file://");
    for (const unsigned char *s = (const unsigned char *)dir; *s != '\0'; s++) {
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
            strchr("/-._~", *s) != NULL)
            buf_putn(b, (const char *)s, 1);
        else
            buf_printf(b, "%%%02X", *s);
    }
}

/* The last lines of soffice's output, for an error: ";" between lines,
 * control characters and broken UTF-8 gone. "" when it said nothing. */
static void
log_tail(const char *path, char *tail, size_t size)
{
    char raw[LOG_TAIL + 1];
    ssize_t n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *s, *d;

    tail[0] = '\0';
    if (fd < 0)
        return;
    off_t end = lseek(fd, 0, SEEK_END);
    if (end > LOG_TAIL)
        lseek(fd, end - LOG_TAIL, SEEK_SET);
    else
        lseek(fd, 0, SEEK_SET);
    n = read(fd, raw, LOG_TAIL);
    close(fd);
    if (n <= 0)
        return;
    raw[n] = '\0';
    s = raw;
    if (end > LOG_TAIL && (d = strchr(s, '\n')) != NULL)
        s = d + 1; /* from the first whole line */
    for (d = s; *d != '\0'; d++)
        if (*d == '\n' || *d == '\r')
            *d = ';';
        else if ((unsigned char)*d < 0x20 || *d == 0x7f)
            *d = ' ';
    while (*s == ';' || *s == ' ')
        s++;
    for (n = (ssize_t)strlen(s); n > 0 && (s[n - 1] == ';' || s[n - 1] == ' ');)
        s[--n] = '\0';
    utf8_scrub(s);
    snprintf(tail, size, "%s", s);
}

/* ----- the guardian -----
 * soffice is a script that becomes oosplash, which starts soffice.bin and
 * waits for it; killed, oosplash leaves soffice.bin running. So soffice
 * runs under a guardian: a forked child of ours, leader of a new process
 * group, that starts soffice in that group, waits for it and exits with
 * its status. Our kill(-guardian) reaches the whole tree; and should we die
 * first (the worker's master SIGKILLs a child past its hard time limit),
 * the kernel sends the guardian SIGTERM (PR_SET_PDEATHSIG) and it kills its
 * group, itself last. PR_SET_PDEATHSIG follows the thread that forked: the
 * caller's thread must outlive the conversion, as any caller's does.
 * Between fork() and exec only async-signal-safe calls: the process that
 * forks may have threads (libvips'). */

static void
guardian_orphaned(int sig)
{
    (void)sig;
    kill(0, SIGKILL);
    _exit(128 + SIGKILL);
}

static void
say(const char *msg)
{
    ssize_t n = write(2, msg, strlen(msg));
    (void)n;
}

/* In a new child: every handler back to the default (the mask is left). */
static void
default_handlers(void)
{
    struct sigaction dfl = {0};

    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &dfl, NULL); /* SIGKILL, SIGSTOP and glibc's own refuse: fine */
}

static void
unblock_signals(void)
{
    sigset_t none;

    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

/* The guardian's life; all signals blocked on entry (see spawn()). */
static _Noreturn void
guardian(pid_t parent, const char *prog, char *const argv[], int null_fd, int log_fd)
{
    struct sigaction sa = {0};
    pid_t pid;
    int status;

    setpgid(0, 0);
    default_handlers();
    sa.sa_handler = guardian_orphaned;
    sigaction(SIGTERM, &sa, NULL);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) /* gone before prctl() */
        guardian_orphaned(SIGTERM);
    pid = fork();
    if (pid == 0) {
        default_handlers();
        unblock_signals();
        if (dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0 || dup2(log_fd, 2) < 0)
            _exit(127);
        close_range(3, ~0u, 0);
        execv(prog, argv);
        say("cannot run the soffice program\n");
        _exit(127);
    }
    if (pid < 0) {
        say("cannot fork for soffice\n");
        _exit(126);
    }
    unblock_signals();
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            _exit(126);
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

/* Start the guardian of prog argv, stdin from /dev/null, stdout and
 * stderr to log. Its pid (its process group's id too), or -1 with errno. */
static pid_t
spawn(const char *prog, char *const argv[], const char *log)
{
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int log_fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    sigset_t all, old;
    pid_t parent = getpid(), pid = -1;
    int saved;

    if (null_fd >= 0 && log_fd >= 0) {
        sigfillset(&all);
        sigprocmask(SIG_BLOCK, &all, &old); /* no handler of ours runs in the child */
        pid = fork();
        if (pid == 0)
            guardian(parent, prog, argv, null_fd, log_fd);
        saved = errno;
        sigprocmask(SIG_SETMASK, &old, NULL);
        errno = saved;
    }
    saved = errno;
    if (null_fd >= 0)
        close(null_fd);
    if (log_fd >= 0)
        close(log_fd);
    errno = saved;
    /* The guardian sets its own group too: this closes the race in which
     * we would kill(-pid) before it has. */
    if (pid > 0)
        setpgid(pid, pid);
    return pid;
}

enum ending { EXITED, TIMED_OUT, CANCELLED };

/* What to report after elapsed seconds of a run expected to last expected
 * seconds: 10 at the start, 70 at the expected time, then on towards 90
 * without reaching it (a slow run still moves; the end reports 100). */
static int
estimate(double elapsed, double expected)
{
    return 10 + (int)(80.0 * elapsed / (elapsed + expected / 3.0));
}

/* Wait for the guardian pid until it ends, the deadline passes or
 * *job->cancel is set; then kill its whole group (what it left behind, or
 * all of it) and reap it. Meanwhile job's progress callback hears the
 * estimate at most every OFFICE_PROGRESS_EVERY_S.
 * The pid is reaped only after the group's kill: until then it cannot be
 * reused, so the kill reaches no stranger. */
static enum ending
wait_child(pid_t pid, const struct convert_job *job, double timeout_s, int *status)
{
    volatile sig_atomic_t *cancel = job->cancel;
    double start = clock_mono(), deadline = start + timeout_s,
           next_report = start + OFFICE_PROGRESS_EVERY_S,
           expected = OFFICE_EXPECTED_BASE_S + (double)job->len / OFFICE_EXPECTED_BYTES_PER_S;
    enum ending how = EXITED;
    struct timespec nap = {0, 20 * 1000000};
    int last = 10; /* reported before the wait */

    *status = -1;
    for (;;) {
        siginfo_t si = {0};
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
            if (errno == EINTR)
                continue;
            return EXITED; /* ECHILD: reaped elsewhere, its pid no longer ours to kill */
        }
        if (si.si_pid == pid)
            break;
        if (cancel != NULL && *cancel) {
            how = CANCELLED;
            break;
        }
        double now = clock_mono();
        if (now >= deadline) {
            how = TIMED_OUT;
            break;
        }
        if (job->progress != NULL && now >= next_report) {
            int percent = estimate(now - start, expected);
            next_report = now + OFFICE_PROGRESS_EVERY_S;
            if (percent > last) {
                last = percent;
                job->progress(job->progress_arg, percent);
            }
        }
        nanosleep(&nap, NULL);
        if (nap.tv_nsec < 100 * 1000000)
            nap.tv_nsec += 20 * 1000000;
    }
    kill(-pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    return how;
}

/* The PDF soffice wrote, appended to out. */
static int
read_pdf(const char *path, size_t max_output, struct buf *out, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    size_t start = out->len, left;
    char chunk[65536];

    if (fd < 0)
        return 1; /* none: the caller says why */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return 1;
    }
    if ((uint64_t)st.st_size > max_output) {
        close(fd);
        snprintf(err, errlen, "the pdf would be larger than %zu bytes", max_output);
        return -1;
    }
    left = (size_t)st.st_size;
    while (left > 0) {
        ssize_t n = read(fd, chunk, left < sizeof chunk ? left : sizeof chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        buf_putn(out, chunk, (size_t)n);
        left -= (size_t)n;
    }
    close(fd);
    if (out->oom) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (left > 0 || out->len - start < 5 || memcmp(out->data + start, "%PDF-", 5) != 0) {
        snprintf(err, errlen, "LibreOffice wrote something that is not a PDF");
        return -1;
    }
    return 0;
}

int
convert_office_to_pdf(const struct convert_job *job, struct buf *out, char *err, size_t errlen)
{
    static const char *const kinds[] = {"docx", "odt", "xlsx", "pptx"};
    size_t max_output = job->max_output > 0 ? job->max_output : CONVERT_DEFAULT_MAX_OUTPUT;
    double timeout_s = job->timeout_s > 0 ? job->timeout_s : OFFICE_TIMEOUT_S;
    const char *found = convert_soffice_path(), *tmp = getenv("TMPDIR");
    char prog[PATH_MAX], dir[PATH_MAX], input[PATH_MAX + 16], pdf[PATH_MAX + 16],
        log[PATH_MAX + 16], lock[PATH_MAX + 16], tail[LOG_TAIL + 1];
    struct buf profile = {0};
    bool known = false;
    int status, lock_fd = -1, rc = -1;
    enum ending how;
    pid_t pid;

    for (size_t i = 0; job->from != NULL && i < sizeof kinds / sizeof *kinds; i++)
        known = known || strcmp(job->from, kinds[i]) == 0;
    if (!known || job->to == NULL || strcmp(job->to, "pdf") != 0) {
        snprintf(err, errlen, "cannot convert %s to %s", job->from ? job->from : "(none)",
                 job->to ? job->to : "(none)");
        return -1;
    }
    if (found == NULL || snprintf(prog, sizeof prog, "%s", found) >= (int)sizeof prog) {
        snprintf(err, errlen, "converter not installed: soffice (LibreOffice) was not found");
        return -1;
    }
    if (job->cancel != NULL && *job->cancel) {
        snprintf(err, errlen, "cancelled");
        return -1;
    }
    if (tmp == NULL || tmp[0] != '/')
        tmp = "/tmp";
    sweep_stale(tmp);
    if (snprintf(dir, sizeof dir, "%s/" DIR_PREFIX "XXXXXX", tmp) >= (int)sizeof dir ||
        mkdtemp(dir) == NULL) {
        snprintf(err, errlen, "cannot make a temporary directory in %s: %s", tmp, strerror(errno));
        return -1;
    }
    snprintf(lock, sizeof lock, "%s/" LOCK_NAME, dir);
    snprintf(input, sizeof input, "%s/input.%s", dir, job->from);
    snprintf(pdf, sizeof pdf, "%s/input.pdf", dir);
    snprintf(log, sizeof log, "%s/soffice.log", dir);
    if ((lock_fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
        flock(lock_fd, LOCK_EX) != 0) {
        snprintf(err, errlen, "cannot lock %s: %s", lock, strerror(errno));
        goto done;
    }
    if (write_file(input, job->in, job->len) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", input, strerror(errno));
        goto done;
    }
    file_url(&profile, dir);
    buf_put(&profile, "/profile");
    if (profile.oom) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    {
        char env_arg[PATH_MAX * 3 + 64];
        snprintf(env_arg, sizeof env_arg, "-env:UserInstallation=%s", profile.data);
        char *const argv[] = {prog,           "--headless", "--norestore", "--nolockcheck",
                              "--convert-to", "pdf",        "--outdir",    dir,
                              env_arg,        input,        NULL};
        if ((pid = spawn(prog, argv, log)) < 0) {
            snprintf(err, errlen, "cannot start %s: %s", prog, strerror(errno));
            goto done;
        }
    }
    if (job->progress != NULL)
        job->progress(job->progress_arg, 10);
    how = wait_child(pid, job, timeout_s, &status);
    if (how == CANCELLED) {
        snprintf(err, errlen, "cancelled");
        goto done;
    }
    if (how == TIMED_OUT) {
        snprintf(err, errlen, "LibreOffice took longer than %g seconds: killed", timeout_s);
        goto done;
    }
    log_tail(log, tail, sizeof tail);
    /* The guardian exits with soffice's status, 128 + the signal when one
     * killed it; -1: reaped by someone else, the PDF will tell. */
    if (status != -1 && WIFSIGNALED(status)) {
        snprintf(err, errlen, "LibreOffice was killed by signal %d%s%s", WTERMSIG(status),
                 tail[0] ? ": " : "", tail);
        goto done;
    }
    if (status != -1 && WEXITSTATUS(status) > 128) {
        snprintf(err, errlen, "LibreOffice was killed by signal %d%s%s", WEXITSTATUS(status) - 128,
                 tail[0] ? ": " : "", tail);
        goto done;
    }
    if (status != -1 && WEXITSTATUS(status) != 0) {
        snprintf(err, errlen, "LibreOffice failed (exit status %d)%s%s", WEXITSTATUS(status),
                 tail[0] ? ": " : "", tail);
        goto done;
    }
    switch (read_pdf(pdf, max_output, out, err, errlen)) {
    case 0:
        rc = 0;
        break;
    case 1:
        snprintf(err, errlen, "LibreOffice could not convert the %s document%s%s", job->from,
                 tail[0] ? ": " : "", tail);
        break;
    default:
        break;
    }
done:
    buf_fini(&profile);
    remove_tree(dir); /* the lock last: until then the directory is ours */
    if (lock_fd >= 0)
        close(lock_fd);
    return rc;
}
