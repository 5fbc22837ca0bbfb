/* Memory housekeeping for idle servers (app/memtrim.c, issue #14). */
#ifndef RAMPART_APP_MEMTRIM_H
#define RAMPART_APP_MEMTRIM_H

#include <stdbool.h>

/* Starts the housekeeping thread; -1 (logged) when it cannot. */
int memtrim_start(void);
/* Stops and joins it; harmless when it never started. */
void memtrim_stop(void);
/* One pass: closes store handles unused for handle_idle_ms; when quiet,
 * gives free heap back to the kernel if enough was freed since the last
 * time. Called by the thread; tests call it directly. */
void memtrim_run_once(unsigned handle_idle_ms, bool quiet);

#endif
