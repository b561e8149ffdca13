// Compression kernels: exclusive scan, per-tile bitmaps (activations and forward weights) and
// CSR rows (weights for backward-input).
//
// Tile-bitmap format (activations every call, forward weights once per mask change)
// -------------------------------------------------------------------------------
// A float32 tensor is viewed as X[outer][C][inner] with element strides (so, sc, si):
//   activations NCHW [N, C, H, W]:  outer = N, inner = H*W, so = C*H*W, sc = H*W, si = 1
//   activations NHWC [N, H, W, C]:  outer = N, inner = H*W, so = H*W*C, sc = 1,   si = C
//   weights [O, C, KH, KW]:         outer = O, inner = KH*KW, so = C*KH*KW, sc = KH*KW, si = 1
// The channel axis is cut into CB = ceil(C / 32) tiles of 32 channels.  Tile
//   t = (o * inner + i) * CB + cb        (o < outer, i < inner, cb < CB)
// has bitmaps[t] (uint32; bit b set <=> X[o][cb*32 + b][i] != 0), offsets[t] (int32, exclusive
// prefix sum of the tiles' popcounts; offsets[T] = nnz, T = outer*inner*CB) and its non-zero
// values packed in values[offsets[t] .. offsets[t+1]) by increasing channel.  The value of
// channel c = cb*32 + b (if its bit is set) is values[offsets[t] + popc(bitmaps[t] & ((1<<b)-1))].
//
// CSR format (weights for backward-input, once per mask change)
// -------------------------------------------------------------
// A float32 tensor viewed as rows r < R of A*B entries, entry j = a*B + b at element
// r*rs + a*as + b*bs:
//   per output channel  W[O, C, KH, KW]: R = O, A = C, B = KH*KW, rs = C*K, as = K, bs = 1
//   transposed (per input channel):      R = C, A = O, B = KH*KW, rs = K, as = C*K, bs = 1
// row_ptr[R+1] (int32, row_ptr[R] = nnz), col_idx[nnz] = j (int32, increasing in a row),
// values[nnz] (float32).
//
// Launch geometry
// ---------------
// scan: blocks of 1024 threads, one element each (Hillis-Steele in shared memory), one block
//   scanning the per-block sums in chunks of 1024 with a running carry, then an add pass.
// tiles: one thread per tile, 256 threads per block; thread u decodes to (o, cb, i) with i
//   fastest so that a warp reads 32 consecutive inner positions (coalesced for NCHW).
// CSR: one warp per row; a __ballot_sync over 32 consecutive entries gives each lane its
//   rank among the row's non-zeros, so values stay in order without atomics.
#include "common.cuh"

namespace accelsim {

__device__ inline void block_inclusive_scan(int* s) {
    for (int off = 1; off < kScanBlock; off <<= 1) {
        int t = threadIdx.x >= off ? s[threadIdx.x - off] : 0;
        __syncthreads();
        s[threadIdx.x] += t;
        __syncthreads();
    }
}

__global__ void scan_blocks_kernel(int* data, long long n, int* block_sums) {
    __shared__ int s[kScanBlock];
    long long i = static_cast<long long>(blockIdx.x) * kScanBlock + threadIdx.x;
    int v = i < n ? data[i] : 0;
    s[threadIdx.x] = v;
    __syncthreads();
    block_inclusive_scan(s);
    if (i < n) data[i] = s[threadIdx.x] - v;
    if (threadIdx.x == kScanBlock - 1) block_sums[blockIdx.x] = s[threadIdx.x];
}

__global__ void scan_sums_kernel(int* sums, int count) {
    __shared__ int s[kScanBlock];
    __shared__ int carry;
    if (threadIdx.x == 0) carry = 0;
    __syncthreads();
    for (int base = 0; base < count; base += kScanBlock) {
        int i = base + threadIdx.x;
        int v = i < count ? sums[i] : 0;
        s[threadIdx.x] = v;
        __syncthreads();
        block_inclusive_scan(s);
        if (i < count) sums[i] = carry + s[threadIdx.x] - v;
        __syncthreads();
        if (threadIdx.x == kScanBlock - 1) carry += s[kScanBlock - 1];
        __syncthreads();
    }
}

__global__ void scan_add_kernel(int* data, long long n, const int* block_sums) {
    long long i = static_cast<long long>(blockIdx.x) * kScanBlock + threadIdx.x;
    if (i < n) data[i] += block_sums[blockIdx.x];
}

int exclusive_scan(int* data, long long n, int* workspace, cudaStream_t stream) {
    if (n <= 0) return 0;
    unsigned int blocks = blocks_for(n, kScanBlock);
    scan_blocks_kernel<<<blocks, kScanBlock, 0, stream>>>(data, n, workspace);
    if (blocks > 1) {
        scan_sums_kernel<<<1, kScanBlock, 0, stream>>>(workspace, static_cast<int>(blocks));
        scan_add_kernel<<<blocks, kScanBlock, 0, stream>>>(data, n, workspace);
    }
    return last_error();
}

// ---- tile bitmaps ----------------------------------------------------------------------

struct TileView {
    long long outer, inner, so, sc, si;
    int channels, cb_count;

    __device__ inline void decode(long long u, long long* o, int* cb, long long* i) const {
        *i = u % inner;
        long long rest = u / inner;
        *cb = static_cast<int>(rest % cb_count);
        *o = rest / cb_count;
    }
};

__global__ void tile_count_kernel(const float* __restrict__ x, TileView v,
                                  uint32_t* __restrict__ bitmaps, int* __restrict__ counts) {
    long long u = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (u >= v.outer * v.inner * v.cb_count) return;
    long long o, i;
    int cb;
    v.decode(u, &o, &cb, &i);
    const float* base = x + o * v.so + i * v.si;
    int c0 = cb * kTile;
    int width = min(kTile, v.channels - c0);
    uint32_t bits = 0;
    for (int b = 0; b < width; ++b) {
        bits |= static_cast<uint32_t>(base[(c0 + b) * v.sc] != 0.0f) << b;
    }
    long long t = (o * v.inner + i) * v.cb_count + cb;
    bitmaps[t] = bits;
    counts[t] = __popc(bits);
}

__global__ void tile_write_kernel(const float* __restrict__ x, TileView v,
                                  const uint32_t* __restrict__ bitmaps,
                                  const int* __restrict__ offsets, float* __restrict__ values) {
    long long u = static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (u >= v.outer * v.inner * v.cb_count) return;
    long long o, i;
    int cb;
    v.decode(u, &o, &cb, &i);
    long long t = (o * v.inner + i) * v.cb_count + cb;
    uint32_t bits = bitmaps[t];
    int pos = offsets[t];
    const float* base = x + o * v.so + i * v.si;
    int c0 = cb * kTile;
    while (bits) {
        int b = __ffs(bits) - 1;
        values[pos++] = base[(c0 + b) * v.sc];
        bits &= bits - 1;
    }
}

// ---- CSR rows --------------------------------------------------------------------------

struct RowView {
    long long rs, as, bs;
    int rows, a_count, b_count;
};

__global__ void csr_count_kernel(const float* __restrict__ w, RowView v, int* __restrict__ row_ptr) {
    long long warp = (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x & 31;
    if (warp >= v.rows) return;  // uniform per warp: blockDim is a multiple of 32
    long long len = static_cast<long long>(v.a_count) * v.b_count;
    int count = 0;
    for (long long base = 0; base < len; base += 32) {
        long long j = base + lane;
        bool nz = false;
        if (j < len) {
            long long a = j / v.b_count, b = j % v.b_count;
            nz = w[warp * v.rs + a * v.as + b * v.bs] != 0.0f;
        }
        count += __popc(__ballot_sync(0xffffffffu, nz));
    }
    if (lane == 0) row_ptr[warp] = count;
}

__global__ void csr_fill_kernel(const float* __restrict__ w, RowView v,
                                const int* __restrict__ row_ptr, int* __restrict__ col_idx,
                                float* __restrict__ values) {
    long long warp = (static_cast<long long>(blockIdx.x) * blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x & 31;
    if (warp >= v.rows) return;
    long long len = static_cast<long long>(v.a_count) * v.b_count;
    int pos = row_ptr[warp];
    for (long long base = 0; base < len; base += 32) {
        long long j = base + lane;
        float value = 0.0f;
        if (j < len) {
            long long a = j / v.b_count, b = j % v.b_count;
            value = w[warp * v.rs + a * v.as + b * v.bs];
        }
        bool nz = value != 0.0f;
        uint32_t ballot = __ballot_sync(0xffffffffu, nz);
        if (nz) {
            int k = pos + __popc(ballot & ((1u << lane) - 1u));
            col_idx[k] = static_cast<int>(j);
            values[k] = value;
        }
        pos += __popc(ballot);
    }
}

}  // namespace accelsim

using namespace accelsim;

// Ints of scan workspace needed for n elements (one per 1024-element block).
ACCELSIM_API long long accelsim_scan_workspace_ints(long long n) {
    return n <= 0 ? 1 : (n + kScanBlock - 1) / kScanBlock;
}

// Human-readable message of a launcher's return code.
ACCELSIM_API const char* accelsim_error_string(int code) {
    return cudaGetErrorString(static_cast<cudaError_t>(code));
}

// In-place exclusive prefix sum of n int32 values.
ACCELSIM_API int accelsim_exclusive_scan(int* data, long long n, int* workspace, void* stream) {
    return exclusive_scan(data, n, workspace, static_cast<cudaStream_t>(stream));
}

// Tile-bitmap compression of X[outer][C][inner] (strides so, sc, si), see the format above.
// bitmaps: T uint32; offsets: T+1 int32; values: capacity >= nnz (outer*C*inner is always
// enough); workspace: accelsim_scan_workspace_ints(T+1) int32.  Three passes: count, scan,
// write; nothing is synchronised, offsets[T] holds nnz when the stream reaches it.
ACCELSIM_API int accelsim_compress_tiles(const float* x, long long outer, int channels,
                                         long long inner, long long so, long long sc,
                                         long long si, uint32_t* bitmaps, int* offsets,
                                         float* values, int* workspace, void* stream) {
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    TileView v{outer, inner, so, sc, si, channels, (channels + kTile - 1) / kTile};
    long long tiles = outer * inner * v.cb_count;
    if (tiles <= 0) return 0;
    tile_count_kernel<<<blocks_for(tiles, kThreads), kThreads, 0, s>>>(x, v, bitmaps, offsets);
    cudaMemsetAsync(offsets + tiles, 0, sizeof(int), s);
    int err = exclusive_scan(offsets, tiles + 1, workspace, s);
    if (err) return err;
    tile_write_kernel<<<blocks_for(tiles, kThreads), kThreads, 0, s>>>(x, v, bitmaps, offsets,
                                                                      values);
    return last_error();
}

// CSR compression of `rows` rows of a_count*b_count entries (strides rs, as, bs), see above.
// row_ptr: rows+1 int32; col_idx/values: capacity >= nnz (rows*a_count*b_count is enough);
// workspace: accelsim_scan_workspace_ints(rows+1) int32.
ACCELSIM_API int accelsim_compress_csr(const float* w, int rows, int a_count, int b_count,
                                       long long rs, long long as, long long bs, int* row_ptr,
                                       int* col_idx, float* values, int* workspace, void* stream) {
    cudaStream_t s = static_cast<cudaStream_t>(stream);
    if (rows <= 0) return 0;
    RowView v{rs, as, bs, rows, a_count, b_count};
    unsigned int blocks = blocks_for(static_cast<long long>(rows) * 32, kThreads);
    csr_count_kernel<<<blocks, kThreads, 0, s>>>(w, v, row_ptr);
    cudaMemsetAsync(row_ptr + rows, 0, sizeof(int), s);
    int err = exclusive_scan(row_ptr, static_cast<long long>(rows) + 1, workspace, s);
    if (err) return err;
    csr_fill_kernel<<<blocks, kThreads, 0, s>>>(w, v, row_ptr, col_idx, values);
    return last_error();
}
