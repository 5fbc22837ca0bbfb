/* What the SASL mechanisms share inside auth/ (not for protocols). */
#ifndef RAMPART_AUTH_SASL_INTERNAL_H
#define RAMPART_AUTH_SASL_INTERNAL_H

#include <stddef.h>

#include "auth/oauth.h"
#include "auth/sasl.h"

/* The bearer-token step of OAUTHBEARER and XOAUTH2 (sasl_oauthbearer.c). */
enum sasl_status sasl_oauth_step(struct sasl_exchange *ex, const unsigned char *in, size_t len,
				 enum oauth_mech mech);

#endif
