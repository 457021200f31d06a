/* common/log.h - one line per event on stderr, tagged with the process role
 * (set once per process) and, when there is one, the task id. */
#ifndef CELERIAC_LOG_H
#define CELERIAC_LOG_H

enum log_level { LL_DEBUG, LL_INFO, LL_WARN, LL_ERROR }; /* LL_: <syslog.h> owns LOG_INFO */

/* role: "webapp", "master", "cli". LOG_LEVEL=debug|info|warn|error sets the threshold. */
void log_init(const char *role);
/* First call in a forked child: the role becomes "child.<slot>". */
void log_set_child(int slot);
void log_msg(enum log_level lvl, const char *task_id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(...) log_msg(LL_DEBUG, NULL, __VA_ARGS__)
#define log_info(...) log_msg(LL_INFO, NULL, __VA_ARGS__)
#define log_warn(...) log_msg(LL_WARN, NULL, __VA_ARGS__)
#define log_error(...) log_msg(LL_ERROR, NULL, __VA_ARGS__)
#define log_task(lvl, task_id, ...) log_msg((lvl), (task_id), __VA_ARGS__)

#endif
