/* Who is connected, across every worker: gathers imap/who.c's per-thread
 * lists for the control socket's "who" and "kick" verbs (`rampart who`,
 * `rampart kick`) and for the status page (app/status.c). */
#ifndef RAMPART_APP_WHO_H
#define RAMPART_APP_WHO_H

#include "imap/who.h"

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>

struct server;
struct strbuf;


/* The server whose workers are asked; NULL detaches (before it is freed:
 * a request under way then finds nothing). Registers the verbs "who" and
 * "kick" on the first call. */
void app_who_attach(struct server *srv);

/* Every connection of every worker, oldest first (caller frees *rows).
 * Waits for the workers at most 2 s; false when one did not answer in
 * time (the rows are those that did). */
bool app_who_snapshot(struct imap_who_row **rows, size_t *n);
/* Ends the connections of `user` or from `ip` (one of them non-NULL),
 * only those logged in with `credential` when non-NULL, on every worker
 * with "* BYE text"; the number ended. */
unsigned app_who_kick(const char *user, const char *ip, const char *credential,
		      const char *text);

/* One row as a JSON object (new reference). */
json_t *app_who_row_json(const struct imap_who_row *r);
/* A string as JSON: invalid UTF-8 bytes become '?' (new reference). */
json_t *app_json_str(const char *s);

/* Control verbs: "who [json]" and "kick user NAME|ip ADDR [expired]",
 * "kick app USER NAME" (the sessions of one app password). */
int app_who_control(const char *args, struct strbuf *out);
int app_kick_control(const char *args, struct strbuf *out);

#endif
