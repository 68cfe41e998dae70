/*
 * state.h - a task's store instances (struct sluice_kv_s): the backend,
 * the record cache in front of it, the changelog behind it, and the
 * timestamps Sluice keeps with every value.
 *
 * In the backend a value is stored as 8 bytes of big-endian timestamp
 * followed by the value's bytes; in the changelog it is the value's bytes
 * with the timestamp as the record's (Kafka Streams' timestamped stores
 * write the same changelog).
 */
#ifndef SLUICE_STATE_H
#define SLUICE_STATE_H

#include "common.h"
#include "oset.h"
#include "topology.h"

#include <threads.h>

typedef struct sl_task_s sl_task_t;

/* The cache budget shared by the tasks of one thread (or one driver). */
typedef struct sl_cache_budget_s {
        size_t max; /* 0: no caching */
        size_t used;
} sl_cache_budget_t;

typedef struct sl_cent_s sl_cent_t;

/* Where the runtime records the offsets of delivered changelog records
 * (the thread owns it; it outlives the task). */
typedef struct sl_clog_slot_s {
        int store;         /* index of the store */
        int32_t partition; /* of its changelog */
        int64_t last;      /* offset of the last delivered record, -1: none */
        int inflight;      /* records produced, not yet reported */
} sl_clog_slot_t;

struct sluice_kv_s {
        const sl_store_def_t *def;
        const sluice_store_type_t *type;
        void *h; /* the backend's handle */
        sl_task_t *task;
        char *path; /* the instance's directory */

        /* record cache: a hash of entries, and a list in last-write order;
         * and, from the first range over the store on, its entries in key
         * order (NULL until then) */
        sl_cent_t **buckets;
        size_t bucket_cnt; /* power of two */
        sl_cent_t *head, *tail;
        sl_cent_t *spare; /* flushed entries kept for reuse (a few) */
        size_t spare_cnt;
        size_t cached;       /* entries */
        size_t cached_bytes; /* counted in the budget */
        sl_oset_t *corder;

        /* changelog */
        int64_t checkpoint; /* next changelog offset it reflects; -1: none */
        sl_clog_slot_t *slot;
        int restoring;
        uint64_t restored;
        int64_t restore_start, restore_end;
        int64_t restore_t0_ms, restore_log_ms;

        struct sl_versioned_s *ver; /* a versioned store's state
                                       (lib/versioned.c), read lazily */

        sluice_buf_t buf; /* timestamp + value scratch */
        int iterating;    /* an iterator is open (writes refused) */
};

/* Open the instance of @def for @task (state.dir, app, task, store
 * for a persistent backend). 0 or an error with errstr. */
int sl_kv_open(sl_task_t *task, const sl_store_def_t *def, sluice_kv_t **out,
               char *errstr, size_t errstr_size);
/* Close (the cache must have been flushed; what is left is dropped). */
void sl_kv_close(sluice_kv_t *kv);

/* The backend type for @def under @conf (registered or built in), or NULL
 * with errstr naming the store and type. */
const sluice_store_type_t *sl_store_type_for(const sluice_conf_t *conf,
                                             const sl_store_def_t *def,
                                             char *errstr,
                                             size_t errstr_size);

/* Read @key through the cache: 1 with the value and its timestamp, 0 if
 * absent, < 0 on error. The value is borrowed until the next call on @kv. */
int sl_kv_get(sluice_kv_t *kv, const void *key, size_t klen,
              const void **value, size_t *vlen, int64_t *ts);
/*
 * Write @key = @value (NULL: delete) at @ts. With the cache on, the write
 * is cached (and may evict: flush this store's cache, forwarding its
 * updates); returns 1. Without, it goes to the backend and the changelog
 * now and returns 0: the caller forwards the update itself. < 0: error
 * (task->errstr set).
 */
int sl_kv_write(sluice_kv_t *kv, const void *key, size_t klen,
                const void *value, size_t vlen, int64_t ts);
/* Flush the cache: every dirty entry, in last-write order, goes to the
 * backend and the changelog and (DSL stores) is forwarded downstream from
 * the owner node. 0 or an error (task->errstr set). */
int sl_kv_flush_cache(sluice_kv_t *kv);
/* Backend + changelog now, bypassing the cache (a flushed entry). */
int sl_kv_write_flushed(sluice_kv_t *kv, const void *key, size_t klen,
                        const void *value, size_t vlen, int64_t ts);
/* Visit [from, to] (NULL: open) in key order, the cache's entries
 * overriding the backend's. Returns the count visited or < 0. */
int64_t sl_kv_range(sluice_kv_t *kv, const void *from, size_t from_len,
                    const void *to, size_t to_len, sluice_kv_cb *cb,
                    void *opaque);

/* Delete every record (a full restore over stale data). 0 or -1. */
int sl_kv_wipe(sluice_kv_t *kv);
/* A changelog record during restore: straight into the backend. */
int sl_kv_restore(sluice_kv_t *kv, const void *key, size_t klen,
                  const void *value, size_t vlen, int64_t ts);

/* Checkpoint file of a task directory: read the offset of @store (-1 if
 * none, or if the file is damaged), write all of a task's. */
int64_t sl_checkpoint_read(const char *task_dir, const char *store);
/* 0 if the file is absent or well-formed; -1 with @why if it is damaged
 * (empty, garbage): its offsets are then not trusted. */
int sl_checkpoint_check(const char *task_dir, char *why, size_t why_size);
/* The backend's reason for error @err (version 2 last_error()), or the
 * code's name, into @buf. */
const char *sl_kv_reason(const sluice_kv_t *kv, int err, char *buf,
                         size_t size);
/* The backend's longest key (0: no limit). */
size_t sl_kv_max_key(const sluice_kv_t *kv);
int sl_checkpoint_write(const char *task_dir, sluice_kv_t **kvs, size_t cnt,
                        char *errstr, size_t errstr_size);

/* <state.dir>/<app>; malloc'ed. The app adds its instance to it. */
char *sl_state_base(const sluice_conf_t *conf, const char *app_id);
/* Directory of a task: <base>/<sub>_<partition>; malloc'ed. */
char *sl_task_dir(const char *base, int sub, int32_t partition);
/* mkdir -p. 0 or -1 with errstr. */
int sl_mkdirs(const char *path, char *errstr, size_t errstr_size);

/* op_window.c: a window store's windows of @key (NULL: all keys) whose
 * start (sessions: that overlap) is in [@from, @to]; for the local
 * queries. The count visited, or an error (SLUICE_ERR_INVALID_ARG: not a
 * window store). */
int64_t sl_window_fetch(sluice_kv_t *kv, const void *key, size_t key_len,
                        int64_t from, int64_t to, sluice_window_cb *cb,
                        void *opaque);

#endif
