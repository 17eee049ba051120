/*
 * redrive_int: what redrive.c (the run), redrive_ledger.c (what is settled,
 * and the commit metadata) and redrive_admin.c (the release POST) share.
 *
 * Threading: the redrive's thread only.
 * Ownership: a ledger owns its records and their key copies.
 */
#ifndef FG_REDRIVE_INT_H
#define FG_REDRIVE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Dead letters of [from, to) whose key is @key (NULL: any) and whose
 * timestamp is at least min_ts were settled by some run. */
typedef struct fg_rdl_range {
        int64_t from, to, min_ts;
        unsigned char *key;
        size_t key_len;
} fg_rdl_range_t;

/* One partition of the dead-letter topic. */
typedef struct fg_rdl {
        int32_t partition;
        int64_t prefix;    /* first offset not settled (what to commit) */
        bool open;         /* nothing left unsettled so far */
        int64_t pos;       /* next offset to read */
        int64_t end;       /* this round reads up to here */
        int64_t round_from;/* where this round started reading */
        fg_rdl_range_t *r;
        size_t nr;
} fg_rdl_t;

/* Starts at @p start with the records of @p md (the committed metadata;
 * anything that is not ours is ignored: returns -1 then). */
int fg_rdl_init(fg_rdl_t *l, int32_t partition, int64_t start, const char *md, size_t md_len);
void fg_rdl_free(fg_rdl_t *l);
bool fg_rdl_covered(const fg_rdl_t *l, int64_t off, const void *key, size_t key_len, int64_t ts);
/* The message at @p off is settled (or not): the prefix follows. */
void fg_rdl_settle(fg_rdl_t *l, int64_t off);
void fg_rdl_leave(fg_rdl_t *l, int64_t off);
/* The read position reached @p off with nothing in between (end, gaps). */
void fg_rdl_reached(fg_rdl_t *l, int64_t off);
/* Records this round's selection over [round_from, pos). */
void fg_rdl_record(fg_rdl_t *l, const void *key, size_t key_len, int64_t min_ts);
/* The metadata to commit with the prefix (records below it dropped) into
 * @p buf; its length, or -1 when it would not fit. */
long fg_rdl_encode(fg_rdl_t *l, char *buf, size_t size);
/* What recording one more selection would add, at most. */
size_t fg_rdl_record_size(size_t key_len);

/* POSTs /parked/release to @p admin ("host:port"). 0 with the HTTP status
 * and (part of) the body, or -1 when no answer came (reason in errstr). */
int fg_rd_release(const char *admin, const void *key, size_t key_len, int64_t since_ms,
                  int64_t through_seq, int64_t timeout_ns, int *status, char *body,
                  size_t body_size, char *errstr, size_t errstr_size);

#endif
