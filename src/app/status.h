/* The status page on the administrator's HTTP listener (app/http.h): "/"
 * is one static HTML page (src/app/status_page.html, embedded at build
 * time) whose own script draws everything from "/status.json": current
 * connections, logins and failures per minute over the last hour, the top
 * failing sources and usernames, lockouts, recent alerts, storage per
 * user. */
#ifndef RAMPART_APP_STATUS_H
#define RAMPART_APP_STATUS_H

struct config;

/* Registers "/" and "/status.json" (before http_start()) and starts the
 * thread that measures storage per user when the page asks for it. cfg
 * must outlive app_status_stop(). 0 or -1 (logged). */
int app_status_start(const struct config *cfg);
/* Stops that thread; after http_stop(). Safe when not started. */
void app_status_stop(void);

#endif
