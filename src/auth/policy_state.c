/* The policy engine's memory across restarts: state_dir/policy.state holds
 * the counters, lockouts and known sources (auth/policy.c), so restarting
 * the server neither frees a locked attacker nor forgets which devices a
 * user logs in from.
 *
 * The file is rewritten whole (a few MB at most: only entries in use) by a
 * thread every save_interval seconds when something changed, and at
 * shutdown: written to a temporary file, fsync'd, renamed over the old one
 * and the directory fsync'd, so a crash leaves the old or the new file,
 * never half of one. A BLAKE2b checksum closes the file; a file that is
 * short, from another version, or fails its checksum is ignored (logged)
 * and the engine starts empty, which is safe: it only forgets. */
#include "auth/policy_internal.h"
#include "core/config.h"
#include "core/log.h"
#include "core/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATE_MAGIC "RPOLICY"
#define STATE_VERSION 1
#define STATE_MAX_BYTES (512u << 20)

struct state_header {
	char magic[8];
	uint32_t version;
	uint32_t entry_size;
	uint32_t known_size;
	uint32_t pad;
	uint64_t nentries;
	uint64_t nknown;
	unsigned char hkey[crypto_shorthash_KEYBYTES];
};

/* ---- save ---- */

/* Copies what is in use under the lock, writes outside it. */
int policy_save(void)
{
	struct policy *p = policy_g;
	if (!p)
		return -1;
	pthread_mutex_lock(&p->lock);
	size_t ne = 0, nk = 0;
	for (size_t i = 0; i < p->nsets * POL_WAYS; i++)
		ne += p->t[i].h != 0;
	for (size_t i = 0; i < p->knsets * POL_WAYS; i++)
		nk += p->k[i].h != 0;
	size_t len = sizeof(struct state_header) + ne * sizeof(struct pol_entry) +
		     nk * sizeof(struct pol_known) + crypto_generichash_BYTES;
	unsigned char *buf = xcalloc(1, len), *w = buf;
	struct state_header hd = { .version = STATE_VERSION,
				   .entry_size = sizeof(struct pol_entry),
				   .known_size = sizeof(struct pol_known),
				   .nentries = ne, .nknown = nk };
	memcpy(hd.magic, STATE_MAGIC, sizeof(STATE_MAGIC));
	memcpy(hd.hkey, p->hkey, sizeof(hd.hkey));
	memcpy(w, &hd, sizeof(hd));
	w += sizeof(hd);
	for (size_t i = 0; i < p->nsets * POL_WAYS; i++)
		if (p->t[i].h) {
			memcpy(w, &p->t[i], sizeof(p->t[i]));
			w += sizeof(p->t[i]);
		}
	for (size_t i = 0; i < p->knsets * POL_WAYS; i++)
		if (p->k[i].h) {
			memcpy(w, &p->k[i], sizeof(p->k[i]));
			w += sizeof(p->k[i]);
		}
	p->dirty = false;
	pthread_mutex_unlock(&p->lock);
	crypto_generichash(w, crypto_generichash_BYTES, buf, (size_t)(w - buf), NULL, 0);
	int rc = write_file_atomic(p->path, buf, len);
	free(buf);
	if (rc < 0) {
		log_err("event=policy_state_error op=save path=%s error=\"%s\"", p->path,
			strerror(errno));
		pthread_mutex_lock(&p->lock);
		p->dirty = true;
		pthread_mutex_unlock(&p->lock);
	}
	return rc;
}

/* ---- load ---- */

static unsigned char *read_file(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	unsigned char *buf = NULL;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || (uint64_t)st.st_size > STATE_MAX_BYTES)
		goto out;
	buf = xmalloc((size_t)st.st_size);
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r <= 0) {
			free(buf);
			buf = NULL;
			goto out;
		}
		got += (size_t)r;
	}
	*len = got;
out:
	close(fd);
	return buf;
}

static const char *state_check(const unsigned char *buf, size_t len, struct state_header *hd)
{
	if (len < sizeof(*hd) + crypto_generichash_BYTES)
		return "short";
	memcpy(hd, buf, sizeof(*hd));
	if (memcmp(hd->magic, STATE_MAGIC, sizeof(STATE_MAGIC)) != 0)
		return "magic";
	if (hd->version != STATE_VERSION || hd->entry_size != sizeof(struct pol_entry) ||
	    hd->known_size != sizeof(struct pol_known))
		return "version";
	if (hd->nentries > STATE_MAX_BYTES / sizeof(struct pol_entry) ||
	    hd->nknown > STATE_MAX_BYTES / sizeof(struct pol_known) ||
	    len != sizeof(*hd) + hd->nentries * sizeof(struct pol_entry) +
			   hd->nknown * sizeof(struct pol_known) + crypto_generichash_BYTES)
		return "size";
	unsigned char sum[crypto_generichash_BYTES];
	size_t body = len - crypto_generichash_BYTES;
	crypto_generichash(sum, sizeof(sum), buf, body, NULL, 0);
	if (sodium_memcmp(sum, buf + body, sizeof(sum)) != 0)
		return "checksum";
	return NULL;
}

void policy_state_load(struct policy *p)
{
	size_t len = 0;
	unsigned char *buf = read_file(p->path, &len);
	if (!buf) {
		if (errno != ENOENT)
			log_warn("event=policy_state_error op=load path=%s error=\"%s\" action=start_empty",
				 p->path, strerror(errno));
		return;
	}
	struct state_header hd;
	const char *bad = state_check(buf, len, &hd);
	if (bad) {
		log_warn("event=policy_state_error op=load path=%s reason=%s action=start_empty",
			 p->path, bad);
		free(buf);
		return;
	}
	memcpy(p->hkey, hd.hkey, sizeof(p->hkey));
	const unsigned char *r = buf + sizeof(hd);
	uint64_t now = policy_now();
	/* The table may have another size now: every entry is placed anew. */
	for (uint64_t i = 0; i < hd.nentries; i++, r += sizeof(struct pol_entry)) {
		struct pol_entry e;
		memcpy(&e, r, sizeof(e));
		if (!e.h)
			continue;
		struct pol_entry *d = policy_entry_find(p, e.h, true, now);
		*d = e;
	}
	for (uint64_t i = 0; i < hd.nknown; i++, r += sizeof(struct pol_known)) {
		struct pol_known k;
		memcpy(&k, r, sizeof(k));
		if (k.h)
			*policy_known_find(p, k.h, true, now) = k;
	}
	log_info("event=policy_state_loaded entries=%llu known=%llu",
		 (unsigned long long)hd.nentries, (unsigned long long)hd.nknown);
	free(buf);
}

/* ---- the saver thread ---- */

static void *saver_main(void *arg)
{
	struct policy *p = arg;
	pthread_mutex_lock(&p->lock);
	while (!p->stopping) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += p->cfg->policy_save_interval;
		pthread_cond_timedwait(&p->cond, &p->lock, &ts);
		if (p->stopping || !p->dirty)
			continue;
		pthread_mutex_unlock(&p->lock);
		policy_save();
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int policy_state_start(struct policy *p)
{
	if (pthread_create(&p->saver, NULL, saver_main, p) != 0) {
		log_err("event=startup_error msg=\"cannot start the policy saver thread\"");
		return -1;
	}
	p->saver_running = true;
	return 0;
}

void policy_state_stop(struct policy *p)
{
	if (!p->saver_running)
		return;
	pthread_mutex_lock(&p->lock);
	p->stopping = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->saver, NULL);
	p->saver_running = false;
}
