/// PNG decode and encode through libpng's full API. Each entry point sets its own setjmp; libpng's
/// png_error longjmps back to it, never past this file. State that must survive a longjmp lives in
/// heap-allocated contexts whose pointers are fixed before setjmp.
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include "ccodecs.h"
#include "internal.h"

struct cc_png_decoder {
    png_structp png;
    png_infop info;
    const uint8_t *data;
    size_t size;
    size_t position;
    int truncated;
    int status;            ///< status to report when libpng longjmps (set before risky steps)
    char message[200];
    png_bytep *rows;
};

static void cc_png_error(png_structp png, png_const_charp text) {
    struct cc_png_decoder *d = (struct cc_png_decoder *)png_get_error_ptr(png);
    if (d != NULL && d->message[0] == 0) {
        cc_copy_message(d->message, sizeof d->message, text);
        if (text != NULL && strstr(text, "exceeds user limit") != NULL) d->status = CC_ERR_LIMIT;
    }
    png_longjmp(png, 1);
}

static void cc_png_warning(png_structp png, png_const_charp text) {
    (void)png;
    (void)text;
}

static void cc_png_read_data(png_structp png, png_bytep out, size_t length) {
    struct cc_png_decoder *d = (struct cc_png_decoder *)png_get_io_ptr(png);
    if (length > d->size - d->position) {
        d->truncated = 1;
        png_error(png, "unexpected end of data");
    }
    memcpy(out, d->data + d->position, length);
    d->position += length;
}

static int cc_png_fail_status(struct cc_png_decoder *d) {
    if (d->truncated) return CC_ERR_TRUNCATED;
    return d->status;
}

int cc_png_open(const uint8_t *data, size_t size, uint64_t max_pixels,
                cc_png_decoder **decoder, cc_image_info *info, char *message, size_t message_size) {
    memset(info, 0, sizeof *info);
    struct cc_png_decoder *d = calloc(1, sizeof *d);
    *decoder = d;
    if (d == NULL) {
        cc_copy_message(message, message_size, "out of memory");
        return CC_ERR_NOMEM;
    }
    d->data = data;
    d->size = size;
    d->status = CC_ERR_CORRUPT;
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        cc_copy_message(message, message_size, size < 8 ? "file too short for a PNG signature" : "not a PNG signature");
        return size < 8 ? CC_ERR_TRUNCATED : CC_ERR_CORRUPT;
    }
    d->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, d, cc_png_error, cc_png_warning);
    if (d->png == NULL) {
        cc_copy_message(message, message_size, "out of memory");
        return CC_ERR_NOMEM;
    }
    d->info = png_create_info_struct(d->png);
    if (d->info == NULL) {
        cc_copy_message(message, message_size, "out of memory");
        return CC_ERR_NOMEM;
    }
    if (setjmp(png_jmpbuf(d->png))) {
        cc_copy_message(message, message_size, d->message);
        return cc_png_fail_status(d);
    }
    png_set_read_fn(d->png, d, cc_png_read_data);
    uint64_t cap = max_pixels == 0 ? 1 : max_pixels;
    if (cap > PNG_UINT_31_MAX) cap = PNG_UINT_31_MAX;
    // An IHDR beyond the user limits makes libpng raise "Image width/height exceeds user limit".
    png_set_user_limits(d->png, (png_uint_32)cap, (png_uint_32)cap);
    png_read_info(d->png, d->info);

    png_uint_32 width = 0, height = 0;
    int depth = 0, color = 0, interlace = 0;
    png_get_IHDR(d->png, d->info, &width, &height, &depth, &color, &interlace, NULL, NULL);
    info->width = width;
    info->height = height;
    info->source_bit_depth = depth;
    info->color_space = color;
    info->interlaced = interlace != PNG_INTERLACE_NONE;
    info->source_channels = png_get_channels(d->png, d->info)
        + (png_get_valid(d->png, d->info, PNG_INFO_tRNS) ? 1 : 0);
    // The pixel cap is checked before any row-sized buffer exists (png_read_update_info allocates rows).
    if ((uint64_t)width * (uint64_t)height > max_pixels) {
        cc_copy_message(message, message_size, "image exceeds the pixel limit");
        return CC_ERR_LIMIT;
    }

    // Palette → RGB(A), gray < 8 bits → 8 bits, tRNS → alpha channel; 16-bit samples in host byte order.
    png_set_expand(d->png);
    if (depth == 16) {
        const uint16_t probe = 1;
        if (*(const uint8_t *)&probe == 1) png_set_swap(d->png);
    }
    png_set_interlace_handling(d->png);
    png_read_update_info(d->png, d->info);
    info->channels = png_get_channels(d->png, d->info);
    info->bit_depth = png_get_bit_depth(d->png, d->info);
    return CC_OK;
}

int cc_png_read(cc_png_decoder *d, uint8_t *pixels, size_t row_bytes, char *message, size_t message_size) {
    if (d == NULL || d->png == NULL) {
        cc_copy_message(message, message_size, "decoder not open");
        return CC_ERR_ARGUMENT;
    }
    png_uint_32 height = png_get_image_height(d->png, d->info);
    if (png_get_rowbytes(d->png, d->info) > row_bytes) {
        cc_copy_message(message, message_size, "row buffer too small");
        return CC_ERR_ARGUMENT;
    }
    d->rows = malloc((height ? height : 1) * sizeof(png_bytep));
    if (d->rows == NULL) {
        cc_copy_message(message, message_size, "out of memory");
        return CC_ERR_NOMEM;
    }
    for (png_uint_32 y = 0; y < height; y++) d->rows[y] = pixels + (size_t)y * row_bytes;
    d->message[0] = 0;
    if (setjmp(png_jmpbuf(d->png))) {
        cc_copy_message(message, message_size, d->message);
        return cc_png_fail_status(d);
    }
    png_read_image(d->png, d->rows);
    return CC_OK;
}

void cc_png_close(cc_png_decoder *d) {
    if (d == NULL) return;
    if (d->png != NULL) png_destroy_read_struct(&d->png, d->info ? &d->info : NULL, NULL);
    free(d->rows);
    free(d);
}

// MARK: - Encode

struct cc_png_encoder {
    png_structp png;
    png_infop info;
    uint8_t *buffer;
    size_t size;
    size_t capacity;
    int status;
    char message[200];
    png_bytep *rows;
};

static void cc_png_encode_error(png_structp png, png_const_charp text) {
    struct cc_png_encoder *e = (struct cc_png_encoder *)png_get_error_ptr(png);
    if (e != NULL && e->message[0] == 0) cc_copy_message(e->message, sizeof e->message, text);
    png_longjmp(png, 1);
}

static void cc_png_write_data(png_structp png, png_bytep bytes, size_t length) {
    struct cc_png_encoder *e = (struct cc_png_encoder *)png_get_io_ptr(png);
    if (length > e->capacity - e->size) {
        size_t wanted = e->size + length;
        size_t capacity = e->capacity ? e->capacity : 4096;
        while (capacity < wanted) {
            if (capacity > SIZE_MAX / 2) { capacity = wanted; break; }
            capacity *= 2;
        }
        uint8_t *grown = realloc(e->buffer, capacity);
        if (grown == NULL) {
            e->status = CC_ERR_NOMEM;
            png_error(png, "out of memory");
        }
        e->buffer = grown;
        e->capacity = capacity;
    }
    memcpy(e->buffer + e->size, bytes, length);
    e->size += length;
}

static void cc_png_flush(png_structp png) { (void)png; }

int cc_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels, int level, int filters,
                  uint8_t **output, size_t *output_size, char *message, size_t message_size) {
    *output = NULL;
    *output_size = 0;
    static const int color_types[5] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_COLOR_TYPE_RGB,
                                       PNG_COLOR_TYPE_RGB_ALPHA};
    if (channels < 1 || channels > 4 || width == 0 || height == 0 || width > PNG_UINT_31_MAX ||
        height > PNG_UINT_31_MAX || level < 0 || level > 9 || (filters & 0xF8) == 0 || (filters & ~0xF8) != 0) {
        cc_copy_message(message, message_size, "invalid PNG encoder argument");
        return CC_ERR_ARGUMENT;
    }
    struct cc_png_encoder *e = calloc(1, sizeof *e);
    if (e == NULL) {
        cc_copy_message(message, message_size, "out of memory");
        return CC_ERR_NOMEM;
    }
    e->status = CC_ERR_CORRUPT;
    e->rows = malloc((size_t)height * sizeof(png_bytep));
    e->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, e, cc_png_encode_error, cc_png_warning);
    if (e->png != NULL) e->info = png_create_info_struct(e->png);
    int result = CC_OK;
    if (e->rows == NULL || e->png == NULL || e->info == NULL) {
        cc_copy_message(message, message_size, "out of memory");
        result = CC_ERR_NOMEM;
    } else if (setjmp(png_jmpbuf(e->png))) {
        cc_copy_message(message, message_size, e->message);
        result = e->status;
    } else {
        size_t row_bytes = (size_t)width * (size_t)channels;
        for (uint32_t y = 0; y < height; y++) e->rows[y] = (png_bytep)(pixels + (size_t)y * row_bytes);
        png_set_write_fn(e->png, e, cc_png_write_data, cc_png_flush);
        png_set_compression_level(e->png, level);
        png_set_filter(e->png, PNG_FILTER_TYPE_BASE, filters);
        png_set_IHDR(e->png, e->info, width, height, 8, color_types[channels], PNG_INTERLACE_NONE,
                     PNG_COMPRESSION_TYPE_BASE, PNG_FILTER_TYPE_BASE);
        png_write_info(e->png, e->info);
        png_write_image(e->png, e->rows);
        png_write_end(e->png, NULL);
        *output = e->buffer;
        *output_size = e->size;
        e->buffer = NULL;
    }
    if (e->png != NULL) png_destroy_write_struct(&e->png, e->info ? &e->info : NULL);
    free(e->buffer);
    free(e->rows);
    free(e);
    return result;
}
