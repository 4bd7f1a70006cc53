// Exercises fer_preprocess (host build) with exact-size heap buffers, so AddressSanitizer flags any read or write
// outside them: every source format, pitched rows, boxes in/out of the frame, 1-px and huge boxes, float16,
// batches over one launch, and the bad-argument paths. Built and run by test_asan.py.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "fer_edge/preprocess.h"

static int failures = 0;

static unsigned char* exact(size_t n) {
    unsigned char* p = static_cast<unsigned char*>(malloc(n ? n : 1));
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>((i * 2654435761u) >> 13);
    return p;
}

static void expect(int got, int want, const char* what) {
    if (got != want) {
        std::printf("FAIL %s: got %d want %d\n", what, got, want);
        ++failures;
    }
}

int main() {
    const int formats[] = {FER_SOURCE_BGR, FER_SOURCE_BGRA, FER_SOURCE_GRAY, FER_SOURCE_NV12};
    const int bpps[] = {3, 4, 1, 1};
    const int colors[] = {FER_COLOR_GRAY, FER_COLOR_RGB, FER_COLOR_BGR};
    const int sizes[][2] = {{2, 2}, {38, 22}, {64, 2}, {1, 1}, {3, 5}};
    std::vector<float> boxes;
    for (int i = 0; i < 70; ++i) {  // more than FER_MAX_BOXES_PER_LAUNCH
        const float o = static_cast<float>(i * 7 % 90) - 30.0f;
        const float s = 0.25f + static_cast<float>(i % 13) * 9.0f;
        boxes.insert(boxes.end(), {o, o * 0.5f, o + s, o * 0.5f + s * 1.5f});
    }
    const float extremes[] = {-1e6f, -1e6f, 1e6f, 1e6f, 1e5f, 1e5f, 1e5f + 1.0f, 1e5f + 2.0f, 0.5f, 0.5f, 0.75f, 0.6f};
    boxes.insert(boxes.end(), extremes, extremes + 12);
    const int num_boxes = static_cast<int>(boxes.size() / 4);

    for (int f = 0; f < 4; ++f) {
        for (const auto& wh : sizes) {
            int w = wh[0], h = wh[1];
            if (formats[f] == FER_SOURCE_NV12 && ((w & 1) || (h & 1))) continue;
            for (int pad = 0; pad <= 5; pad += 5) {
                const int pitch = w * bpps[f] + pad;
                const size_t bytes = static_cast<size_t>(h - 1) * pitch + static_cast<size_t>(w) * bpps[f];
                unsigned char* src = exact(bytes);
                unsigned char* uv = nullptr;
                const int uv_pitch = w + pad;
                if (formats[f] == FER_SOURCE_NV12) uv = exact(static_cast<size_t>(h / 2 - 1) * uv_pitch + w);
                for (int c = 0; c < 3; ++c) {
                    for (int type = 0; type < 2; ++type) {
                        FerPreprocessConfig cfg = {formats[f], w, h, pitch, uv_pitch, 7, 9, colors[c], type, 1.25f,
                                                   {0.1f, 0.2f, 0.3f}, {-1.0f, 0.0f, 1.0f}};
                        const int channels = colors[c] == FER_COLOR_GRAY ? 1 : 3;
                        const size_t out_bytes = static_cast<size_t>(num_boxes) * channels * 7 * 9 * (type ? 2 : 4);
                        unsigned char* out = exact(out_bytes);
                        expect(fer_preprocess(&cfg, src, uv, boxes.data(), num_boxes, out, nullptr), FER_OK, "run");
                        free(out);
                    }
                }
                free(src);
                free(uv);
            }
        }
    }

    unsigned char* src = exact(10 * 10 * 3);
    float* out = reinterpret_cast<float*>(exact(3 * 7 * 9 * 4));
    const float nan_box[] = {0.0f, 0.0f, __builtin_nanf(""), 4.0f};
    FerPreprocessConfig ok = {FER_SOURCE_BGR, 10, 10, 30, 0, 7, 9, FER_COLOR_RGB, 0, 1.0f, {1, 1, 1}, {0, 0, 0}};
    FerPreprocessConfig bad = ok;
    expect(fer_preprocess(nullptr, src, nullptr, boxes.data(), 1, out, nullptr), FER_ERR_NULL_POINTER, "null cfg");
    expect(fer_preprocess(&ok, src, nullptr, nan_box, 1, out, nullptr), FER_ERR_BAD_BOX, "nan box");
    bad.src_pitch = 29;
    expect(fer_preprocess(&bad, src, nullptr, boxes.data(), 1, out, nullptr), FER_ERR_BAD_PITCH, "pitch");
    bad = ok;
    bad.src_format = 42;
    expect(fer_preprocess(&bad, src, nullptr, boxes.data(), 1, out, nullptr), FER_ERR_BAD_FORMAT, "format");
    bad = ok;
    bad.src_width = -10;
    expect(fer_preprocess(&bad, src, nullptr, boxes.data(), 1, out, nullptr), FER_ERR_BAD_SIZE, "size");
    bad = ok;
    bad.src_format = FER_SOURCE_NV12;
    expect(fer_preprocess(&bad, src, nullptr, boxes.data(), 1, out, nullptr), FER_ERR_NULL_POINTER, "nv12 uv");
    expect(fer_preprocess(&ok, src, nullptr, boxes.data(), -1, out, nullptr), FER_ERR_BAD_SIZE, "count");
    free(src);
    free(out);
    std::printf("%s (%d failure(s))\n", failures ? "FAILED" : "OK", failures);
    return failures ? 1 : 0;
}
