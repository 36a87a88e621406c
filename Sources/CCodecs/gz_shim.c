// Whole-file reader that inflates gzip transparently (plain files pass through), with a size cap.
#include "ccodecs.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int cc_gz_read_file(const char *path, size_t max_bytes, uint8_t **out, size_t *out_len, char *message, size_t message_len) {
    *out = NULL;
    *out_len = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) {
        snprintf(message, message_len, "cannot open");
        return CC_ERR_ARGUMENT;
    }
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) { gzclose(f); return CC_ERR_NOMEM; }
    for (;;) {
        if (len == cap) {
            if (cap >= max_bytes) {
                snprintf(message, message_len, "more than %zu bytes after decompression", max_bytes);
                free(buf); gzclose(f);
                return CC_ERR_LIMIT;
            }
            size_t next = cap * 2 > max_bytes ? max_bytes : cap * 2;
            uint8_t *grown = realloc(buf, next);
            if (!grown) { free(buf); gzclose(f); return CC_ERR_NOMEM; }
            buf = grown;
            cap = next;
        }
        int n = gzread(f, buf + len, (unsigned)(cap - len > (1u << 30) ? (1u << 30) : cap - len));
        if (n < 0) {
            int err = 0;
            const char *text = gzerror(f, &err);
            snprintf(message, message_len, "%s", text ? text : "read error");
            free(buf); gzclose(f);
            return CC_ERR_CORRUPT;
        }
        if (n == 0) break;
        len += (size_t)n;
    }
    // gzread returns 0 both at a clean end and when a gzip member is cut short; gzclose_r reports the latter.
    int status = gzclose_r(f);
    if (status == Z_BUF_ERROR) {
        snprintf(message, message_len, "compressed data ends early");
        free(buf);
        return CC_ERR_TRUNCATED;
    }
    *out = buf;
    *out_len = len;
    return CC_OK;
}

