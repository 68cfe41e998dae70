/*
 * common.h - internal helpers shared by every file of lib/: error text,
 * growable buffers, the per-task arena. Not part of the public API.
 */
#ifndef SLUICE_COMMON_H
#define SLUICE_COMMON_H

#include "sluice.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define SL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define SL_LIKELY(x) __builtin_expect(!!(x), 1)
#define SL_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define SL_PRINTF(f, a)
#define SL_LIKELY(x) (x)
#define SL_UNLIKELY(x) (x)
#endif

#define SL_ERRSTR_SIZE 512

/* snprintf into errstr when errstr_size > 0; always NUL-terminated. */
void sl_errstr(char *errstr, size_t errstr_size, const char *fmt, ...)
    SL_PRINTF(3, 4);

/* strdup that is C11 (strdup is POSIX). NULL in, NULL out. */
char *sl_strdup(const char *s);

/*
 * Arena: bump allocation for data that lives while one input record is
 * processed (string copies, header arrays). sl_arena_reset() rewinds it and,
 * if it had to grow past its first chunk, merges into one chunk of the
 * combined size, so the steady state allocates nothing.
 */
typedef struct sl_chunk_s {
        struct sl_chunk_s *next;
        size_t size, used;
        size_t pad; /* the header is 32 bytes: data is 16-aligned */
        /* followed by size bytes */
} sl_chunk_t;

typedef struct sl_arena_s {
        sl_chunk_t *head; /* current chunk; older chunks follow ->next */
        size_t total;     /* bytes allocated over all chunks */
} sl_arena_t;

void sl_arena_init(sl_arena_t *a);
void *sl_arena_alloc_slow(sl_arena_t *a, size_t n);
void sl_arena_reset(sl_arena_t *a);
void sl_arena_free(sl_arena_t *a);

static inline void *sl_arena_alloc(sl_arena_t *a, size_t n) {
        sl_chunk_t *c = a->head;
        n             = (n + 15u) & ~(size_t)15u;
        if (SL_LIKELY(c && c->size - c->used >= n)) {
                void *p = (unsigned char *)(c + 1) + c->used;
                c->used += n;
                return p;
        }
        return sl_arena_alloc_slow(a, n);
}

/* Growable string builder for describe output. */
typedef struct sl_str_s {
        char *data;
        size_t len, cap;
        int oom;
} sl_str_t;

void sl_str_printf(sl_str_t *s, const char *fmt, ...) SL_PRINTF(2, 3);
/* Returns the string (caller frees) or NULL if any append ran out of memory. */
char *sl_str_take(sl_str_t *s);

/* Logging through the conf's callback (conf may be NULL: stderr). */
void sl_log(const sluice_conf_t *conf, sluice_log_level_t level,
            const char *facility, const char *fmt, ...) SL_PRINTF(4, 5);

/* Store key order: memcmp over the common length, the shorter key first
 * when one is a prefix of the other. */
/* 8-byte big-endian integers (Kafka's and Java's order for timestamps). */
static inline void sl_put_be64(unsigned char *p, uint64_t v) {
        int i;
        for (i = 7; i >= 0; i--, v >>= 8)
                p[i] = (unsigned char)(v & 0xff);
}
static inline uint64_t sl_get_be64(const unsigned char *p) {
        uint64_t v = 0;
        int i;
        for (i = 0; i < 8; i++)
                v = v << 8 | p[i];
        return v;
}

static inline int sl_key_cmp(const void *a, size_t alen, const void *b,
                             size_t blen) {
        size_t n = alen < blen ? alen : blen;
        int c    = n ? memcmp(a, b, n) : 0;
        if (c)
                return c;
        return alen < blen ? -1 : alen > blen;
}

/* A fast 64-bit hash of a short key, 8 bytes at a time (the store and
 * the record cache). */
static inline uint64_t sl_hash64(const void *key, size_t len) {
        const unsigned char *p = key;
        uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t)len, w;
        while (len >= 8) {
                memcpy(&w, p, 8);
                h = (h ^ (w * 0xbf58476d1ce4e5b9ull)) * 0x94d049bb133111ebull;
                h ^= h >> 29;
                p += 8;
                len -= 8;
        }
        if (len) {
                w = 0;
                memcpy(&w, p, len);
                h = (h ^ (w * 0xbf58476d1ce4e5b9ull)) * 0x94d049bb133111ebull;
        }
        h ^= h >> 32;
        h *= 0xd6e8feb86659fd93ull;
        h ^= h >> 32;
        return h;
}

/* Kafka's legal topic names: [a-zA-Z0-9._-]{1,249}, not "." or "..". */
int sl_topic_name_valid(const char *name, char *errstr, size_t errstr_size);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t sl_now_ms(void);

#endif
