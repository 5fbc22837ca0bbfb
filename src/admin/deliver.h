/* `rampart deliver`: durable local delivery of one message from stdin,
 * for Postfix/Exim pipe transports and scripts. Exit status per
 * sysexits(3): 0 delivered, 64 usage, 65 bad message, 67 unknown user,
 * 73 cannot create, 75 temporary failure (retry), 78 config error. */
#ifndef RAMPART_ADMIN_DELIVER_H
#define RAMPART_ADMIN_DELIVER_H

int admin_deliver_main(int argc, char **argv);

#endif
