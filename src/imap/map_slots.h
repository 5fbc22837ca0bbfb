/* How many big messages are mapped and parsed at once in this process
 * (APPEND's cached structure, the background indexer): mapped pages count
 * in the RSS while mapped, and the parse is CPU-bound, so more at once
 * would only hold more memory, not finish sooner. */
#ifndef RAMPART_IMAP_MAP_SLOTS_H
#define RAMPART_IMAP_MAP_SLOTS_H

#include <stddef.h>

/* Messages below this size are parsed without a slot. */
#define MAP_SLOT_MIN_BYTES (1u << 20)

/* Waits for one of the MAP_SLOTS slots. */
void map_slot_take(void);
void map_slot_give(void);

#endif
