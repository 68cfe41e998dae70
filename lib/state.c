/*
 * state.c - store instances: backend choice, the record cache, the
 * changelog writes, restore, local reads, checkpoints.
 *
 * The record cache (as Kafka Streams' NamedCache) keeps the latest write of
 * each key since the last flush, in last-write order. A flush (at commit,
 * or when the thread's budget is exceeded) writes each entry to the
 * backend and the changelog and forwards it downstream, so repeated updates
 * of one key between commits reach Kafka once.
 */
#include "state.h"
#include "conf.h"
#include "task.h"
#include "versioned.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stdatomic.h>
#include <time.h>

struct sl_cent_s {
        sl_cent_t *hnext;      /* bucket chain */
        sl_cent_t *prev, *next; /* last-write order */
        sl_onode_t *onode;     /* its entry in kv->corder, if that exists */
        uint32_t hash, klen, vlen;
        uint32_t size; /* bytes allocated for key and value */
        int has_value; /* 0: a delete */
        int64_t ts;
        /* key bytes, then value bytes */
};

/* Flushed entries kept per store for the next writes: the driver commits
 * after every record, so without them each update is a malloc and free. */
#define SL_CACHE_SPARES 32

static void cent_release(sluice_kv_t *kv, sl_cent_t *e) {
        /* small ones only: the budget does not count spares */
        if (kv->spare_cnt < SL_CACHE_SPARES && e->size <= 256) {
                e->next   = kv->spare;
                kv->spare = e;
                kv->spare_cnt++;
        } else {
                free(e);
        }
}

static sl_cent_t *cent_alloc(sluice_kv_t *kv, size_t data) {
        sl_cent_t *e = kv->spare;
        if (e && e->size >= data && e->size <= 2 * data + 64) {
                kv->spare = e->next;
                kv->spare_cnt--;
                return e;
        }
        if (!(e = malloc(sizeof(*e) + data)))
                return NULL;
        e->size = (uint32_t)data;
        return e;
}

static inline unsigned char *cent_key(sl_cent_t *e) {
        return (unsigned char *)(e + 1);
}
static inline unsigned char *cent_val(sl_cent_t *e) {
        return cent_key(e) + e->klen;
}

static uint32_t hash_bytes(const void *key, size_t len) {
        return (uint32_t)sl_hash64(key, len);
}

/* ---- paths and checkpoints ---- */

int sl_mkdirs(const char *path, char *errstr, size_t errstr_size) {
        char *p = sl_strdup(path), *s;
        if (!p) {
                sl_errstr(errstr, errstr_size, "out of memory");
                return -1;
        }
        for (s = p + 1;; s++) {
                char c = *s;
                if (c != '/' && c != '\0')
                        continue;
                *s = '\0';
                if (mkdir(p, 0755) && errno != EEXIST) {
                        sl_errstr(errstr, errstr_size,
                                  "cannot create directory \"%s\": %s", p,
                                  strerror(errno));
                        free(p);
                        return -1;
                }
                *s = c;
                if (!c)
                        break;
        }
        free(p);
        return 0;
}

char *sl_state_base(const sluice_conf_t *conf, const char *app_id) {
        const char *base = conf && conf->state_dir ? conf->state_dir
                                                   : "/tmp/sluice";
        size_t n = strlen(base) + strlen(app_id) + 2;
        char *d  = malloc(n);
        if (d)
                snprintf(d, n, "%s/%s", base, app_id);
        return d;
}

char *sl_task_dir(const char *base, int sub, int32_t partition) {
        size_t n = strlen(base) + 40;
        char *d  = malloc(n);
        if (d)
                snprintf(d, n, "%s/%d_%d", base, sub, (int)partition);
        return d;
}

/* One line of the checkpoint file: "<offset> <store>\n", offset >= 0.
 * 1 with the fields, 0 if malformed. */
static int checkpoint_line(const char *line, long long *off, char *name,
                           size_t name_size) {
        char *end;
        const char *p;
        size_t n;
        errno = 0;
        *off  = strtoll(line, &end, 10);
        if (end == line || errno || *off < 0 || *end != ' ')
                return 0;
        p = end + 1;
        n = strcspn(p, " \n");
        if (!n || n >= name_size || p[n] != '\n')
                return 0;
        memcpy(name, p, n);
        name[n] = '\0';
        return 1;
}

int sl_checkpoint_check(const char *task_dir, char *why, size_t why_size) {
        char path[4096], line[512], name[400];
        long long off;
        int lineno = 0, r = 0;
        FILE *f;
        snprintf(path, sizeof(path), "%s/.checkpoint", task_dir);
        if (!(f = fopen(path, "r")))
                return 0; /* none: a new task, nothing to say */
        while (fgets(line, sizeof(line), f)) {
                lineno++;
                if (!checkpoint_line(line, &off, name, sizeof(name))) {
                        snprintf(why, why_size,
                                 "\"%s\" line %d is not \"<offset> "
                                 "<store>\"",
                                 path, lineno);
                        r = -1;
                        break;
                }
        }
        if (!r && !lineno) {
                snprintf(why, why_size, "\"%s\" is empty", path);
                r = -1;
        }
        fclose(f);
        return r;
}

int64_t sl_checkpoint_read(const char *task_dir, const char *store) {
        char path[4096], line[512], name[400];
        long long off;
        int64_t r = -1;
        FILE *f;
        snprintf(path, sizeof(path), "%s/.checkpoint", task_dir);
        if (!(f = fopen(path, "r")))
                return -1;
        while (fgets(line, sizeof(line), f)) {
                if (!checkpoint_line(line, &off, name, sizeof(name))) {
                        r = -1; /* damaged: trust none of it */
                        break;
                }
                if (!strcmp(name, store))
                        r = off;
        }
        fclose(f);
        return r;
}

int sl_checkpoint_write(const char *task_dir, sluice_kv_t **kvs, size_t cnt,
                        char *errstr, size_t errstr_size) {
        char path[4096], tmp[4200];
        size_t i;
        FILE *f;
        snprintf(path, sizeof(path), "%s/.checkpoint", task_dir);
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        if (!(f = fopen(tmp, "w"))) {
                sl_errstr(errstr, errstr_size, "cannot write \"%s\": %s", tmp,
                          strerror(errno));
                return -1;
        }
        for (i = 0; i < cnt; i++)
                if (kvs[i] && kvs[i]->type->persistent &&
                    kvs[i]->checkpoint >= 0)
                        fprintf(f, "%lld %s\n",
                                (long long)kvs[i]->checkpoint,
                                kvs[i]->def->name);
        /* the rename makes the new file whole or absent, never half */
        if (fclose(f) || rename(tmp, path)) {
                sl_errstr(errstr, errstr_size, "cannot write \"%s\": %s",
                          path, strerror(errno));
                return -1;
        }
        return 0;
}

/* ---- opening ---- */

const sluice_store_type_t *sl_store_type_for(const sluice_conf_t *conf,
                                             const sl_store_def_t *def,
                                             char *errstr,
                                             size_t errstr_size) {
        const char *name = def->type;
        const char *key  = "sluice_topology_set_store_type";
        size_t i;
        if (!name) {
                name = conf && conf->default_store ? conf->default_store
                                                   : "in_memory";
                key  = "default.dsl.store";
        }
        if (!strcmp(name, "in_memory") || !strcmp(name, "memory"))
                return sluice_store_type_memory();
        if (!strcmp(name, "lmdb") || !strcmp(name, "persistent")) {
                if (sluice_store_type_lmdb())
                        return sluice_store_type_lmdb();
                sl_errstr(errstr, errstr_size,
                          "store \"%s\": %s=%s, but this libsluice was built "
                          "without LMDB",
                          def->name, key, name);
                return NULL;
        }
        for (i = 0; conf && i < conf->store_type_cnt; i++)
                if (!strcmp(conf->store_types[i]->name, name))
                        return conf->store_types[i];
        sl_errstr(errstr, errstr_size,
                  "store \"%s\": %s=%s names no store type (built in: "
                  "in_memory, lmdb; others must be registered with "
                  "sluice_conf_register_store())",
                  def->name, key, name);
        return NULL;
}

/* How long a store held by another process is waited for (a rebalance
 * moving the task between two processes on one host), and the back-off. */
#define SL_BUSY_WAIT_MS 30000
#define SL_BUSY_BACKOFF_MAX_MS 2000

/* Open the backend: a store another process holds is retried with
 * back-off for up to SL_BUSY_WAIT_MS; a damaged one is moved aside to
 * <path>.corrupt-<time> and opened fresh (the changelog restores it). */
static int kv_open_backend(sluice_kv_t *kv, char *why, size_t why_size) {
        const sluice_store_type_t *type = kv->type;
        const char *name                = kv->def->name;
        int64_t deadline = sl_now_ms() + SL_BUSY_WAIT_MS;
        long backoff     = 50;
        int err, moved = 0;
        for (;;) {
                kv->h = NULL;
                err   = type->open(type, kv->path, name, &kv->h, why, why_size);
                if (err == SLUICE_ERR_BUSY && sl_now_ms() < deadline &&
                    !(kv->task->stop && atomic_load(kv->task->stop))) {
                        struct timespec pause = {backoff / 1000,
                                                 (backoff % 1000) * 1000000};
                        sl_log(kv->task->conf, SLUICE_LOG_INFO, "STATE",
                               "store \"%s\" partition %d: %s; retrying in "
                               "%ld ms",
                               name, (int)kv->task->partition, why, backoff);
                        nanosleep(&pause, NULL); /* a retry's back-off */
                        backoff = backoff * 2 > SL_BUSY_BACKOFF_MAX_MS
                                      ? SL_BUSY_BACKOFF_MAX_MS
                                      : backoff * 2;
                        continue;
                }
                if (err == SLUICE_ERR_BUSY) {
                        size_t n = strlen(why);
                        snprintf(why + n, why_size - n,
                                 " (still, after %d s)", SL_BUSY_WAIT_MS / 1000);
                        return err;
                }
                if (err == SLUICE_ERR_CORRUPT && type->persistent && !moved) {
                        char aside[4200], mk[SL_ERRSTR_SIZE];
                        struct stat st;
                        int k;
                        /* a name not taken yet: twice in one second is
                         * possible (a crash loop, tests) */
                        snprintf(aside, sizeof(aside), "%s.corrupt-%lld",
                                 kv->path, (long long)time(NULL));
                        for (k = 1; !stat(aside, &st) && k < 1000; k++)
                                snprintf(aside, sizeof(aside),
                                         "%s.corrupt-%lld.%d", kv->path,
                                         (long long)time(NULL), k);
                        if (rename(kv->path, aside)) {
                                size_t n = strlen(why);
                                snprintf(why + n, why_size - n,
                                         "; cannot move it aside: %s",
                                         strerror(errno));
                                return err;
                        }
                        if (sl_mkdirs(kv->path, mk, sizeof(mk))) {
                                size_t n = strlen(why);
                                snprintf(why + n, why_size - n, "; %.400s",
                                         mk);
                                return err;
                        }
                        sl_log(kv->task->conf, SLUICE_LOG_WARNING, "STATE",
                               "store \"%s\" partition %d: %s; moved it "
                               "aside to \"%s\", restoring all of the "
                               "changelog into a new one",
                               name, (int)kv->task->partition, why, aside);
                        moved          = 1;
                        kv->checkpoint = -1;
                        continue;
                }
                return err;
        }
}

/* Empty the store before a full restore of its changelog. 0, or -1 with
 * errstr naming the store and the backend's reason. */
static int kv_wipe_for_restore(sluice_kv_t *kv, char *errstr,
                               size_t errstr_size) {
        char why[SL_ERRSTR_SIZE] = "";
        if (!sl_kv_wipe(kv))
                return 0;
        sl_errstr(errstr, errstr_size,
                  "store \"%s\": cannot wipe it for a full restore: %s",
                  kv->def->name,
                  sl_kv_reason(kv, SLUICE_ERR_STATE, why, sizeof(why)));
        return -1;
}

/* Where restore starts for a persistent store. A backend that keeps the
 * offset in its own atomic commit (version 2, read_offset) is believed
 * over the checkpoint file; one that holds none (removed, emptied,
 * replaced, or written before it kept one) is restored in full, after a
 * wipe of whatever it holds. For a backend without read_offset, the file's
 * offset is believed unless the store is empty while the file says it
 * reflects records. 0, or -1 with errstr. */
static int kv_trust_offset(sluice_kv_t *kv, char *errstr,
                           size_t errstr_size) {
        const sluice_store_type_t *type = kv->type;
        const char *name                = kv->def->name;
        int32_t part                    = kv->task->partition;
        int64_t off = -1, file = kv->checkpoint;
        char why[SL_ERRSTR_SIZE] = "";
        int r;
        if ((type->version < 2 || !type->read_offset) && kv->task->conf &&
            kv->task->conf->guarantee == SL_EOS_V2) {
                /* it may hold updates of transactions that never committed
                 * (its writes become durable when it says, not when a
                 * transaction commits), and no offset proves otherwise */
                sl_log(kv->task->conf, SLUICE_LOG_WARNING, "STATE",
                       "store \"%s\" partition %d (type %s): under "
                       "exactly_once_v2 a persistent store must commit its "
                       "changelog offset with its data (flush_offset(), "
                       "store interface version 2) to prove it holds only "
                       "committed state; this one cannot: wiping it, "
                       "restoring all of the changelog",
                       name, (int)part, type->name);
                kv->checkpoint = -1;
                /* approximate_count may say 0: wipe regardless */
                return kv_wipe_for_restore(kv, errstr, errstr_size);
        }
        if (type->version < 2 || !type->read_offset) {
                uint64_t cnt = type->approximate_count(kv->h);
                if (file > 0 && cnt == 0) {
                        sl_log(kv->task->conf, SLUICE_LOG_WARNING, "STATE",
                               "store \"%s\" partition %d: the checkpoint "
                               "says it reflects changelog offsets up to "
                               "%lld, but it is empty (its files removed or "
                               "emptied?): restoring all of the changelog",
                               name, (int)part, (long long)file);
                        kv->checkpoint = -1;
                } else if (file < 0 && cnt > 0) {
                        /* data no checkpoint vouches for (a crash before
                         * the first one, a damaged file): a full restore
                         * over it would bring back keys whose tombstones
                         * were compacted away */
                        sl_log(kv->task->conf, SLUICE_LOG_WARNING, "STATE",
                               "store \"%s\" partition %d: holds records "
                               "but no checkpoint vouches for them: wiping "
                               "it, restoring all of the changelog",
                               name, (int)part);
                        if (sl_kv_wipe(kv)) {
                                sl_errstr(errstr, errstr_size,
                                          "store \"%s\": cannot wipe it for "
                                          "a full restore: %s",
                                          name,
                                          sl_kv_reason(kv, SLUICE_ERR_STATE,
                                                       why, sizeof(why)));
                                return -1;
                        }
                }
                return 0;
        }
        r = type->read_offset(kv->h, &off);
        if (r < 0) {
                sl_errstr(errstr, errstr_size,
                          "store \"%s\": cannot read its changelog offset: %s",
                          name, sl_kv_reason(kv, r, why, sizeof(why)));
                return -1;
        }
        if (r == 1 && off >= 0) {
                if (file >= 0 && file != off)
                        sl_log(kv->task->conf, SLUICE_LOG_DEBUG, "STATE",
                               "store \"%s\" partition %d: its own offset "
                               "%lld is believed over the checkpoint file's "
                               "%lld",
                               name, (int)part, (long long)off,
                               (long long)file);
                kv->checkpoint = off;
                return 0;
        }
        kv->checkpoint = -1;
        if (file >= 0)
                sl_log(kv->task->conf, SLUICE_LOG_WARNING, "STATE",
                       "store \"%s\" partition %d: the checkpoint file says "
                       "it reflects changelog offsets up to %lld, but the "
                       "store holds no offset of its own (its files were "
                       "removed, emptied or replaced): restoring all of the "
                       "changelog",
                       name, (int)part, (long long)file);
        /* records of unknown age: start from nothing */
        if (type->approximate_count(kv->h) > 0)
                return kv_wipe_for_restore(kv, errstr, errstr_size);
        return 0;
}

int sl_kv_open(sl_task_t *task, const sl_store_def_t *def, sluice_kv_t **out,
               char *errstr, size_t errstr_size) {
        const sluice_store_type_t *type =
            sl_store_type_for(task->conf, def, errstr, errstr_size);
        sluice_kv_t *kv;
        char why[SL_ERRSTR_SIZE] = "";
        size_t n;
        int err;
        if (!type)
                return SLUICE_ERR_INVALID_CONF;
        if (!(kv = calloc(1, sizeof(*kv))))
                goto oom;
        kv->def           = def;
        kv->type          = type;
        kv->task          = task;
        kv->checkpoint    = -1;
        kv->restore_start = kv->restore_end = -1;
        kv->bucket_cnt    = 64;
        if (!(kv->buckets = calloc(kv->bucket_cnt, sizeof(*kv->buckets))))
                goto oom;
        n = strlen(task->dir) + strlen(def->name) + 2;
        if (!(kv->path = malloc(n)))
                goto oom;
        snprintf(kv->path, n, "%s/%s", task->dir, def->name);
        if (type->persistent) {
                if (sl_mkdirs(kv->path, errstr, errstr_size)) {
                        sl_kv_close(kv);
                        return SLUICE_ERR_STATE;
                }
                kv->checkpoint = sl_checkpoint_read(task->dir, def->name);
        }
        err = kv_open_backend(kv, why, sizeof(why));
        if (err) {
                sl_errstr(errstr, errstr_size,
                          "store \"%s\": cannot open (type %s) at \"%s\": %s",
                          def->name, type->name, kv->path, why);
                kv->h = NULL;
                sl_kv_close(kv);
                return SLUICE_ERR_STATE;
        }
        if (type->persistent && kv_trust_offset(kv, errstr, errstr_size)) {
                sl_kv_close(kv);
                return SLUICE_ERR_STATE;
        }
        *out = kv;
        return 0;
oom:
        sl_kv_close(kv);
        sl_errstr(errstr, errstr_size, "out of memory");
        return SLUICE_ERR_NOMEM;
}

static void cache_clear(sluice_kv_t *kv) {
        sl_cent_t *e = kv->head, *next;
        sl_oset_free(kv->corder, NULL);
        kv->corder = NULL;
        for (; e; e = next) {
                next = e->next;
                free(e);
        }
        for (e = kv->spare; e; e = next) {
                next = e->next;
                free(e);
        }
        kv->spare     = NULL;
        kv->spare_cnt = 0;
        if (kv->buckets)
                memset(kv->buckets, 0, kv->bucket_cnt * sizeof(*kv->buckets));
        kv->head = kv->tail = NULL;
        if (kv->task && kv->task->budget)
                kv->task->budget->used -= kv->cached_bytes;
        kv->cached = kv->cached_bytes = 0;
}

void sl_kv_close(sluice_kv_t *kv) {
        if (!kv)
                return;
        cache_clear(kv);
        sl_versioned_free(kv);
        if (kv->h)
                kv->type->close(kv->h);
        free(kv->buckets);
        free(kv->path);
        free(kv->buf.data);
        free(kv);
}

/* ---- the cache ---- */

static sl_cent_t *cache_find(const sluice_kv_t *kv, const void *key,
                             size_t klen, uint32_t h) {
        sl_cent_t *e = kv->buckets[h & (kv->bucket_cnt - 1)];
        for (; e; e = e->hnext)
                if (e->hash == h && e->klen == klen &&
                    !memcmp(cent_key(e), key, klen))
                        return e;
        return NULL;
}

static void cache_unlink(sluice_kv_t *kv, sl_cent_t *e) {
        sl_cent_t **pp = &kv->buckets[e->hash & (kv->bucket_cnt - 1)];
        while (*pp != e)
                pp = &(*pp)->hnext;
        *pp = e->hnext;
        if (e->prev)
                e->prev->next = e->next;
        else
                kv->head = e->next;
        if (e->next)
                e->next->prev = e->prev;
        else
                kv->tail = e->prev;
        kv->cached--;
        kv->cached_bytes -= sizeof(*e) + e->klen + e->vlen;
        kv->task->budget->used -= sizeof(*e) + e->klen + e->vlen;
}

static int cache_grow(sluice_kv_t *kv) {
        size_t n = kv->bucket_cnt * 2, i;
        sl_cent_t **b = calloc(n, sizeof(*b)), *e;
        if (!b)
                return -1;
        for (i = 0; i < kv->bucket_cnt; i++) {
                sl_cent_t *next;
                for (e = kv->buckets[i]; e; e = next) {
                        next                 = e->hnext;
                        e->hnext             = b[e->hash & (n - 1)];
                        b[e->hash & (n - 1)] = e;
                }
        }
        free(kv->buckets);
        kv->buckets    = b;
        kv->bucket_cnt = n;
        return 0;
}

static int cache_put(sluice_kv_t *kv, const void *key, size_t klen,
                     const void *value, size_t vlen, int64_t ts) {
        uint32_t h     = hash_bytes(key, klen);
        sl_cent_t *old = cache_find(kv, key, klen, h), *e, **b;
        size_t sz      = sizeof(*e) + klen + (value ? vlen : 0);
        /* the new entry first: value may point into the old one (a value
         * read with get and written back) */
        if (!(e = cent_alloc(kv, sz - sizeof(*e))))
                return SLUICE_ERR_NOMEM;
        e->hash      = h;
        e->klen      = (uint32_t)klen;
        e->vlen      = value ? (uint32_t)vlen : 0;
        e->has_value = value != NULL;
        e->ts        = ts;
        e->onode     = NULL;
        if (klen)
                memcpy(cent_key(e), key, klen);
        if (value && vlen)
                memcpy(cent_val(e), value, vlen);
        /* in key order too, once a range asked for it: the old entry's
         * place is the new one's */
        if (kv->corder) {
                e->onode = old ? old->onode
                               : sl_oset_put(kv->corder, cent_key(e), klen, e,
                                             NULL);
                if (!e->onode) {
                        free(e);
                        return SLUICE_ERR_NOMEM;
                }
                sl_onode_set_val(e->onode, e);
        }
        if (old) {
                cache_unlink(kv, old);
                cent_release(kv, old);
        }
        if (kv->cached >= kv->bucket_cnt && cache_grow(kv)) {
                if (e->onode)
                        sl_oset_remove(kv->corder, e->onode);
                free(e);
                return SLUICE_ERR_NOMEM;
        }
        b        = &kv->buckets[h & (kv->bucket_cnt - 1)];
        e->hnext = *b;
        *b       = e;
        e->next  = NULL;
        e->prev  = kv->tail;
        if (kv->tail)
                kv->tail->next = e;
        else
                kv->head = e;
        kv->tail = e;
        kv->cached++;
        kv->cached_bytes += sz;
        kv->task->budget->used += sz;
        return 0;
}

/*
 * The cache's entries in key order, for sl_kv_range(): built by the
 * first range over the store and from then on kept by cache_put() and
 * the flush, so a range seeks into it in O(log n) rather than sorting
 * the cache. A store never ranged over (an aggregation's) never has one:
 * the cache's hot path pays nothing for it. 0 or SLUICE_ERR_NOMEM.
 */
static int cache_order(sluice_kv_t *kv) {
        sl_cent_t *e;
        if (kv->corder)
                return 0;
        if (!(kv->corder = sl_oset_new()))
                return SLUICE_ERR_NOMEM;
        for (e = kv->head; e; e = e->next)
                if (!(e->onode = sl_oset_put(kv->corder, cent_key(e), e->klen,
                                             e, NULL))) {
                        for (e = kv->head; e; e = e->next)
                                e->onode = NULL;
                        sl_oset_free(kv->corder, NULL);
                        kv->corder = NULL;
                        return SLUICE_ERR_NOMEM;
                }
        return 0;
}

/* The cache's first entry at or after @from (NULL: the first) and at or
 * before @to (NULL: open), or after @n with @n given; NULL if none. */
static sl_cent_t *cache_range_next(const sluice_kv_t *kv,
                                   const sl_onode_t **n, const void *from,
                                   size_t from_len, const void *to,
                                   size_t to_len) {
        sl_cent_t *e;
        *n = *n ? sl_oset_next(*n) : sl_oset_seek(kv->corder, from, from_len);
        if (!*n)
                return NULL;
        e = sl_onode_val(*n);
        if (to && sl_key_cmp(cent_key(e), e->klen, to, to_len) > 0) {
                *n = NULL;
                return NULL;
        }
        return e;
}

/* ---- reads and writes ---- */

int sl_kv_get(sluice_kv_t *kv, const void *key, size_t klen,
              const void **value, size_t *vlen, int64_t *ts) {
        const void *v;
        size_t n;
        int r;
        if (kv->cached) {
                sl_cent_t *e = cache_find(kv, key, klen, hash_bytes(key, klen));
                if (e) {
                        if (!e->has_value)
                                return 0;
                        *value = cent_val(e);
                        *vlen  = e->vlen;
                        *ts    = e->ts;
                        return 1;
                }
        }
        r = kv->type->get(kv->h, key, klen, &v, &n);
        if (r <= 0)
                return r < 0 ? SLUICE_ERR_STATE : 0;
        if (n < 8)
                return SLUICE_ERR_STATE; /* not written by Sluice */
        *ts    = (int64_t)sl_get_be64(v);
        *value = (const unsigned char *)v + 8;
        *vlen  = n - 8;
        return 1;
}

/* Backend write of one record (timestamp prefixed). */
static int backend_write(sluice_kv_t *kv, const void *key, size_t klen,
                         const void *value, size_t vlen, int64_t ts) {
        if (!value)
                return kv->type->del(kv->h, key, klen);
        kv->buf.len = 0;
        if (sluice_buf_reserve(&kv->buf, vlen + 8))
                return SLUICE_ERR_NOMEM;
        sl_put_be64(kv->buf.data, (uint64_t)ts);
        if (vlen)
                memcpy(kv->buf.data + 8, value, vlen);
        return kv->type->put(kv->h, key, klen, kv->buf.data, vlen + 8);
}

const char *sl_kv_reason(const sluice_kv_t *kv, int err, char *buf,
                         size_t size) {
        const char *why = kv->type->version >= 2 && kv->type->last_error && kv->h
                              ? kv->type->last_error(kv->h)
                              : NULL;
        if (why && *why)
                snprintf(buf, size, "%s", why);
        else
                snprintf(buf, size, "%s (the backend gave no reason)",
                         sluice_err2str((sluice_resp_t)err));
        return buf;
}

size_t sl_kv_max_key(const sluice_kv_t *kv) {
        return kv->type->version >= 2 ? kv->type->max_key_len : 0;
}

/* Backend + changelog. */
static int write_through(sluice_kv_t *kv, const void *key, size_t klen,
                         const void *value, size_t vlen, int64_t ts) {
        sl_task_t *task = kv->task;
        char why[SL_ERRSTR_SIZE];
        int err;
        if ((err = backend_write(kv, key, klen, value, vlen, ts))) {
                sl_errstr(task->errstr, sizeof(task->errstr),
                          "store \"%s\": write failed (type %s): %s",
                          kv->def->name, kv->type->name,
                          sl_kv_reason(kv, err, why, sizeof(why)));
                return SLUICE_ERR_STATE;
        }
        if (task->clog_write &&
            task->clog_write(task->io_opaque, kv, key, klen, value, vlen, ts,
                             why, sizeof(why))) {
                sl_errstr(task->errstr, sizeof(task->errstr),
                          "store \"%s\": cannot write its changelog \"%s\": "
                          "%s",
                          kv->def->name, kv->def->changelog, why);
                return SLUICE_ERR_STATE;
        }
        return 0;
}

int sl_kv_write(sluice_kv_t *kv, const void *key, size_t klen,
                const void *value, size_t vlen, int64_t ts) {
        sl_task_t *task = kv->task;
        size_t max = sl_kv_max_key(kv);
        if (kv->iterating) {
                sl_errstr(task->errstr, sizeof(task->errstr),
                          "store \"%s\": written while a range scan of it "
                          "runs",
                          kv->def->name);
                return SLUICE_ERR_STATE;
        }
        if (max && klen > max) {
                /* refused now, with the record at hand, rather than at the
                 * commit's flush, where it would fail the whole commit */
                sl_errstr(task->errstr, sizeof(task->errstr),
                          "store \"%s\": key is %zu bytes, %s allows at most "
                          "%zu",
                          kv->def->name, klen, kv->type->name, max);
                return SLUICE_ERR_TOO_LARGE;
        }
        if (!task->budget || !task->budget->max)
                return write_through(kv, key, klen, value, vlen, ts);
        if (cache_put(kv, key, klen, value, vlen, ts)) {
                sl_errstr(task->errstr, sizeof(task->errstr),
                          "out of memory");
                return SLUICE_ERR_NOMEM;
        }
        if (task->budget->used > task->budget->max) {
                /* what fails here are other records' updates: the task is
                 * broken (never a bad record for the handlers to route) */
                if (sl_kv_flush_cache(kv)) {
                        task->broken = 1;
                        return SLUICE_ERR_STATE;
                }
        }
        return 1;
}

int sl_kv_wipe(sluice_kv_t *kv) {
        /* delete in batches: no writes while an iterator is open */
        for (;;) {
                void *it;
                const void *k, *v;
                size_t klen, vlen, n = 0, i, off = 0;
                unsigned char *keys = NULL;
                size_t *lens        = NULL, cap = 0;
                int r;
                if (kv->type->iter_open(kv->h, NULL, 0, NULL, 0, &it))
                        return -1;
                r = 0;
                while (n < 1000 &&
                       (r = kv->type->iter_next(it, &k, &klen, &v, &vlen)) > 0) {
                        void *nk;
                        size_t *nl;
                        if (off + klen > cap) {
                                cap = (off + klen) * 2 + 64;
                                if (!(nk = realloc(keys, cap))) {
                                        r = -1;
                                        break;
                                }
                                keys = nk;
                        }
                        if (!(nl = realloc(lens, (n + 1) * sizeof(*lens)))) {
                                r = -1;
                                break;
                        }
                        lens = nl;
                        if (klen)
                                memcpy(keys + off, k, klen);
                        lens[n++] = klen;
                        off += klen;
                }
                kv->type->iter_close(it);
                if (r < 0) {
                        free(keys);
                        free(lens);
                        return -1;
                }
                for (i = 0, off = 0; i < n; off += lens[i++])
                        if (kv->type->del(kv->h, keys + off, lens[i])) {
                                free(keys);
                                free(lens);
                                return -1;
                        }
                free(keys);
                free(lens);
                if (n < 1000)
                        break;
        }
        sl_versioned_forget(kv);
        /* the deletes and "no offset" in one commit: a crash during the
         * restore that follows must not find the old offset trusted */
        if (kv->type->version >= 2 && kv->type->flush_offset) {
                char why[SL_ERRSTR_SIZE];
                if (kv->type->flush_offset(kv->h, -1, why, sizeof(why)))
                        return -1;
        }
        return 0;
}

int sl_kv_restore(sluice_kv_t *kv, const void *key, size_t klen,
                  const void *value, size_t vlen, int64_t ts) {
        /* a versioned store's changelog holds its puts: replay them */
        if (kv->def->versioned)
                return sl_versioned_restore(kv, key, klen, value, vlen, ts);
        return backend_write(kv, key, klen, value, vlen, ts) ? SLUICE_ERR_STATE
                                                             : 0;
}

int sl_kv_flush_cache(sluice_kv_t *kv) {
        sl_task_t *task = kv->task;
        sl_cent_t *e, *list = kv->head;
        int err = 0;
        if (!list)
                return 0;
        /* detach: the forwards below may not see (or change) these */
        {
                size_t bytes = kv->cached_bytes;
                for (e = list; e; e = e->next)
                        kv->buckets[e->hash & (kv->bucket_cnt - 1)] = NULL;
                if (kv->corder)
                        sl_oset_clear(kv->corder, NULL);
                kv->head = kv->tail = NULL;
                kv->cached = kv->cached_bytes = 0;
                task->budget->used -= bytes;
        }
        for (e = list; e && !err; e = e->next) {
                const void *v = e->has_value ? cent_val(e) : NULL;
                /* a DSL store: its owner node writes it through and
                 * forwards Change(new, old) */
                if (kv->def->owner)
                        err = kv->def->owner->ops->flush(
                            task, kv->def->owner, kv, cent_key(e), e->klen, v,
                            e->vlen, e->ts);
                else
                        err = write_through(kv, cent_key(e), e->klen, v,
                                            e->vlen, e->ts);
        }
        while (list) {
                e = list->next;
                cent_release(kv, list);
                list = e;
        }
        return err;
}

int sl_kv_write_flushed(sluice_kv_t *kv, const void *key, size_t klen,
                        const void *value, size_t vlen, int64_t ts) {
        return write_through(kv, key, klen, value, vlen, ts);
}

/* ---- range reads (local queries, processors) ---- */

int64_t sl_kv_range(sluice_kv_t *kv, const void *from, size_t from_len,
                    const void *to, size_t to_len, sluice_kv_cb *cb,
                    void *opaque) {
        const sl_onode_t *n = NULL;
        sl_cent_t *e;
        void *it = NULL;
        int64_t visited = 0;
        int more = 1, r;
        const void *k = NULL, *v = NULL;
        size_t klen = 0, vlen = 0;

        /* the cache's entries in the range, in key order: they override
         * the backend's records of the same key */
        if (cache_order(kv))
                return SLUICE_ERR_NOMEM;
        e = cache_range_next(kv, &n, from, from_len, to, to_len);
        if (kv->type->iter_open(kv->h, from, from_len, to, to_len, &it))
                return SLUICE_ERR_STATE;
        kv->iterating++;
        r = kv->type->iter_next(it, &k, &klen, &v, &vlen);
        while (more && (r > 0 || e)) {
                sl_cent_t *c;
                int cmp;
                if (r < 0)
                        break;
                cmp = r <= 0 ? 1
                      : !e   ? -1
                             : sl_key_cmp(k, klen, cent_key(e), e->klen);
                if (cmp < 0) { /* the backend's record */
                        if (vlen >= 8) {
                                visited++;
                                more = !cb(k, klen,
                                           (const unsigned char *)v + 8,
                                           vlen - 8,
                                           (int64_t)sl_get_be64((const unsigned char *)v),
                                           opaque);
                        }
                        r = kv->type->iter_next(it, &k, &klen, &v, &vlen);
                        continue;
                }
                c = e;
                e = cache_range_next(kv, &n, NULL, 0, to, to_len);
                if (cmp == 0) /* the cache overrides it */
                        r = kv->type->iter_next(it, &k, &klen, &v, &vlen);
                if (c->has_value) {
                        visited++;
                        more = !cb(cent_key(c), c->klen, cent_val(c), c->vlen,
                                   c->ts, opaque);
                }
        }
        kv->iterating--;
        kv->type->iter_close(it);
        return r < 0 ? SLUICE_ERR_STATE : visited;
}

/* ---- the store API processors use ---- */

typedef struct get_visit_s {
        sluice_kv_cb *cb;
        void *opaque;
} get_visit_t;

int sluice_kv_get(sluice_kv_t *kv, const void *key, size_t key_len,
                  sluice_kv_cb *cb, void *opaque) {
        const void *v;
        size_t vlen;
        int64_t ts;
        int r;
        if (!kv || !key || !cb)
                return SLUICE_ERR_INVALID_ARG;
        if (kv->def->versioned) /* its latest version */
                r = sl_versioned_get(kv, key, key_len, SLUICE_TS_LATEST, &v,
                                     &vlen, &ts, NULL);
        else
                r = sl_kv_get(kv, key, key_len, &v, &vlen, &ts);
        if (r > 0)
                cb(key, key_len, v, vlen, ts, opaque);
        return r;
}

int sluice_kv_put(sluice_kv_t *kv, const void *key, size_t key_len,
                  const void *value, size_t value_len, int64_t timestamp) {
        int r;
        if (!kv || !key)
                return SLUICE_ERR_INVALID_ARG;
        r = sl_kv_write(kv, key, key_len, value, value_len, timestamp);
        return r < 0 ? r : 0;
}

int sluice_kv_delete(sluice_kv_t *kv, const void *key, size_t key_len) {
        return sluice_kv_put(kv, key, key_len, NULL, 0, 0);
}

int64_t sluice_kv_range(sluice_kv_t *kv, const void *from, size_t from_len,
                        const void *to, size_t to_len, sluice_kv_cb *cb,
                        void *opaque) {
        if (!kv || !cb)
                return SLUICE_ERR_INVALID_ARG;
        return sl_kv_range(kv, from, from_len, to, to_len, cb, opaque);
}
