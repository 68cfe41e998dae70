/*
 * pc_test.c - unit test of an installed sluice.pc (Check): every @...@
 * placeholder substituted, the paths the install was made for, nothing
 * that points into the builder's home, cache or build tree, no run path.
 * tests/installcheck.sh runs it on the tree it installed:
 *
 *   pc_test PC_FILE PREFIX LIBDIR INCLUDEDIR RDKAFKA_VERSION FORBIDDEN...
 *
 * FORBIDDEN: strings that must not occur anywhere in the file (the
 * dependency cache, the source tree, the DESTDIR staging directory).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char **g_argv;
static int g_argc;
static char g_pc[8192];

/* The value of "name=" or "Name:" line @key (without the separator). */
static int field(const char *key, char *out, size_t size) {
        const char *s = g_pc;
        size_t kl     = strlen(key);
        while (*s) {
                const char *eol = strchr(s, '\n');
                size_t len      = eol ? (size_t)(eol - s) : strlen(s);
                if (len > kl && !strncmp(s, key, kl) &&
                    (s[kl] == '=' || s[kl] == ':')) {
                        const char *v = s + kl + 1;
                        while (*v == ' ')
                                v++;
                        snprintf(out, size, "%.*s", (int)(len - (size_t)(v - s)),
                                 v);
                        return 1;
                }
                s += len + (eol ? 1 : 0);
        }
        return 0;
}

START_TEST(no_placeholder_left) {
        const char *at = g_pc;
        while ((at = strchr(at, '@'))) {
                const char *end = at + 1;
                while ((*end >= 'A' && *end <= 'Z') || *end == '_' ||
                       (*end >= 'a' && *end <= 'z'))
                        end++;
                ck_assert_msg(!(*end == '@' && end > at + 1),
                              "placeholder %.*s left in %s",
                              (int)(end - at + 1), at, g_argv[1]);
                at = end;
        }
}
END_TEST

START_TEST(paths_are_the_install_s) {
        char v[4096];
        ck_assert(field("prefix", v, sizeof(v)));
        ck_assert_str_eq(v, g_argv[2]);
        ck_assert(field("libdir", v, sizeof(v)));
        ck_assert_str_eq(v, g_argv[3]);
        ck_assert(field("includedir", v, sizeof(v)));
        ck_assert_str_eq(v, g_argv[4]);
        ck_assert(field("Cflags", v, sizeof(v)));
        ck_assert_str_eq(v, "-I${includedir}");
        ck_assert(field("Libs", v, sizeof(v)));
        ck_assert_str_eq(v, "-L${libdir} -lsluice");
        ck_assert(field("Version", v, sizeof(v)));
        ck_assert_str_eq(v, "0.1.0");
        ck_assert(field("rdkafka_version", v, sizeof(v)));
        ck_assert_str_eq(v, g_argv[5]);
}
END_TEST

START_TEST(libs_private_are_system_libraries) {
        char v[4096], *tok, *save = NULL;
        ck_assert(field("Libs.private", v, sizeof(v)));
        ck_assert_msg(strstr(v, "-lssl") && strstr(v, "-ljansson"),
                      "Libs.private: %s", v);
        for (tok = strtok_r(v, " ", &save); tok;
             tok = strtok_r(NULL, " ", &save)) {
                ck_assert_msg(!strncmp(tok, "-l", 2) || !strcmp(tok, "-pthread"),
                              "Libs.private has \"%s\": only -l flags of "
                              "system libraries belong there", tok);
                ck_assert_msg(strcmp(tok, "-lrdkafka"),
                              "Libs.private names -lrdkafka, which is "
                              "inside libsluice");
        }
        ck_assert_msg(!field("Requires", v, sizeof(v)) &&
                          !field("Requires.private", v, sizeof(v)),
                      "sluice.pc requires other .pc files");
}
END_TEST

START_TEST(nothing_of_the_builder_s_machine) {
        int i;
        ck_assert_msg(!strstr(g_pc, "rpath"), "a run path in %s", g_argv[1]);
        ck_assert_msg(!strstr(g_pc, "/.cache/"), "a cache path in %s",
                      g_argv[1]);
        for (i = 6; i < g_argc; i++)
                ck_assert_msg(!strstr(g_pc, g_argv[i]), "%s names %s",
                              g_argv[1], g_argv[i]);
}
END_TEST

int main(int argc, char **argv) {
        FILE *f;
        size_t n;
        int failed;
        Suite *s   = suite_create("installed sluice.pc");
        TCase *tc  = tcase_create("pc");
        SRunner *r;
        if (argc < 6) {
                fprintf(stderr, "usage: %s PC PREFIX LIBDIR INCLUDEDIR "
                                "RDKAFKA_VERSION [FORBIDDEN...]\n", argv[0]);
                return 2;
        }
        g_argv = argv;
        g_argc = argc;
        if (!(f = fopen(argv[1], "r"))) {
                perror(argv[1]);
                return 2;
        }
        n       = fread(g_pc, 1, sizeof(g_pc) - 1, f);
        g_pc[n] = '\0';
        fclose(f);
        tcase_add_test(tc, no_placeholder_left);
        tcase_add_test(tc, paths_are_the_install_s);
        tcase_add_test(tc, libs_private_are_system_libraries);
        tcase_add_test(tc, nothing_of_the_builder_s_machine);
        suite_add_tcase(s, tc);
        r = srunner_create(s);
        srunner_run_all(r, CK_NORMAL);
        failed = srunner_ntests_failed(r);
        srunner_free(r);
        return failed ? 1 : 0;
}
