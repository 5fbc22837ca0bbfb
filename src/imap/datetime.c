#include "imap/datetime.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

static int digits(const char *s, size_t n, int *out)
{
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int imap_datetime_parse(const char *s, size_t len, int64_t *t, int *tz)
{
	/* "dd-Mon-yyyy hh:mm:ss +zzzz", 26 bytes; day may be " d". */
	if (len != 26 || s[2] != '-' || s[6] != '-' || s[11] != ' ' || s[14] != ':' ||
	    s[17] != ':' || s[20] != ' ' || (s[21] != '+' && s[21] != '-'))
		return -1;
	int day, year, hh, mm, ss, zh, zm, mon = -1;
	if (s[0] == ' ') {
		if (digits(s + 1, 1, &day) < 0)
			return -1;
	} else if (digits(s, 2, &day) < 0) {
		return -1;
	}
	for (int i = 0; i < 12; i++)
		if (strncasecmp(s + 3, months[i], 3) == 0)
			mon = i;
	if (mon < 0 || digits(s + 7, 4, &year) < 0 || digits(s + 12, 2, &hh) < 0 ||
	    digits(s + 15, 2, &mm) < 0 || digits(s + 18, 2, &ss) < 0 ||
	    digits(s + 22, 2, &zh) < 0 || digits(s + 24, 2, &zm) < 0)
		return -1;
	if (day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 || zm > 59 || year < 1900)
		return -1;
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = mon;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	time_t base = timegm(&tm);
	int off = (zh * 60 + zm) * (s[21] == '-' ? -1 : 1);
	*t = (int64_t)base - (int64_t)off * 60;
	*tz = off;
	return 0;
}

void imap_datetime_format(int64_t t, int tz, char *buf, size_t size)
{
	time_t local = (time_t)(t + (int64_t)tz * 60);
	struct tm tm;
	gmtime_r(&local, &tm);
	int a = tz < 0 ? -tz : tz;
	snprintf(buf, size, "\"%02d-%s-%04d %02d:%02d:%02d %c%02d%02d\"", tm.tm_mday,
		 months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 tz < 0 ? '-' : '+', a / 60, a % 60);
}
