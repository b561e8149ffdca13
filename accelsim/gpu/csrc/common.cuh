// Shared definitions for accelsim's sparse CUDA kernels.
//
// Every launcher is a plain `extern "C"` function on raw device pointers (no torch headers),
// returns a cudaError_t as int (0 = success, the result of cudaGetLastError() after its
// launches) and enqueues its work on the given stream without synchronising.
#pragma once

#include <cuda_runtime.h>
#include <stdint.h>

#define ACCELSIM_API extern "C" __attribute__((visibility("default")))

namespace accelsim {

// Channels per bitmap tile (one 32-bit word).
constexpr int kTile = 32;
// Threads per block of the element-wise kernels.
constexpr int kThreads = 256;
// Elements per block of the exclusive scan (one element per thread).
constexpr int kScanBlock = 1024;

inline unsigned int blocks_for(long long n, int threads) {
    return static_cast<unsigned int>((n + threads - 1) / threads);
}

inline int last_error() { return static_cast<int>(cudaGetLastError()); }

// In-place exclusive prefix sum of data[0..n) (defined in compress.cu).  workspace holds
// accelsim_scan_workspace_ints(n) ints.
int exclusive_scan(int* data, long long n, int* workspace, cudaStream_t stream);

}  // namespace accelsim
