/* Logins and failed logins per minute over the last hour, for the status
 * page's charts: fed by the audit trail (auth/audit.c), where every
 * authentication attempt is decided, read by app/status.c. */
#ifndef RAMPART_AUTH_LOGIN_RATE_H
#define RAMPART_AUTH_LOGIN_RATE_H

#include <time.h>

#define LOGIN_RATE_MINUTES 60

/* Counts one attempt at `now`: result "ok" is a login, "fail" and
 * "locked" are failures, anything else is not counted. Thread-safe. */
void login_rate_record(const char *result, time_t now);
/* The last LOGIN_RATE_MINUTES minutes up to the one holding `now`,
 * oldest first: ok[i] logins and fail[i] failures in minute i. */
void login_rate_get(time_t now, unsigned ok[LOGIN_RATE_MINUTES], unsigned fail[LOGIN_RATE_MINUTES]);

#endif
