/*
 * fuzz_checkpoint.c - libFuzzer target: an arbitrary file where a task's
 * checkpoint file belongs (`<task dir>/.checkpoint`), as a crash, a full
 * disk or a user's hand may leave it, read back with sl_checkpoint_read().
 *
 * The offset it returns must be -1 (none) or a changelog offset >= 0: a
 * restore starts there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* One directory for the whole run (libFuzzer calls us from one thread). */
static char dir[] = "/tmp/sluice-fuzz-checkpoint-XXXXXX";
static char path[sizeof(dir) + 16];

static void cleanup(void) {
        unlink(path);
        rmdir(dir);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
        FILE *f;
        int64_t off;
        if (!path[0]) {
                if (!mkdtemp(dir))
                        abort();
                snprintf(path, sizeof(path), "%s/.checkpoint", dir);
                atexit(cleanup);
        }
        if (!(f = fopen(path, "wb")) || fwrite(data, 1, size, f) != size ||
            fclose(f))
                abort();
        off = sl_checkpoint_read(dir, "store");
        if (off < -1)
                abort(); /* a negative offset is not a checkpoint */
        return 0;
}
