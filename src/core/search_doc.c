/* The names of the indexed header fields and the search_doc destructor
 * (core/search_doc.h says why the shape lives in core/). */
#include "core/search_doc.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const field_names[SEARCH_DOC_NFIELDS] = {
	[SEARCH_DOC_FROM] = "From",
	[SEARCH_DOC_TO] = "To",
	[SEARCH_DOC_CC] = "Cc",
	[SEARCH_DOC_BCC] = "Bcc",
	[SEARCH_DOC_SUBJECT] = "Subject",
	[SEARCH_DOC_MESSAGE_ID] = "Message-ID",
	[SEARCH_DOC_IN_REPLY_TO] = "In-Reply-To",
	[SEARCH_DOC_REFERENCES] = "References",
};

const char *search_doc_field_name(enum search_doc_field f)
{
	return (unsigned)f < SEARCH_DOC_NFIELDS ? field_names[f] : NULL;
}

int search_doc_field_find(const char *name)
{
	if (!name)
		return -1;
	for (int i = 0; i < SEARCH_DOC_NFIELDS; i++)
		if (strcasecmp(field_names[i], name) == 0)
			return i;
	return -1;
}

void search_doc_clear(struct search_doc *d)
{
	for (size_t i = 0; i < SEARCH_DOC_NFIELDS; i++)
		free(d->field[i]);
	free(d->hdrs);
	free(d->body);
	memset(d, 0, sizeof(*d));
	d->sent_day = SEARCH_DOC_NO_DATE;
}
