/* RFC 5322 3.3 date-time, leniently (4.3 obsolete forms: two-digit years,
 * alphabetic zones, comments, missing seconds), for SENTBEFORE/SENTON/
 * SENTSINCE. Computed without the C library's time zone machinery, which
 * isn't thread-safe and depends on TZ. */
#include "mail/mail.h"
#include "mail/mime_internal.h"

#include <string.h>
#include <strings.h>

#include "core/util.h"

struct dlex {
	const char *p, *e;
};

/* CFWS, with commas read as space too (after the day name, and the
 * stray ones of obsolete dates). */
static void skip_cfws(struct dlex *l)
{
	for (;;) {
		mail_cfws_skip(&l->p, l->e, NULL);
		if (l->p >= l->e || *l->p != ',')
			break;
		l->p++;
	}
}

/* Up to maxd digits; -1 when none. */
static long read_num(struct dlex *l, int maxd, int *ndigits)
{
	long v = 0;
	int n = 0;
	while (l->p < l->e && *l->p >= '0' && *l->p <= '9' && n < maxd) {
		v = v * 10 + (*l->p - '0');
		l->p++;
		n++;
	}
	if (ndigits)
		*ndigits = n;
	return n ? v : -1;
}

static size_t read_alpha(struct dlex *l, char *buf, size_t cap)
{
	size_t n = 0;
	while (l->p < l->e && ((*l->p >= 'a' && *l->p <= 'z') || (*l->p >= 'A' && *l->p <= 'Z'))) {
		if (n + 1 < cap)
			buf[n++] = *l->p;
		l->p++;
	}
	buf[n] = '\0';
	return n;
}

static int month_index(const char *m)
{
	static const char *const names[] = { "jan", "feb", "mar", "apr", "may", "jun",
					     "jul", "aug", "sep", "oct", "nov", "dec" };
	if (strlen(m) < 3)
		return -1;
	for (int i = 0; i < 12; i++)
		if (strncasecmp(m, names[i], 3) == 0)
			return i;
	return -1;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	const int64_t era = (y >= 0 ? y : y - 399) / 400;
	const unsigned yoe = (unsigned)(y - era * 400);
	const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static bool zone_name(const char *z, int *off)
{
	static const struct {
		const char *name;
		int off;
	} zones[] = {
		{ "UT", 0 }, { "UTC", 0 }, { "GMT", 0 }, { "Z", 0 },
		{ "EST", -300 }, { "EDT", -240 }, { "CST", -360 }, { "CDT", -300 },
		{ "MST", -420 }, { "MDT", -360 }, { "PST", -480 }, { "PDT", -420 },
	};
	for (size_t i = 0; i < ARRAY_SIZE(zones); i++) {
		if (strcasecmp(z, zones[i].name) == 0) {
			*off = zones[i].off;
			return true;
		}
	}
	/* RFC 5322 4.3: military zones were defined wrongly in RFC 822
	 * and "SHOULD all be considered equivalent to -0000". */
	if (strlen(z) == 1 && ((z[0] | 0x20) >= 'a' && (z[0] | 0x20) <= 'z') && (z[0] | 0x20) != 'j') {
		*off = 0;
		return true;
	}
	return false;
}

int64_t mail_parse_rfc5322_date(const char *s, size_t len, int *tz_offset_min)
{
	struct dlex l = { s, s + len };
	char word[16];
	int nd;
	skip_cfws(&l);
	/* [day-of-week ","]: ignored, as it's often wrong. */
	const char *save = l.p;
	if (read_alpha(&l, word, sizeof(word)) == 0)
		l.p = save;
	skip_cfws(&l);
	long day = read_num(&l, 2, NULL);
	if (day < 1 || day > 31)
		return -1;
	skip_cfws(&l);
	if (l.p < l.e && *l.p == '-')
		l.p++; /* "1-Jul-2003" as some old software writes */
	if (read_alpha(&l, word, sizeof(word)) == 0)
		return -1;
	int mon = month_index(word);
	if (mon < 0)
		return -1;
	skip_cfws(&l);
	if (l.p < l.e && *l.p == '-')
		l.p++;
	long year = read_num(&l, 4, &nd);
	if (year < 0)
		return -1;
	/* RFC 5322 4.3: two-digit years below 50 are 20xx, others 19xx;
	 * three digits are added to 1900. */
	if (nd == 2)
		year += year < 50 ? 2000 : 1900;
	else if (nd == 3)
		year += 1900;
	skip_cfws(&l);
	long hh = read_num(&l, 2, NULL), mm = -1, ss = 0;
	if (hh < 0 || hh > 23 || l.p >= l.e || *l.p != ':')
		return -1;
	l.p++;
	mm = read_num(&l, 2, NULL);
	if (mm < 0 || mm > 59)
		return -1;
	if (l.p < l.e && *l.p == ':') {
		l.p++;
		ss = read_num(&l, 2, NULL);
		if (ss < 0 || ss > 60)
			return -1;
	}
	skip_cfws(&l);
	int off = 0;
	if (l.p < l.e && (*l.p == '+' || *l.p == '-')) {
		int sign = *l.p == '-' ? -1 : 1;
		l.p++;
		long z = read_num(&l, 4, &nd);
		if (z < 0 || nd != 4 || z % 100 > 59)
			return -1;
		off = sign * (int)((z / 100) * 60 + z % 100);
	} else if (read_alpha(&l, word, sizeof(word)) > 0) {
		if (!zone_name(word, &off))
			off = 0; /* unknown zone: RFC 5322 4.3, treat as -0000 */
	}
	/* A missing zone is taken as UTC too. */
	int64_t days = days_from_civil(year, (unsigned)mon + 1, (unsigned)day);
	int64_t t = days * 86400 + hh * 3600 + mm * 60 + ss - (int64_t)off * 60;
	if (tz_offset_min)
		*tz_offset_min = off;
	return t;
}

int64_t mail_date_sent(const struct mail_msg *m, int *tz_offset_min)
{
	struct mail_hdr h;
	if (!mail_part_hdr_find(m->data, m->root, "Date", &h))
		return -1;
	struct strbuf b = STRBUF_INIT;
	mail_hdr_unfold(m->data, &h, &b);
	int64_t t = mail_parse_rfc5322_date(b.s ? b.s : "", b.len, tz_offset_min);
	strbuf_free(&b);
	return t;
}
