// Sparse convolution kernels for the three training passes (fp32 in, fp32 accumulation).
//
// Geometry (ConvShape): input X[N, C, H, W], weight W[O, C, KH, KW], output Y[N, O, OH, OW],
// all NCHW and contiguous; stride (sh, sw), padding (ph, pw), dilation (dh, dw), groups = 1.
// A linear layer is the 1x1 convolution of a 1x1 image (H = W = KH = KW = 1).  With
// P = H*W, Q = OH*OW, K = KH*KW, CB = ceil(C/32) and the input pixel of output pixel (oy, ox)
// and tap (kh, kw):  iy = oy*sh - ph + kh*dh,  ix = ox*sw - pw + kw*dw.
//
// forward          Y[n,o,oy,ox]  = sum_{c,kh,kw} W[o,c,kh,kw] * X[n,c,iy,ix]
//                  W as tile bitmaps over [O][C][K] (tile (o,k,cb) = (o*K + k)*CB + cb),
//                  X as tile bitmaps over [N][C][P] (tile (n,p,cb) = (n*P + p)*CB + cb); a
//                  product is formed only where both bits are set: m = wbits & abits, and the
//                  operands are fetched by popcount rank (see compress.cu).
//                  One thread per output element, u = (n*O + o)*Q + q (q fastest: coalesced
//                  stores; a warp shares o, so weight tiles are broadcast), 256 per block.
//                  Sum order: kh, kw, cb, channel.
// backward-input   dX[n,c,iy,ix] = sum_{o,kh,kw} W[o,c,kh,kw] * dY[n,o,oy,ox] over the (oy, ox)
//                  with oy*sh = iy + ph - kh*dh (and the same for x) inside the output.
//                  W as the transposed CSR (row c, entries j = o*K + k, see compress.cu), dY
//                  dense.  One thread per input element u = (n*C + c)*P + p (a warp shares c:
//                  the row's entries are broadcast); gather, no atomics.  Sum order: CSR order.
// backward-weight  dW[o,c,kh,kw] = sum_{n,oy,ox} dY[n,o,oy,ox] * X[n,c,iy,ix]
//                  X (the saved activation) as tile bitmaps over [N][C][P], dY dense.  One
//                  thread per (o, k, c), u = ((o*K + k)*CB + cb)*32 + lane with c = cb*32 + lane:
//                  a warp shares (o, k, cb), so each (n, q) reads one bitmap word and one dY
//                  value (broadcast) and is skipped by the whole warp when the word is 0.  The
//                  N*Q positions are split into gridDim.y = splits contiguous ranges; with
//                  splits > 1 the partial sums are atomicAdd-ed into dW, zeroed first.
//                  Sum order (splits = 1): n, oy, ox.
#include "common.cuh"

namespace accelsim {

struct ConvShape {
    int n, c, h, w, o, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw;
};

__global__ void forward_kernel(ConvShape s, const uint32_t* __restrict__ wbits,
                               const int* __restrict__ woff, const float* __restrict__ wvals,
                               const uint32_t* __restrict__ abits,
                               const int* __restrict__ aoff, const float* __restrict__ avals,
                               float* __restrict__ y) {
    const long long q_count = static_cast<long long>(s.oh) * s.ow;
    const long long total = static_cast<long long>(s.n) * s.o * q_count;
    long long u = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (u >= total) return;
    const int q = static_cast<int>(u % q_count);
    const long long rest = u / q_count;
    const int o = static_cast<int>(rest % s.o);
    const long long n = rest / s.o;
    const int oy = q / s.ow, ox = q % s.ow;
    const int cbs = (s.c + kTile - 1) / kTile;
    const int k_count = s.kh * s.kw;
    const long long p_count = static_cast<long long>(s.h) * s.w;
    float acc = 0.0f;
    for (int kh = 0; kh < s.kh; ++kh) {
        const int iy = oy * s.sh - s.ph + kh * s.dh;
        if (iy < 0 || iy >= s.h) continue;
        for (int kw = 0; kw < s.kw; ++kw) {
            const int ix = ox * s.sw - s.pw + kw * s.dw;
            if (ix < 0 || ix >= s.w) continue;
            const long long wt = (static_cast<long long>(o) * k_count + kh * s.kw + kw) * cbs;
            const long long at = (n * p_count + static_cast<long long>(iy) * s.w + ix) * cbs;
            for (int cb = 0; cb < cbs; ++cb) {
                const uint32_t wb = wbits[wt + cb];
                if (!wb) continue;
                const uint32_t ab = abits[at + cb];
                uint32_t m = wb & ab;
                if (!m) continue;
                const float* wv = wvals + woff[wt + cb];
                const float* av = avals + aoff[at + cb];
                while (m) {
                    const int b = __ffs(m) - 1;
                    const uint32_t below = (1u << b) - 1u;
                    acc += wv[__popc(wb & below)] * av[__popc(ab & below)];
                    m &= m - 1u;
                }
            }
        }
    }
    y[u] = acc;
}

__global__ void backward_input_kernel(ConvShape s, const int* __restrict__ row_ptr,
                                      const int* __restrict__ col_idx,
                                      const float* __restrict__ vals,
                                      const float* __restrict__ grad, float* __restrict__ dx) {
    const long long p_count = static_cast<long long>(s.h) * s.w;
    const long long total = static_cast<long long>(s.n) * s.c * p_count;
    long long u = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (u >= total) return;
    const int p = static_cast<int>(u % p_count);
    const long long rest = u / p_count;
    const int c = static_cast<int>(rest % s.c);
    const long long n = rest / s.c;
    const int iy = p / s.w, ix = p % s.w;
    const int k_count = s.kh * s.kw;
    const long long q_count = static_cast<long long>(s.oh) * s.ow;
    const float* g = grad + n * s.o * q_count;
    float acc = 0.0f;
    const int end = row_ptr[c + 1];
    for (int e = row_ptr[c]; e < end; ++e) {
        const int j = col_idx[e];
        const int o = j / k_count, k = j % k_count;
        const int kh = k / s.kw, kw = k % s.kw;
        const int ty = iy + s.ph - kh * s.dh;
        if (ty < 0 || ty % s.sh) continue;
        const int oy = ty / s.sh;
        if (oy >= s.oh) continue;
        const int tx = ix + s.pw - kw * s.dw;
        if (tx < 0 || tx % s.sw) continue;
        const int ox = tx / s.sw;
        if (ox >= s.ow) continue;
        acc += vals[e] * g[o * q_count + static_cast<long long>(oy) * s.ow + ox];
    }
    dx[u] = acc;
}

__global__ void backward_weight_kernel(ConvShape s, const uint32_t* __restrict__ abits,
                                       const int* __restrict__ aoff,
                                       const float* __restrict__ avals,
                                       const float* __restrict__ grad, float* __restrict__ dw,
                                       int splits) {
    const int cbs = (s.c + kTile - 1) / kTile;
    const int k_count = s.kh * s.kw;
    const long long total = static_cast<long long>(s.o) * k_count * cbs * kTile;
    long long u = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (u >= total) return;
    const int lane = static_cast<int>(u % kTile);
    long long rest = u / kTile;
    const int cb = static_cast<int>(rest % cbs);
    rest /= cbs;
    const int k = static_cast<int>(rest % k_count);
    const int o = static_cast<int>(rest / k_count);
    const int c = cb * kTile + lane;
    if (c >= s.c) return;
    const int kh = k / s.kw, kw = k % s.kw;
    const long long q_count = static_cast<long long>(s.oh) * s.ow;
    const long long p_count = static_cast<long long>(s.h) * s.w;
    const long long positions = static_cast<long long>(s.n) * q_count;
    const long long chunk = (positions + splits - 1) / splits;
    const long long begin = chunk * blockIdx.y;
    const long long end = min(positions, begin + chunk);
    const uint32_t lane_bit = 1u << lane, below = lane_bit - 1u;
    float acc = 0.0f;
    for (long long m = begin; m < end; ++m) {
        const long long n = m / q_count;
        const int q = static_cast<int>(m % q_count);
        const int oy = q / s.ow, ox = q % s.ow;
        const int iy = oy * s.sh - s.ph + kh * s.dh;
        if (iy < 0 || iy >= s.h) continue;
        const int ix = ox * s.sw - s.pw + kw * s.dw;
        if (ix < 0 || ix >= s.w) continue;
        const long long t = (n * p_count + static_cast<long long>(iy) * s.w + ix) * cbs + cb;
        const uint32_t ab = abits[t];
        if (!(ab & lane_bit)) continue;
        const float a = avals[aoff[t] + __popc(ab & below)];
        acc += a * grad[(n * s.o + o) * q_count + q];
    }
    float* out = dw + (static_cast<long long>(o) * s.c + c) * k_count + k;
    if (splits == 1) {
        *out = acc;
    } else if (acc != 0.0f) {
        atomicAdd(out, acc);
    }
}

}  // namespace accelsim

using namespace accelsim;

namespace {
ConvShape make_shape(int n, int c, int h, int w, int o, int kh, int kw, int oh, int ow, int sh,
                     int sw, int ph, int pw, int dh, int dw) {
    return ConvShape{n, c, h, w, o, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw};
}
}  // namespace

// Forward: y[N, O, OH, OW] from the weight's tile bitmaps (outer = O, inner = KH*KW) and the
// activation's tile bitmaps (outer = N, inner = H*W).  Every element of y is written.
ACCELSIM_API int accelsim_conv_forward(int n, int c, int h, int w, int o, int kh, int kw,
                                       int oh, int ow, int sh, int sw, int ph, int pw, int dh,
                                       int dw, const uint32_t* wbits, const int* woff,
                                       const float* wvals, const uint32_t* abits,
                                       const int* aoff, const float* avals, float* y,
                                       void* stream) {
    ConvShape s = make_shape(n, c, h, w, o, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw);
    long long total = static_cast<long long>(n) * o * oh * ow;
    if (total <= 0) return 0;
    forward_kernel<<<blocks_for(total, kThreads), kThreads, 0, static_cast<cudaStream_t>(stream)>>>(
        s, wbits, woff, wvals, abits, aoff, avals, y);
    return last_error();
}

// Backward-input: dx[N, C, H, W] from the transposed weight CSR (rows C, j = o*KH*KW + k) and
// the dense output gradient grad[N, O, OH, OW].  Every element of dx is written.
ACCELSIM_API int accelsim_conv_backward_input(int n, int c, int h, int w, int o, int kh, int kw,
                                              int oh, int ow, int sh, int sw, int ph, int pw,
                                              int dh, int dw, const int* row_ptr,
                                              const int* col_idx, const float* vals,
                                              const float* grad, float* dx, void* stream) {
    ConvShape s = make_shape(n, c, h, w, o, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw);
    long long total = static_cast<long long>(n) * c * h * w;
    if (total <= 0) return 0;
    backward_input_kernel<<<blocks_for(total, kThreads), kThreads, 0,
                            static_cast<cudaStream_t>(stream)>>>(s, row_ptr, col_idx, vals,
                                                                 grad, dx);
    return last_error();
}

// Backward-weight: dw[O, C, KH, KW] from the dense output gradient grad[N, O, OH, OW] and the
// saved activation's tile bitmaps (outer = N, inner = H*W), positions split `splits` ways
// (gridDim.y; >= 1, atomics when > 1).  Every element of dw is written.
ACCELSIM_API int accelsim_conv_backward_weight(int n, int c, int h, int w, int o, int kh, int kw,
                                               int oh, int ow, int sh, int sw, int ph, int pw,
                                               int dh, int dw, const uint32_t* abits,
                                               const int* aoff, const float* avals,
                                               const float* grad, float* dwt, int splits,
                                               void* stream) {
    cudaStream_t st = static_cast<cudaStream_t>(stream);
    ConvShape s = make_shape(n, c, h, w, o, kh, kw, oh, ow, sh, sw, ph, pw, dh, dw);
    if (splits < 1 || splits > 65535) return static_cast<int>(cudaErrorInvalidValue);
    long long total = static_cast<long long>(o) * kh * kw * ((c + kTile - 1) / kTile) * kTile;
    if (total <= 0) return 0;
    if (splits > 1) {
        cudaMemsetAsync(dwt, 0, sizeof(float) * static_cast<size_t>(o) * c * kh * kw, st);
    }
    dim3 grid(blocks_for(total, kThreads), static_cast<unsigned int>(splits));
    backward_weight_kernel<<<grid, kThreads, 0, st>>>(s, abits, aoff, avals, grad, dwt, splits);
    return last_error();
}
