/// CCodecs — a small C shim over libpng and libjpeg(-turbo) for AtlasImage.
///
/// Both libraries report errors by longjmp. Every entry point here sets its own setjmp, so a longjmp never
/// crosses a Swift frame: callers get a status code and a message instead. libjpeg's default error_exit
/// (which calls exit()) and its stderr warnings are replaced. Decoders work in two steps, so the caller can
/// check the image size against its own pixel cap *before* it allocates the output buffer:
/// `*_open` parses headers (no pixel allocation), `*_read` decodes into caller memory, `*_close` frees.
#pragma once
#include <stddef.h>
#include <stdint.h>

/// Status codes returned by every function below.
enum {
    CC_OK = 0,
    CC_ERR_CORRUPT = 1,     ///< malformed data (bad CRC, bad marker, bad Huffman table, ...)
    CC_ERR_TRUNCATED = 2,   ///< the data ended before the image was complete
    CC_ERR_LIMIT = 3,       ///< a dimension exceeds the given limit or a library limit
    CC_ERR_NOMEM = 4,       ///< an allocation failed
    CC_ERR_ARGUMENT = 5,    ///< the caller passed an invalid argument
};

/// Header facts of an opened image, after the decoder's output transforms.
typedef struct cc_image_info {
    uint32_t width;
    uint32_t height;
    int32_t channels;        ///< samples per pixel of the decoded output (1, 2, 3 or 4)
    int32_t bit_depth;       ///< 8 or 16 bits per decoded sample (native byte order)
    int32_t source_channels; ///< samples per pixel in the file (PNG: incl. tRNS alpha; JPEG: components)
    int32_t source_bit_depth;
    int32_t interlaced;      ///< PNG Adam7 interlace
    int32_t progressive;     ///< JPEG progressive mode
    int32_t color_space;     ///< PNG color type, or libjpeg J_COLOR_SPACE of the file
    int32_t adobe;           ///< JPEG: an Adobe APP14 marker was seen (CMYK is stored inverted)
    const uint8_t *exif;     ///< JPEG: payload of the first APP1 "Exif\0\0" segment (TIFF header onward), or NULL
    size_t exif_length;
} cc_image_info;

typedef struct cc_png_decoder cc_png_decoder;
typedef struct cc_jpeg_decoder cc_jpeg_decoder;

/// Parses a PNG up to the first IDAT. An image of more than `max_pixels` pixels fails with CC_ERR_LIMIT
/// (width and height are still filled in) before any row buffer is allocated; `max_pixels` also caps each
/// dimension through png_set_user_limits. `*decoder` is set (NULL when out of memory) and must be closed
/// with cc_png_close even when the call fails.
int cc_png_open(const uint8_t *data, size_t size, uint64_t max_pixels,
                cc_png_decoder **decoder, cc_image_info *info, char *message, size_t message_size);
/// Decodes all rows (interlaced or not) into `pixels`, `row_bytes` apart.
int cc_png_read(cc_png_decoder *decoder, uint8_t *pixels, size_t row_bytes, char *message, size_t message_size);
void cc_png_close(cc_png_decoder *decoder);

/// Parses JPEG headers. Output is gray (1 channel) for grayscale files, else RGB (3 channels);
/// CMYK and YCCK are converted to RGB (inverted CMYK when an Adobe marker is present).
/// The pixel cap works as for cc_png_open and is checked before jpeg_start_decompress allocates.
int cc_jpeg_open(const uint8_t *data, size_t size, uint64_t max_pixels,
                 cc_jpeg_decoder **decoder, cc_image_info *info, char *message, size_t message_size);
/// Decodes all scanlines into `pixels`, `row_bytes` apart. A premature end of data is an error.
int cc_jpeg_read(cc_jpeg_decoder *decoder, uint8_t *pixels, size_t row_bytes, char *message, size_t message_size);
void cc_jpeg_close(cc_jpeg_decoder *decoder);

/// PNG filter bits for `cc_png_encode` (same values as libpng's PNG_FILTER_*).
enum {
    CC_PNG_FILTER_NONE = 0x08,
    CC_PNG_FILTER_SUB = 0x10,
    CC_PNG_FILTER_UP = 0x20,
    CC_PNG_FILTER_AVG = 0x40,
    CC_PNG_FILTER_PAETH = 0x80,
};

/// Encodes 8-bit interleaved pixels (1 gray, 2 gray+alpha, 3 RGB, 4 RGBA channels) as PNG.
/// `level` is the zlib level 0–9, `filters` a non-empty mask of CC_PNG_FILTER_* bits.
/// On success `*output` holds `*output_size` bytes allocated with malloc: release with cc_free.
int cc_png_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels, int level, int filters,
                  uint8_t **output, size_t *output_size, char *message, size_t message_size);

/// Encodes 8-bit interleaved gray (1) or RGB (3) pixels as baseline JPEG. `quality` 1–100;
/// `subsampling` 444, 422 or 420 (ignored for gray). Output as for cc_png_encode.
int cc_jpeg_encode(const uint8_t *pixels, uint32_t width, uint32_t height, int channels, int quality, int subsampling,
                   uint8_t **output, size_t *output_size, char *message, size_t message_size);

/// Frees memory returned by the encoders.
void cc_free(void *pointer);
