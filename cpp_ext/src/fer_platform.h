/* One source, three compilers: nvcc (device build), g++ (host build), NVRTC (run-time compile).
 *
 * FER_HD marks the shared per-pixel code; FER_MUL/FER_ADD/FER_SUB/FER_DIV are IEEE float ops that are never
 * fused into FMAs (on the device through the _rn intrinsics, on the host with -ffp-contract=off), so every
 * build rounds exactly like the float32 numpy reference. NVRTC has no C library headers: the few types and
 * functions needed come from its built-ins.
 */
#ifndef FER_PLATFORM_H
#define FER_PLATFORM_H

#if defined(__CUDACC__)
#define FER_HD __host__ __device__ __forceinline__
#else
#define FER_HD static inline
#endif

#if defined(__CUDACC_RTC__)
typedef unsigned char fer_u8;
typedef unsigned short fer_u16;
typedef unsigned int fer_u32;
typedef long long fer_i64;
#else
#include <math.h>
#include <stdint.h>
#include <string.h>
typedef uint8_t fer_u8;
typedef uint16_t fer_u16;
typedef uint32_t fer_u32;
typedef int64_t fer_i64;
#endif

#if defined(__CUDA_ARCH__)
#define FER_MUL(a, b) __fmul_rn((a), (b))
#define FER_ADD(a, b) __fadd_rn((a), (b))
#define FER_SUB(a, b) __fsub_rn((a), (b))
#define FER_DIV(a, b) __fdiv_rn((a), (b))
FER_HD fer_u32 fer_float_bits(float f) { return __float_as_uint(f); }
FER_HD float fer_bits_float(fer_u32 u) { return __uint_as_float(u); }
#else
#define FER_MUL(a, b) ((a) * (b))
#define FER_ADD(a, b) ((a) + (b))
#define FER_SUB(a, b) ((a) - (b))
#define FER_DIV(a, b) ((a) / (b))
FER_HD fer_u32 fer_float_bits(float f) {
    fer_u32 u;
    memcpy(&u, &f, sizeof u);
    return u;
}
FER_HD float fer_bits_float(fer_u32 u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
#endif

FER_HD int fer_isfinite(float f) { return (fer_float_bits(f) & 0x7f800000u) != 0x7f800000u; }
FER_HD float fer_clampf(float v, float lo, float hi) { return v < lo ? lo : (v > hi ? hi : v); }

#endif /* FER_PLATFORM_H */
