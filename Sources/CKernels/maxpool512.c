// AVX-512F backward of 2-D max pooling over one plane in a frame of −∞ (AtlasCore's MaxPool.backwardFramed, 16
// outputs at a time): the same first maxima and the same additions in the same order, so the same bits. Compiled for
// AVX-512 by function attribute only; callers must check ck_cpu_has_avx512f() first.
#include "ckernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define CK512 __attribute__((target("avx512f")))

CK512 void ck_maxpool512_backward(const float *frame, long frameWidth, long top, long left, long inW,
                                  long outH, long outW, long kh, long kw, long sh, long sw, long dh,
                                  const float *gy, float *dx) {
    const __m512i lanes = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                             _mm512_set1_epi32((int)sw));
    const __m512i evens = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    int32_t arg[16] __attribute__((aligned(64)));
    for (long oh = 0; oh < outH; oh++) {
        const float *go = gy + oh * outW;
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
            _mm512_store_si512((__m512i *)arg, where);
            const long count = outW - q < 16 ? outW - q : 16;
            for (long k = 0; k < count; k++) if (arg[k] >= 0) dx[arg[k]] += go[q + k];
        }
    }
}

#else
void ck_maxpool512_backward(const float *frame, long frameWidth, long top, long left, long inW,
                            long outH, long outW, long kh, long kw, long sh, long sw, long dh,
                            const float *gy, float *dx) {
    (void)frame; (void)frameWidth; (void)top; (void)left; (void)inW; (void)outH; (void)outW; (void)kh; (void)kw;
    (void)sh; (void)sw; (void)dh; (void)gy; (void)dx;
}
#endif
