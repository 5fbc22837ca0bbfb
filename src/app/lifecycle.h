/* The running server's life after start-up: the signals it obeys
 * (SIGHUP reload, SIGTERM/SIGINT drain, SIGUSR1 log reopen), its pid_file
 * and what it tells systemd (sd_notify). app/serve.c builds the server
 * and hands it here; app/reload.c does the SIGHUP work. */
#ifndef RAMPART_APP_LIFECYCLE_H
#define RAMPART_APP_LIFECYCLE_H

#include <signal.h>

struct config;
struct imap_proto;
struct oauth;
struct passdb;
struct server;

/* What a reload touches; filled in by app/serve.c. */
struct lifecycle {
	const struct config *cfg;   /* the snapshot in force (starts as serve's) */
	struct passdb *passdb;
	struct oauth *oauth;        /* NULL: no [oauth] */
	struct server *srv;
	struct imap_proto *imap;    /* new sessions read its cfg */
};

/* Blocks the signals lifecycle_run() waits for in the calling thread
 * and takes $NOTIFY_SOCKET out of the environment (children do not need
 * it). Call before any other thread starts, so every thread inherits the
 * mask. */
void lifecycle_init(sigset_t *sigs);

/* pid_file: -1 (logged) when it names a live rampart process or cannot
 * be written; 0 otherwise (also without pid_file). Call after the
 * listeners are bound, before the privilege drop. */
int lifecycle_pidfile_write(const char *path);
/* Removes it at exit if it still holds our pid (logged when it cannot). */
void lifecycle_pidfile_remove(const char *path);

/* sd_notify(3)'s protocol, by hand: one datagram to $NOTIFY_SOCKET
 * ("READY=1\nSTATUS=..."); nothing without it. */
void lifecycle_notify(const char *state);

/* READY=1, then serves signals until SIGTERM/SIGINT; returns with
 * STOPPING=1 sent, for the caller to drain (server_drain). */
void lifecycle_run(struct lifecycle *lc, const sigset_t *sigs);

/* app/reload.c: SIGHUP. Re-reads and validates the configuration file;
 * a valid one becomes lc->cfg for what can change live, and the keys that
 * need a restart are logged. The users file, certificates, JWKS and
 * GeoIP database are re-read either way. */
void lifecycle_reload(struct lifecycle *lc);
/* The snapshots reloads made, freed at exit (after the server stopped). */
void lifecycle_reload_free(void);

#endif
