/* The slots of imap/map_slots.h: a counting semaphore of pool threads
 * (a mutex and a condition variable). */
#include "imap/map_slots.h"

#include <pthread.h>

#define MAP_SLOTS 2

static pthread_mutex_t map_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t map_cond = PTHREAD_COND_INITIALIZER;
static unsigned map_busy;

void map_slot_take(void)
{
	pthread_mutex_lock(&map_lock);
	while (map_busy >= MAP_SLOTS)
		pthread_cond_wait(&map_cond, &map_lock);
	map_busy++;
	pthread_mutex_unlock(&map_lock);
}

void map_slot_give(void)
{
	pthread_mutex_lock(&map_lock);
	map_busy--;
	pthread_cond_signal(&map_cond);
	pthread_mutex_unlock(&map_lock);
}
