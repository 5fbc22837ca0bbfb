/* IMAP system flags as bits, shared by every layer (RFC 9051 2.3.2). */
#ifndef RAMPART_CORE_FLAGS_H
#define RAMPART_CORE_FLAGS_H

#define MAIL_FLAG_SEEN     0x01u
#define MAIL_FLAG_ANSWERED 0x02u
#define MAIL_FLAG_FLAGGED  0x04u
#define MAIL_FLAG_DELETED  0x08u
#define MAIL_FLAG_DRAFT    0x10u
/* \Recent is never stored: a session derives it (rev1 only). */
#define MAIL_FLAG_RECENT   0x20u
#define MAIL_FLAGS_STORED  0x1fu

#endif
