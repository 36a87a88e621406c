/// JPEG decode and encode through libjpeg(-turbo). libjpeg's error_exit (which calls exit()) is replaced by
/// one that longjmps to the setjmp of the shim function that is running; warnings are silenced except a
/// premature end of data, which becomes an error. A progress monitor caps the number of progressive scans
/// (a known denial-of-service vector). Contexts live on the heap so they survive a longjmp intact.
#include <stdio.h>
#include <jpeglib.h>
#include <jerror.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include "ccodecs.h"
#include "internal.h"

/// Progressive JPEGs with more scans than this are rejected (libjpeg-turbo's tools suggest a similar bound).
#define CC_JPEG_MAX_SCANS 1000

struct cc_jpeg_error {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int status;
    char message[JMSG_LENGTH_MAX];
};

static void cc_jpeg_fail(j_common_ptr cinfo, int status) {
    struct cc_jpeg_error *err = (struct cc_jpeg_error *)cinfo->err;
    if (err->message[0] == 0) (*cinfo->err->format_message)(cinfo, err->message);
    err->status = status;
    longjmp(err->jump, 1);
}

static void cc_jpeg_error_exit(j_common_ptr cinfo) {
    int code = cinfo->err->msg_code;
    cc_jpeg_fail(cinfo, code == JERR_IMAGE_TOO_BIG ? CC_ERR_LIMIT
                      : code == JERR_OUT_OF_MEMORY ? CC_ERR_NOMEM
                      : code == JERR_INPUT_EMPTY ? CC_ERR_TRUNCATED : CC_ERR_CORRUPT);
}

static void cc_jpeg_emit_message(j_common_ptr cinfo, int level) {
    if (level < 0) {
        cinfo->err->num_warnings++;
        if (cinfo->err->msg_code == JWRN_JPEG_EOF) cc_jpeg_fail(cinfo, CC_ERR_TRUNCATED);
    }
}

static void cc_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void cc_jpeg_install_errors(struct cc_jpeg_error *err) {
    jpeg_std_error(&err->pub);
    err->pub.error_exit = cc_jpeg_error_exit;
    err->pub.emit_message = cc_jpeg_emit_message;
    err->pub.output_message = cc_jpeg_output_message;
    err->status = CC_ERR_CORRUPT;
    err->message[0] = 0;
}

struct cc_jpeg_decoder {
    struct jpeg_decompress_struct cinfo;
    struct cc_jpeg_error err;
    struct jpeg_progress_mgr progress;
    int created;
    int adobe_inverted;
    int cmyk;
    JSAMPLE *cmyk_row;
};

static void cc_jpeg_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->progressive_mode && d->input_scan_number > CC_JPEG_MAX_SCANS) {
        struct cc_jpeg_error *err = (struct cc_jpeg_error *)cinfo->err;
        cc_copy_message(err->message, sizeof err->message, "too many progressive scans");
        cc_jpeg_fail(cinfo, CC_ERR_LIMIT);
    }
}

int cc_jpeg_open(const uint8_t *data, size_t size, uint64_t max_pixels,
                 cc_jpeg_decoder **decoder, cc_image_info *info, char *message, size_t message_size) {
    memset(info, 0, sizeof *info);
    struct cc_jpeg_decoder *d = calloc(1, sizeof *d);
    *decoder = d;
    if (d == NULL) {
        cc_copy_message(message, message_size, "out of memory");
        return CC_ERR_NOMEM;
    }
    cc_jpeg_install_errors(&d->err);
    d->cinfo.err = &d->err.pub;
    if (setjmp(d->err.jump)) {
        cc_copy_message(message, message_size, d->err.message);
        return d->err.status;
    }
    jpeg_create_decompress(&d->cinfo);
    d->created = 1;
    d->progress.progress_monitor = cc_jpeg_progress;
    d->cinfo.progress = &d->progress;
    jpeg_mem_src(&d->cinfo, data, (unsigned long)size);
    jpeg_save_markers(&d->cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&d->cinfo, TRUE);

    info->width = d->cinfo.image_width;
    info->height = d->cinfo.image_height;
    info->source_channels = d->cinfo.num_components;
    info->source_bit_depth = d->cinfo.data_precision;
    info->progressive = d->cinfo.progressive_mode ? 1 : 0;
    info->color_space = (int32_t)d->cinfo.jpeg_color_space;
    info->adobe = d->cinfo.saw_Adobe_marker ? 1 : 0;
    info->bit_depth = 8;
    for (jpeg_saved_marker_ptr m = d->cinfo.marker_list; m != NULL; m = m->next) {
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 && memcmp(m->data, "Exif\0\0", 6) == 0) {
            info->exif = m->data + 6;
            info->exif_length = m->data_length - 6;
            break;
        }
    }
    // The pixel cap is checked before jpeg_start_decompress allocates (a progressive file buffers
    // every coefficient of the whole image).
    if ((uint64_t)info->width * (uint64_t)info->height > max_pixels) {
        cc_copy_message(message, message_size, "image exceeds the pixel limit");
        return CC_ERR_LIMIT;
    }
    switch (d->cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        d->cinfo.out_color_space = JCS_GRAYSCALE;
        info->channels = 1;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        d->cinfo.out_color_space = JCS_CMYK;
        d->cmyk = 1;
        d->adobe_inverted = d->cinfo.saw_Adobe_marker ? 1 : 0;
        info->channels = 3;
        break;
    default:
        d->cinfo.out_color_space = JCS_RGB;
        info->channels = 3;
        break;
    }
    return CC_OK;
}

/// Converts one row of CMYK to RGB. With an Adobe marker the stored samples are inverted (255 = no ink).
static void cc_cmyk_to_rgb(const JSAMPLE *cmyk, uint8_t *rgb, JDIMENSION width, int inverted) {
    for (JDIMENSION x = 0; x < width; x++) {
        unsigned c = cmyk[4 * x], m = cmyk[4 * x + 1], y = cmyk[4 * x + 2], k = cmyk[4 * x + 3];
        if (!inverted) {
            c = 255 - c;
            m = 255 - m;
            y = 255 - y;
            k = 255 - k;
        }
        rgb[3 * x] = (uint8_t)((c * k + 127) / 255);
        rgb[3 * x + 1] = (uint8_t)((m * k + 127) / 255);
        rgb[3 * x + 2] = (uint8_t)((y * k + 127) / 255);
    }
}

int cc_jpeg_read(cc_jpeg_decoder *d, uint8_t *pixels, size_t row_bytes, char *message, size_t message_size) {
    if (d == NULL || !d->created) {
        cc_copy_message(message, message_size, "decoder not open");
        return CC_ERR_ARGUMENT;
    }
    d->err.message[0] = 0;
    if (setjmp(d->err.jump)) {
        cc_copy_message(message, message_size, d->err.message);
        return d->err.status;
    }
    jpeg_start_decompress(&d->cinfo);
    JDIMENSION width = d->cinfo.output_width;
    if ((size_t)width * (size_t)(d->cmyk ? 3 : d->cinfo.output_components) > row_bytes) {
        cc_copy_message(d->err.message, sizeof d->err.message, "row buffer too small");
        d->err.status = CC_ERR_ARGUMENT;
        longjmp(d->err.jump, 1);
    }
    if (d->cmyk) {
        d->cmyk_row = malloc((size_t)width * 4);
        if (d->cmyk_row == NULL) {
            cc_copy_message(d->err.message, sizeof d->err.message, "out of memory");
            d->err.status = CC_ERR_NOMEM;
            longjmp(d->err.jump, 1);
        }
    }
    while (d->cinfo.output_scanline < d->cinfo.output_height) {
        uint8_t *row = pixels + (size_t)d->cinfo.output_scanline * row_bytes;
        if (d->cmyk) {
            JSAMPROW target = d->cmyk_row;
            jpeg_read_scanlines(&d->cinfo, &target, 1);
            cc_cmyk_to_rgb(d->cmyk_row, row, width, d->adobe_inverted);
        } else {
            JSAMPROW target = row;
            jpeg_read_scanlines(&d->cinfo, &target, 1);
        }
    }
    jpeg_finish_decompress(&d->cinfo);
    return CC_OK;
}

void cc_jpeg_close(cc_jpeg_decoder *d) {
    if (d == NULL) return;
    if (d->created) jpeg_destroy_decompress(&d->cinfo);
    free(d->cmyk_row);
    free(d);
}

// MARK: - Encode

struct cc_jpeg_encoder {
    struct jpeg_compress_struct cinfo;
    struct cc_jpeg_error err;
    int created;
    unsigned char *buffer;
    unsigned long size;
};

int cc_jpeg_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels, int quality, int subsampling,
                   uint8_t **output, size_t *output_size, char *message, size_t message_size) {
    *output = NULL;
    *output_size = 0;
    if ((channels != 1 && channels != 3) || width == 0 || height == 0 || width > JPEG_MAX_DIMENSION ||
        height > JPEG_MAX_DIMENSION || quality < 1 || quality > 100 ||
        (subsampling != 444 && subsampling != 422 && subsampling != 420)) {
        cc_copy_message(message, message_size, "invalid JPEG encoder argument");
        return CC_ERR_ARGUMENT;
    }
    struct cc_jpeg_encoder *e = calloc(1, sizeof *e);
    if (e == NULL) {
        cc_copy_message(message, message_size, "out of memory");
        return CC_ERR_NOMEM;
    }
    cc_jpeg_install_errors(&e->err);
    e->cinfo.err = &e->err.pub;
    int result = CC_OK;
    if (setjmp(e->err.jump)) {
        cc_copy_message(message, message_size, e->err.message);
        result = e->err.status;
    } else {
        jpeg_create_compress(&e->cinfo);
        e->created = 1;
        jpeg_mem_dest(&e->cinfo, &e->buffer, &e->size);
        e->cinfo.image_width = width;
        e->cinfo.image_height = height;
        e->cinfo.input_components = channels;
        e->cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
        jpeg_set_defaults(&e->cinfo);
        jpeg_set_quality(&e->cinfo, quality, TRUE);
        if (channels == 3) {
            e->cinfo.comp_info[0].h_samp_factor = subsampling == 444 ? 1 : 2;
            e->cinfo.comp_info[0].v_samp_factor = subsampling == 420 ? 2 : 1;
            for (int c = 1; c < 3; c++) {
                e->cinfo.comp_info[c].h_samp_factor = 1;
                e->cinfo.comp_info[c].v_samp_factor = 1;
            }
        }
        jpeg_start_compress(&e->cinfo, TRUE);
        size_t row_bytes = (size_t)width * (size_t)channels;
        while (e->cinfo.next_scanline < e->cinfo.image_height) {
            JSAMPROW row = (JSAMPROW)(pixels + (size_t)e->cinfo.next_scanline * row_bytes);
            jpeg_write_scanlines(&e->cinfo, &row, 1);
        }
        jpeg_finish_compress(&e->cinfo);
        *output = e->buffer;
        *output_size = e->size;
        e->buffer = NULL;
    }
    if (e->created) jpeg_destroy_compress(&e->cinfo);
    free(e->buffer);
    free(e);
    return result;
}
