/*
 * fuzz_conf.c - libFuzzer target: arbitrary key/value pairs into
 * sluice_conf_set(), as a program passes on settings from its users.
 *
 * The input is lines of key=value (split at the first '='; a line without
 * one is a key with an empty value), set in order on one conf. A call that
 * fails must leave a message, NUL-terminated within the buffer; one that
 * succeeds must be readable back with sluice_conf_get(). The conf is then
 * duplicated and both are destroyed (leaks are errors under ASan).
 *
 * librdkafka's plugin.library.paths is skipped: setting it dlopen()s the
 * named file, which runs that file's code - not a parser's business.
 */
#include <stdlib.h>
#include <string.h>

#include "sluice.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void set_one(sluice_conf_t *conf, const char *key, const char *value) {
        char err[256];
        const char *got;
        sluice_resp_t r;
        if (strstr(key, "plugin.library.paths"))
                return;
        memset(err, 'x', sizeof(err));
        r = sluice_conf_set(conf, key, value, err, sizeof(err));
        if (r != SLUICE_OK) {
                if (!memchr(err, '\0', sizeof(err)) || !err[0])
                        abort(); /* an error without a message */
                return;
        }
        got = sluice_conf_get(conf, key);
        if (!got)
                abort();
        /* the one key whose value is normalised on the way in */
        if (!strcmp(key, "processing.guarantee"))
                return;
        if (strcmp(got, value))
                abort();
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
        sluice_conf_t *conf, *dup;
        char *text = malloc(size + 1), *line, *next;
        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';
        if (!(conf = sluice_conf_new()))
                abort();
        for (line = text; line; line = next) {
                char *eq;
                if ((next = strchr(line, '\n')))
                        *next++ = '\0';
                if ((eq = strchr(line, '=')))
                        *eq++ = '\0';
                set_one(conf, line, eq ? eq : "");
        }
        if (!(dup = sluice_conf_dup(conf)))
                abort();
        sluice_conf_destroy(dup);
        sluice_conf_destroy(conf);
        free(text);
        return 0;
}
