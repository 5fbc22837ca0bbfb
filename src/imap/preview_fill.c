/* The background preview maker (imap/preview_fill.h). FETCH PREVIEW
 * notices a message without a stored preview (delivered before the
 * preview migration) and kicks this: one job per user (imap/user_job.h)
 * walks the user's messages in (mailbox, UID) order, PREVIEW_FILL_STEP of
 * them per step, makes each preview from the message bytes
 * (mail/preview.c) and stores the step's previews in one transaction.
 *
 * RFC 8970 4: a FETCH PREVIEW (LAZY) answers NIL for a preview that is
 * not made yet, and the server should then make it, so that a later
 * request gets it; this is that maker. */
#include "imap/preview_fill.h"
#include "imap/user_job.h"
#include "core/util.h"
#include "mail/preview.h"
#include "store/store.h"

#include <stdlib.h>

static void *fill_make(const char *data, size_t len)
{
	return mail_preview_compute(data, len);
}

static int fill_put(struct store_user *u, char (*blobs)[65], void *const *items, size_t n)
{
	return store_preview_put(u, blobs, (char *const *)items, n);
}

static const struct user_job_blobs fill_blobs = { store_preview_pending, PREVIEW_FILL_STEP,
						  fill_make, fill_put, free };

/* One step: the next messages without a preview after the cursor (pool
 * thread). */
static bool fill_step(struct user_job *j, struct store_user *u)
{
	return user_job_blobs_step(j, u, &fill_blobs);
}

static const struct user_job_kind fill_kind = { "preview_fill", "made", fill_step };

void preview_fill_kick(struct event_base *base, const char *user)
{
	user_job_kick(&fill_kind, base, user);
}

size_t preview_fill_running(void)
{
	return user_job_running(&fill_kind);
}
