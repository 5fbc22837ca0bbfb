/* New-password policy (pwpolicy.h): length, libpwquality, breached list,
 * in that order, so the message names the first rule broken.
 *
 * libpwquality is used with its built-in defaults plus our minimum
 * length, not /etc/security/pwquality.conf: that file is the system's
 * login policy, and the mail server's is [passwords] in rampart.conf. */
#include "auth/pwpolicy.h"
#include "auth/breach.h"
#include "core/util.h"

#include <errno.h>
#include <inttypes.h>
#include <pwquality.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Code points, so "pässwörd" is 8 characters, not 10 bytes. */
static size_t pwpolicy_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static int pwpolicy_quality(unsigned min_length, const char *user, const char *password,
			    char **why)
{
	pwquality_settings_t *pwq = pwquality_default_settings();
	if (!pwq) {
		*why = xstrdup("libpwquality could not start (out of memory)");
		return -2;
	}
	/* Credits stay 0 (the library's default): a long password is
	 * required whatever classes it mixes. */
	pwquality_set_int_value(pwq, PWQ_SETTING_MIN_LENGTH, (int)min_length);
	void *aux = NULL;
	int r = pwquality_check(pwq, password, NULL, user, &aux);
	int rc = 0;
	if (r < 0) {
		char buf[PWQ_MAX_ERROR_MESSAGE_LEN];
		const char *msg = pwquality_strerror(buf, sizeof(buf), r, aux);
		*why = xstrdup(msg ? msg : "refused by libpwquality");
		/* A missing dictionary is a broken installation, not a weak
		 * password. */
		rc = r == PWQ_ERROR_CRACKLIB_CHECK && msg && strstr(msg, "error loading") ? -2 : -1;
	}
	pwquality_free_settings(pwq);
	return rc;
}

int pwpolicy_check(const struct pwpolicy *p, const char *user, const char *password, char **why)
{
	*why = NULL;
	if (pwpolicy_chars(password) < p->min_length) {
		*why = xasprintf("The password is shorter than %u characters", p->min_length);
		return -1;
	}
	if (p->pwquality) {
		int r = pwpolicy_quality(p->min_length, user, password, why);
		if (r)
			return r;
	}
	if (p->breached_file) {
		uint64_t count = 0;
		int r = breach_file_lookup(p->breached_file, password, &count);
		if (r < 0) {
			*why = xasprintf("cannot search the breached-password list %s: %s",
					 p->breached_file, errno == EINVAL ? "not a sorted SHA-1 list"
									  : strerror(errno));
			return -2;
		}
		if (r > 0) {
			*why = xasprintf("The password appears in the breached-password list "
					 "(seen %" PRIu64 " times in breaches)", count);
			return -1;
		}
	}
	return 0;
}
