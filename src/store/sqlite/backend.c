/* The SQLite backend's entry in the store front's table (store/backend.h):
 * which function of db.c, mailbox.c, message.c and watch.c answers each
 * member. The front reaches this backend only through this table. */
#include "store/sqlite/sqlite_internal.h"

static void sqlite_shutdown(void)
{
	sqlite_ckpt_stop();  /* it opens handles */
	sqlite_sync_stop();  /* durable: syncs what is pending; its unlinks open handles */
	sqlite_cache_drop();
	sqlite_acl_registry_close();
}

const struct store_backend store_sqlite_backend = {
	.name = "sqlite",
	.init = NULL,
	.shutdown = sqlite_shutdown,
	.user_open = sqlite_user_open,
	.user_close = sqlite_user_close,
	.read_hold = sqlite_read_hold,
	.read_release = sqlite_read_release,
	.cache_drop = sqlite_cache_drop,
	.user_remove = sqlite_user_remove,
	.mailbox_list = sqlite_mailbox_list,
	.mailbox_get = sqlite_mailbox_get,
	.mailbox_create = sqlite_mailbox_create,
	.mailbox_delete = sqlite_mailbox_delete,
	.mailbox_rename = sqlite_mailbox_rename,
	.mailbox_take_recent = sqlite_mailbox_take_recent,
	.subscription_list = sqlite_subscription_list,
	.subscribe = sqlite_subscribe,
	.msg_list = sqlite_msg_list,
	.msg_get = sqlite_msg_get,
	.msg_cached = sqlite_msg_cached,
	.changes = sqlite_changes,
	.append = sqlite_append,
	.flags = sqlite_flags,
	.copy = sqlite_copy,
	.expunge = sqlite_expunge,
	.expunged_floor = sqlite_expunged_floor,
	.quota_get = sqlite_quota_get,
	.quota_set = sqlite_quota_set,
	.quota_recount = sqlite_quota_recount,
	.watch_start = sqlite_watch_start,
	.watch_stop = sqlite_watch_stop,
	.watch_user = sqlite_watch_user,
	.unwatch_user = sqlite_unwatch_user,
	.mailbox_keywords = sqlite_mailbox_keywords,
	/* searchidx */
	.search_docs = sqlite_search_docs,
	.search_text = sqlite_search_text,
	.search_pending = sqlite_search_pending,
	.search_put = sqlite_search_put,
	.search_gc = sqlite_search_gc,
	.search_field = sqlite_search_field,
	.search_coverage = sqlite_search_coverage,
	/* acl (issue #12) */
	.acl_list = sqlite_acl_list,
	.acl_set = sqlite_acl_set,
	.acl_registry_add = sqlite_acl_registry_add,
	.acl_registry_remove = sqlite_acl_registry_remove,
	.acl_registry_owners = sqlite_acl_registry_owners,
	/* metadata (issue #12) */
	.meta_get = sqlite_meta_get,
	.meta_set = sqlite_meta_set,
	/* preview (RFC 8970) */
	.msg_preview = sqlite_msg_preview,
	.preview_pending = sqlite_preview_pending,
	.preview_put = sqlite_preview_put,
	.replace = sqlite_replace,
	/* aclseen (issue #12) */
	.pvtseen_rows = sqlite_pvtseen_rows,
	.pvtseen_count = sqlite_pvtseen_count,
	/* check (issue #13) */
	.check = sqlite_check,
	/* migrate (issue #13) */
	.import_mailbox = sqlite_import_mailbox,
	.import_append = sqlite_import_append,
	.import_uidnext = sqlite_import_uidnext,
	/* bigsel (issue #14) */
	.msg_flags = sqlite_msg_flags,
	/* durable (issue #14) */
	.sync_start = sqlite_sync_start,
	.sync_flush = sqlite_sync_flush,
	.sync_stats = sqlite_sync_stats,
	/* snap (issue #14) */
	.mailbox_version = sqlite_mailbox_version,
	/* idle (issue #14) */
	.cache_trim = sqlite_cache_trim,
	/* snapd (issue #14) */
	.snap_read = sqlite_snap_read,
	/* inline (issue #14) */
	.blob_get = sqlite_blob_get,
};
