/*
 * common.c - version, error names, arena, string builder, buffers, logging.
 */
#include "common.h"
#include "conf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t sl_now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#include <librdkafka/rdkafka.h>

int sluice_version(void) {
        return SLUICE_VERSION;
}

const char *sluice_version_str(void) {
        return "0.1.0";
}

const char *sluice_rdkafka_version_str(void) {
        return rd_kafka_version_str();
}

const char *sluice_err2str(sluice_resp_t err) {
        switch (err) {
        case SLUICE_OK: return "Success";
        case SLUICE_ERR_INVALID_ARG: return "Invalid argument";
        case SLUICE_ERR_UNKNOWN_CONF: return "Unknown configuration property";
        case SLUICE_ERR_INVALID_CONF: return "Invalid configuration value";
        case SLUICE_ERR_TOPOLOGY: return "Invalid topology";
        case SLUICE_ERR_SERDE: return "Serialization error";
        case SLUICE_ERR_NOMEM: return "Out of memory";
        case SLUICE_ERR_STATE: return "Invalid state";
        case SLUICE_ERR_UNKNOWN_TOPIC: return "Unknown topic";
        case SLUICE_ERR_CALLBACK: return "Callback failed";
        case SLUICE_ERR_VERSION: return "librdkafka version too old";
        case SLUICE_ERR_CORRUPT: return "Store files damaged";
        case SLUICE_ERR_BUSY: return "Store in use by another process";
        case SLUICE_ERR_TOO_LARGE: return "Record too large for the store";
        case SLUICE_ERR_TIMESTAMP: return "Invalid record timestamp";
        }
        return "Unknown error";
}

const char *sluice_type_name(sluice_type_t type) {
        switch (type) {
        case SLUICE_VALUE_NULL: return "null";
        case SLUICE_VALUE_BYTES: return "bytes";
        case SLUICE_VALUE_STRING: return "string";
        case SLUICE_VALUE_INT32: return "int32";
        case SLUICE_VALUE_INT64: return "int64";
        case SLUICE_VALUE_DOUBLE: return "double";
        case SLUICE_VALUE_JSON: return "json";
        case SLUICE_VALUE_OBJECT: return "object";
        }
        return "unknown";
}

void sl_errstr(char *errstr, size_t errstr_size, const char *fmt, ...) {
        va_list ap;
        if (!errstr || errstr_size == 0)
                return;
        va_start(ap, fmt);
        vsnprintf(errstr, errstr_size, fmt, ap);
        va_end(ap);
}

char *sl_strdup(const char *s) {
        size_t n;
        char *d;
        if (!s)
                return NULL;
        n = strlen(s) + 1;
        d = malloc(n);
        if (d)
                memcpy(d, s, n);
        return d;
}

int sluice_buf_reserve(sluice_buf_t *buf, size_t extra) {
        size_t need, cap;
        unsigned char *p;
        if (!buf)
                return SLUICE_ERR_INVALID_ARG;
        if (extra > SIZE_MAX - buf->len)
                return SLUICE_ERR_NOMEM;
        need = buf->len + extra;
        if (need <= buf->cap)
                return 0;
        cap = buf->cap ? buf->cap : 256;
        while (cap < need) {
                if (cap > SIZE_MAX / 2) {
                        cap = need;
                        break;
                }
                cap *= 2;
        }
        p = realloc(buf->data, cap);
        if (!p)
                return SLUICE_ERR_NOMEM;
        buf->data = p;
        buf->cap  = cap;
        return 0;
}

/* ---- arena ---- */

void sl_arena_init(sl_arena_t *a) {
        a->head  = NULL;
        a->total = 0;
}

static sl_chunk_t *arena_chunk_new(size_t size) {
        sl_chunk_t *c = malloc(sizeof(*c) + size);
        if (!c)
                return NULL;
        c->next = NULL;
        c->size = size;
        c->used = 0;
        return c;
}

void *sl_arena_alloc_slow(sl_arena_t *a, size_t n) {
        size_t size = a->head ? a->head->size * 2 : 4096;
        sl_chunk_t *c;
        if (n > SIZE_MAX / 4)
                return NULL;
        while (size < n)
                size *= 2;
        c = arena_chunk_new(size);
        if (!c)
                return NULL;
        c->next = a->head;
        a->head = c;
        a->total += size;
        c->used = n;
        return c + 1;
}

void sl_arena_reset(sl_arena_t *a) {
        sl_chunk_t *c = a->head;
        if (!c)
                return;
        if (c->next) {
                /* Grew past one chunk: replace them all by one that fits. */
                size_t total = a->total;
                sl_arena_free(a);
                c = arena_chunk_new(total);
                if (!c)
                        return; /* next alloc retries */
                a->head  = c;
                a->total = total;
                return;
        }
        c->used = 0;
}

void sl_arena_free(sl_arena_t *a) {
        sl_chunk_t *c = a->head;
        while (c) {
                sl_chunk_t *next = c->next;
                free(c);
                c = next;
        }
        a->head  = NULL;
        a->total = 0;
}

/* ---- string builder ---- */

void sl_str_printf(sl_str_t *s, const char *fmt, ...) {
        va_list ap;
        int n;
        if (s->oom)
                return;
        for (;;) {
                size_t avail = s->cap - s->len;
                va_start(ap, fmt);
                n = vsnprintf(s->data ? s->data + s->len : NULL, avail, fmt, ap);
                va_end(ap);
                if (n < 0) {
                        s->oom = 1;
                        return;
                }
                if ((size_t)n < avail) {
                        s->len += (size_t)n;
                        return;
                }
                {
                        size_t cap = s->cap ? s->cap * 2 : 1024;
                        char *p;
                        while (cap - s->len <= (size_t)n)
                                cap *= 2;
                        p = realloc(s->data, cap);
                        if (!p) {
                                s->oom = 1;
                                return;
                        }
                        s->data = p;
                        s->cap  = cap;
                }
        }
}

char *sl_str_take(sl_str_t *s) {
        char *r;
        if (s->oom || !s->data) {
                if (!s->oom && !s->data)
                        return sl_strdup("");
                free(s->data);
                return NULL;
        }
        r       = s->data;
        s->data = NULL;
        return r;
}

/* ---- logging ---- */

void sl_log(const sluice_conf_t *conf, sluice_log_level_t level,
            const char *facility, const char *fmt, ...) {
        char stackbuf[1024], *buf = stackbuf;
        va_list ap;
        int n;
        if (level > (conf ? conf->log_level : SLUICE_LOG_NOTICE))
                return;
        va_start(ap, fmt);
        n = vsnprintf(stackbuf, sizeof(stackbuf), fmt, ap);
        va_end(ap);
        if (n >= (int)sizeof(stackbuf) && (buf = malloc((size_t)n + 1))) {
                va_start(ap, fmt);
                vsnprintf(buf, (size_t)n + 1, fmt, ap);
                va_end(ap);
        } else if (!buf) {
                buf = stackbuf; /* truncated, but said */
        }
        if (conf && conf->log_cb)
                conf->log_cb(level, facility, buf, conf->log_opaque);
        else
                fprintf(stderr, "%%%d|SLUICE|%s| %s\n", (int)level, facility,
                        buf);
        if (buf != stackbuf)
                free(buf);
}

int sl_topic_name_valid(const char *name, char *errstr, size_t errstr_size) {
        size_t i, n;
        if (!name || !*name) {
                sl_errstr(errstr, errstr_size, "topic name is empty");
                return 0;
        }
        n = strlen(name);
        if (n > 249) {
                sl_errstr(errstr, errstr_size,
                          "topic name \"%.40s...\" is longer than 249 "
                          "characters",
                          name);
                return 0;
        }
        if (!strcmp(name, ".") || !strcmp(name, "..")) {
                sl_errstr(errstr, errstr_size,
                          "topic name \"%s\" is not allowed", name);
                return 0;
        }
        for (i = 0; i < n; i++) {
                char c = name[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                      c == '-')) {
                        sl_errstr(errstr, errstr_size,
                                  "topic name \"%s\" has an illegal "
                                  "character '%c' (legal: a-z A-Z 0-9 . _ -)",
                                  name, c);
                        return 0;
                }
        }
        return 1;
}
