/*
 * store_lmdb.c - the built-in persistent store backend, "lmdb": one LMDB
 * environment per store instance, in the instance's directory (data.mdb,
 * plus sluice.lock, see below).
 *
 * Transactions follow Sluice's commits, not the calls. The first put or del
 * after a flush begins a write transaction; every later put, del, get and
 * iterator works inside it (so reads see the writes), and flush() commits
 * it. A crash, even SIGKILL, therefore leaves the store as the last flush()
 * left it: exactly what the checkpoint Sluice writes after a successful
 * flush() describes. LMDB's commit is synchronous (data pages, fsync, meta
 * page, fsync), so flush() returns once the data is on disk; a commit with
 * nothing written costs nothing. close() commits what is pending, too.
 * Between flushes the pages a transaction changed are held in memory (LMDB
 * writes them out early, uncommitted, past about 512 MiB).
 *
 * Reads with no write transaction open (the first get after a flush, local
 * queries) use a read transaction that get() renews and resets around each
 * lookup; an iterator opened then gets a read transaction of its own.
 *
 * Locking: the environment is opened with MDB_NOLOCK. Sluice calls an
 * instance from one thread at a time, but not always the same thread (local
 * queries, closing), and LMDB's own writer lock is a mutex that must be
 * released by the thread that took it. Without it, LMDB needs two promises,
 * which Sluice's contract gives: one writer (the instance), and no reader of
 * an older snapshot while a write transaction is active (puts and dels are
 * refused while an iterator is open, and get() never keeps its read
 * transaction). Another process opening the same directory is kept out by
 * an fcntl() lock on sluice.lock (such locks are per process: a second open
 * in the same process is not caught, and Sluice never does that).
 *
 * Keys: LMDB refuses empty keys, which Kafka allows, so every key is stored
 * behind a one-byte tag (0x00); a common prefix keeps the order (memcmp,
 * shorter first, LMDB's default) and leaves room for other kinds of records
 * later. A key may have at most 510 bytes (LMDB's 511 minus the tag): a put
 * of a longer one fails with SLUICE_ERR_INVALID_ARG; a get or del of one
 * finds nothing. Values may be of any size.
 *
 * get() copies the value into a buffer of the instance: a pointer into a
 * page of the write transaction would move at the next put, and Sluice may
 * hand a value it just read back to put().
 *
 * Failures: when a put, del or commit fails (disk full, the 64 GiB map
 * full, I/O error), LMDB's write transaction is lost, and with it every
 * write since the last flush. The instance then refuses every call with
 * that error (flush() says why) until it is closed: reopened, it is at its
 * last flush, which Sluice's checkpoint describes. LMDB's errors come back
 * as SLUICE_ERR_STATE (SLUICE_ERR_NOMEM for ENOMEM).
 */
#include "common.h"

#ifdef SLUICE_HAVE_LMDB

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LM_TAG_DATA 0x00 /* the tag in front of every record's key */
#define LM_TAG_META 0x01 /* Sluice's own records, after every data key */
#define LM_KEY_MAX 510   /* the longest key of the default LMDB build */

/* The changelog offset the store reflects, committed with the data. */
static const unsigned char lm_offset_key[] = {LM_TAG_META, 'o', 'f', 'f',
                                              's', 'e', 't'};
#define LM_KEY_BUF 512   /* >= LMDB's longest key (511 unless rebuilt) */

/* The map is address space, not memory or disk: the file grows as data
 * does, and the map bounds it (a put past it fails with MDB_MAP_FULL).
 * Where address space is tight (32-bit, ulimit -v, valgrind) open()
 * halves it until the mmap succeeds, down to LM_MAP_MIN. */
#if SIZE_MAX > 0xffffffffu
#define LM_MAP_SIZE ((size_t)64 << 30)
#else
#define LM_MAP_SIZE ((size_t)1 << 30)
#endif
#define LM_MAP_MIN ((size_t)64 << 20)

typedef struct lm_store_s {
        MDB_env *env;
        MDB_dbi dbi;
        MDB_txn *wtxn;  /* every write since the last flush, or NULL */
        MDB_txn *rtxn;  /* reset read transaction for get(), or NULL */
        size_t iters;   /* open iterators */
        size_t key_max; /* longest key: LMDB's limit minus the tag */
        int lock_fd;
        int failed; /* sticky error (< 0) after a lost write txn */
        unsigned char *buf; /* get()'s copy of the value */
        size_t buf_cap;
        char *path, *name;
        char err[SL_ERRSTR_SIZE]; /* why it failed */
} lm_store_t;

typedef enum lm_pos_e {
        LM_POS_HAVE, /* k/v hold the next record to return */
        LM_POS_NEXT, /* step the cursor first */
        LM_POS_END
} lm_pos_t;

typedef struct lm_iter_s {
        lm_store_t *s;
        MDB_txn *txn; /* the iterator's own read txn, or NULL: in s->wtxn */
        MDB_cursor *cur;
        MDB_val k, v;
        lm_pos_t pos;
        int has_to;
        size_t to_len;
        unsigned char to[]; /* copy of the upper bound */
} lm_iter_t;

static const unsigned char lm_empty[1]; /* where an empty value points */

static int lm_code(int rc) {
        return rc == ENOMEM ? SLUICE_ERR_NOMEM : SLUICE_ERR_STATE;
}

/* memcmp over the common length, the shorter key first: LMDB's order. */
static int lm_cmp(const void *a, size_t alen, const void *b, size_t blen) {
        size_t n = alen < blen ? alen : blen;
        int c    = n ? memcmp(a, b, n) : 0;
        if (c)
                return c;
        return alen < blen ? -1 : alen > blen;
}

/* The stored form of @p key in @p buf: tag, then the key. */
static MDB_val lm_key(unsigned char *buf, const void *key, size_t len) {
        MDB_val k;
        buf[0] = LM_TAG_DATA;
        if (len)
                memcpy(buf + 1, key, len);
        k.mv_data = buf;
        k.mv_size = len + 1;
        return k;
}

/* A write failed: LMDB's transaction is unusable and everything since the
 * last flush is gone. Remember why, refuse every call from now on. */
static int lm_fail(lm_store_t *s, const char *what, int rc) {
        if (s->wtxn) {
                mdb_txn_abort(s->wtxn);
                s->wtxn = NULL;
        }
        s->failed = lm_code(rc);
        sl_errstr(s->err, sizeof(s->err),
                  "lmdb store \"%s\" in %s: %s failed, writes since the "
                  "last flush are lost: %s",
                  s->name, s->path, what, mdb_strerror(rc));
        return s->failed;
}

/* Begin the write transaction if none is open. Puts and dels are refused
 * while an iterator is open: with MDB_NOLOCK a writer may reuse the pages
 * of a reader's snapshot (and Sluice promises not to write then). */
static int lm_write_begin(lm_store_t *s) {
        int rc;
        if (s->failed)
                return s->failed;
        if (s->iters)
                return SLUICE_ERR_STATE;
        if (s->wtxn)
                return 0;
        if ((rc = mdb_txn_begin(s->env, NULL, 0, &s->wtxn))) {
                s->wtxn = NULL;
                return lm_code(rc);
        }
        return 0;
}

/* The transaction reads go through: the write txn if one is open (to see
 * its writes), else the renewed read txn, which lm_read_end() resets. */
static int lm_read_begin(lm_store_t *s, MDB_txn **txn) {
        int rc;
        if (s->failed)
                return s->failed;
        if (s->wtxn) {
                *txn = s->wtxn;
                return 0;
        }
        if (s->rtxn)
                rc = mdb_txn_renew(s->rtxn);
        else if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &s->rtxn)))
                s->rtxn = NULL;
        if (rc)
                return lm_code(rc);
        *txn = s->rtxn;
        return 0;
}

static void lm_read_end(lm_store_t *s, MDB_txn *txn) {
        if (txn == s->rtxn)
                mdb_txn_reset(txn);
}

/* mkdir -p: Sluice creates the directory, but a missing one costs little. */
static int lm_mkdirs(const char *path) {
        char *p = sl_strdup(path), *c;
        struct stat st;
        int err = 0;
        if (!p)
                return ENOMEM;
        for (c = p + 1;; c++) {
                char save = *c;
                if (save != '/' && save != '\0')
                        continue;
                *c = '\0';
                if (mkdir(p, 0755)) {
                        err = errno;
                        /* EEXIST, or a parent we may not write into */
                        if (err == EEXIST ||
                            (!stat(p, &st) && S_ISDIR(st.st_mode)))
                                err = 0;
                }
                *c = save;
                if (err || !save)
                        break;
        }
        free(p);
        return err;
}

/* Keep other processes out (see the top of the file). The lock goes with
 * the descriptor when the instance closes or the process dies. */
static int lm_lock(lm_store_t *s, char *errstr, size_t errstr_size) {
        size_t n   = strlen(s->path);
        char *file = malloc(n + sizeof("/sluice.lock"));
        struct flock fl;
        if (!file) {
                sl_errstr(errstr, errstr_size,
                          "lmdb store \"%s\": out of memory", s->name);
                return SLUICE_ERR_NOMEM;
        }
        memcpy(file, s->path, n);
        memcpy(file + n, "/sluice.lock", sizeof("/sluice.lock"));
        s->lock_fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        free(file);
        if (s->lock_fd < 0) {
                sl_errstr(errstr, errstr_size,
                          "lmdb store \"%s\" in %s: cannot create its lock "
                          "file: %s",
                          s->name, s->path, mdb_strerror(errno));
                return SLUICE_ERR_STATE;
        }
        memset(&fl, 0, sizeof(fl));
        fl.l_type   = F_WRLCK;
        fl.l_whence = SEEK_SET;
        if (fcntl(s->lock_fd, F_SETLK, &fl)) {
                int e = errno;
                if (e == EACCES || e == EAGAIN) {
                        /* who holds it, for the operator */
                        memset(&fl, 0, sizeof(fl));
                        fl.l_type   = F_WRLCK;
                        fl.l_whence = SEEK_SET;
                        if (fcntl(s->lock_fd, F_GETLK, &fl) ||
                            fl.l_type == F_UNLCK)
                                fl.l_pid = 0;
                        sl_errstr(errstr, errstr_size,
                                  "lmdb store \"%s\" in %s: in use by "
                                  "another process (pid %ld)",
                                  s->name, s->path, (long)fl.l_pid);
                        return SLUICE_ERR_BUSY;
                }
                sl_errstr(errstr, errstr_size,
                          "lmdb store \"%s\" in %s: %s", s->name, s->path,
                          mdb_strerror(e));
                return SLUICE_ERR_STATE;
        }
        return 0;
}

static void lm_free(lm_store_t *s) {
        if (s->rtxn)
                mdb_txn_abort(s->rtxn);
        if (s->env)
                mdb_env_close(s->env);
        if (s->lock_fd >= 0)
                close(s->lock_fd);
        free(s->buf);
        free(s->path);
        free(s->name);
        free(s);
}

static uint64_t lm_u64(const unsigned char *p) {
        uint64_t v;
        memcpy(&v, p, sizeof(v)); /* LMDB writes host order */
        return v;
}
static uint32_t lm_u32(const unsigned char *p) {
        uint32_t v;
        memcpy(&v, p, sizeof(v));
        return v;
}

/*
 * Check data.mdb before LMDB maps it: a file shorter than its meta page
 * says makes every access past its end a SIGBUS, which no error path can
 * catch. LMDB's file starts with two meta pages (page header 16 bytes,
 * then magic 0xBEEFC0DE, version 1, address, map size, two 48-byte
 * database records, the last used page and the transaction id); the
 * page size is kept in the first database record's pad field. The newer
 * meta page names the last page in use: the file must reach past it.
 * 0 if it looks whole (or is absent or empty: LMDB starts a new one),
 * SLUICE_ERR_CORRUPT with the reason otherwise.
 */
#define LM_META_OFF 16 /* MDB_meta after the page header */
static int lm_check_file(const lm_store_t *s, char *errstr,
                         size_t errstr_size) {
        size_t n = strlen(s->path);
        char *file = malloc(n + sizeof("/data.mdb"));
        unsigned char m[2][LM_META_OFF + 160];
        struct stat st;
        uint64_t psize, best_last = 0, best_txn = 0;
        int fd, i, good = 0;
        ssize_t got;
        if (!file)
                return SLUICE_ERR_NOMEM;
        memcpy(file, s->path, n);
        memcpy(file + n, "/data.mdb", sizeof("/data.mdb"));
        fd = open(file, O_RDONLY | O_CLOEXEC);
        free(file);
        if (fd < 0)
                return 0; /* none yet */
        if (fstat(fd, &st) || st.st_size == 0) {
                close(fd);
                return 0;
        }
        got = pread(fd, m[0], sizeof(m[0]), 0);
        if (got != (ssize_t)sizeof(m[0]) ||
            lm_u32(m[0] + LM_META_OFF) != 0xBEEFC0DEu) {
                close(fd);
                sl_errstr(errstr, errstr_size,
                          "lmdb store \"%s\" in %s: data.mdb (%lld bytes) is "
                          "not an LMDB file",
                          s->name, s->path, (long long)st.st_size);
                return SLUICE_ERR_CORRUPT;
        }
        psize = lm_u32(m[0] + LM_META_OFF + 24); /* mm_dbs[0].md_pad */
        if (psize < 512 || psize > 65536 || (psize & (psize - 1)) ||
            (uint64_t)st.st_size < 2 * psize ||
            pread(fd, m[1], sizeof(m[1]), (off_t)psize) !=
                (ssize_t)sizeof(m[1])) {
                close(fd);
                sl_errstr(errstr, errstr_size,
                          "lmdb store \"%s\" in %s: data.mdb (%lld bytes) is "
                          "truncated or damaged: its meta pages are "
                          "incomplete",
                          s->name, s->path, (long long)st.st_size);
                return SLUICE_ERR_CORRUPT;
        }
        close(fd);
        for (i = 0; i < 2; i++) {
                const unsigned char *mm = m[i] + LM_META_OFF;
                uint64_t last = lm_u64(mm + 120), txn = lm_u64(mm + 128);
                if (lm_u32(mm) != 0xBEEFC0DEu || lm_u32(mm + 4) != 1)
                        continue;
                if (!good || txn > best_txn) {
                        best_txn  = txn;
                        best_last = last;
                }
                good = 1;
        }
        if (!good) {
                sl_errstr(errstr, errstr_size,
                          "lmdb store \"%s\" in %s: data.mdb has no valid "
                          "meta page",
                          s->name, s->path);
                return SLUICE_ERR_CORRUPT;
        }
        if ((best_last + 1) > (uint64_t)st.st_size / psize) {
                sl_errstr(errstr, errstr_size,
                          "lmdb store \"%s\" in %s: data.mdb is truncated: "
                          "%lld bytes, its last page %llu needs %llu",
                          s->name, s->path, (long long)st.st_size,
                          (unsigned long long)best_last,
                          (unsigned long long)((best_last + 1) * psize));
                return SLUICE_ERR_CORRUPT;
        }
        return 0;
}

static int lm_env_open(lm_store_t *s, char *errstr, size_t errstr_size) {
        size_t map = LM_MAP_SIZE;
        MDB_txn *txn;
        int rc, keymax;
        if ((rc = lm_check_file(s, errstr, errstr_size)))
                return rc;
        for (;;) {
                if ((rc = mdb_env_create(&s->env))) {
                        s->env = NULL;
                        break;
                }
                if (!(rc = mdb_env_set_mapsize(s->env, map)) &&
                    !(rc = mdb_env_open(s->env, s->path, MDB_NOLOCK, 0644)))
                        break;
                mdb_env_close(s->env);
                s->env = NULL;
                /* mmap() says ENOMEM, or EINVAL for a length it cannot
                 * map at all (valgrind) */
                if ((rc != ENOMEM && rc != EINVAL) || map / 2 < LM_MAP_MIN)
                        break;
                map /= 2;
        }
        if (!rc) {
                /* the main database: its handle outlives this txn */
                rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
                if (!rc && (rc = mdb_dbi_open(txn, NULL, 0, &s->dbi)))
                        mdb_txn_abort(txn);
                else if (!rc)
                        rc = mdb_txn_commit(txn);
        }
        if (rc) {
                sl_errstr(errstr, errstr_size,
                          "lmdb store \"%s\" in %s: cannot open: %s", s->name,
                          s->path, mdb_strerror(rc));
                if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH ||
                    rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND)
                        return SLUICE_ERR_CORRUPT;
                return lm_code(rc);
        }
        keymax = mdb_env_get_maxkeysize(s->env);
        if (keymax > LM_KEY_MAX + 1)
                keymax = LM_KEY_MAX + 1;
        s->key_max = (size_t)keymax - 1;
        return 0;
}

static int lm_open(const sluice_store_type_t *type, const char *path,
                   const char *store_name, void **store, char *errstr,
                   size_t errstr_size) {
        lm_store_t *s;
        int err;
        (void)type;
        if (!path || !*path || !store_name || !store) {
                sl_errstr(errstr, errstr_size,
                          "lmdb store: path, name and handle are required");
                return SLUICE_ERR_INVALID_ARG;
        }
        if (!(s = calloc(1, sizeof(*s)))) {
                sl_errstr(errstr, errstr_size,
                          "lmdb store \"%s\": out of memory", store_name);
                return SLUICE_ERR_NOMEM;
        }
        s->lock_fd = -1;
        s->path    = sl_strdup(path);
        s->name    = sl_strdup(store_name);
        if (!s->path || !s->name) {
                lm_free(s);
                sl_errstr(errstr, errstr_size,
                          "lmdb store \"%s\": out of memory", store_name);
                return SLUICE_ERR_NOMEM;
        }
        if ((err = lm_mkdirs(path))) {
                sl_errstr(errstr, errstr_size,
                          "lmdb store \"%s\" in %s: cannot create the "
                          "directory: %s",
                          store_name, path, mdb_strerror(err));
                lm_free(s);
                return lm_code(err);
        }
        if ((err = lm_lock(s, errstr, errstr_size)) ||
            (err = lm_env_open(s, errstr, errstr_size))) {
                lm_free(s);
                return err;
        }
        *store = s;
        return 0;
}

/* Commits what is pending: a clean close keeps every write. Sluice flushes
 * before it checkpoints, so writes that only close() commits are newer than
 * the checkpoint, and restoring replays the changelog over them. */
static void lm_close(void *store) {
        lm_store_t *s = store;
        if (s->wtxn) {
                if (s->failed)
                        mdb_txn_abort(s->wtxn);
                else
                        mdb_txn_commit(s->wtxn); /* nobody to tell */
                s->wtxn = NULL;
        }
        lm_free(s);
}

static int lm_get(void *store, const void *key, size_t key_len,
                  const void **value, size_t *value_len) {
        lm_store_t *s = store;
        unsigned char kb[LM_KEY_BUF];
        MDB_txn *txn;
        MDB_val k, v;
        int rc;
        if (key_len > s->key_max)
                return s->failed ? s->failed : 0; /* cannot be stored */
        if ((rc = lm_read_begin(s, &txn)))
                return rc;
        k  = lm_key(kb, key, key_len);
        rc = mdb_get(txn, s->dbi, &k, &v);
        if (rc == MDB_NOTFOUND) {
                lm_read_end(s, txn);
                return 0;
        }
        if (rc) {
                lm_read_end(s, txn);
                return lm_code(rc);
        }
        if (v.mv_size > s->buf_cap) {
                size_t cap         = v.mv_size < 64 ? 64 : v.mv_size;
                unsigned char *buf = realloc(s->buf, cap);
                if (!buf) {
                        lm_read_end(s, txn);
                        return SLUICE_ERR_NOMEM;
                }
                s->buf     = buf;
                s->buf_cap = cap;
        }
        if (v.mv_size)
                memcpy(s->buf, v.mv_data, v.mv_size);
        lm_read_end(s, txn);
        *value     = v.mv_size ? s->buf : lm_empty;
        *value_len = v.mv_size;
        return 1;
}

static int lm_put(void *store, const void *key, size_t key_len,
                  const void *value, size_t value_len) {
        lm_store_t *s = store;
        unsigned char kb[LM_KEY_BUF];
        MDB_val k, v;
        int rc;
        if (key_len > s->key_max) {
                if (s->failed)
                        return s->failed;
                sl_errstr(s->err, sizeof(s->err),
                          "MDB_BAD_VALSIZE: key is %zu bytes, lmdb allows %zu",
                          key_len, s->key_max);
                return SLUICE_ERR_INVALID_ARG;
        }
        if ((rc = lm_write_begin(s)))
                return rc;
        k         = lm_key(kb, key, key_len);
        v.mv_data = value_len ? (void *)(uintptr_t)value
                              : (void *)(uintptr_t)lm_empty;
        v.mv_size = value_len;
        if ((rc = mdb_put(s->wtxn, s->dbi, &k, &v, 0)))
                return lm_fail(s, "put", rc);
        return 0;
}

static int lm_del(void *store, const void *key, size_t key_len) {
        lm_store_t *s = store;
        unsigned char kb[LM_KEY_BUF];
        MDB_val k;
        int rc;
        if (key_len > s->key_max)
                return s->failed; /* absent, unless the store failed */
        if ((rc = lm_write_begin(s)))
                return rc;
        k  = lm_key(kb, key, key_len);
        rc = mdb_del(s->wtxn, s->dbi, &k, NULL);
        if (rc && rc != MDB_NOTFOUND)
                return lm_fail(s, "delete", rc);
        return 0;
}

static void lm_iter_free(lm_iter_t *it) {
        if (it->cur)
                mdb_cursor_close(it->cur);
        if (it->txn)
                mdb_txn_abort(it->txn);
        it->s->iters--;
        free(it);
}

static int lm_iter_open(void *store, const void *from, size_t from_len,
                        const void *to, size_t to_len, void **iter) {
        lm_store_t *s = store;
        unsigned char kb[LM_KEY_BUF];
        size_t seek_len = from ? from_len : 0;
        lm_iter_t *it;
        MDB_txn *txn;
        int rc;
        if (s->failed)
                return s->failed;
        if (!(it = calloc(1, sizeof(*it) + (to ? to_len : 0))))
                return SLUICE_ERR_NOMEM;
        it->s = s;
        s->iters++;
        if (to) {
                it->has_to = 1;
                it->to_len = to_len;
                if (to_len)
                        memcpy(it->to, to, to_len);
        }
        if (s->wtxn) {
                txn = s->wtxn;
        } else if ((rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn))) {
                lm_iter_free(it);
                return lm_code(rc);
        } else {
                it->txn = txn;
        }
        if ((rc = mdb_cursor_open(txn, s->dbi, &it->cur))) {
                it->cur = NULL;
                lm_iter_free(it);
                return lm_code(rc);
        }
        /* A lower bound longer than any key seeks to its longest storable
         * prefix; the loop below steps over that prefix itself, the only
         * stored key between it and the bound. */
        if (seek_len > s->key_max)
                seek_len = s->key_max;
        it->k = lm_key(kb, from, seek_len);
        rc    = mdb_cursor_get(it->cur, &it->k, &it->v, MDB_SET_RANGE);
        while (!rc && from && seek_len < from_len &&
               ((unsigned char *)it->k.mv_data)[0] == LM_TAG_DATA &&
               lm_cmp((unsigned char *)it->k.mv_data + 1, it->k.mv_size - 1,
                      from, from_len) < 0)
                rc = mdb_cursor_get(it->cur, &it->k, &it->v, MDB_NEXT);
        if (rc && rc != MDB_NOTFOUND) {
                lm_iter_free(it);
                return lm_code(rc);
        }
        it->pos = rc ? LM_POS_END : LM_POS_HAVE;
        *iter   = it;
        return 0;
}

static int lm_iter_next(void *iter, const void **key, size_t *key_len,
                        const void **value, size_t *value_len) {
        lm_iter_t *it = iter;
        const unsigned char *k;
        if (it->pos == LM_POS_END)
                return 0;
        if (it->pos == LM_POS_NEXT) {
                int rc =
                    mdb_cursor_get(it->cur, &it->k, &it->v, MDB_NEXT);
                if (rc) {
                        it->pos = LM_POS_END;
                        return rc == MDB_NOTFOUND ? 0 : lm_code(rc);
                }
        }
        k = it->k.mv_data;
        if (!it->k.mv_size || k[0] != LM_TAG_DATA ||
            (it->has_to &&
             lm_cmp(k + 1, it->k.mv_size - 1, it->to, it->to_len) > 0)) {
                it->pos = LM_POS_END;
                return 0;
        }
        it->pos    = LM_POS_NEXT;
        *key       = k + 1;
        *key_len   = it->k.mv_size - 1;
        *value     = it->v.mv_size ? it->v.mv_data : lm_empty;
        *value_len = it->v.mv_size;
        return 1;
}

static void lm_iter_close(void *iter) {
        lm_iter_free(iter);
}

static int lm_flush(void *store, char *errstr, size_t errstr_size) {
        lm_store_t *s = store;
        MDB_txn *txn  = s->wtxn;
        int rc;
        if (s->failed) {
                sl_errstr(errstr, errstr_size, "%s", s->err);
                return s->failed;
        }
        if (!txn)
                return 0;
        if (s->iters) {
                /* committing would free their cursors */
                sl_errstr(errstr, errstr_size,
                          "lmdb store \"%s\" in %s: flush with %zu iterators "
                          "open",
                          s->name, s->path, s->iters);
                return SLUICE_ERR_STATE;
        }
        s->wtxn = NULL;
        if ((rc = mdb_txn_commit(txn))) { /* the txn is gone either way */
                lm_fail(s, "commit", rc);
                sl_errstr(errstr, errstr_size, "%s", s->err);
                return s->failed;
        }
        return 0;
}

/* Exact: LMDB keeps the number of entries in the tree's root. */
static uint64_t lm_count(void *store) {
        lm_store_t *s = store;
        MDB_txn *txn;
        MDB_stat st;
        int rc;
        MDB_val k, v;
        uint64_t n;
        if (lm_read_begin(s, &txn))
                return 0;
        rc = mdb_stat(txn, s->dbi, &st);
        n  = rc ? 0 : (uint64_t)st.ms_entries;
        k.mv_data = (void *)(uintptr_t)lm_offset_key;
        k.mv_size = sizeof(lm_offset_key);
        if (n && !mdb_get(txn, s->dbi, &k, &v))
                n--; /* Sluice's offset record is no key of the store */
        lm_read_end(s, txn);
        return n;
}

/* The offset record and the data since the last flush, in one commit. */
static int lm_flush_offset(void *store, int64_t offset, char *errstr,
                           size_t errstr_size) {
        lm_store_t *s = store;
        unsigned char b[8];
        MDB_val k, v;
        int rc, i;
        if ((rc = lm_write_begin(s))) {
                sl_errstr(errstr, errstr_size, "%s",
                          s->failed ? s->err : "lmdb: cannot begin a write");
                return rc;
        }
        k.mv_data = (void *)(uintptr_t)lm_offset_key;
        k.mv_size = sizeof(lm_offset_key);
        if (offset < 0) {
                rc = mdb_del(s->wtxn, s->dbi, &k, NULL);
                if (rc == MDB_NOTFOUND)
                        rc = 0;
        } else {
                for (i = 7; i >= 0; i--)
                        b[7 - i] = (unsigned char)((uint64_t)offset >> (i * 8));
                v.mv_data = b;
                v.mv_size = sizeof(b);
                rc        = mdb_put(s->wtxn, s->dbi, &k, &v, 0);
        }
        if (rc) {
                lm_fail(s, "offset write", rc);
                sl_errstr(errstr, errstr_size, "%s", s->err);
                return s->failed;
        }
        return lm_flush(store, errstr, errstr_size);
}

static int lm_read_offset(void *store, int64_t *offset) {
        lm_store_t *s = store;
        MDB_txn *txn;
        MDB_val k, v;
        uint64_t u = 0;
        size_t i;
        int rc;
        if ((rc = lm_read_begin(s, &txn)))
                return rc;
        k.mv_data = (void *)(uintptr_t)lm_offset_key;
        k.mv_size = sizeof(lm_offset_key);
        rc        = mdb_get(txn, s->dbi, &k, &v);
        if (!rc && v.mv_size == 8)
                for (i = 0; i < 8; i++)
                        u = u << 8 | ((const unsigned char *)v.mv_data)[i];
        lm_read_end(s, txn);
        if (rc == MDB_NOTFOUND)
                return 0;
        if (rc)
                return lm_code(rc);
        if (v.mv_size != 8 || u > (uint64_t)INT64_MAX)
                return 0; /* not one of ours: no offset to trust */
        *offset = (int64_t)u;
        return 1;
}

static const char *lm_last_error(void *store) {
        lm_store_t *s = store;
        return s->err[0] ? s->err : NULL;
}

static const sluice_store_type_t lmdb_type = {
    .version           = SLUICE_STORE_VERSION,
    .name              = "lmdb",
    .persistent        = 1,
    .opaque            = NULL,
    .open              = lm_open,
    .close             = lm_close,
    .get               = lm_get,
    .put               = lm_put,
    .del               = lm_del,
    .iter_open         = lm_iter_open,
    .iter_next         = lm_iter_next,
    .iter_close        = lm_iter_close,
    .flush             = lm_flush,
    .approximate_count = lm_count,
    .max_key_len       = LM_KEY_MAX,
    .last_error        = lm_last_error,
    .flush_offset      = lm_flush_offset,
    .read_offset       = lm_read_offset,
};

const sluice_store_type_t *sluice_store_type_lmdb(void) {
        return &lmdb_type;
}

#else /* !SLUICE_HAVE_LMDB */

const sluice_store_type_t *sluice_store_type_lmdb(void) {
        return NULL;
}

#endif
