/* COMPRESS (RFC 4978): switches the connection to raw DEFLATE. The
 * network layer does the compressing (net/compress.c, behind
 * conn_io.compress); this file only decides whether the command may run
 * and where the switch happens: right after the CRLF of the tagged OK
 * (RFC 4978 3). TLS compression is always off (net/tls.c), so only a
 * second COMPRESS finds compression active. */
#include "imap/session_internal.h"
#include "core/log.h"
#include "core/proto.h"
#include "core/util.h"

void cmd_compress(struct imap_cmd *cmd, const struct imap_arg *args, size_t nargs)
{
	struct imap_session *s = cmd->s;
	if (nargs != 1 || args[0].type != IMAP_ARG_ATOM) {
		sess_tagged(s, "BAD", "COMPRESS takes one mechanism");
		return;
	}
	if (!ascii_ieq(args[0].str, "DEFLATE")) {
		sess_tagged(s, "BAD", "Unknown compression mechanism");
		return;
	}
	/* RFC 4978 3: NO with COMPRESSIONACTIVE, saying which layer. */
	if (s->compressed) {
		sess_tagged(s, "NO", "[COMPRESSIONACTIVE] DEFLATE active via COMPRESS");
		return;
	}
	if (!s->io->compress) {
		sess_tagged(s, "NO", "[CANNOT] This connection cannot be compressed");
		return;
	}
	sess_tagged(s, "OK", "DEFLATE active");
	sess_flush(s);
	s->compressed = true;
	if (!s->io->compress(s->conn)) {
		/* The client compresses from now on: nothing more can be said. */
		log_warn("event=disconnect reason=compress_failed ip=%s user=%s", s->peer,
			 s->user ? s->user : "-");
		s->closing = true;
		s->io->close(s->conn);
	}
}
