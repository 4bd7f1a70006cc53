/* fer_edge CUDA preprocessing: the C ABI (no CUDA headers needed to include it).
 *
 * One call turns the face boxes of one frame into the network's NCHW input: square box x crop margin,
 * bilinear sampling with half-pixel centres and a replicated border, colour conversion, x * alpha[c] + beta[c].
 * The math is fer_edge.preprocess.reference.preprocess_reference (see cpp_ext/README.md).
 *
 * The same source builds two libraries with this ABI:
 *   - the device build (nvcc): `src`, `src_uv` and `out` are device pointers, the work is queued on `stream`;
 *   - the host build (g++):   they are host pointers and `stream` is ignored (CI checks the math there).
 * `boxes` is always host memory (validated by the launcher, then passed by value in the launch parameters).
 */
#ifndef FER_EDGE_PREPROCESS_H
#define FER_EDGE_PREPROCESS_H

#ifdef __cplusplus
extern "C" {
#endif

#define FER_PREPROCESS_ABI_VERSION 1
/* Boxes per kernel launch (they travel in the launch parameters); the launcher splits larger batches. */
#define FER_MAX_BOXES_PER_LAUNCH 64
/* Largest accepted frame side and network input side (keeps every offset and coordinate exact). */
#define FER_MAX_SOURCE_SIDE 65536
#define FER_MAX_OUTPUT_SIDE 4096

/* Source pixel layouts (rows may be padded: pitch >= width * bytes per pixel). */
#define FER_SOURCE_BGR 0  /* 3 bytes per pixel, B G R */
#define FER_SOURCE_BGRA 1 /* 4 bytes per pixel, alpha ignored */
#define FER_SOURCE_GRAY 2 /* 1 byte per pixel */
#define FER_SOURCE_NV12 3 /* Y plane (pitch) + interleaved UV plane at half resolution (uv pitch); BT.601 video range */

/* Output channel order (the model card's `color`). */
#define FER_COLOR_GRAY 0 /* 1 channel, 0.114 B + 0.587 G + 0.299 R */
#define FER_COLOR_RGB 1
#define FER_COLOR_BGR 2

/* Output element type. */
#define FER_OUTPUT_FLOAT32 0
#define FER_OUTPUT_FLOAT16 1 /* IEEE half, round to nearest even */

/* Status codes; CUDA failures are FER_ERR_CUDA + the cudaError_t value. */
#define FER_OK 0
#define FER_ERR_NULL_POINTER 1
#define FER_ERR_BAD_SIZE 2
#define FER_ERR_BAD_PITCH 3
#define FER_ERR_BAD_FORMAT 4
#define FER_ERR_BAD_BOX 5
#define FER_ERR_BAD_CONFIG 6
#define FER_ERR_CUDA 1000

/* Plain data: what to read and what to write. */
typedef struct FerPreprocessConfig {
    int src_format;   /* FER_SOURCE_* */
    int src_width;    /* pixels */
    int src_height;   /* pixels (the Y plane's rows for NV12) */
    int src_pitch;    /* bytes per row (Y plane for NV12) */
    int src_uv_pitch; /* bytes per row of the NV12 UV plane; unused otherwise */
    int out_width;
    int out_height;
    int out_color;    /* FER_COLOR_*: 1 output channel for gray, 3 otherwise */
    int out_type;     /* FER_OUTPUT_* */
    float crop_margin; /* square side = max(box w, box h) * crop_margin */
    float alpha[3];   /* per output channel: x * alpha[c] + beta[c] */
    float beta[3];
} FerPreprocessConfig;

#if !defined(__CUDACC_RTC__) /* NVRTC compiles the kernel only; these are host functions */
/* Preprocess `num_boxes` boxes (host array of x1, y1, x2, y2 float32) of one frame into
 * `out` = num_boxes x C x out_height x out_width elements of out_type, C-contiguous.
 * Returns FER_OK or an error code; nothing is read or written out of bounds on any error. */
int fer_preprocess(const FerPreprocessConfig* config, const unsigned char* src, const unsigned char* src_uv,
                   const float* boxes, int num_boxes, void* out, void* stream);

/* A static English description of a status code. */
const char* fer_preprocess_status_string(int status);

/* FER_PREPROCESS_ABI_VERSION of the library (checked by the Python loader). */
int fer_preprocess_abi_version(void);

/* 1 for the device build (pointers are device pointers), 0 for the host build. */
int fer_preprocess_is_device_build(void);

/* sizeof the kernel's by-value launch parameters (the Python NVRTC path checks its mirror against it). */
int fer_preprocess_launch_params_size(void);
#endif

#ifdef __cplusplus
}
#endif

#endif /* FER_EDGE_PREPROCESS_H */
