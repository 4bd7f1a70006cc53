/* float32 -> IEEE half bits, round to nearest even (numpy's astype(float16)), identical on host and device. */
#ifndef FER_FLOAT16_H
#define FER_FLOAT16_H

#include "fer_platform.h"

FER_HD fer_u16 fer_half_bits(float value) {
    const fer_u32 f32_inf = 255u << 23;
    const fer_u32 f16_overflow = (127u + 16u) << 23;  /* 65536.0f: everything from here is inf */
    const fer_u32 f16_min_normal = 113u << 23;         /* 2^-14 */
    const fer_u32 subnormal_magic = 126u << 23;        /* 0.5f: adding it aligns the half's subnormal ulp */
    fer_u32 bits = fer_float_bits(value);
    const fer_u32 sign = bits & 0x80000000u;
    bits ^= sign;
    fer_u32 half;
    if (bits >= f16_overflow) {
        half = bits > f32_inf ? 0x7e00u : 0x7c00u;  /* NaN stays NaN, the rest saturates to inf */
    } else if (bits < f16_min_normal) {
        /* The float adder rounds to nearest even at the half's subnormal ulp (2^-24) for us. */
        const float sum = FER_ADD(fer_bits_float(bits), fer_bits_float(subnormal_magic));
        half = fer_float_bits(sum) - subnormal_magic;
    } else {
        const fer_u32 odd = (bits >> 13) & 1u;  /* ties go to the even mantissa */
        bits += ((fer_u32)(15 - 127) << 23) + 0xfffu + odd;
        half = bits >> 13;  /* a carry out of 65504 lands on 0x7c00 (inf), as it should */
    }
    return (fer_u16)(half | (sign >> 16));
}

#endif /* FER_FLOAT16_H */
