/*
 * versioned.h - versioned key-value stores (Kafka Streams'
 * VersionedKeyValueStore, KIP-889) and the time-ordered grace buffer of
 * stream records (KIP-923), both built on the ordinary store interface so
 * that they run on every backend (memory, LMDB, a user's store).
 *
 * Who calls what:
 *   - op_table.c: a table materialized with sluice_table_set_versioned()
 *     writes its store with sl_versioned_put() and forwards what KIP-914
 *     says (out-of-order updates flagged SL_REC_NOT_LATEST).
 *   - state.c: a versioned store's changelog records are restored through
 *     sl_versioned_restore(); sl_kv_wipe() calls sl_versioned_forget().
 *   - a stream-table join (op_join.c) looks the table up with
 *     sl_versioned_get(kv, key, klen, stream_record_ts, ...) (KIP-914),
 *     and with a grace period buffers its stream records in an
 *     sl_gbuf_t (KIP-923), releasing them in timestamp order.
 *   - test_driver.c / app.c: local queries (sluice_*_versioned_get()).
 *
 * Thread-safety: none of their own. Every function here runs on the thread
 * that owns the task of @kv (or under the task's lock, for a local query),
 * like every other store access.
 *
 * Semantics (read in apache/kafka trunk 1eb7644, RocksDBVersionedStore,
 * VersionedKeyValueStore, KTableSource, RocksDBTimeOrderedKeyValueBuffer,
 * KStreamKTableJoinProcessor):
 *   - put(key, value, ts) keeps a version valid from ts until the next
 *     version's ts; a NULL value is a tombstone (a version saying "absent");
 *     a put at an existing version's ts replaces it; an out-of-order put is
 *     inserted into the history, splitting the version it lands in.
 *   - The store's observed stream time is the largest ts it accepted (-1
 *     before the first). A put with ts < stream time - history retention
 *     is refused (not stored, not logged, not forwarded); the grace period
 *     equals the history retention, as in Kafka Streams.
 *   - get(key, as_of) returns the version with valid_from <= as_of <
 *     valid_to. If as_of < stream time - history retention only the latest
 *     version can be returned (when it is not a tombstone and its ts <=
 *     as_of): older history is not served even if still on disk. The
 *     latest version of a key never expires; a tombstone that is the latest
 *     goes once it is older than the retention.
 *   - On purpose unlike Kafka Streams: the stream time is kept in a meta
 *     record (backend only, written at commits) and survives a restart
 *     (RocksDBVersionedStore starts at -1 when it reopens local state); the
 *     grace buffer's sequence counter too (Kafka Streams' restarts at 0,
 *     which can overwrite a buffered record of the same key and time).
 */
#ifndef SLUICE_VERSIONED_H
#define SLUICE_VERSIONED_H

#include "state.h"

/* The valid_to of a key's latest version (still valid), and the as_of that
 * asks for the latest version: SLUICE_TS_LATEST (INT64_MAX, sluice.h). */

/* ---- versioned stores ---- */

/* 1 if @kv is a versioned store's instance (sluice_table_set_versioned()). */
int sl_versioned_is(const sluice_kv_t *kv);

/*
 * Look up the version of @key valid at @as_of (SLUICE_TS_LATEST: the
 * latest version, Kafka Streams' get(key)).
 * Returns 1 with *@value / *@vlen (borrowed: valid until the next call on
 * @kv of any kind; *@vlen may be 0 for an empty value, *@value is then
 * non-NULL), *@valid_from and *@valid_to (SLUICE_TS_LATEST for the
 * latest version); 0 if there is none (never written, a tombstone, older
 * than the first version, or older than the history retention); < 0 on
 * a store error (SLUICE_ERR_STATE, SLUICE_ERR_NOMEM; kv->task->errstr
 * names the store), or SLUICE_ERR_INVALID_ARG if @kv is not versioned.
 * Any of the out pointers may be NULL.
 * Reads only: never writes the store or its changelog.
 */
int sl_versioned_get(sluice_kv_t *kv, const void *key, size_t klen,
                     int64_t as_of, const void **value, size_t *vlen,
                     int64_t *valid_from, int64_t *valid_to);

/*
 * Put version (@key, @value, @ts) (@value NULL: a tombstone; an empty value
 * is @vlen 0 with a non-NULL @value), write its changelog record (key,
 * value, ts) and advance the store's stream time.
 * Returns 1 if it was put, with *@valid_to the version's valid_to
 * (SLUICE_TS_LATEST if it is the key's latest version now: Kafka Streams'
 * PUT_RETURN_CODE_VALID_TO_UNDEFINED); 0 if it was refused because @ts <
 * stream time - history retention (PUT_RETURN_CODE_NOT_PUT: nothing
 * changed); < 0 on error (kv->task->errstr set; SLUICE_ERR_TOO_LARGE for a
 * key the backend cannot hold). @ts must be >= 0.
 */
int sl_versioned_put(sluice_kv_t *kv, const void *key, size_t klen,
                     const void *value, size_t vlen, int64_t ts,
                     int64_t *valid_to);

/* A changelog record of a versioned store during restore: the same put,
 * without the changelog write (a record refused when it was written is
 * refused again). 0 or < 0. */
int sl_versioned_restore(sluice_kv_t *kv, const void *key, size_t klen,
                         const void *value, size_t vlen, int64_t ts);

/* The store's observed stream time (-1 before the first put). < -1: error
 * reading its meta record. */
int64_t sl_versioned_stream_time(sluice_kv_t *kv);

/*
 * At a commit (and once the store is restored): drop the history that can
 * no longer be read (whole segments, backend only: the changelog is
 * compacted on the key) and the latest tombstones older than the
 * retention, and record the stream time in the store's meta record (backend
 * only; a full restore recomputes it from the changelog). 0 or < 0
 * (kv->task->errstr set).
 */
int sl_versioned_commit(sluice_kv_t *kv);

/* The store's data was wiped (sl_kv_wipe): forget what was read of it. */
void sl_versioned_forget(sluice_kv_t *kv);
/* Free the per-instance state (sl_kv_close). */
void sl_versioned_free(sluice_kv_t *kv);

/* op_table.c, for the builder of an operator over a table (a join): the
 * index of the versioned store behind @node, a table node, when @node is a
 * versioned table's source or a filter / filter_not / map_values chain
 * over one (Kafka Streams' isVersioned value getters: look the source up
 * as of a time, then apply the chain's callbacks to what it returns); -1
 * when the table is not versioned. Valid once the topology is built
 * (sluice_table_set_versioned() may come after the node). */
int sl_table_versioned_store(const sl_node_t *node);

/* Kafka Streams' default segment interval for @history_ms
 * (RocksDbVersionedKeyValueBytesStoreSupplier.defaultSegmentInterval). */
int64_t sl_versioned_segment_ms(int64_t history_ms);

/* ---- the grace buffer (KIP-923) ----
 *
 * A time-ordered buffer of stream records over its own store instance
 * @kv (a store of the operator that owns it, changelogged like every
 * store; nothing else may write it). Records are kept under
 * [ts][key bytes][seq] (seq: a per-buffer counter) and released in that
 * order (Kafka Streams' TimeFirstWindowKeySchema: timestamp, then key
 * bytes, then arrival) once ts <= stream time - grace, where the stream
 * time is the largest ts of a record added to the buffer. A record whose
 * ts is already < stream time - grace is not buffered: sl_gbuf_add()
 * returns 0 and the caller processes it at once (Kafka Streams joins it
 * immediately and evicts nothing). The buffer's records, its sequence
 * counter and its stream time survive a restart through the changelog (a
 * restored buffer rebuilds them in sl_gbuf_open()).
 *
 * Driving it from an operator:
 *   open:    (task start) nothing; ready: sl_gbuf_open(kv, grace, &b)
 *   process: r = sl_gbuf_add(b, ...); if r == 0 handle the record now;
 *            if r == 1 sl_gbuf_release(b, cb, opaque)
 *   commit:  sl_gbuf_commit(b)      close: sl_gbuf_close(b)
 */
typedef struct sl_gbuf_s sl_gbuf_t;

/* A released record: @key (NULL for a null key) and @value (NULL for a
 * null value) are borrowed for the call. The callback may process the
 * record through the topology (write other stores, forward) but must not
 * call into this buffer. Return 0, or an error code that stops the
 * release (the record stays buffered). */
typedef int(sl_gbuf_cb)(const void *key, size_t klen, const void *value,
                        size_t vlen, int64_t ts, void *opaque);

/* A buffer over @kv (after its restore) with grace @grace_ms >= 0; it reads
 * what @kv holds. 0 or < 0 (kv->task->errstr set). */
int sl_gbuf_open(sluice_kv_t *kv, int64_t grace_ms, sl_gbuf_t **out);
void sl_gbuf_close(sl_gbuf_t *b);
/* Add a record (its bytes are copied). 1: buffered; 0: already older than
 * stream time - grace, not buffered (the caller handles it now); < 0. */
int sl_gbuf_add(sl_gbuf_t *b, const void *key, size_t klen,
                const void *value, size_t vlen, int64_t ts);
/* Release every record with ts <= stream time - grace, in order: @cb, then
 * its deletion (backend and changelog tombstone). Returns the count
 * released, or < 0 (@cb's error, or a store error). */
int64_t sl_gbuf_release(sl_gbuf_t *b, sl_gbuf_cb *cb, void *opaque);
/* Record the stream time and sequence counter (a meta record in the store
 * and its changelog) if they moved. 0 or < 0. */
int sl_gbuf_commit(sl_gbuf_t *b);
/* The buffer's stream time (-1: nothing added yet) and record count. */
int64_t sl_gbuf_stream_time(const sl_gbuf_t *b);
uint64_t sl_gbuf_count(const sl_gbuf_t *b);

#endif
