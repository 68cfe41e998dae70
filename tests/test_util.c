/*
 * test_util.c - see test_util.h.
 */
#include "test_util.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void tu_rm_rf(const char *path) {
        struct stat st;
        DIR *d;
        struct dirent *e;
        if (lstat(path, &st))
                return;
        if (!S_ISDIR(st.st_mode)) {
                unlink(path);
                return;
        }
        if ((d = opendir(path))) {
                while ((e = readdir(d))) {
                        char sub[4096];
                        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                                continue;
                        snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
                        tu_rm_rf(sub);
                }
                closedir(d);
        }
        rmdir(path);
}

void tu_tmpdir(char *dir, size_t size, const char *tag) {
        snprintf(dir, size, "/tmp/sluice-test-%s-XXXXXX", tag);
        ck_assert_msg(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
}

sluice_topology_t *tu_count_topology(void) {
        sluice_topology_t *t = sluice_topology_new();
        sluice_stream_to(
            sluice_table_to_stream(sluice_grouped_count(
                sluice_stream_group_by_key(
                    sluice_stream_from(t, "in", sluice_serde_string(),
                                       sluice_serde_string()),
                    NULL, NULL),
                "counts")),
            "out", NULL, NULL);
        return t;
}

void tu_set(sluice_conf_t *c, const char *key, const char *value) {
        char err[512];
        ck_assert_msg(sluice_conf_set(c, key, value, err, sizeof(err)) == 0,
                      "%s=%s: %s", key, value, err);
}
