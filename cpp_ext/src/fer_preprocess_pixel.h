/* The per-pixel math of the preprocessing op family, shared by the CUDA kernel and the host build.
 *
 * Exactly fer_edge.preprocess.reference.preprocess_reference, in the same float32 operation order:
 *   square = box centre ± max(w, h) * margin / 2;  scale = side / out_size
 *   src = left + (u + 0.5) * scale - 0.5;  x0 = floor(src), fx = src - x0;  neighbours clamped (replicated border)
 *   top = p00 * (1 - fx) + p01 * fx;  bottom = p10 * (1 - fx) + p11 * fx;  value = top * (1 - fy) + bottom * fy
 *   gray = 0.114 B + 0.587 G + 0.299 R, or RGB/BGR order;  out = value * alpha[c] + beta[c]
 */
#ifndef FER_PREPROCESS_PIXEL_H
#define FER_PREPROCESS_PIXEL_H

#include "fer_edge/preprocess.h"
#include "fer_float16.h"
#include "fer_pixel_sources.h"
#include "fer_platform.h"

/* Everything one launch needs, passed to the kernel by value (boxes included: no device allocation, and the
 * launcher can validate them on the host). Mirrored by fer_edge/preprocess/kernel_abi.py for NVRTC launches. */
typedef struct FerLaunchParams {
    FerPreprocessConfig config;
    const fer_u8* src;
    const fer_u8* src_uv;
    void* out; /* the first box of this launch */
    int num_boxes;
    float boxes[FER_MAX_BOXES_PER_LAUNCH][4]; /* x1, y1, x2, y2 as given (squared per pixel below) */
} FerLaunchParams;

/* The square a box becomes: its left/top corner and the source pixels per output pixel. */
typedef struct FerSquare {
    float left, top, scale_x, scale_y;
} FerSquare;

FER_HD FerSquare fer_square_box(const float box[4], float margin, int out_width, int out_height) {
    const float cx = FER_MUL(FER_ADD(box[0], box[2]), 0.5f);
    const float cy = FER_MUL(FER_ADD(box[1], box[3]), 0.5f);
    const float w = FER_SUB(box[2], box[0]);
    const float h = FER_SUB(box[3], box[1]);
    const float side = FER_MUL(w > h ? w : h, margin);
    const float half = FER_MUL(side, 0.5f);
    FerSquare sq;
    sq.left = FER_SUB(cx, half);
    sq.top = FER_SUB(cy, half);
    sq.scale_x = FER_DIV(FER_SUB(FER_ADD(cx, half), sq.left), (float)out_width);
    sq.scale_y = FER_DIV(FER_SUB(FER_ADD(cy, half), sq.top), (float)out_height);
    return sq;
}

FER_HD int fer_output_channels(int color) { return color == FER_COLOR_GRAY ? 1 : 3; }

/* Source coordinate of output index i: lower neighbour (clamped), upper neighbour (clamped), weight of the upper. */
FER_HD void fer_source_axis(float start, float scale, int i, int size, int* lo, int* hi, float* frac) {
    const float s = FER_SUB(FER_ADD(start, FER_MUL((float)i + 0.5f, scale)), 0.5f);
    const float s0 = floorf(s);
    *frac = FER_SUB(s, s0);
    *lo = (int)fer_clampf(s0, 0.0f, (float)(size - 1));
    *hi = (int)fer_clampf(FER_ADD(s0, 1.0f), 0.0f, (float)(size - 1));
}

FER_HD float fer_lerp(float a, float b, float t) {
    return FER_ADD(FER_MUL(a, FER_SUB(1.0f, t)), FER_MUL(b, t));
}

/* Output pixel (u, v) of box `b`: all its channels, written NCHW into params->out. */
FER_HD void fer_preprocess_pixel(const FerLaunchParams* p, int b, int u, int v) {
    const FerPreprocessConfig* c = &p->config;
    const FerSquare sq = fer_square_box(p->boxes[b], c->crop_margin, c->out_width, c->out_height);
    int x0, x1, y0, y1;
    float fx, fy;
    fer_source_axis(sq.left, sq.scale_x, u, c->src_width, &x0, &x1, &fx);
    fer_source_axis(sq.top, sq.scale_y, v, c->src_height, &y0, &y1, &fy);

    FerSource src;
    src.pixels = p->src;
    src.uv = p->src_uv;
    src.format = c->src_format;
    src.pitch = c->src_pitch;
    src.uv_pitch = c->src_uv_pitch;
    float p00[3], p01[3], p10[3], p11[3];
    fer_load_pixel(&src, x0, y0, p00);
    fer_load_pixel(&src, x1, y0, p01);
    fer_load_pixel(&src, x0, y1, p10);
    fer_load_pixel(&src, x1, y1, p11);

    float bgr[3];
    const int in_channels = fer_source_channels(c->src_format);
    for (int k = 0; k < in_channels; ++k) {
        bgr[k] = fer_lerp(fer_lerp(p00[k], p01[k], fx), fer_lerp(p10[k], p11[k], fx), fy);
    }
    if (in_channels == 1) bgr[1] = bgr[2] = bgr[0];

    float value[3];
    const int out_channels = fer_output_channels(c->out_color);
    if (c->out_color == FER_COLOR_GRAY) {
        value[0] = in_channels == 1
                       ? bgr[0]
                       : FER_ADD(FER_ADD(FER_MUL(bgr[0], 0.114f), FER_MUL(bgr[1], 0.587f)), FER_MUL(bgr[2], 0.299f));
    } else if (c->out_color == FER_COLOR_RGB) {
        value[0] = bgr[2];
        value[1] = bgr[1];
        value[2] = bgr[0];
    } else {
        value[0] = bgr[0];
        value[1] = bgr[1];
        value[2] = bgr[2];
    }

    const fer_i64 plane = (fer_i64)c->out_height * c->out_width;
    const fer_i64 first = ((fer_i64)b * out_channels) * plane + (fer_i64)v * c->out_width + u;
    for (int k = 0; k < out_channels; ++k) {
        const float y = FER_ADD(FER_MUL(value[k], c->alpha[k]), c->beta[k]);
        if (c->out_type == FER_OUTPUT_FLOAT16) {
            ((fer_u16*)p->out)[first + k * plane] = fer_half_bits(y);
        } else {
            ((float*)p->out)[first + k * plane] = y;
        }
    }
}

#endif /* FER_PREPROCESS_PIXEL_H */
