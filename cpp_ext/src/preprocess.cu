/* Preprocessing op family: face boxes of one frame -> NCHW network input, one box per blockIdx.z.
 *
 * One source for three builds:
 *   nvcc   (__CUDACC__, not RTC): the kernel and the extern "C" launcher of include/fer_edge/preprocess.h;
 *   g++    (no __CUDACC__):        the same launcher running fer_preprocess_pixel over host memory;
 *   NVRTC  (__CUDACC_RTC__):       the kernel alone (fer_edge/preprocess/cuda.py launches it).
 */
#include "fer_edge/preprocess.h"
#include "fer_preprocess_pixel.h"

#define FER_BLOCK_X 32
#define FER_BLOCK_Y 8

#if defined(__CUDACC__)
extern "C" __global__ void __launch_bounds__(FER_BLOCK_X * FER_BLOCK_Y)
fer_preprocess_kernel(const FerLaunchParams params) {
    const int u = blockIdx.x * blockDim.x + threadIdx.x;
    const int v = blockIdx.y * blockDim.y + threadIdx.y;
    const int b = blockIdx.z;
    if (u >= params.config.out_width || v >= params.config.out_height || b >= params.num_boxes) return;
    fer_preprocess_pixel(&params, b, u, v);
}
#endif

#if !defined(__CUDACC_RTC__)

#if defined(__CUDACC__)
#include <cuda_runtime.h>
#endif

/* Everything the launcher refuses, checked before anything is read: the kernel then stays in bounds. */
static int fer_validate(const FerPreprocessConfig* c, const unsigned char* src, const unsigned char* src_uv,
                        const float* boxes, int num_boxes, const void* out) {
    if (c == NULL || src == NULL) return FER_ERR_NULL_POINTER;
    if (num_boxes < 0) return FER_ERR_BAD_SIZE;
    if (num_boxes > 0 && (boxes == NULL || out == NULL)) return FER_ERR_NULL_POINTER;
    const int bpp = fer_source_bytes_per_pixel(c->src_format);
    if (bpp == 0) return FER_ERR_BAD_FORMAT;
    if (c->src_format == FER_SOURCE_NV12 && src_uv == NULL) return FER_ERR_NULL_POINTER;
    if (c->src_width <= 0 || c->src_height <= 0 || c->src_width > FER_MAX_SOURCE_SIDE ||
        c->src_height > FER_MAX_SOURCE_SIDE)
        return FER_ERR_BAD_SIZE;
    if (c->out_width <= 0 || c->out_height <= 0 || c->out_width > FER_MAX_OUTPUT_SIDE ||
        c->out_height > FER_MAX_OUTPUT_SIDE)
        return FER_ERR_BAD_SIZE;
    if ((fer_i64)c->src_pitch < (fer_i64)c->src_width * bpp) return FER_ERR_BAD_PITCH;
    if (c->src_format == FER_SOURCE_NV12) {
        if ((c->src_width & 1) || (c->src_height & 1)) return FER_ERR_BAD_SIZE; /* chroma is 2x2 subsampled */
        if (c->src_uv_pitch < c->src_width) return FER_ERR_BAD_PITCH;
    }
    if (c->out_color != FER_COLOR_GRAY && c->out_color != FER_COLOR_RGB && c->out_color != FER_COLOR_BGR)
        return FER_ERR_BAD_CONFIG;
    if (c->out_type != FER_OUTPUT_FLOAT32 && c->out_type != FER_OUTPUT_FLOAT16) return FER_ERR_BAD_CONFIG;
    if (!fer_isfinite(c->crop_margin) || !(c->crop_margin > 0.0f)) return FER_ERR_BAD_CONFIG;
    for (int k = 0; k < 3; ++k) {
        if (!fer_isfinite(c->alpha[k]) || !fer_isfinite(c->beta[k])) return FER_ERR_BAD_CONFIG;
    }
    for (int b = 0; b < num_boxes; ++b) {
        const float* box = boxes + 4 * (fer_i64)b;
        for (int k = 0; k < 4; ++k) {
            if (!fer_isfinite(box[k])) return FER_ERR_BAD_BOX;
        }
        if (!(box[2] > box[0]) || !(box[3] > box[1])) return FER_ERR_BAD_BOX;
        const FerSquare sq = fer_square_box(box, c->crop_margin, c->out_width, c->out_height);
        if (!fer_isfinite(sq.left) || !fer_isfinite(sq.top) || !fer_isfinite(sq.scale_x) ||
            !fer_isfinite(sq.scale_y))
            return FER_ERR_BAD_BOX;
    }
    return FER_OK;
}

/* Run one launch's boxes: the kernel on `stream`, or the same per-pixel function in host loops. */
static int fer_run(const FerLaunchParams* params, void* stream) {
#if defined(__CUDACC__)
    const dim3 block(FER_BLOCK_X, FER_BLOCK_Y, 1);
    const dim3 grid((params->config.out_width + FER_BLOCK_X - 1) / FER_BLOCK_X,
                    (params->config.out_height + FER_BLOCK_Y - 1) / FER_BLOCK_Y, params->num_boxes);
    fer_preprocess_kernel<<<grid, block, 0, (cudaStream_t)stream>>>(*params);
    const cudaError_t err = cudaGetLastError();
    return err == cudaSuccess ? FER_OK : FER_ERR_CUDA + (int)err;
#else
    (void)stream;
    for (int b = 0; b < params->num_boxes; ++b) {
        for (int v = 0; v < params->config.out_height; ++v) {
            for (int u = 0; u < params->config.out_width; ++u) fer_preprocess_pixel(params, b, u, v);
        }
    }
    return FER_OK;
#endif
}

extern "C" int fer_preprocess(const FerPreprocessConfig* config, const unsigned char* src,
                              const unsigned char* src_uv, const float* boxes, int num_boxes, void* out,
                              void* stream) {
    const int status = fer_validate(config, src, src_uv, boxes, num_boxes, out);
    if (status != FER_OK || num_boxes == 0) return status;
    const int channels = fer_output_channels(config->out_color);
    const fer_i64 per_box = (fer_i64)channels * config->out_height * config->out_width *
                            (config->out_type == FER_OUTPUT_FLOAT16 ? 2 : 4);
    FerLaunchParams params;
    memset(&params, 0, sizeof params);
    params.config = *config;
    params.src = src;
    params.src_uv = config->src_format == FER_SOURCE_NV12 ? src_uv : NULL;
    for (int first = 0; first < num_boxes; first += FER_MAX_BOXES_PER_LAUNCH) {
        const int count = num_boxes - first < FER_MAX_BOXES_PER_LAUNCH ? num_boxes - first : FER_MAX_BOXES_PER_LAUNCH;
        params.num_boxes = count;
        params.out = (void*)((char*)out + first * per_box);
        memcpy(params.boxes, boxes + 4 * (fer_i64)first, sizeof(float) * 4 * (size_t)count);
        const int run = fer_run(&params, stream);
        if (run != FER_OK) return run;
    }
    return FER_OK;
}

extern "C" const char* fer_preprocess_status_string(int status) {
    switch (status) {
        case FER_OK: return "ok";
        case FER_ERR_NULL_POINTER: return "a required pointer is NULL";
        case FER_ERR_BAD_SIZE: return "a size is zero, negative, too large, or odd for NV12";
        case FER_ERR_BAD_PITCH: return "a row pitch is smaller than the row's bytes";
        case FER_ERR_BAD_FORMAT: return "unknown source format";
        case FER_ERR_BAD_BOX: return "a box is not finite or has x2 <= x1 or y2 <= y1";
        case FER_ERR_BAD_CONFIG: return "unknown output colour/type, or a non-finite or non-positive margin/alpha/beta";
        default: return status >= FER_ERR_CUDA ? "CUDA error (status - 1000 is the cudaError_t)" : "unknown status";
    }
}

extern "C" int fer_preprocess_abi_version(void) { return FER_PREPROCESS_ABI_VERSION; }

extern "C" int fer_preprocess_is_device_build(void) {
#if defined(__CUDACC__)
    return 1;
#else
    return 0;
#endif
}

extern "C" int fer_preprocess_launch_params_size(void) { return (int)sizeof(FerLaunchParams); }

#endif /* !__CUDACC_RTC__ */
