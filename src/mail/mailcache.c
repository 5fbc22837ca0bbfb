#include "mail/mailcache.h"
#include "mail/mail.h"
#include "core/strbuf.h"

void mail_cache_compute(const char *data, size_t len, char **envelope, char **bodystructure,
			char **body)
{
	struct mail_msg *m = mail_parse(data, len);
	struct strbuf b = STRBUF_INIT;
	mail_write_envelope(&b, m);
	*envelope = strbuf_detach(&b, NULL);
	mail_write_bodystructure(&b, m, true);
	*bodystructure = strbuf_detach(&b, NULL);
	mail_write_bodystructure(&b, m, false);
	*body = strbuf_detach(&b, NULL);
	mail_msg_free(m);
}
