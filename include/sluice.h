/*
 * sluice.h - Sluice, an embeddable stream-processing library for Kafka.
 *
 * Copyright 2026 The Sluice authors. Licensed under the Apache License,
 * Version 2.0 (see LICENSE).
 *
 * This header is the manual. Every function says who owns what it takes and
 * returns, what it returns on failure, and from which threads it may be
 * called. Conventions used throughout:
 *
 *  - Handles are opaque and created by `*_new()`, released by `*_destroy()`.
 *  - Calls that can fail return `sluice_resp_t` (0 is success) and, where a
 *    message helps, fill a caller-provided `errstr` buffer of `errstr_size`
 *    bytes (always NUL-terminated when errstr_size > 0).
 *  - "Borrowed" means the library keeps a pointer but does not free it: the
 *    caller keeps it alive for the stated time. "Takes ownership" means the
 *    library frees it; the caller must not touch it afterwards.
 *  - Callbacks receive the `opaque` pointer given when they were registered.
 *  - There is no global mutable state: separate handles may be used from
 *    separate threads freely.
 *
 * librdkafka: Sluice runs on librdkafka and needs version 2.10.1 or later at
 * run time (older versions have consumer-group bugs that duplicate records or
 * hang a group). Sluice refuses an older library with a message saying so
 * (see sluice_conf_set() and sluice_driver_new()). The project's build uses
 * 2.14.2.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && __GNUC__ >= 4
#define SLUICE_API __attribute__((visibility("default")))
#else
#define SLUICE_API
#endif

/* jansson's value type; include <jansson.h> to work with JSON values. */
struct json_t;

/* ------------------------------------------------------------------------ */
/** @name Version */

/** Sluice version as 0xMMmmrrff (major, minor, revision, 0xff = release). */
#define SLUICE_VERSION 0x000100ff
/** Oldest librdkafka version Sluice runs on (2.10.1), same encoding. */
#define SLUICE_MIN_RDKAFKA_VERSION 0x020a01ff

/** @returns SLUICE_VERSION of the library linked at run time. Thread-safe. */
SLUICE_API int sluice_version(void);
/** @returns the version as a static string, e.g. "0.1.0". Thread-safe. */
SLUICE_API const char *sluice_version_str(void);
/**
 * @returns the version of the librdkafka Sluice runs on, as a static string,
 * e.g. "2.14.2": the one linked into the installed libsluice (its symbols
 * hidden, so a program's own librdkafka, if any, may be another version).
 * Thread-safe.
 */
SLUICE_API const char *sluice_rdkafka_version_str(void);

/* ------------------------------------------------------------------------ */
/** @name Errors */

typedef enum sluice_resp_e {
        SLUICE_OK = 0,
        SLUICE_ERR_INVALID_ARG = -1,    /**< NULL or malformed argument */
        SLUICE_ERR_UNKNOWN_CONF = -2,   /**< no such configuration key */
        SLUICE_ERR_INVALID_CONF = -3,   /**< bad configuration value */
        SLUICE_ERR_TOPOLOGY = -4,       /**< topology is invalid */
        SLUICE_ERR_SERDE = -5,          /**< (de)serialization failed */
        SLUICE_ERR_NOMEM = -6,          /**< out of memory */
        SLUICE_ERR_STATE = -7,          /**< call not valid in this state */
        SLUICE_ERR_UNKNOWN_TOPIC = -8,  /**< topic not part of the topology */
        SLUICE_ERR_CALLBACK = -9,       /**< a user callback reported failure */
        SLUICE_ERR_VERSION = -10,       /**< librdkafka too old */
        /** a store backend's files are damaged (returned by a backend's
         *  open(): Sluice moves them aside and restores from the changelog) */
        SLUICE_ERR_CORRUPT = -11,
        /** a store instance is in use by another process (returned by a
         *  backend's open(): Sluice retries with back-off for a while) */
        SLUICE_ERR_BUSY = -12,
        /** a record a store cannot hold (e.g. a key over the backend's
         *  max_key_len): the record fails, and the
         *  processing.exception.handler decides what happens to it */
        SLUICE_ERR_TOO_LARGE = -13,
        /** a record's timestamp is invalid (negative) and
         *  `default.timestamp.extractor` says to fail (the default, as
         *  Kafka Streams' FailOnInvalidTimestamp): fatal, like a failed
         *  store, never routed to the processing.exception.handler */
        SLUICE_ERR_TIMESTAMP = -14,
} sluice_resp_t;

/** @returns a static, human-readable name for @p err. Thread-safe. */
SLUICE_API const char *sluice_err2str(sluice_resp_t err);

/* ------------------------------------------------------------------------ */
/** @name Values
 *
 * Keys and values flow between operators decoded, as a sluice_value_t: a
 * small tagged union. A serde turns Kafka bytes into a value at the source
 * and back into bytes at a sink; operators in between see only values.
 *
 * Ownership of values handed to Sluice (sluice_record_set_key(),
 * sluice_record_set_value(), sluice_emit(), ...): bytes and strings are
 * copied (into a per-task buffer; no allocation in the steady state); a JSON
 * value's reference and a SLUICE_VALUE_OBJECT pointer are taken over (Sluice
 * calls json_decref() or the object's free_fn when done with it) - their
 * constructors say so with the `_new` suffix, as jansson's
 * json_object_set_new() does. Handing back the record's own current key or
 * value (e.g. after editing it) is recognised and takes nothing over.
 *
 * Values read from a record (sluice_record_key(), sluice_record_value()) are
 * borrowed: valid until the callback returns. STRING data is always
 * NUL-terminated (the terminator is not counted in len).
 */
typedef enum sluice_type_e {
        SLUICE_VALUE_NULL = 0, /**< absent: Kafka null key / tombstone */
        SLUICE_VALUE_BYTES,    /**< u.bytes: opaque bytes */
        SLUICE_VALUE_STRING,   /**< u.bytes: UTF-8 text, NUL-terminated */
        SLUICE_VALUE_INT32,    /**< u.i32 */
        SLUICE_VALUE_INT64,    /**< u.i64 */
        SLUICE_VALUE_DOUBLE,   /**< u.f64 */
        SLUICE_VALUE_JSON,     /**< u.json: a jansson value */
        SLUICE_VALUE_OBJECT    /**< u.obj: anything a user serde decodes */
} sluice_type_t;

typedef struct sluice_value_s {
        sluice_type_t type;
        union {
                struct {
                        const void *data;
                        size_t len;
                } bytes;
                int32_t i32;
                int64_t i64;
                double f64;
                struct json_t *json;
                struct {
                        void *ptr;
                        void (*free_fn)(void *ptr); /**< may be NULL */
                } obj;
        } u;
} sluice_value_t;

/** Value constructors (no allocation; see the ownership rules above). */
static inline sluice_value_t sluice_null(void) {
        sluice_value_t v;
        v.type        = SLUICE_VALUE_NULL;
        v.u.bytes.data = NULL;
        v.u.bytes.len  = 0;
        return v;
}
static inline sluice_value_t sluice_bytes(const void *data, size_t len) {
        sluice_value_t v;
        v.type         = SLUICE_VALUE_BYTES;
        v.u.bytes.data = data;
        v.u.bytes.len  = len;
        return v;
}
/** A string of @p len bytes (need not be NUL-terminated). */
static inline sluice_value_t sluice_strn(const char *s, size_t len) {
        sluice_value_t v = sluice_bytes(s, len);
        v.type           = SLUICE_VALUE_STRING;
        return v;
}
/** A NUL-terminated string. */
static inline sluice_value_t sluice_str(const char *s) {
        size_t n = 0;
        while (s[n])
                n++;
        return sluice_strn(s, n);
}
static inline sluice_value_t sluice_int32(int32_t x) {
        sluice_value_t v;
        v.type  = SLUICE_VALUE_INT32;
        v.u.i64 = 0;
        v.u.i32 = x;
        return v;
}
static inline sluice_value_t sluice_int64(int64_t x) {
        sluice_value_t v;
        v.type  = SLUICE_VALUE_INT64;
        v.u.i64 = x;
        return v;
}
static inline sluice_value_t sluice_double(double x) {
        sluice_value_t v;
        v.type  = SLUICE_VALUE_DOUBLE;
        v.u.f64 = x;
        return v;
}
/** A JSON value; the reference is taken over when the value is handed in
 *  (use json_incref() first to keep one). */
static inline sluice_value_t sluice_json_new(struct json_t *j) {
        sluice_value_t v;
        v.type   = SLUICE_VALUE_JSON;
        v.u.json = j;
        return v;
}
/** A user object, released with @p free_fn (may be NULL) when done. */
static inline sluice_value_t sluice_object_new(void *ptr, void (*free_fn)(void *)) {
        sluice_value_t v;
        v.type          = SLUICE_VALUE_OBJECT;
        v.u.obj.ptr     = ptr;
        v.u.obj.free_fn = free_fn;
        return v;
}

/** @returns a static name for @p type ("string", "int64", ...). */
SLUICE_API const char *sluice_type_name(sluice_type_t type);

/* ------------------------------------------------------------------------ */
/** @name Serdes
 *
 * A serde converts between Kafka bytes and a sluice_value_t. The built-in
 * serdes are immutable singletons (thread-safe, never freed). A user serde is
 * a sluice_serde_t the user fills in and keeps alive for as long as any
 * topology that uses it:
 *
 * @code
 *   static const sluice_serde_t point_serde = {
 *       .version = SLUICE_SERDE_VERSION, .name = "point",
 *       .deserialize = point_decode, .serialize = point_encode,
 *   };
 * @endcode
 *
 * Null handling: a Kafka null (absent key, tombstone value) never reaches a
 * serde; it decodes to SLUICE_VALUE_NULL and a SLUICE_VALUE_NULL value is
 * written as Kafka null, whatever the serde.
 */
#define SLUICE_SERDE_VERSION 1

typedef struct sluice_serde_s sluice_serde_t;

/**
 * Output buffer a serializer may write into. Owned by Sluice and reused
 * between records; grow it with sluice_buf_reserve().
 */
typedef struct sluice_buf_s {
        unsigned char *data;
        size_t len; /**< bytes written so far */
        size_t cap; /**< bytes allocated */
} sluice_buf_t;

/**
 * Ensure @p buf has room for @p extra more bytes beyond len.
 * @returns 0, or SLUICE_ERR_NOMEM. Not thread-safe (per-buffer).
 */
SLUICE_API int sluice_buf_reserve(sluice_buf_t *buf, size_t extra);

struct sluice_serde_s {
        int version;      /**< SLUICE_SERDE_VERSION */
        const char *name; /**< for messages and describe output */
        /**
         * Decode @p len bytes at @p data (never NULL for a non-null record)
         * into @p out. @p data is valid while the record is processed, so a
         * BYTES or STRING value may point into it (Sluice copies a STRING
         * to add the NUL terminator records promise); a JSON value or an
         * OBJECT is owned by the record from then on. Return 0, or non-zero
         * after writing a reason into @p errstr.
         */
        int (*deserialize)(const sluice_serde_t *serde, const void *data,
                           size_t len, sluice_value_t *out, char *errstr,
                           size_t errstr_size);
        /**
         * Encode @p in (never SLUICE_VALUE_NULL) into *@p out / *@p out_len:
         * either point them at memory that lives as long as @p in (zero
         * copy), or write into @p buf (starting at buf->len == 0) and point
         * them at buf->data. Return 0, or non-zero with a reason in @p errstr.
         */
        int (*serialize)(const sluice_serde_t *serde, const sluice_value_t *in,
                         sluice_buf_t *buf, const void **out, size_t *out_len,
                         char *errstr, size_t errstr_size);
        void *opaque; /**< for the user's serde functions */
};

/** Raw bytes, passed through without copying. */
SLUICE_API const sluice_serde_t *sluice_serde_bytes(void);
/** UTF-8 strings (bytes as they are; values are NUL-terminated copies). */
SLUICE_API const sluice_serde_t *sluice_serde_string(void);
/** 4-byte big-endian signed integers (Java's IntegerSerializer). */
SLUICE_API const sluice_serde_t *sluice_serde_int32(void);
/** 8-byte big-endian signed integers (Java's LongSerializer). */
SLUICE_API const sluice_serde_t *sluice_serde_int64(void);
/** 8-byte big-endian IEEE 754 doubles (Java's DoubleSerializer). */
SLUICE_API const sluice_serde_t *sluice_serde_double(void);
/**
 * JSON text through jansson: any JSON value (object, array, scalar) decodes
 * to a SLUICE_VALUE_JSON; serialization writes compact JSON.
 */
SLUICE_API const sluice_serde_t *sluice_serde_json(void);

/* ------------------------------------------------------------------------ */
/** @name State stores: the backend interface
 *
 * Every state store (what count/reduce/aggregate, tables and processors
 * keep) is an ordered key-value map of bytes behind this interface, in the
 * spirit of SQLite's VFS: a backend is a versioned struct of function
 * pointers, registered on a conf under a name (sluice_conf_register_store())
 * and chosen per store (`default.dsl.store`, sluice_topology_set_store_type()).
 * Built in: "in_memory" (the default) and "lmdb" (on local disk; also
 * called "persistent"), see sluice_store_type_memory() and
 * sluice_store_type_lmdb().
 *
 * Sluice opens one store instance per store and task (input partition), on
 * the thread that runs the task, and calls every function of an instance
 * from one thread at a time (it serializes local queries with the stream
 * thread), so a backend needs no locking of its own. Keys and values are
 * opaque bytes (the empty key and empty values included); keys are ordered
 * by memcmp() over the common length, the shorter key first when one is a
 * prefix of the other. Pointers Sluice passes in (keys, values, range
 * bounds) are valid for the call only, except iter_open()'s bounds, which
 * stay valid until iter_close(); they never point into memory the backend
 * returned.
 *
 * What Sluice adds around a backend, so that a backend does not have to:
 * the record cache, the changelog topic, the timestamps, restoring, and
 * the checkpoint: after flush() returns 0 at a commit, Sluice writes the
 * changelog offset the instance now reflects into the task's checkpoint
 * file (`state.dir/<application.id>/<instance>/<task>/.checkpoint`); a
 * version 2 backend with flush_offset() keeps it inside its own atomic
 * commit instead, which Sluice then trusts. When a task of a `persistent`
 * backend is opened again, Sluice restores only the changelog records
 * after that offset; a non-persistent instance starts empty and is
 * restored from the beginning of its changelog.
 *
 * Faults: open() returns SLUICE_ERR_CORRUPT for files it finds damaged
 * (Sluice moves the directory aside to `<path>.corrupt-<time>`, opens a
 * fresh one and restores all of the changelog, with a warning), and
 * SLUICE_ERR_BUSY when another process holds the instance (Sluice retries
 * with back-off, then fails naming the holder the backend reported).
 *
 * Return conventions: 0 is success, a negative value is an error (fill
 * @p errstr where one is given); get() and iter_next() return 1 for "a
 * record" and 0 for "none".
 */
#define SLUICE_STORE_VERSION 2

typedef struct sluice_store_type_s sluice_store_type_t;

struct sluice_store_type_s {
        int version;      /**< SLUICE_STORE_VERSION */
        const char *name; /**< registry name, [a-zA-Z0-9_.-]+ */
        /** Non-zero if an instance keeps its data in @p path across close
         *  and process restarts (then Sluice keeps checkpoints for it). */
        int persistent;
        void *opaque; /**< for the backend, e.g. its settings */

        /**
         * Open the instance that lives in directory @p path (for a
         * persistent backend Sluice has created it; a non-persistent backend
         * may ignore it) and set *@p store to the backend's handle.
         * @p store_name is the store's name (for messages).
         */
        int (*open)(const sluice_store_type_t *type, const char *path,
                    const char *store_name, void **store, char *errstr,
                    size_t errstr_size);
        /** Release the instance. A persistent one keeps its flushed data;
         *  writes since the last flush() may be kept or dropped (Sluice
         *  flushes first when it closes a task normally; after a failure or
         *  a lost assignment it closes without, and the changelog replays
         *  over what is kept), except that a backend with flush_offset()
         *  must drop them: its data and its offset may never disagree. */
        void (*close)(void *store);

        /**
         * Look up @p key. @returns 1 and sets *@p value / *@p value_len
         * (borrowed until the next call on this instance), 0 if absent, or
         * a negative error.
         */
        int (*get)(void *store, const void *key, size_t key_len,
                   const void **value, size_t *value_len);
        /** Insert or replace; the backend copies both. @returns 0 or < 0. */
        int (*put)(void *store, const void *key, size_t key_len,
                   const void *value, size_t value_len);
        /** Remove @p key (absent is not an error). @returns 0 or < 0. */
        int (*del)(void *store, const void *key, size_t key_len);

        /**
         * Open an iterator over the keys in [@p from, @p to], both
         * inclusive, in key order; @p from NULL starts at the first key, @p
         * to NULL ends at the last (both NULL: every record). Sluice does not
         * modify the instance while one of its iterators is open, and closes
         * every iterator before close(). @returns 0 and *@p iter, or < 0.
         */
        int (*iter_open)(void *store, const void *from, size_t from_len,
                         const void *to, size_t to_len, void **iter);
        /** Next record: @returns 1 with key/value (borrowed until the next
         *  call on @p iter), 0 at the end, or < 0. */
        int (*iter_next)(void *iter, const void **key, size_t *key_len,
                         const void **value, size_t *value_len);
        void (*iter_close)(void *iter);

        /**
         * Make every put/del so far durable (a persistent backend) before
         * Sluice records the checkpoint; a memory backend returns 0. Called
         * at every commit, and every 100,000 records while restoring. The
         * place to report why an earlier put/del failed.
         */
        int (*flush)(void *store, char *errstr, size_t errstr_size);
        /** @returns the approximate number of keys. */
        uint64_t (*approximate_count)(void *store);

        /* ---- version 2 (each may be 0/NULL; a version 1 struct ends
         *      above, and Sluice reads none of these from it) ---- */

        /** The longest key (in bytes) put() accepts; 0: no limit. Sluice
         *  refuses a longer key when it is written (SLUICE_ERR_TOO_LARGE,
         *  which the processing.exception.handler routes), rather than
         *  have the put fail later, at the commit's flush. */
        size_t max_key_len;
        /** Why the last failed call on @p store failed (borrowed until the
         *  next call), or NULL: Sluice puts it in its error message. */
        const char *(*last_error)(void *store);
        /**
         * Like flush(), and record @p offset (the next changelog offset
         * the instance reflects; -1: forget the recorded one) in the same
         * atomic commit, so that the data and the offset can never
         * disagree. With this, Sluice trusts the store's own offset over
         * the checkpoint file, and a store whose files were removed,
         * emptied or replaced is detected (no offset) and restored in
         * full. NULL: Sluice keeps the offset in the checkpoint file only.
         *
         * The promise, which exactly_once_v2 builds on: no put/del becomes
         * durable before the next flush_offset() (or flush()) commits it,
         * and close() drops what none committed. Sluice calls
         * flush_offset() only after the transaction holding those updates'
         * changelog records committed, so the recorded offset always names
         * committed state: after a crash such a store restores only the
         * changelog after it. A persistent backend without flush_offset()
         * cannot say which state it holds; under exactly_once_v2 Sluice
         * wipes it whenever it opens it and restores all of its changelog.
         */
        int (*flush_offset)(void *store, int64_t offset, char *errstr,
                            size_t errstr_size);
        /** The offset the last successful flush_offset() recorded:
         *  @returns 1 with *@p offset, 0 if none is recorded, or < 0. */
        int (*read_offset)(void *store, int64_t *offset);
};

/** @returns the built-in in-memory backend "in_memory" (a hash table with
 *  an ordered index for range scans). Static; thread-safe. */
SLUICE_API const sluice_store_type_t *sluice_store_type_memory(void);
/** @returns the built-in LMDB backend "lmdb" (alias "persistent"), or NULL
 *  if this libsluice was built without LMDB. Static; thread-safe. */
SLUICE_API const sluice_store_type_t *sluice_store_type_lmdb(void);

/* ------------------------------------------------------------------------ */
/** @name Configuration
 *
 * String key/value, like librdkafka. Sluice's own keys:
 *
 *  key                    default          meaning
 *  application.id         (required*)      consumer group and internal topic
 *                                          prefix; [a-zA-Z0-9._-], <= 200
 *  bootstrap.servers      (required*)      passed to every client
 *  processing.guarantee   at_least_once    or exactly_once_v2 (alias
 *                                          exactly_once): every commit is
 *                                          one Kafka transaction (README,
 *                                          "Exactly-once")
 *  commit.interval.ms     30000 (100 with  how often progress is committed
 *                         exactly-once)
 *  num.stream.threads     1                0..1024; 0 = the host drives the
 *                                          app through its own loop
 *  state.dir              /tmp/sluice      where persistent stores live
 *  default.dsl.store      in_memory        store backend of every store not
 *                                          set otherwise: in_memory, lmdb
 *                                          (= persistent), or a registered one
 *  statestore.cache.max.bytes 10485760     record cache for all stores of the
 *                                          app, split between stream threads;
 *                                          0 disables it
 *  default.timestamp.extractor fail_on_invalid  what a record with a negative
 *                                          Kafka timestamp does at a source
 *                                          without an extractor callback:
 *                                          fail_on_invalid,
 *                                          log_and_skip_on_invalid or
 *                                          use_partition_time_on_invalid (or
 *                                          Kafka Streams' class names, see
 *                                          "Timestamps" below)
 *
 *  (*) required to run an application, not for the test driver.
 *
 * Every other key is handed to librdkafka and must be one librdkafka accepts
 * (checked when set). A key prefixed with "consumer.", "producer." or
 * "admin." applies to that kind of client only. Keys that Sluice sets itself
 * (group.id, enable.auto.commit, transactional.id, ...) are refused.
 */
typedef struct sluice_conf_s sluice_conf_t;

/** @returns a new configuration with defaults, or NULL on OOM. */
SLUICE_API sluice_conf_t *sluice_conf_new(void);
/** @returns a deep copy of @p conf, or NULL on OOM. */
SLUICE_API sluice_conf_t *sluice_conf_dup(const sluice_conf_t *conf);
/** Free @p conf (NULL is a no-op). */
SLUICE_API void sluice_conf_destroy(sluice_conf_t *conf);

/**
 * Set @p key to @p value, validating both.
 * @returns SLUICE_OK; SLUICE_ERR_UNKNOWN_CONF or SLUICE_ERR_INVALID_CONF with
 *   a message naming the key (and value) in @p errstr; SLUICE_ERR_VERSION if
 *   the librdkafka linked at run time is older than 2.10.1.
 * Not thread-safe for one conf.
 */
SLUICE_API sluice_resp_t sluice_conf_set(sluice_conf_t *conf, const char *key,
                                         const char *value, char *errstr,
                                         size_t errstr_size);

/**
 * @returns the value of @p key (Sluice's own key, or a passthrough key that
 *   was set), or NULL if unset and without default. Borrowed: valid until the
 *   key is set again or @p conf is destroyed.
 */
SLUICE_API const char *sluice_conf_get(const sluice_conf_t *conf,
                                       const char *key);

/** Log levels, syslog-style, as librdkafka's. */
typedef enum sluice_log_level_e {
        SLUICE_LOG_ERR     = 3,
        SLUICE_LOG_WARNING = 4,
        SLUICE_LOG_NOTICE  = 5,
        SLUICE_LOG_INFO    = 6,
        SLUICE_LOG_DEBUG   = 7
} sluice_log_level_t;

/** A log line: @p facility names the part ("CONF", "DRIVER", ...). */
typedef void(sluice_log_cb)(sluice_log_level_t level, const char *facility,
                            const char *message, void *opaque);

/**
 * Route the library's log lines of level <= @p max_level to @p cb (NULL
 * restores the default: stderr). @p cb may be called from any thread that
 * runs Sluice code, and must be thread-safe.
 */
SLUICE_API void sluice_conf_set_log_cb(sluice_conf_t *conf, sluice_log_cb *cb,
                                       sluice_log_level_t max_level,
                                       void *opaque);

/**
 * Register a store backend under @p type->name (borrowed: it must outlive
 * every driver and app made with @p conf). Stores then use it when
 * `default.dsl.store` or sluice_topology_set_store_type() names it.
 * @returns 0, or SLUICE_ERR_INVALID_ARG with the reason (wrong version,
 *   missing function, a name already taken, including the built-ins).
 * Not thread-safe for one conf.
 */
SLUICE_API sluice_resp_t sluice_conf_register_store(
    sluice_conf_t *conf, const sluice_store_type_t *type, char *errstr,
    size_t errstr_size);

/** Restore progress, as reported to a sluice_restore_cb. */
typedef enum sluice_restore_phase_e {
        SLUICE_RESTORE_START = 0, /**< about to read the changelog */
        SLUICE_RESTORE_PROGRESS,  /**< a batch was applied (~every second) */
        SLUICE_RESTORE_END        /**< the store instance is up to date */
} sluice_restore_phase_t;

typedef struct sluice_restore_info_s {
        sluice_restore_phase_t phase;
        const char *store;     /**< store name */
        const char *topic;     /**< its changelog topic */
        int32_t partition;     /**< = the task's partition */
        int64_t start_offset;  /**< first changelog offset to restore:
                                    the checkpoint, or the log start */
        int64_t end_offset;    /**< the changelog's end when restore began */
        uint64_t restored;     /**< records applied so far */
        uint64_t remaining;    /**< records left (upper bound: compaction
                                    may have removed some) */
        double rate;           /**< records/s since START */
} sluice_restore_info_t;

/**
 * Called on a stream thread while it restores a store instance from its
 * changelog: once at START, at least every second with PROGRESS, once at
 * END (also when nothing needed restoring). Every restore is logged too
 * (facility "RESTORE"). @p cb must be thread-safe: several stream threads
 * restore at once. The info is borrowed for the call.
 */
typedef void(sluice_restore_cb)(const sluice_restore_info_t *info,
                                void *opaque);
SLUICE_API void sluice_conf_set_restore_cb(sluice_conf_t *conf,
                                           sluice_restore_cb *cb,
                                           void *opaque);

/* ------------------------------------------------------------------------ */
/** @name Records
 *
 * A record as an operator callback sees it: key, value, timestamp, headers
 * and where it came from. Always borrowed; valid only during the callback.
 * Callbacks that get a `const sluice_record_t *` must not change it (and must
 * not modify its JSON value in place); callbacks that get a non-const one may
 * use the setters below.
 */
typedef struct sluice_record_s sluice_record_t;

/** A record header. Name is NUL-terminated; value NULL means null. */
typedef struct sluice_header_s {
        const char *name;
        const void *value;
        size_t len;
} sluice_header_t;

/** @returns the key (borrowed). */
SLUICE_API const sluice_value_t *sluice_record_key(const sluice_record_t *rec);
/** @returns the value (borrowed). */
SLUICE_API const sluice_value_t *sluice_record_value(const sluice_record_t *rec);
/** @returns the timestamp, ms since the epoch. */
SLUICE_API int64_t sluice_record_timestamp(const sluice_record_t *rec);
/** @returns the topic the record was read from (borrowed). */
SLUICE_API const char *sluice_record_topic(const sluice_record_t *rec);
/** @returns the partition the record was read from. */
SLUICE_API int32_t sluice_record_partition(const sluice_record_t *rec);
/** @returns the offset the record was read from. */
SLUICE_API int64_t sluice_record_offset(const sluice_record_t *rec);

/** @returns the number of headers. */
SLUICE_API size_t sluice_record_header_count(const sluice_record_t *rec);
/** @returns header @p idx (borrowed), or NULL if out of range. */
SLUICE_API const sluice_header_t *
sluice_record_header(const sluice_record_t *rec, size_t idx);
/** @returns the last header named @p name (borrowed), or NULL. */
SLUICE_API const sluice_header_t *
sluice_record_header_last(const sluice_record_t *rec, const char *name);

/**
 * Replace the key / value (ownership rules under "Values"). The old value is
 * released. A map_values callback may not change the key, a select_key
 * callback may not change the value (the record then fails).
 * @returns 0, or SLUICE_ERR_NOMEM.
 */
SLUICE_API int sluice_record_set_key(sluice_record_t *rec, sluice_value_t key);
SLUICE_API int sluice_record_set_value(sluice_record_t *rec,
                                       sluice_value_t value);
/**
 * @returns the record's JSON value for in-place modification (e.g.
 *   json_object_set_new() on it), or NULL if the value is not JSON (or on
 *   OOM). Marks the value changed, so it is serialized again at the sink.
 *   If the JSON value is shared (with another branch of the topology, or
 *   through a reference the callback holds), the record first gets a
 *   private deep copy: other records never see the edit. Borrowed: valid
 *   until the callback returns.
 */
SLUICE_API struct json_t *sluice_record_json_edit(sluice_record_t *rec);
/** Set the timestamp (ms since the epoch; Kafka rejects negative ones). */
SLUICE_API void sluice_record_set_timestamp(sluice_record_t *rec, int64_t ts);
/** Append a header (name and value are copied). @returns 0 or NOMEM. */
SLUICE_API int sluice_record_header_add(sluice_record_t *rec, const char *name,
                                        const void *value, size_t len);
/** Remove every header named @p name. @returns how many were removed. */
SLUICE_API size_t sluice_record_header_remove(sluice_record_t *rec,
                                              const char *name);

/* ------------------------------------------------------------------------ */
/** @name Operator callbacks
 *
 * Callbacks run on the thread that processes the record's task; a callback
 * used by several tasks may run on several threads at once (one task at a
 * time per record). A non-zero return from an int callback fails the record
 * with SLUICE_ERR_CALLBACK.
 */

/** map / map_values / select_key: change @p rec with the setters. */
typedef int(sluice_map_cb)(sluice_record_t *rec, void *opaque);
/** filter / filter_not / branch: @returns true to keep (or to match). */
typedef bool(sluice_predicate_cb)(const sluice_record_t *rec, void *opaque);
/** peek / foreach. */
typedef void(sluice_foreach_cb)(const sluice_record_t *rec, void *opaque);

typedef struct sluice_emitter_s sluice_emitter_t;
/** flat_map / flat_map_values: call sluice_emit*() zero or more times. */
typedef int(sluice_flat_map_cb)(const sluice_record_t *rec,
                                sluice_emitter_t *out, void *opaque);
/**
 * Emit one record with @p key and @p value downstream, now (depth-first);
 * timestamp and headers are the input's. Not allowed from flat_map_values.
 * @returns 0, or the error of the downstream processing (return it).
 */
SLUICE_API int sluice_emit(sluice_emitter_t *out, sluice_value_t key,
                           sluice_value_t value);
/** Emit one record with the input's key and @p value. */
SLUICE_API int sluice_emit_value(sluice_emitter_t *out, sluice_value_t value);

/** Chooses a sink topic per record. @returns a topic name, borrowed until
 *  the sink has written the record; NULL fails the record. */
typedef const char *(sluice_topic_cb)(const sluice_record_t *rec,
                                      void *opaque);
/**
 * Chooses the partition for a record at a sink, given its serialized key.
 * @returns a partition in [0, partition_cnt), or -1 for the producer's
 *   partitioner: murmur2 of the key as Kafka's Java clients (and so Kafka
 *   Streams) compute it, unless `producer.partitioner` says otherwise.
 */
typedef int32_t(sluice_partitioner_cb)(const sluice_record_t *rec,
                                       const void *key, size_t key_len,
                                       int32_t partition_cnt, void *opaque);

/* ------------------------------------------------------------------------ */
/** @name Topology builder
 *
 * A topology is a graph of nodes built with the calls below. Builder calls
 * never crash on bad input: a mistake is recorded in the topology and
 * reported, with a message naming the call (and topic or node where one is
 * involved), by sluice_topology_validate() and when a driver or app is
 * created from it (the first mistake wins). A builder call returns NULL (or
 * an error code) for a NULL input handle, on OOM, and after recording a
 * mistake; passing that NULL on to the next call is harmless.
 *
 * A topology is not thread-safe while being built. The first driver or app
 * created from it freezes it (create that one before sharing the topology
 * between threads): then builder calls on it return NULL / an error and
 * change nothing, and it may be shared read-only by any number of drivers
 * and apps on any threads. It must outlive them all.
 *
 * Serdes: a stream carries the serdes of its source; map-like operators keep
 * them (declare a change with sluice_stream_with_serdes()). Serdes are
 * borrowed for the topology's lifetime.
 */
typedef struct sluice_topology_s sluice_topology_t;
typedef struct sluice_stream_s sluice_stream_t;
typedef struct sluice_sink_s sluice_sink_t;

/** @returns a new, empty topology, or NULL on OOM. */
SLUICE_API sluice_topology_t *sluice_topology_new(void);
/** Free @p t and every stream and sink handle of it (NULL is a no-op). */
SLUICE_API void sluice_topology_destroy(sluice_topology_t *t);

/**
 * Check the topology (every recorded builder mistake, a source at all, ...).
 * @returns SLUICE_OK, or SLUICE_ERR_TOPOLOGY with the message in @p errstr.
 */
SLUICE_API sluice_resp_t sluice_topology_validate(const sluice_topology_t *t,
                                                  char *errstr,
                                                  size_t errstr_size);

/**
 * Describe the sub-topologies and nodes, in Kafka Streams' text format.
 * @returns a malloc'ed string the caller frees with free(), or NULL on OOM.
 */
SLUICE_API char *sluice_topology_describe(const sluice_topology_t *t);
/**
 * The same as a Graphviz DOT graph (`dot -Tpng`): one cluster per
 * sub-topology, topics as ellipses, processors as boxes.
 * @returns a malloc'ed string the caller frees with free(), or NULL on OOM.
 */
SLUICE_API char *sluice_topology_describe_dot(const sluice_topology_t *t);

/**
 * A stream of the records of @p topic. @p key_serde / @p value_serde NULL
 * means sluice_serde_bytes(). A topic may feed only one source.
 */
SLUICE_API sluice_stream_t *
sluice_stream_from(sluice_topology_t *t, const char *topic,
                   const sluice_serde_t *key_serde,
                   const sluice_serde_t *value_serde);
/** A stream of the records of @p topic_cnt topics, as one source node. */
SLUICE_API sluice_stream_t *
sluice_stream_from_topics(sluice_topology_t *t, const char *const *topics,
                          size_t topic_cnt, const sluice_serde_t *key_serde,
                          const sluice_serde_t *value_serde);
/**
 * A stream of every topic whose whole name matches the POSIX extended
 * regular expression @p pattern (checked when the topology is validated).
 */
SLUICE_API sluice_stream_t *
sluice_stream_from_pattern(sluice_topology_t *t, const char *pattern,
                           const sluice_serde_t *key_serde,
                           const sluice_serde_t *value_serde);

/**
 * @name Timestamps
 *
 * A record's timestamp - what every operator, window and sink downstream of
 * its source sees, and what drives stream time - is decided once, at the
 * source, after its key and value are decoded (Kafka Streams'
 * TimestampExtractor):
 *   - by the source's extractor callback, if one is set
 *     (sluice_stream_set_timestamp_extractor());
 *   - else it is the record's Kafka timestamp, and a negative one (a record
 *     without a timestamp: -1) does what `default.timestamp.extractor`
 *     says:
 *       - `fail_on_invalid` (the default; FailOnInvalidTimestamp): the
 *         record fails with SLUICE_ERR_TIMESTAMP and a message with the
 *         timestamp (and topic, partition, offset): the app stops, as
 *         Kafka Streams does (the processing.exception.handler is not
 *         asked);
 *       - `log_and_skip_on_invalid` (LogAndSkipOnInvalidTimestamp): the
 *         record is dropped, see below;
 *       - `use_partition_time_on_invalid`
 *         (UsePartitionTimeOnInvalidTimestamp): the record gets its
 *         partition's partition time; with none yet it fails as under
 *         fail_on_invalid.
 * A negative timestamp from the callback (whatever the policy), or one
 * that log_and_skip_on_invalid skips, drops the record: logged at WARNING
 * (at most 10 lines a second per task), counted as
 * `skipped_invalid_timestamp` in sluice_app_metrics_json() and
 * sluice_driver_metrics_json(), not processed, moving neither partition
 * time nor stream time; its offset is committed like a processed one's.
 *
 * Partition time: per input partition (topic and partition) of a task, the
 * largest timestamp decided for its records so far; -1 before the first.
 * Stream time: per task, the largest timestamp of the records it
 * processed (sluice_context_stream_time(); stream-time punctuation). Both
 * start at -1 when a task is created (Kafka Streams also keeps partition
 * time in the committed offsets' metadata; Sluice does not, yet).
 */

/**
 * Decide a record's timestamp. @p rec is the record as its source decoded
 * it, with its Kafka timestamp (-1 if it has none), topic, partition and
 * offset; @p partition_time is the largest timestamp this callback (or the
 * default) decided so far for that input partition of the task, -1 if none.
 * @returns the record's timestamp (ms since the epoch); a negative one
 *   drops the record (see above).
 * Runs on the thread of the record's task, like every operator callback
 * (several tasks may call it at once from several threads).
 */
typedef int64_t(sluice_timestamp_extractor_cb)(const sluice_record_t *rec,
                                               int64_t partition_time,
                                               void *opaque);

/**
 * Decide the timestamps of the records of the source stream @p s with
 * @p cb (and its @p opaque) instead of `default.timestamp.extractor`.
 * @p s must be a stream that sluice_stream_from(), _from_topics() or
 * _from_pattern() returned (or a handle of it from sluice_stream_named()
 * or sluice_stream_with_serdes()); any other stream, or a NULL @p cb, is
 * a builder mistake naming this call. A second call replaces the first.
 * @returns 0, SLUICE_ERR_INVALID_ARG for a NULL @p s, or
 *   SLUICE_ERR_TOPOLOGY (the mistake is recorded in the topology).
 */
SLUICE_API int
sluice_stream_set_timestamp_extractor(sluice_stream_t *s,
                                      sluice_timestamp_extractor_cb *cb,
                                      void *opaque);

/**
 * Name the node that produces @p s (default: Kafka Streams' generated names,
 * e.g. KSTREAM-MAP-0000000001). Names must be unique in the topology.
 * @returns @p s.
 */
SLUICE_API sluice_stream_t *sluice_stream_named(sluice_stream_t *s,
                                                const char *name);
/**
 * @returns a handle to the same stream that declares its keys and values are
 *   now of @p key_serde / @p value_serde (NULL keeps the current one).
 *   Adds no node.
 */
SLUICE_API sluice_stream_t *
sluice_stream_with_serdes(sluice_stream_t *s, const sluice_serde_t *key_serde,
                          const sluice_serde_t *value_serde);

/** Change key and/or value of each record (1:1). */
SLUICE_API sluice_stream_t *sluice_stream_map(sluice_stream_t *s,
                                              sluice_map_cb *cb, void *opaque);
/** Change the value of each record; the key may not change. */
SLUICE_API sluice_stream_t *
sluice_stream_map_values(sluice_stream_t *s, sluice_map_cb *cb, void *opaque);
/** Set a new key on each record; the value passes unchanged (as bytes). */
SLUICE_API sluice_stream_t *
sluice_stream_select_key(sluice_stream_t *s, sluice_map_cb *cb, void *opaque);
/** Keep the records for which @p cb returns true. */
SLUICE_API sluice_stream_t *
sluice_stream_filter(sluice_stream_t *s, sluice_predicate_cb *cb, void *opaque);
/** Keep the records for which @p cb returns false. */
SLUICE_API sluice_stream_t *sluice_stream_filter_not(sluice_stream_t *s,
                                                     sluice_predicate_cb *cb,
                                                     void *opaque);
/** Zero or more records per input, each with its own key. */
SLUICE_API sluice_stream_t *sluice_stream_flat_map(sluice_stream_t *s,
                                                   sluice_flat_map_cb *cb,
                                                   void *opaque);
/** Zero or more records per input, each with the input's key. */
SLUICE_API sluice_stream_t *sluice_stream_flat_map_values(
    sluice_stream_t *s, sluice_flat_map_cb *cb, void *opaque);
/** Call @p cb for each record and pass it on unchanged. */
SLUICE_API sluice_stream_t *
sluice_stream_peek(sluice_stream_t *s, sluice_foreach_cb *cb, void *opaque);
/** Call @p cb for each record; a terminal operation. @returns 0 or error. */
SLUICE_API int sluice_stream_foreach(sluice_stream_t *s, sluice_foreach_cb *cb,
                                     void *opaque);
/** The records of both @p a and @p b (same topology). */
SLUICE_API sluice_stream_t *sluice_stream_merge(sluice_stream_t *a,
                                                sluice_stream_t *b);

/**
 * Send the stream through an internal topic,
 * `<application.id>-<name>-repartition`, so that records are partitioned by
 * their current key (after a select_key or map) before a later stateful
 * operator; the rest of the topology reads it back as a new sub-topology.
 * @p name NULL generates one (KSTREAM-REPARTITION-<n>); @p partitions 0
 * means the largest partition count of the source topics upstream. The app
 * creates the topic (Admin API; on the embedded cluster, directly). The
 * stream's serdes write and read it: they must be known.
 */
SLUICE_API sluice_stream_t *sluice_stream_repartition(sluice_stream_t *s,
                                                      const char *name,
                                                      int32_t partitions);

/**
 * Split @p s by @p n predicates (Kafka Streams' split/branch): each record
 * goes to the first branch whose predicate matches, or nowhere. A NULL
 * predicate matches everything and is allowed only last (the default
 * branch). @p opaques may be NULL. The n resulting streams are written to
 * @p out. @returns 0, or an error (also recorded in the topology).
 */
SLUICE_API int sluice_stream_branch(sluice_stream_t *s, size_t n,
                                    sluice_predicate_cb *const *preds,
                                    void *const *opaques,
                                    sluice_stream_t **out);

/**
 * Write the stream to @p topic. @p key_serde / @p value_serde NULL means the
 * stream's serdes. A value that passed through unchanged from a source with
 * the same serde is written as the bytes it arrived with. Timestamps and
 * headers are written as the record has them.
 * @returns the sink, to set options on, or NULL (error recorded).
 */
SLUICE_API sluice_sink_t *sluice_stream_to(sluice_stream_t *s,
                                           const char *topic,
                                           const sluice_serde_t *key_serde,
                                           const sluice_serde_t *value_serde);
/** As sluice_stream_to(), the topic chosen per record by @p cb. */
SLUICE_API sluice_sink_t *
sluice_stream_to_dynamic(sluice_stream_t *s, sluice_topic_cb *cb, void *opaque,
                         const sluice_serde_t *key_serde,
                         const sluice_serde_t *value_serde);
/** Choose partitions with @p cb instead of the default. @returns 0 or err. */
SLUICE_API int sluice_sink_set_partitioner(sluice_sink_t *sink,
                                           sluice_partitioner_cb *cb,
                                           void *opaque);

/* ------------------------------------------------------------------------ */
/** @name Aggregations and tables
 *
 * As Kafka Streams: a stream is grouped by its key (group_by_key) or by a
 * new key (group_by, which repartitions through the internal topic
 * `<application.id>-<store>-repartition`; group_by_key does the same when
 * a map, select_key or flat_map upstream may have changed the key), then
 * count / reduce / aggregate turn it into a table: the latest aggregate per
 * key, kept in a state store and forwarded downstream on every update.
 * Records with a null key or a null value are dropped by stream
 * aggregations (and counted as skipped).
 *
 * Every store is backed by the compacted changelog topic
 * `<application.id>-<store>-changelog` (one partition per task), which the
 * app creates and restores from. In front of each store sits the record
 * cache (`statestore.cache.max.bytes`, default 10 MiB per app, split
 * between stream threads; 0 disables it): repeated updates of one key are
 * collapsed and reach the changelog and downstream once per commit (or when
 * the cache is full), in the order of their last update. The test driver
 * commits after every piped record, as TopologyTestDriver does.
 *
 * Output timestamps as Kafka Streams: an aggregate carries the largest
 * timestamp of the records that made it.
 *
 * Aggregation callbacks get values decoded with the grouped serdes (the
 * aggregate with the aggregate's serde); what they produce follows the
 * ownership rules under "Values" (bytes and strings are copied, JSON and
 * objects taken over). @p agg is Sluice's private copy: a callback may edit
 * it in place and return it as @p out. A non-zero return fails the record.
 */
typedef struct sluice_grouped_s sluice_grouped_t;
typedef struct sluice_table_s sluice_table_t;

/** The aggregate of a key that has none yet. */
typedef int(sluice_initializer_cb)(sluice_value_t *out, void *opaque);
/** aggregate's adder / subtractor: fold @p value into @p agg. */
typedef int(sluice_aggregator_cb)(const sluice_value_t *key,
                                  const sluice_value_t *value,
                                  const sluice_value_t *agg,
                                  sluice_value_t *out, void *opaque);
/** reduce's adder / subtractor: combine @p agg and @p value. */
typedef int(sluice_reducer_cb)(const sluice_value_t *agg,
                               const sluice_value_t *value,
                               sluice_value_t *out, void *opaque);

/**
 * Group @p s by its key. @p key_serde / @p value_serde NULL mean the
 * stream's (they write the repartition topic and the stores, so they must
 * be known by then).
 */
SLUICE_API sluice_grouped_t *
sluice_stream_group_by_key(sluice_stream_t *s, const sluice_serde_t *key_serde,
                           const sluice_serde_t *value_serde);
/**
 * Group @p s by the key @p cb sets (a select_key callback: it sets the key
 * with sluice_record_set_key()); always repartitions.
 */
SLUICE_API sluice_grouped_t *
sluice_stream_group_by(sluice_stream_t *s, sluice_map_cb *cb, void *opaque,
                       const sluice_serde_t *key_serde,
                       const sluice_serde_t *value_serde);
/**
 * Group the rows of @p tbl by a new key and value that @p cb sets (a map
 * callback), for count / reduce / aggregate with a subtractor: when a row
 * changes, its old mapping is subtracted from the old group and the new one
 * added to the new group (one record through the repartition topic when the
 * key stays, as Kafka Streams 3.5+).
 */
SLUICE_API sluice_grouped_t *
sluice_table_group_by(sluice_table_t *tbl, sluice_map_cb *cb, void *opaque,
                      const sluice_serde_t *key_serde,
                      const sluice_serde_t *value_serde);

/**
 * Count the records (stream) or rows (table) per key into the store named
 * @p store (NULL: a generated name, KSTREAM-AGGREGATE-STATE-STORE-<n>).
 * The table's values are int64 (serde sluice_serde_int64()).
 */
SLUICE_API sluice_table_t *sluice_grouped_count(sluice_grouped_t *g,
                                                const char *store);
/**
 * Reduce the values per key with @p adder (the first value of a key is its
 * aggregate as it is). A grouped table needs @p subtractor, a grouped
 * stream must pass NULL. A NULL result from a table's subtractor deletes
 * the row. The table's value serde is the grouped value serde.
 */
SLUICE_API sluice_table_t *sluice_grouped_reduce(sluice_grouped_t *g,
                                                 sluice_reducer_cb *adder,
                                                 sluice_reducer_cb *subtractor,
                                                 void *opaque,
                                                 const char *store);
/**
 * Aggregate per key: @p init, then @p adder per value (and, for a grouped
 * table, @p subtractor per value removed; required there, NULL for a
 * stream). @p agg_serde writes the aggregate to the store and changelog
 * (required).
 */
SLUICE_API sluice_table_t *
sluice_grouped_aggregate(sluice_grouped_t *g, sluice_initializer_cb *init,
                         sluice_aggregator_cb *adder,
                         sluice_aggregator_cb *subtractor, void *opaque,
                         const sluice_serde_t *agg_serde, const char *store);

/**
 * A table read from @p topic, materialized in the store @p store (NULL: a
 * generated name, @p topic-STATE-STORE-<n>): every record replaces its key's
 * row, a null value (tombstone) deletes it; null keys are dropped. The
 * changelog is a separate topic, as with `topology.optimization=none`.
 */
SLUICE_API sluice_table_t *sluice_table_from(sluice_topology_t *t,
                                             const char *topic,
                                             const sluice_serde_t *key_serde,
                                             const sluice_serde_t *value_serde,
                                             const char *store);
/**
 * sluice_stream_set_timestamp_extractor() for the source of a table that
 * sluice_table_from() returned (any other table is a builder mistake
 * naming this call). Same returns.
 */
SLUICE_API int
sluice_table_set_timestamp_extractor(sluice_table_t *tbl,
                                     sluice_timestamp_extractor_cb *cb,
                                     void *opaque);
/** Keep the rows for which @p cb returns true; others become deletes.
 *  The callback sees each row as a record. */
SLUICE_API sluice_table_t *sluice_table_filter(sluice_table_t *tbl,
                                               sluice_predicate_cb *cb,
                                               void *opaque);
/** Keep the rows for which @p cb returns false. */
SLUICE_API sluice_table_t *sluice_table_filter_not(sluice_table_t *tbl,
                                                   sluice_predicate_cb *cb,
                                                   void *opaque);
/** Change each row's value with @p cb (a map_values callback; it is not
 *  called for deletes). @p value_serde: the new values' serde, NULL if
 *  unknown until a sink names one. */
SLUICE_API sluice_table_t *
sluice_table_map_values(sluice_table_t *tbl, sluice_map_cb *cb, void *opaque,
                        const sluice_serde_t *value_serde);
/** The table's updates as a stream; a deleted row is a null value. */
SLUICE_API sluice_stream_t *sluice_table_to_stream(sluice_table_t *tbl);
/** @returns the name of the store that holds @p tbl (for local queries),
 *  or NULL if the table is not materialized (filter / map_values). */
SLUICE_API const char *sluice_table_store_name(const sluice_table_t *tbl);

/**
 * Use the backend registered as @p type (see sluice_conf_register_store();
 * "in_memory", "lmdb", "persistent" are built in) for the store @p store,
 * instead of `default.dsl.store`. Checked when a driver or app is created.
 * @returns 0, or an error (also recorded in the topology).
 */
SLUICE_API int sluice_topology_set_store_type(sluice_topology_t *t,
                                              const char *store,
                                              const char *type);

/* ------------------------------------------------------------------------ */
/** @name Windows
 *
 * Windowed aggregations, as Kafka Streams' windowedBy(): a grouped stream is
 * cut into windows of event time (record timestamps, or what a timestamp
 * extractor returns) and count / reduce / aggregate run per key and window.
 * The result is a table whose records carry their window: the key is the
 * grouped key, and sluice_record_window() gives the window's bounds. At a
 * sink the key is written as Kafka Streams' windowed serdes write it, so
 * Java consumers read it with `WindowedSerdes`:
 *   - time and sliding windows (TimeWindowedSerializer): key bytes, then the
 *     window start as 8 bytes big-endian;
 *   - session windows (SessionWindowedSerializer): key bytes, then the end,
 *     then the start, 8 bytes big-endian each.
 * A callback that sets a new key drops the window (the key is no longer
 * windowed).
 *
 * Window kinds (all times in ms; Kafka Streams' rules, record for record):
 *   - tumbling: [start, start + size), starts aligned to the epoch;
 *   - hopping: windows of @p size every @p advance (0 < advance <= size),
 *     aligned to the epoch; a record lands in size / advance of them;
 *   - sliding (KIP-450): windows [start, start + difference] with both ends
 *     inclusive, made by the records themselves;
 *   - session: [first, last] record of a key with gaps < @p gap between
 *     them; a record that bridges two sessions merges them (the merged-away
 *     sessions are deleted: tombstones downstream).
 *
 * Stream time per windowed operator is the largest timestamp that reached
 * it (it never goes back, and survives restarts: it is kept in the store).
 * A window closes when stream time >= end + grace (sessions: + gap as
 * well); a record whose windows have all closed is late: it is dropped from
 * them, counted (`late_records` per operator in sluice_app_metrics_json()
 * and sluice_driver_metrics_json()) and, with sluice_windowed_set_late_topic(),
 * written to that topic as it reached the operator.
 *
 * Results go downstream on every update (through the record cache, like
 * every aggregation), or with sluice_windowed_set_emit_final() once per
 * window when it closes (Kafka Streams' EmitStrategy.onWindowClose).
 */
typedef enum sluice_window_type_e {
        SLUICE_WINDOW_TIME = 1, /**< tumbling and hopping */
        SLUICE_WINDOW_SLIDING,
        SLUICE_WINDOW_SESSION
} sluice_window_type_t;

/** A window specification (build it with the constructors below). */
typedef struct sluice_windows_s {
        sluice_window_type_t type;
        int64_t size_ms;    /**< size; sliding: time difference; session: gap */
        int64_t advance_ms; /**< time windows: hop (== size: tumbling) */
        int64_t grace_ms;   /**< how long after its end a window takes late
                                 records (0: none) */
} sluice_windows_t;

/** Tumbling windows of @p size_ms (TimeWindows.ofSizeAndGrace). */
SLUICE_API sluice_windows_t sluice_windows_tumbling(int64_t size_ms,
                                                    int64_t grace_ms);
/** Hopping windows of @p size_ms every @p advance_ms (advanceBy). */
SLUICE_API sluice_windows_t sluice_windows_hopping(int64_t size_ms,
                                                   int64_t advance_ms,
                                                   int64_t grace_ms);
/** Sliding windows (SlidingWindows.ofTimeDifferenceAndGrace). */
SLUICE_API sluice_windows_t sluice_windows_sliding(int64_t difference_ms,
                                                   int64_t grace_ms);
/** Session windows (SessionWindows.ofInactivityGapAndGrace). */
SLUICE_API sluice_windows_t sluice_windows_session(int64_t gap_ms,
                                                   int64_t grace_ms);

typedef struct sluice_windowed_s sluice_windowed_t;

/**
 * Window the grouping @p g (of a stream, not a table) with @p w. Sizes,
 * gaps and differences must be > 0, 0 < advance <= size, grace >= 0; a
 * mistake is recorded naming this call. Options (the set_ calls) come
 * before the aggregation.
 */
SLUICE_API sluice_windowed_t *sluice_grouped_windowed_by(sluice_grouped_t *g,
                                                         sluice_windows_t w);
/** Emit one final result per window when it closes instead of every update
 *  (EmitStrategy.onWindowClose). @returns 0 or an error (recorded). */
SLUICE_API int sluice_windowed_set_emit_final(sluice_windowed_t *w);
/**
 * Keep windows in the store (for local queries) for @p retention_ms after
 * their start (sessions: their end); the default and minimum is size +
 * grace (sessions: gap + grace). Older windows are deleted as stream time
 * moves on. @returns 0 or an error (recorded: less than the minimum).
 */
SLUICE_API int sluice_windowed_set_retention(sluice_windowed_t *w,
                                             int64_t retention_ms);
/** Write late records to @p topic (key and value in the grouped serdes,
 *  the record's timestamp and headers). @returns 0 or an error. */
SLUICE_API int sluice_windowed_set_late_topic(sluice_windowed_t *w,
                                              const char *topic);

/** Session windows' aggregate: combine two sessions' aggregates when a
 *  record merges them (into @p out, ownership as the aggregator's). */
typedef int(sluice_merger_cb)(const sluice_value_t *key,
                              const sluice_value_t *agg1,
                              const sluice_value_t *agg2, sluice_value_t *out,
                              void *opaque);

/** Count per key and window into the window store @p store (NULL: a
 *  generated name, KSTREAM-AGGREGATE-STATE-STORE-<n>); int64 values. */
SLUICE_API sluice_table_t *sluice_windowed_count(sluice_windowed_t *w,
                                                 const char *store);
/** Reduce per key and window with @p reducer (the first value of a window
 *  is its aggregate as it is); sessions merge with the same reducer. */
SLUICE_API sluice_table_t *sluice_windowed_reduce(sluice_windowed_t *w,
                                                  sluice_reducer_cb *reducer,
                                                  void *opaque,
                                                  const char *store);
/** Aggregate per key and window: @p init, then @p adder per record;
 *  session windows need @p merger (others must pass NULL). */
SLUICE_API sluice_table_t *
sluice_windowed_aggregate(sluice_windowed_t *w, sluice_initializer_cb *init,
                          sluice_aggregator_cb *adder, sluice_merger_cb *merger,
                          void *opaque, const sluice_serde_t *agg_serde,
                          const char *store);

/**
 * The window of a windowed record: sets @p start / @p end (either may be
 * NULL) and @returns 1, or @returns 0 for a record without a window. End is
 * exclusive for time windows, inclusive for sliding and session windows.
 */
SLUICE_API int sluice_record_window(const sluice_record_t *rec, int64_t *start,
                                    int64_t *end);

/**
 * suppress(untilWindowCloses(unbounded())): hold the updates of a windowed
 * table and emit only each window's final value, once, when stream time
 * (the largest timestamp that reached the suppression) >= end + grace
 * (sessions: + gap); deletes are not emitted. The buffer is a store
 * (@p name, NULL: a generated KTABLE-SUPPRESS-STATE-STORE-<n>), changelogged.
 */
SLUICE_API sluice_table_t *
sluice_table_suppress_until_window_closes(sluice_table_t *tbl,
                                          const char *name);
/**
 * suppress(untilTimeLimit(@p limit_ms, maxRecords(@p max_records)
 * .emitEarlyWhenFull())): hold each key's updates until @p limit_ms of
 * stream time passed since its first held update, then emit its latest
 * value (deletes too). @p max_records 0: unbounded. Works on any table.
 */
SLUICE_API sluice_table_t *
sluice_table_suppress_until_time_limit(sluice_table_t *tbl, int64_t limit_ms,
                                       size_t max_records, const char *name);

/**
 * Serdes for windowed keys written by Kafka Streams (or by Sluice): fill
 * @p storage (the caller's; it must outlive every use of the serde) and
 * @returns the serde. A source with one of them as key serde decodes the
 * inner key with @p inner and gives its records the window
 * (sluice_record_window()); time windows need their @p size_ms (the bytes
 * carry only the start), as Java's TimeWindowedDeserializer.
 */
typedef struct sluice_windowed_serde_s {
        sluice_serde_t serde;
        const sluice_serde_t *inner;
        int64_t size_ms; /**< time windows' size; -1: session windows */
} sluice_windowed_serde_t;
SLUICE_API const sluice_serde_t *
sluice_serde_time_windowed(sluice_windowed_serde_t *storage,
                           const sluice_serde_t *inner, int64_t size_ms);
SLUICE_API const sluice_serde_t *
sluice_serde_session_windowed(sluice_windowed_serde_t *storage,
                              const sluice_serde_t *inner);

/* ------------------------------------------------------------------------ */
/** @name Joins
 *
 * Kafka Streams' joins, record for record: stream-table (inner, left),
 * stream-stream within a join window (inner, left, outer), table-table
 * (inner, left, outer) and table-table on a foreign key (inner, left).
 * Join inputs (but a foreign-key join's) must be co-partitioned: the same key
 * goes to the same partition number on both sides. A stream whose key may
 * have changed upstream (map, select_key, flat_map, a processor) is
 * repartitioned first, that side only, through
 * `<application.id>-<name>-repartition` (the stream-stream join's @p name
 * with "-left" / "-right", else the upstream node's name). Records whose
 * key (or value) is null are dropped and counted, except as noted.
 *
 * The joiner combines the two sides into the output value. It runs on the
 * thread of the record's task (one joiner used by several tasks may run on
 * several threads at once, as every operator callback); @p key is the record's key (a null value for the null-key
 * records a left or outer join keeps); @p left is the left input's value
 * (the stream of a stream-table join, the first table or stream passed),
 * @p right the right input's; an absent side is passed as NULL (never a
 * value of type SLUICE_VALUE_NULL), exactly where Kafka Streams passes
 * null:
 *   - stream-table inner: never; left: @p right NULL when the table has no
 *     row for the key, or the stream record's key is null (KIP-962);
 *   - stream-stream inner: never; left: @p right NULL for a left record no
 *     right record joined within the window (emitted once its window
 *     closed, see below) and for a null-key left record; outer: the same,
 *     and @p left NULL for such right records;
 *   - table-table inner: never; left: @p right NULL when the right table
 *     has no row; outer: either NULL when that table has no row (never
 *     both);
 *   - foreign-key inner: never; left: @p right NULL when the foreign key
 *     is null or the right table has no row for it.
 * The joiner fills @p out (ownership as an aggregator's result: bytes and
 * strings are copied, JSON and objects are taken over; returning an input
 * JSON value shares it). A non-zero return fails the record.
 */
typedef int(sluice_value_joiner_cb)(const sluice_value_t *key,
                                    const sluice_value_t *left,
                                    const sluice_value_t *right,
                                    sluice_value_t *out, void *opaque);

/**
 * Join each record of @p s with the current row of @p tbl for its key
 * (KStream.join(KTable)): only stream records trigger output, with the
 * stream record's key, timestamp and headers and the joiner's value; a
 * table update joins nothing. A record without a row is dropped (inner).
 * The table must be read from a store: a table from sluice_table_from() or
 * an aggregation, or a filter / map_values of one (a suppressed, windowed
 * or joined table is a builder mistake). @p value_serde: the output
 * values' serde, NULL if unknown until a sink names one.
 * @returns the joined stream, or NULL (mistake recorded naming the call:
 *   NULL joiner, @p tbl of another topology, a table without a store).
 */
SLUICE_API sluice_stream_t *
sluice_stream_join_table(sluice_stream_t *s, sluice_table_t *tbl,
                         sluice_value_joiner_cb *joiner, void *opaque,
                         const sluice_serde_t *value_serde);
/** KStream.leftJoin(KTable): as sluice_stream_join_table(), but a record
 *  without a row joins NULL, and a null-key record with a value is kept
 *  as joiner(null key, value, NULL) (KIP-962). */
SLUICE_API sluice_stream_t *
sluice_stream_left_join_table(sluice_stream_t *s, sluice_table_t *tbl,
                              sluice_value_joiner_cb *joiner, void *opaque,
                              const sluice_serde_t *value_serde);

/**
 * @name Global tables (Kafka Streams' GlobalKTable)
 *
 * A global table is replicated in full to every instance: its store holds
 * the rows of every partition of its topic, so a stream joins it by any
 * key it computes, without co-partitioning or a repartition. Each instance
 * reads the topic with a consumer of its own, outside the app's group
 * (every partition assigned, offsets kept by the instance, nothing
 * committed); the topic is the store's changelog (no changelog topic). At
 * sluice_app_start() the store is bootstrapped, i.e. filled up to the end
 * offsets the topic had, before any stream thread starts: the first stream
 * record already sees the whole table. Then a global thread of its own
 * (`<application.id>-GlobalStreamThread`; with num.stream.threads=0,
 * sluice_app_step()) applies every update as it arrives; stream tasks see
 * each update from the moment it is applied, with no ordering against
 * their own records (as in Kafka Streams). The store's backend is the
 * conf's default.dsl.store: in memory, every start bootstraps it again
 * from the beginning of the topic; a persistent one lives in
 * `<state.dir>/<application.id>/<instance>/global/<store>` with the
 * offsets it reflects in `global/.checkpoint` (written every
 * commit.interval.ms and at close), and a start goes on from there (from
 * the beginning, over an emptied store, when the topic no longer holds a
 * checkpointed offset). The test driver's global stores are in memory.
 *
 * Thread-safety: the global thread is the store's only writer; stream
 * threads' join lookups and local queries (sluice_app_store_get() /
 * sluice_app_store_range() with the store's name, from any thread) read it
 * under one lock per app, held for a lookup or while a query's callback
 * runs.
 */
typedef struct sluice_global_table_s sluice_global_table_t;

/**
 * Read @p topic (all its partitions) as a global table whose store is
 * named @p store_name (NULL: "<topic>-STATE-STORE-<n>"); a record with a
 * null key is skipped, a null value deletes the row. Serdes are required
 * (borrowed; they must outlive the topology).
 * @returns the table (owned by @p t), or NULL (mistake recorded: NULL or
 *   invalid topic, a store name or global topic used twice; a topic that a
 *   stream source reads too is refused when the topology is built).
 *   Not thread-safe (builder).
 */
SLUICE_API sluice_global_table_t *
sluice_global_table_from(sluice_topology_t *t, const char *topic,
                         const sluice_serde_t *key_serde,
                         const sluice_serde_t *value_serde,
                         const char *store_name);

/**
 * Maps a stream record (@p key, @p value: borrowed) to the key of the
 * global table's row it joins: fill @p out (bytes and strings are copied,
 * JSON and objects are taken over), encoded with the table's key serde.
 * A SLUICE_VALUE_NULL result means "no key". A non-zero return fails the
 * record. Runs on the stream threads, as every operator callback.
 */
typedef int(sluice_global_key_cb)(const sluice_value_t *key,
                                  const sluice_value_t *value,
                                  sluice_value_t *out, void *opaque);

/**
 * Join each record of @p s with the row of @p gt whose key
 * @p key_extractor computes from the record (KStream.join(GlobalKTable,
 * KeyValueMapper, ValueJoiner)): the output has the stream record's key,
 * timestamp and headers and the value joiner(stream key, stream value,
 * row). A record with a null value is dropped, as is one whose extracted
 * key is null or has no row (inner). No repartition and no
 * co-partitioning: the stream may have any partition count and its key
 * may have changed. @p opaque goes to both callbacks. @p value_serde: the
 * output values' serde (NULL: unknown until a sink names one).
 * @returns the joined stream, or NULL (mistake recorded naming the call:
 *   NULL extractor or joiner, @p gt of another topology).
 */
SLUICE_API sluice_stream_t *
sluice_stream_join_global(sluice_stream_t *s, sluice_global_table_t *gt,
                          sluice_global_key_cb *key_extractor,
                          sluice_value_joiner_cb *joiner, void *opaque,
                          const sluice_serde_t *value_serde);
/** KStream.leftJoin(GlobalKTable, ...): as sluice_stream_join_global(),
 *  but a record whose extracted key is null or has no row joins NULL
 *  (joiner(key, value, NULL)). */
SLUICE_API sluice_stream_t *
sluice_stream_left_join_global(sluice_stream_t *s, sluice_global_table_t *gt,
                               sluice_global_key_cb *key_extractor,
                               sluice_value_joiner_cb *joiner, void *opaque,
                               const sluice_serde_t *value_serde);

/**
 * Give a stream-table join a grace period (Kafka Streams'
 * Joined.withGracePeriod, KIP-923): @p joined is the stream
 * sluice_stream_join_table() or sluice_stream_left_join_table() returned,
 * and its table must be versioned (sluice_table_set_versioned()) with a
 * history retention of at least @p grace_ms (both checked when the
 * topology is built, as Kafka Streams refuses a shorter history). Stream records then wait in a
 * changelogged, time-ordered buffer (store "<join node>-Buffer") until
 * the join's stream time - @p grace_ms reaches them, and join in
 * timestamp order, each against the table's version at its own time -
 * so a table update that arrives up to @p grace_ms late is still seen. A
 * record already older than that joins at once. The stream time is the
 * largest timestamp of a record the buffer took; records it drops anyway
 * (a null value; a null key, unless left) do not move it. A released
 * record keeps its key, value and timestamp, not its headers. The
 * operator's metrics show "buffered" and "stream_time".
 * @returns 0, SLUICE_ERR_INVALID_ARG (NULL), or SLUICE_ERR_TOPOLOGY (not a
 *   stream-table join's stream, set twice, @p grace_ms < 0, unknown
 *   serdes of the stream; recorded in the topology). Not thread-safe
 *   (builder).
 */
SLUICE_API int sluice_stream_join_set_grace(sluice_stream_t *joined,
                                            int64_t grace_ms);

/** A join window: a left record at t joins right records with timestamps
 *  in [t - before, t + after], both ends inclusive (the lower bound
 *  clamped to 0); records are kept for before + after + grace. */
typedef struct sluice_join_windows_s {
        int64_t before_ms, after_ms, grace_ms;
} sluice_join_windows_t;
/** JoinWindows.ofTimeDifferenceAndGrace(@p difference_ms, @p grace_ms):
 *  before = after = difference. */
SLUICE_API sluice_join_windows_t sluice_join_windows(int64_t difference_ms,
                                                     int64_t grace_ms);
/** The same with .before(@p before_ms).after(@p after_ms). */
SLUICE_API sluice_join_windows_t
sluice_join_windows_asym(int64_t before_ms, int64_t after_ms,
                         int64_t grace_ms);

/**
 * Join two streams within @p w (KStream.join(KStream, JoinWindows)): each
 * record is kept in its side's window store (duplicates too), then joined
 * with every record of the other side in the window, as they arrive; the
 * output timestamp is the larger of the two. Both sides' serdes must be
 * known (they write the stores). @p name (NULL: generated) names the
 * stores, `<name>-this-join-store`, `<name>-other-join-store` (and
 * `<name>-outer-shared-join-store` for left and outer joins) and the
 * repartition topics. Negative before / after / grace, a NULL joiner or
 * streams of different topologies are builder mistakes naming the call.
 */
SLUICE_API sluice_stream_t *
sluice_stream_join(sluice_stream_t *left, sluice_stream_t *right,
                   sluice_join_windows_t w, sluice_value_joiner_cb *joiner,
                   void *opaque, const sluice_serde_t *value_serde,
                   const char *name);
/**
 * KStream.leftJoin(KStream, JoinWindows): as sluice_stream_join(), and a
 * left record no right record joined comes out as joiner(k, v, NULL) with
 * its own timestamp once its window has closed (stream time >
 * t + after + grace; stream time is the largest timestamp either side
 * saw), or at once if it arrived after that; a null-key left record at
 * once (KIP-962). Kafka Streams' behaviour since 3.1 (KAFKA-10847).
 * Closed records are looked for while a record at that stream time is
 * processed, at most once per
 * `__emit.interval.ms.kstreams.outer.join.spurious.results.fix__` ms of
 * wall-clock time (default 1000; in the test driver 0, as in Kafka
 * Streams' TopologyTestDriver).
 */
SLUICE_API sluice_stream_t *
sluice_stream_left_join(sluice_stream_t *left, sluice_stream_t *right,
                        sluice_join_windows_t w,
                        sluice_value_joiner_cb *joiner, void *opaque,
                        const sluice_serde_t *value_serde, const char *name);
/** KStream.outerJoin(KStream, JoinWindows): as the left join, for both
 *  sides (an unmatched right record: joiner(k, NULL, v) once stream time
 *  > t + before + grace). */
SLUICE_API sluice_stream_t *
sluice_stream_outer_join(sluice_stream_t *left, sluice_stream_t *right,
                         sluice_join_windows_t w,
                         sluice_value_joiner_cb *joiner, void *opaque,
                         const sluice_serde_t *value_serde, const char *name);

/**
 * Join two tables (KTable.join(KTable)): the result is a table that
 * updates whenever either side changes, joiner(left row, right row) with
 * timestamp max(left, right) (a missing side: the updating row's); when a
 * row is deleted the result row is deleted (a tombstone downstream).
 * Nothing comes out while either side has no row. Both tables must be read
 * from a store (as for sluice_stream_join_table()). The result is not
 * materialized: it can be filtered, mapped, grouped, streamed and written,
 * not joined or looked up again.
 */
SLUICE_API sluice_table_t *
sluice_table_join(sluice_table_t *left, sluice_table_t *right,
                  sluice_value_joiner_cb *joiner, void *opaque,
                  const sluice_serde_t *value_serde);
/** KTable.leftJoin(KTable): every left row is in the result, joiner(left,
 *  right or NULL); a left delete is a tombstone; a right update changes
 *  the result only where a left row exists (a right delete there gives
 *  joiner(left, NULL), never a tombstone). */
SLUICE_API sluice_table_t *
sluice_table_left_join(sluice_table_t *left, sluice_table_t *right,
                       sluice_value_joiner_cb *joiner, void *opaque,
                       const sluice_serde_t *value_serde);
/** KTable.outerJoin(KTable): a row where either side has one, the missing
 *  side NULL; a tombstone when the last side's row is deleted. */
SLUICE_API sluice_table_t *
sluice_table_outer_join(sluice_table_t *left, sluice_table_t *right,
                        sluice_value_joiner_cb *joiner, void *opaque,
                        const sluice_serde_t *value_serde);

/**
 * The foreign key of a left row for a foreign-key join: fill @p fk with
 * the key of the right table's row that the left row (@p key, @p value)
 * refers to, or leave it SLUICE_VALUE_NULL (sluice_null()) for none. It is
 * encoded with the right table's key serde before the call returns, so
 * @p fk may point into @p key or @p value; a JSON value or an object in it
 * is released afterwards unless it is @p key's or @p value's own. Runs on
 * the thread of the left row's task (as every operator callback), for the
 * new and the old value of each left update. A non-zero return fails the
 * record.
 */
typedef int(sluice_fk_extractor_cb)(const sluice_value_t *key,
                                    const sluice_value_t *value,
                                    sluice_value_t *fk, void *opaque);

/**
 * Join two tables on a foreign key (KTable.join(KTable, Function,
 * ValueJoiner), KIP-213): each row of @p left refers to the row of
 * @p right whose key @p fk_extractor extracts from it; the result is a
 * table keyed as @p left, joiner(primary key, left row, right row),
 * updated when either the left row or the right row it refers to
 * changes. Left and right need not be co-partitioned: left rows send
 * subscriptions (foreign key, primary key, a murmur3-128 hash of the left
 * value, what to answer) through the internal topic
 * `<application.id>-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-<n>-topic`,
 * keyed by the foreign key, into the store
 * `KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-<n>` beside the right table;
 * answers come back through
 * `<application.id>-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-<n>-topic`,
 * keyed by the primary key. An answer computed for a left value that has
 * changed since (its hash differs from the current row's) is dropped, as
 * in Kafka Streams.
 *
 * Inner, as Kafka Streams' SubscriptionSendProcessorSupplier:
 *   - a left row with a foreign key joins once the right row exists (an
 *     insert whose right row is missing gives nothing);
 *   - a changed foreign key unsubscribes from the old one and answers
 *     from the new one: joiner(left, new right row), or a tombstone when
 *     that row is missing (even if nothing had joined before);
 *   - a left delete, or an update to a null foreign key, unsubscribes and
 *     gives a tombstone (the null-key update counts as dropped);
 *   - a right update gives joiner(left, right) for every left row that
 *     refers to it, a right delete a tombstone for each.
 * Left: every left update gives joiner(left, right or NULL); a left
 * delete a tombstone; a right delete joiner(left, NULL) for each left row
 * referring to it.
 * Timestamps: max(left, right) when the left row triggers, the right
 * record's when the right row does. Both tables must be read from a store
 * (as for sluice_stream_join_table()) and their key and value serdes
 * known; the foreign key is compared and sent as bytes of @p right's key
 * serde. Out-of-order updates of a versioned table on either side are
 * dropped (KIP-914). The result is not materialized (as
 * sluice_table_join()): its updates carry no old value.
 * @returns the result table, or NULL (mistake recorded naming the call:
 *   a NULL callback, tables of two topologies, a table without a store,
 *   unknown serdes). Not thread-safe (builder).
 */
SLUICE_API sluice_table_t *
sluice_table_fk_join(sluice_table_t *left, sluice_table_t *right,
                     sluice_fk_extractor_cb *fk_extractor,
                     sluice_value_joiner_cb *joiner, void *opaque,
                     const sluice_serde_t *value_serde);
/** KTable.leftJoin(KTable, Function, ValueJoiner): as
 *  sluice_table_fk_join(), and a left row whose foreign key is null or
 *  refers to no right row joins NULL: joiner(left, NULL). */
SLUICE_API sluice_table_t *
sluice_table_fk_left_join(sluice_table_t *left, sluice_table_t *right,
                          sluice_fk_extractor_cb *fk_extractor,
                          sluice_value_joiner_cb *joiner, void *opaque,
                          const sluice_serde_t *value_serde);

/* ------------------------------------------------------------------------ */
/** @name Processor API
 *
 * A node that runs the user's code with access to named state stores, a
 * context to forward records downstream and punctuation: callbacks on a
 * schedule, in stream time (the largest record timestamp the task has seen)
 * or wall-clock time. Stores for processors are added to the topology with
 * sluice_topology_add_store() and connected by name; they hold bytes (with
 * a timestamp per record) and are changelogged and restored like any store.
 */
typedef struct sluice_context_s sluice_context_t;
/** A key-value store as a processor (or a local query) sees it. */
typedef struct sluice_kv_s sluice_kv_t;

typedef enum sluice_punctuation_e {
        SLUICE_PUNCTUATE_STREAM_TIME = 0, /**< driven by record timestamps */
        SLUICE_PUNCTUATE_WALL_CLOCK       /**< driven by the system clock
                                               (the driver's own clock) */
} sluice_punctuation_t;

typedef struct sluice_processor_s {
        /** Per task, before its first record: may sluice_context_schedule().
         *  NULL: none. Non-zero fails the task. */
        int (*init)(sluice_context_t *ctx, void *opaque);
        /** Per record (required). Non-zero fails the record. */
        int (*process)(sluice_context_t *ctx, const sluice_record_t *rec,
                       void *opaque);
        /** Per task, when it closes. NULL: none. */
        void (*close)(sluice_context_t *ctx, void *opaque);
        void *opaque;
} sluice_processor_t;

/** A punctuation: @p timestamp is the scheduled time it runs for. */
typedef int(sluice_punctuate_cb)(sluice_context_t *ctx, int64_t timestamp,
                                 void *opaque);

/**
 * Add a store named @p name for processors (its changelog is
 * `<application.id>-<name>-changelog`). @returns 0 or an error (recorded).
 */
SLUICE_API int sluice_topology_add_store(sluice_topology_t *t,
                                         const char *name);
/**
 * Run @p proc (copied; its opaque is borrowed) on each record of @p s, with
 * access to the @p store_cnt stores named in @p stores. @returns the stream
 * of what it forwards (serdes unknown), or NULL (error recorded).
 */
SLUICE_API sluice_stream_t *sluice_stream_process(sluice_stream_t *s,
                                                  const sluice_processor_t *proc,
                                                  const char *const *stores,
                                                  size_t store_cnt);

/** @returns the store @p name connected to this processor, or NULL. Valid
 *  for the task's life. */
SLUICE_API sluice_kv_t *sluice_context_store(sluice_context_t *ctx,
                                             const char *name);
/** Forward a record downstream now, with the current record's (or the
 *  punctuation's) timestamp. Ownership as sluice_emit(). @returns 0 or the
 *  downstream error (return it). */
SLUICE_API int sluice_context_forward(sluice_context_t *ctx,
                                      sluice_value_t key,
                                      sluice_value_t value);
/** As sluice_context_forward() with an explicit timestamp. */
SLUICE_API int sluice_context_forward_ts(sluice_context_t *ctx,
                                         sluice_value_t key,
                                         sluice_value_t value,
                                         int64_t timestamp);
/**
 * Call @p cb every @p interval_ms (> 0) of @p type time, from the task's
 * thread, between records. Stream time: when the task's stream time first
 * reaches a multiple-of-interval boundary past the last run (once per
 * jump, as Kafka Streams). Only from init(). @returns 0 or an error.
 */
SLUICE_API int sluice_context_schedule(sluice_context_t *ctx,
                                       sluice_punctuation_t type,
                                       int64_t interval_ms,
                                       sluice_punctuate_cb *cb, void *opaque);
/** @returns the current record's timestamp (in a punctuation: its time). */
SLUICE_API int64_t sluice_context_timestamp(const sluice_context_t *ctx);
/** @returns the task's partition. */
SLUICE_API int32_t sluice_context_partition(const sluice_context_t *ctx);
/** @returns the task's stream time (-1 before its first record). */
SLUICE_API int64_t sluice_context_stream_time(const sluice_context_t *ctx);

/**
 * A visitor for store records: key and value are borrowed for the call,
 * @p timestamp is the record's. @returns 0 to go on, non-zero to stop.
 */
typedef int(sluice_kv_cb)(const void *key, size_t key_len, const void *value,
                          size_t value_len, int64_t timestamp, void *opaque);

/** Look up @p key: @returns 1 after calling @p cb with the record, 0 if
 *  absent, or a negative error. */
SLUICE_API int sluice_kv_get(sluice_kv_t *kv, const void *key, size_t key_len,
                             sluice_kv_cb *cb, void *opaque);
/** Put @p value (NULL deletes) with @p timestamp; cached, changelogged.
 *  @returns 0 or a negative error. */
SLUICE_API int sluice_kv_put(sluice_kv_t *kv, const void *key, size_t key_len,
                             const void *value, size_t value_len,
                             int64_t timestamp);
/** Delete @p key. @returns 0 or a negative error. */
SLUICE_API int sluice_kv_delete(sluice_kv_t *kv, const void *key,
                                size_t key_len);
/**
 * Visit the records with keys in [@p from, @p to] (NULL: unbounded) in key
 * order (including cached updates). The callback must not write to the
 * store. @returns the number visited, or a negative error.
 */
SLUICE_API int64_t sluice_kv_range(sluice_kv_t *kv, const void *from,
                                   size_t from_len, const void *to,
                                   size_t to_len, sluice_kv_cb *cb,
                                   void *opaque);

/* ------------------------------------------------------------------------ */
/** @name Test driver
 *
 * Runs a topology in-process with no Kafka and no threads, as Kafka Streams'
 * TopologyTestDriver: one task per sub-topology holds partition 0 of every
 * source topic; each piped record is processed to completion before the
 * call returns; what sinks write is queued per topic, in order. Output to a
 * topic that is also a source of the topology is processed again. The same
 * task code runs under the Kafka runtime.
 *
 * A driver is not thread-safe; use one per thread.
 */
typedef struct sluice_driver_s sluice_driver_t;

/**
 * Create a driver for @p t (borrowed; it must outlive the driver and is
 * frozen). @p conf may be NULL; on success the driver takes ownership of it.
 * @returns the driver, or NULL with the reason (e.g. the topology's first
 *   builder mistake) in @p errstr.
 */
SLUICE_API sluice_driver_t *sluice_driver_new(sluice_topology_t *t,
                                              sluice_conf_t *conf,
                                              char *errstr,
                                              size_t errstr_size);
/** Free the driver and every queued output (NULL is a no-op). */
SLUICE_API void sluice_driver_destroy(sluice_driver_t *drv);

/**
 * Process one record arriving on @p topic. @p key / @p value NULL mean a
 * Kafka null (an empty non-NULL buffer is an empty key or value). Headers
 * are copied. The record gets the next offset of that topic (from 0).
 * @returns 0; SLUICE_ERR_UNKNOWN_TOPIC if no source reads @p topic; or the
 *   error that failed the record (SLUICE_ERR_SERDE, SLUICE_ERR_CALLBACK, ...)
 *   with the message (node, topic, offset) from sluice_driver_last_error().
 */
SLUICE_API int sluice_driver_pipe(sluice_driver_t *drv, const char *topic,
                                  const void *key, size_t key_len,
                                  const void *value, size_t value_len,
                                  int64_t timestamp,
                                  const sluice_header_t *headers,
                                  size_t header_cnt);
/** sluice_driver_pipe() for NUL-terminated strings (NULL = Kafka null). */
SLUICE_API int sluice_driver_pipe_str(sluice_driver_t *drv, const char *topic,
                                      const char *key, const char *value,
                                      int64_t timestamp);
/** @returns the message of the last failed sluice_driver_pipe*() call, or
 *   "" after one that succeeded (borrowed, valid until the next pipe). */
SLUICE_API const char *sluice_driver_last_error(const sluice_driver_t *drv);

/** A record a sink wrote, as bytes. */
typedef struct sluice_output_s {
        const char *topic;
        int32_t partition; /**< from the partitioner, -1 if left to Kafka */
        const void *key;   /**< NULL for a null key */
        size_t key_len;
        const void *value; /**< NULL for a null value */
        size_t value_len;
        int64_t timestamp;
        const sluice_header_t *headers;
        size_t header_cnt;
} sluice_output_t;

/**
 * Take the oldest output record written to @p topic.
 * @returns the record (borrowed: valid until the next sluice_driver_read()
 *   of the same topic or the driver's destruction), or NULL if none waits.
 */
SLUICE_API const sluice_output_t *sluice_driver_read(sluice_driver_t *drv,
                                                     const char *topic);
/** @returns how many output records wait on @p topic. */
SLUICE_API size_t sluice_driver_queued(const sluice_driver_t *drv,
                                       const char *topic);
/**
 * Set the partition count the driver reports to a sink's partitioner for
 * @p topic (default 1). @returns 0, or SLUICE_ERR_INVALID_ARG if cnt < 1.
 */
SLUICE_API int sluice_driver_set_partitions(sluice_driver_t *drv,
                                            const char *topic, int32_t cnt);

/**
 * Local queries on the driver's stores: as sluice_app_store_get() /
 * sluice_app_store_range() (every update of the piped records is visible).
 */
SLUICE_API int sluice_driver_store_get(sluice_driver_t *drv, const char *store,
                                       const void *key, size_t key_len,
                                       sluice_kv_cb *cb, void *opaque);
SLUICE_API int64_t sluice_driver_store_range(sluice_driver_t *drv,
                                             const char *store,
                                             const void *from, size_t from_len,
                                             const void *to, size_t to_len,
                                             sluice_kv_cb *cb, void *opaque);
/** Move the driver's wall clock (starts at 0) forward by @p ms and run the
 *  wall-clock punctuations that became due. @returns 0 or their error. */
SLUICE_API int sluice_driver_advance_wall_clock(sluice_driver_t *drv,
                                                int64_t ms);

/** A window in a local query: @p key (the grouped key's bytes) and value
 *  (the aggregate's) are borrowed for the call. @returns 0 to go on. */
typedef int(sluice_window_cb)(const void *key, size_t key_len, int64_t start,
                              int64_t end, const void *value, size_t value_len,
                              int64_t timestamp, void *opaque);
/** Local query of a window store, as sluice_app_window_fetch(). */
SLUICE_API int64_t sluice_driver_window_fetch(sluice_driver_t *drv,
                                              const char *store,
                                              const void *key, size_t key_len,
                                              int64_t time_from,
                                              int64_t time_to,
                                              sluice_window_cb *cb,
                                              void *opaque);
/**
 * The driver's counters as JSON: per task records processed, dropped
 * (null keys at aggregations), skipped for invalid timestamps; per
 * operator late records ("operators":{"<node>":{"late_records":n}}).
 * One object per task (sub-topology), compact, keys in this order:
 *   {"tasks":[{"task":"0_0","consumed":5,"processed":3,"dropped":0,
 *              "skipped_invalid_timestamp":2,"stream_time":1000,
 *              "operators":{}}]}
 * (consumed: records piped or fed back into the task; stream_time: -1
 * before the first record).
 * @returns a malloc'ed string (free()), or NULL on OOM (or a NULL @p drv).
 */
SLUICE_API char *sluice_driver_metrics_json(const sluice_driver_t *drv);

/* ------------------------------------------------------------------------ */
/** @name Application runtime (Kafka)
 *
 * Runs a topology on Kafka: `num.stream.threads` stream threads, each with
 * one consumer in the group `application.id` and one producer; one task per
 * assigned partition number of each sub-topology, running the same task
 * code as the test driver. At-least-once: every `commit.interval.ms` (and on
 * revocation and close) a thread flushes its producer, then commits the
 * offsets of the records it processed (+1), never the fetch position.
 *
 * Embedded mode: with `sluice.embedded=true` the app starts librdkafka's
 * in-process mock cluster, points every client at it and creates the source
 * topics it reads (`sluice.embedded.partitions`, default 4). The mock is not
 * a broker (no Admin API, no aborted-transaction filtering): it serves demos
 * and plumbing tests, never proofs of Kafka behaviour.
 */
typedef struct sluice_app_s sluice_app_t;

typedef enum sluice_app_state_e {
        SLUICE_APP_CREATED = 0,
        SLUICE_APP_REBALANCING,
        SLUICE_APP_RUNNING,
        SLUICE_APP_PENDING_SHUTDOWN,
        SLUICE_APP_NOT_RUNNING,
        SLUICE_APP_ERROR
} sluice_app_state_t;

/** @returns a static name for @p state ("RUNNING", ...). */
SLUICE_API const char *sluice_app_state_name(sluice_app_state_t state);

/**
 * Called on every state change, from the thread that caused it (a stream
 * thread, or the caller of sluice_app_start()/sluice_app_close()), in
 * order. It may read the app (sluice_app_state(), sluice_app_error()) but
 * must not call sluice_app_close() or sluice_app_destroy().
 */
typedef void(sluice_state_cb)(sluice_app_t *app, sluice_app_state_t old_state,
                              sluice_app_state_t new_state, void *opaque);

/**
 * Create an application for @p t (borrowed; must outlive the app; frozen)
 * with @p conf (taken over on success). Needs `application.id`, and
 * `bootstrap.servers` unless `sluice.embedded=true`. In embedded mode the
 * mock cluster is started here.
 * @returns the app in state CREATED, or NULL with the reason in @p errstr
 *   (the topology's first builder mistake, a missing key, ...).
 */
SLUICE_API sluice_app_t *sluice_app_new(sluice_topology_t *t,
                                        sluice_conf_t *conf, char *errstr,
                                        size_t errstr_size);
/** Set the state listener; call before sluice_app_start(). */
SLUICE_API void sluice_app_set_state_cb(sluice_app_t *app, sluice_state_cb *cb,
                                        void *opaque);
/**
 * Check that every source topic exists (naming the first missing one),
 * create the internal topics and start the stream threads. Under
 * exactly_once_v2 each thread's transactional producer is initialized
 * first (init_transactions(): this fences the zombie of the same
 * transactional.id and waits until its transaction is aborted), so this
 * can take a few seconds after a crash.
 * @returns 0, or an error with the reason in @p errstr (state ERROR).
 */
SLUICE_API int sluice_app_start(sluice_app_t *app, char *errstr,
                                size_t errstr_size);
/**
 * Stop: each thread commits what it processed (exactly_once_v2: commits
 * its open transaction, or aborts it), leaves the group and exits; returns
 * when all have. Thread-safe; may be called more than once.
 */
SLUICE_API void sluice_app_close(sluice_app_t *app);
/** Close if needed, then free the app and its conf. */
SLUICE_API void sluice_app_destroy(sluice_app_t *app);
/** @returns the current state. Thread-safe. */
SLUICE_API sluice_app_state_t sluice_app_state(const sluice_app_t *app);
/**
 * @returns the reason the app went to ERROR (borrowed, valid until
 *   destroy), or "" if it did not. Thread-safe.
 */
SLUICE_API const char *sluice_app_error(const sluice_app_t *app);
/**
 * @returns the bootstrap servers every client of the app uses (for embedded
 *   mode: the mock cluster's), borrowed until destroy.
 */
SLUICE_API const char *sluice_app_bootstrap_servers(const sluice_app_t *app);
/** @returns records that went through the topology so far, over all
 *  threads (not counting undecodable ones skipped or dead-lettered).
 *  Thread-safe. */
SLUICE_API uint64_t sluice_app_processed(const sluice_app_t *app);

/**
 * Start the app and block until it stops: until another thread calls
 * sluice_app_close(), or a fatal error. @returns 0 after a clean close, or
 * an error with the reason in @p errstr (also sluice_app_error()).
 */
SLUICE_API int sluice_app_run(sluice_app_t *app, char *errstr,
                              size_t errstr_size);

/**
 * Metrics as a JSON object: state, records processed; per thread records
 * consumed, processed, produced, skipped (by reason: "deserialization",
 * "null_key_or_value", "invalid_timestamp"; the last also as
 * "skipped_invalid_timestamp"), dead-lettered, commits and their latency,
 * rebalances, transactions aborted (`transactions_aborted`,
 * exactly_once_v2), producers left to a send_offsets_to_transaction() call
 * that has not returned yet (`producers_abandoned`, librdkafka
 * #5456/#5511; each returns, and is freed, once a connection of its
 * producer goes down and up); per task the same counters ("skipped": all
 * reasons), its "skipped_invalid_timestamp", its "inputs" (the input partitions assigned
 * to it, `[{"topic":"a","partition":0},...]`) and its "operators" (per
 * node, e.g. a windowed operator's "late_records"); the
 * consumer lag per assigned partition; and librdkafka's own statistics
 * (`"librdkafka":{"consumer":...,"producer":...}`, null unless
 * `statistics.interval.ms` is set). Figures are at most ~100 ms old.
 * @returns a malloc'ed string the caller frees with free(), or NULL on OOM.
 * Thread-safe.
 */
SLUICE_API char *sluice_app_metrics_json(const sluice_app_t *app);

/**
 * @name Local queries (Kafka Streams' interactive queries, this instance)
 *
 * Read a store of the running app from any thread: a key lives in the
 * instance of the task (partition) that owns it, so a get looks in every
 * local instance of @p store and a range visits each local instance in
 * turn (keys ordered within an instance, not across them, as Kafka
 * Streams' composite stores). Only partitions this app holds are seen.
 *
 * Consistency: a read is serialized with the stream thread that owns the
 * instance (a lock per task, and one on the thread's list of tasks, held
 * while @p cb runs: keep it short and do not call into the app from it;
 * the thread's processing and rebalancing wait meanwhile). It sees every update that thread has
 * applied, including those still in the record cache and those not yet
 * committed: under at-least-once a later crash may replay them, so a count
 * read now can be ahead of what the changelog will say after a restart.
 * Under exactly_once_v2 the same holds (read uncommitted, as in Kafka
 * Streams): a read may see updates of a transaction that then aborts, and
 * the store is rolled back to its last committed state when it does (the
 * batch is then processed again); what a read_committed consumer of the
 * changelog or the outputs sees is always committed.
 * An instance that is still restoring makes the call fail with
 * SLUICE_ERR_STATE; so does an unknown store name.
 *
 * @returns for a get: 1 after calling @p cb once, 0 if no local instance
 *   has @p key, or a negative error; for a range: the number of records
 *   visited, or a negative error. Thread-safe.
 */
SLUICE_API int sluice_app_store_get(sluice_app_t *app, const char *store,
                                    const void *key, size_t key_len,
                                    sluice_kv_cb *cb, void *opaque);
SLUICE_API int64_t sluice_app_store_range(sluice_app_t *app, const char *store,
                                          const void *from, size_t from_len,
                                          const void *to, size_t to_len,
                                          sluice_kv_cb *cb, void *opaque);
/**
 * Local query of the window store @p store (WindowStore.fetch /
 * SessionStore.findSessions): the windows of @p key (NULL: every key) whose
 * start is in [@p time_from, @p time_to] (sessions: that overlap it: end >=
 * from and start <= to), in (key, start) order within a task instance.
 * Otherwise as sluice_app_store_range(). @returns the number visited or a
 * negative error. Thread-safe.
 */
SLUICE_API int64_t sluice_app_window_fetch(sluice_app_t *app,
                                           const char *store, const void *key,
                                           size_t key_len, int64_t time_from,
                                           int64_t time_to, sluice_window_cb *cb,
                                           void *opaque);


/* ------------------------------------------------------------------------ */
/**
 * @name Versioned tables (Kafka Streams' versioned stores, KIP-889/914)
 *
 * A table materialized as a versioned store keeps every version of a row
 * for a history retention: a version is valid from its record's timestamp
 * until the next version's (valid_from <= t < valid_to), and a lookup asks
 * for the version valid at a time ("as of"). A null value (tombstone) is a
 * version too: the row is absent from then on. Records arriving out of
 * order are inserted into the history. The store's stream time is the
 * largest timestamp it accepted; a record older than stream time - history
 * retention is dropped (counted in the task's "dropped", not stored, not
 * forwarded), and lookups older than that return only the latest version
 * (if it is not a tombstone and not newer than the lookup). Versioned stores
 * have no record cache: every update is written and forwarded at once
 * (`statestore.cache.max.bytes` does not change their output). They run on
 * every backend (README, "Versioned tables", has the layout).
 *
 * Downstream (KIP-914): the table forwards Change(new, old) for each
 * accepted record, old being the latest version before it; an out-of-order
 * update (not the latest version once put) is forwarded too, marked so
 * that a table group_by below drops it (an aggregate reflects the latest
 * versions only), as do table-table and foreign-key joins in Kafka Streams.
 * to_stream() emits every accepted update.
 */

/** As-of time meaning "the latest version", and the valid_to of a row's
 *  latest version (still valid). */
#define SLUICE_TS_LATEST INT64_MAX

/**
 * Materialize @p tbl, a table sluice_table_from() returned (before
 * anything is built on it or not: order does not matter), as a versioned
 * store with @p history_retention_ms >= 0 (also the grace period for
 * out-of-order records, as in Kafka Streams). Its changelog is compacted
 * with min.compaction.lag.ms = history retention + 1 day.
 * @returns 0, or SLUICE_ERR_TOPOLOGY (another kind of table, a negative
 *   retention; also recorded in the topology). Not thread-safe (builder).
 */
SLUICE_API int sluice_table_set_versioned(sluice_table_t *tbl,
                                          int64_t history_retention_ms);

/**
 * A version in a lookup: @p key and @p value are borrowed for the call
 * (@p value is never NULL: a tombstone is "not found"); @p valid_to is
 * SLUICE_TS_LATEST for the latest version.
 */
typedef void(sluice_version_cb)(const void *key, size_t key_len,
                                const void *value, size_t value_len,
                                int64_t valid_from, int64_t valid_to,
                                void *opaque);

/**
 * Point-in-time lookup (VersionedKeyValueStore.get(key, asOf)): the version
 * of @p key in the versioned store @p store valid at @p as_of
 * (SLUICE_TS_LATEST: the latest, get(key)). In the app, every local
 * instance of the store is asked; otherwise as sluice_app_store_get()
 * (same locking and consistency; thread-safe). The driver's is not
 * thread-safe, as every driver call.
 * @returns 1 after calling @p cb once; 0 if there is no such version (never
 *   written, deleted at @p as_of, older than its first version, or older
 *   than the history retention and not the latest); SLUICE_ERR_STATE for an
 *   unknown store or one still restoring; SLUICE_ERR_INVALID_ARG for NULL
 *   arguments or a store that is not versioned; another negative error
 *   from the store.
 * sluice_driver_store_get() / sluice_app_store_get() on a versioned store
 * return its latest version (timestamp = valid_from); a range over one is
 * SLUICE_ERR_INVALID_ARG.
 */
SLUICE_API int sluice_driver_versioned_get(sluice_driver_t *drv,
                                           const char *store, const void *key,
                                           size_t key_len, int64_t as_of,
                                           sluice_version_cb *cb,
                                           void *opaque);
SLUICE_API int sluice_app_versioned_get(sluice_app_t *app, const char *store,
                                        const void *key, size_t key_len,
                                        int64_t as_of, sluice_version_cb *cb,
                                        void *opaque);


/**
 * @name Driving the app from the host's own event loop
 *
 * With `num.stream.threads=0` the app has no thread of its own: after
 * sluice_app_start() the host calls sluice_app_step() from its loop, when
 * sluice_app_fd() is readable (poll/epoll/libuv) or sluice_app_timeout_ms()
 * has passed. Everything then runs on the host's thread.
 *
 * @code
 *   struct pollfd p = { .fd = sluice_app_fd(app), .events = POLLIN };
 *   for (;;) {
 *           int more = sluice_app_step(app, 500);
 *           if (more < 0) break;
 *           if (!more) poll(&p, 1, sluice_app_timeout_ms(app));
 *   }
 * @endcode
 */
/** @returns a file descriptor that becomes readable when the app has work
 *   (edge-triggered; Sluice drains it), or -1 unless num.stream.threads=0. */
SLUICE_API int sluice_app_fd(const sluice_app_t *app);
/**
 * Process up to @p budget records without blocking, serve rebalances and
 * delivery reports, and commit when due.
 * @returns 1 if work remains (call again before waiting), 0 if the host may
 *   wait on the fd, or a negative error (SLUICE_ERR_STATE once the app has
 *   failed or closed: see sluice_app_error()).
 */
SLUICE_API int sluice_app_step(sluice_app_t *app, int budget);
/** @returns how long the host may wait on the fd before calling
 *   sluice_app_step() anyway (ms), or -1 unless num.stream.threads=0. */
SLUICE_API int sluice_app_timeout_ms(const sluice_app_t *app);

#ifdef __cplusplus
}
#endif
#endif /* SLUICE_H */
