/* Reading one source pixel as B, G, R (or gray) for every source layout: BGR, BGRA, GRAY, NV12.
 *
 * NV12 → BGR is OpenCV's COLOR_YUV2BGR_NV12 bit for bit (BT.601 video range, 20-bit fixed point, nearest
 * chroma), so an NV12 frame preprocesses exactly like cv2.cvtColor(nv12, COLOR_YUV2BGR_NV12) followed by the
 * reference. Callers pass coordinates already clamped into the frame.
 */
#ifndef FER_PIXEL_SOURCES_H
#define FER_PIXEL_SOURCES_H

#include "fer_edge/preprocess.h"
#include "fer_platform.h"

/* Where the source pixels are (device or host memory, per build). */
typedef struct FerSource {
    const fer_u8* pixels; /* packed rows, or the NV12 Y plane */
    const fer_u8* uv;     /* NV12 interleaved UV plane */
    int format;
    int pitch;
    int uv_pitch;
} FerSource;

/* Channels a source delivers to the sampler: 1 for gray frames, 3 (B, G, R) otherwise. */
FER_HD int fer_source_channels(int format) { return format == FER_SOURCE_GRAY ? 1 : 3; }

/* Bytes per pixel of the packed (or Y) plane; 0 for an unknown format. */
FER_HD int fer_source_bytes_per_pixel(int format) {
    switch (format) {
        case FER_SOURCE_BGR: return 3;
        case FER_SOURCE_BGRA: return 4;
        case FER_SOURCE_GRAY: return 1;
        case FER_SOURCE_NV12: return 1;
        default: return 0;
    }
}

FER_HD fer_u8 fer_saturate_u8(int v) { return (fer_u8)(v < 0 ? 0 : (v > 255 ? 255 : v)); }

/* OpenCV's ITU-R BT.601 constants (video range, << 20). */
#define FER_YUV_SHIFT 20
#define FER_YUV_CY 1220542
#define FER_YUV_CUB 2116026
#define FER_YUV_CUG (-409993)
#define FER_YUV_CVG (-852492)
#define FER_YUV_CVR 1673527

FER_HD void fer_yuv_to_bgr(int y, int u, int v, float bgr[3]) {
    const int round = 1 << (FER_YUV_SHIFT - 1);
    const int luma = (y > 16 ? y - 16 : 0) * FER_YUV_CY;
    u -= 128;
    v -= 128;
    bgr[0] = (float)fer_saturate_u8((luma + round + FER_YUV_CUB * u) >> FER_YUV_SHIFT);
    bgr[1] = (float)fer_saturate_u8((luma + round + FER_YUV_CVG * v + FER_YUV_CUG * u) >> FER_YUV_SHIFT);
    bgr[2] = (float)fer_saturate_u8((luma + round + FER_YUV_CVR * v) >> FER_YUV_SHIFT);
}

/* The pixel at column x, row y: bgr[0..2] (gray sources fill bgr[0] only). */
FER_HD void fer_load_pixel(const FerSource* s, int x, int y, float bgr[3]) {
    const fer_u8* row = s->pixels + (fer_i64)y * s->pitch;
    switch (s->format) {
        case FER_SOURCE_GRAY:
            bgr[0] = (float)row[x];
            return;
        case FER_SOURCE_NV12: {
            const fer_u8* uv = s->uv + (fer_i64)(y >> 1) * s->uv_pitch + (x & ~1);
            fer_yuv_to_bgr(row[x], uv[0], uv[1], bgr);
            return;
        }
        default: {
            const fer_u8* p = row + (fer_i64)x * (s->format == FER_SOURCE_BGRA ? 4 : 3);
            bgr[0] = (float)p[0];
            bgr[1] = (float)p[1];
            bgr[2] = (float)p[2];
            return;
        }
    }
}

#endif /* FER_PIXEL_SOURCES_H */
