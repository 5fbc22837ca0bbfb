/* The log: one write(2) per line to stderr or log_file. The level and the
 * descriptor are read by every thread and changed only by the signal
 * thread (SIGHUP: log_level; SIGUSR1: log_reopen), hence the atomics. */
#include "core/log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level g_level = LOG_LVL_INFO;
static int g_fd = 2;

void log_set_level(enum log_level lvl)
{
	__atomic_store_n(&g_level, lvl, __ATOMIC_RELAXED);
}

enum log_level log_get_level(void)
{
	return __atomic_load_n(&g_level, __ATOMIC_RELAXED);
}

int log_set_file(const char *path)
{
	if (!path) {
		g_fd = 2;
		return 0;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	g_fd = fd;
	return 0;
}

/* logrotate renamed the file (or SIGHUP named another one): the new file
 * takes the old one's descriptor number through dup2(2), which swaps it
 * atomically, so a thread writing a line meanwhile writes it whole to
 * one file or the other and never to a closed or reused descriptor. */
int log_reopen(const char *path)
{
	int cur = __atomic_load_n(&g_fd, __ATOMIC_ACQUIRE);
	if (!path) {
		/* the old file stays open: a thread may be writing to it */
		__atomic_store_n(&g_fd, 2, __ATOMIC_RELEASE);
		return 0;
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0)
		return -1;
	if (cur == 2) {
		__atomic_store_n(&g_fd, fd, __ATOMIC_RELEASE);
		return 0;
	}
	int r = dup3(fd, cur, O_CLOEXEC);
	close(fd);
	return r < 0 ? -1 : 0;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	static const char *names[] = { "error", "warning", "info", "debug" };
	if (lvl > log_get_level())
		return;
	char line[2048];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ rampart[%d] %s: ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, (long)(tv.tv_usec / 1000), (int)getpid(), names[lvl]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : ((size_t)m < sizeof(line) - (size_t)n - 2 ? (size_t)m : sizeof(line) - (size_t)n - 2));
	/* One write per line so concurrent threads never interleave within a line;
	 * control characters from untrusted input are neutralised. */
	for (size_t i = (size_t)n; i < len; i++)
		if ((unsigned char)line[i] < 0x20)
			line[i] = '?';
	line[len++] = '\n';
	ssize_t w = write(__atomic_load_n(&g_fd, __ATOMIC_ACQUIRE), line, len);
	(void)w;
}
