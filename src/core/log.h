/* One line per event, key=value, to stderr (journald picks it up) or a file.
 * Never log secrets: no passwords, tokens or message contents. */
#ifndef RAMPART_CORE_LOG_H
#define RAMPART_CORE_LOG_H

enum log_level { LOG_LVL_ERR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
/* Sends log lines to path (appending) instead of stderr; NULL restores stderr. */
int log_set_file(const char *path);
/* SIGUSR1 (logrotate) or a new log_file on SIGHUP: opens path afresh and
 * puts it in place of the current file for every thread; NULL: stderr.
 * 0, or -1 with errno (the current file stays). */
int log_reopen(const char *path);
void log_msg(enum log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { if (log_get_level() >= LOG_LVL_DEBUG) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

#endif
