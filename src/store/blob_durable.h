/* Blob files whose directory entry this process has seen fsync'd
 * (store/blob_durable.c, issue #14 dlv). */
#ifndef RAMPART_STORE_BLOB_DURABLE_H
#define RAMPART_STORE_BLOB_DURABLE_H

#include <stdbool.h>
#include <sys/stat.h>

/* Is the file that stat() described as `st` one whose name was durable
 * (its directory fsync'd after this very inode, unchanged since, had the
 * name)? False when unknown: the caller fsyncs the directory. */
bool blob_durable_known(const struct stat *st);
/* The directory holding the file described by `st` (read before the
 * fsync) was fsync'd without error. */
void blob_durable_note(const struct stat *st);

#endif
