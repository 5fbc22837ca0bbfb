/* Where a login comes from, for the new_country and impossible_travel
 * alerts: a MaxMind-format database (GeoIP2/GeoLite2 City or Country, or
 * one built with MaxMind::DB::Writer) read through libmaxminddb.
 *
 * The database is memory-mapped once at start and re-opened on SIGHUP;
 * lookups run on the workers (a lookup is a few pointer hops in the map)
 * under a read lock, so a reload swaps the handle without stopping them.
 * Only country.iso_code (registered_country.iso_code when absent) and
 * location.latitude/longitude are read. */
#include "auth/alert_internal.h"
#include "core/log.h"
#include "core/util.h"

#include <maxminddb.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_rwlock_t geo_lock = PTHREAD_RWLOCK_INITIALIZER;
static MMDB_s *geo_db;          /* NULL: no database configured or readable */

/* Installs db (NULL: none) and closes the one it replaces, once no
 * lookup holds the read lock. */
static void geo_swap(MMDB_s *db)
{
	pthread_rwlock_wrlock(&geo_lock);
	MMDB_s *old = geo_db;
	geo_db = db;
	pthread_rwlock_unlock(&geo_lock);
	if (old) {
		MMDB_close(old);
		free(old);
	}
}

int alert_geo_open(const char *path)
{
	MMDB_s *db = xcalloc(1, sizeof(*db));
	int r = MMDB_open(path, MMDB_MODE_MMAP, db);
	if (r != MMDB_SUCCESS) {
		log_err("event=alert_error what=geoip_open path=%s error=\"%s\"", path, MMDB_strerror(r));
		free(db);
		return -1;
	}
	log_info("event=alert_geoip path=%s type=%s", path,
		 db->metadata.database_type ? db->metadata.database_type : "?");
	geo_swap(db);
	return 0;
}

void alert_geo_close(void)
{
	geo_swap(NULL);
}

/* A UTF-8 string value at the path, copied into out (ASCII letters only:
 * an ISO 3166 code). */
static bool geo_code(MMDB_entry_s *e, const char *top, char out[3])
{
	MMDB_entry_data_s d;
	if (MMDB_get_value(e, &d, top, "iso_code", NULL) != MMDB_SUCCESS || !d.has_data ||
	    d.type != MMDB_DATA_TYPE_UTF8_STRING || d.data_size != 2)
		return false;
	for (int i = 0; i < 2; i++) {
		char c = d.utf8_string[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')))
			return false;
		out[i] = (char)(c & ~0x20);
	}
	out[2] = '\0';
	return true;
}

static bool geo_double(MMDB_entry_s *e, const char *key, double *out)
{
	MMDB_entry_data_s d;
	if (MMDB_get_value(e, &d, "location", key, NULL) != MMDB_SUCCESS || !d.has_data)
		return false;
	if (d.type == MMDB_DATA_TYPE_DOUBLE)
		*out = d.double_value;
	else if (d.type == MMDB_DATA_TYPE_FLOAT)
		*out = d.float_value;
	else
		return false;
	return true;
}

bool alert_geo_lookup(const char *ip, struct alert_geo *out)
{
	memset(out, 0, sizeof(*out));
	bool found = false;
	pthread_rwlock_rdlock(&geo_lock);
	if (geo_db && ip) {
		int gai = 0, err = 0;
		MMDB_lookup_result_s r = MMDB_lookup_string(geo_db, ip, &gai, &err);
		if (gai == 0 && err == MMDB_SUCCESS && r.found_entry &&
		    (geo_code(&r.entry, "country", out->country) ||
		     geo_code(&r.entry, "registered_country", out->country))) {
			found = true;
			out->has_location = geo_double(&r.entry, "latitude", &out->lat) &&
					    geo_double(&r.entry, "longitude", &out->lon);
		}
	}
	pthread_rwlock_unlock(&geo_lock);
	return found;
}
