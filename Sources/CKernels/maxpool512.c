// AVX-512F max pooling over one plane in a frame of −∞ (the 16-lane twin of AtlasCore's MaxPool.backwardFramed):
// each window's maximum and its first maximum's index, found with lane masks (a tap wins only when greater, so −∞
// frame cells and NaN never do). MaxPool's recording forward keeps both; its backward scatters each output's
// gradient at that index, outputs in order.
// Compiled for AVX-512 by function attribute only; callers must check ck_cpu_has_avx512f() first.
#include "ckernels.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include "lanes512.h"

#define CK512 __attribute__((target("avx512f")))

CK512 void ck_maxpool512_forward_argmax(const float *frame, long frameWidth, long top, long left, long inW,
                                        long outH, long outW, long kh, long kw, long sh, long sw, long dh,
                                        float *y, int32_t *argmax) {
    const __m512i lanes = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                             _mm512_set1_epi32((int)sw));
    const __m512i evens = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    for (long oh = 0; oh < outH; oh++) {
        for (long q = 0; q < outW; q += 16) {
            __m512 best = _mm512_set1_ps(-__builtin_inff());
            __m512i where = _mm512_set1_epi32(-1);
            for (long i = 0; i < kh; i++) {
                // Window row r in frame coordinates; a frame cell is −∞ and never wins, so its index is never kept.
                const long r = oh * sh + i * dh;
                const float *base = frame + r * frameWidth + q * sw;
                const __m512i start = _mm512_add_epi32(lanes, _mm512_set1_epi32((int)((r - top) * inW + q * sw - left)));
                for (long j = 0; j < kw; j++) {
                    const __m512 v = sw == 1 ? _mm512_loadu_ps(base + j)
                        : _mm512_permutex2var_ps(_mm512_loadu_ps(base + j), evens, _mm512_loadu_ps(base + j + 16));
                    const __mmask16 better = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ);
                    best = _mm512_mask_mov_ps(best, better, v);
                    where = _mm512_mask_mov_epi32(where, better, _mm512_add_epi32(start, _mm512_set1_epi32((int)j)));
                }
            }
            const __mmask16 k = ck_lanes16(outW - q);
            _mm512_mask_storeu_ps(y + oh * outW + q, k, best);
            _mm512_mask_storeu_epi32(argmax + oh * outW + q, k, where);
        }
    }
}

#else
void ck_maxpool512_forward_argmax(const float *frame, long frameWidth, long top, long left, long inW,
                                  long outH, long outW, long kh, long kw, long sh, long sw, long dh,
                                  float *y, int32_t *argmax) {
    (void)frame; (void)frameWidth; (void)top; (void)left; (void)inW; (void)outH; (void)outW; (void)kh; (void)kw;
    (void)sh; (void)sw; (void)dh; (void)y; (void)argmax;
}
#endif
