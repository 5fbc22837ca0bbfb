/* The policy for new passwords chosen by people (`rampart user add` and
 * `passwd`; app passwords are generated and need none): a minimum length,
 * libpwquality with its cracklib dictionary, and an optional breached-
 * password list (auth/breach.h). RFC 9051 11 asks servers to resist
 * password guessing; refusing the passwords guessers try first is the
 * cheapest part of that. */
#ifndef RAMPART_AUTH_PWPOLICY_H
#define RAMPART_AUTH_PWPOLICY_H

#include <stdbool.h>

struct pwpolicy {
	unsigned min_length;         /* in characters (UTF-8 code points) */
	bool pwquality;
	const char *breached_file;   /* NULL: none */
};

/* 0: acceptable. -1: refused, *why (caller frees) says why in words for
 * the administrator (never the password). -2: the check itself failed
 * (breached file unreadable...), *why says what; the CLI refuses then
 * too, unless forced. user may be NULL. */
int pwpolicy_check(const struct pwpolicy *p, const char *user, const char *password, char **why);

#endif
