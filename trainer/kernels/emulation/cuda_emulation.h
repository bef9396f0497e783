// Host emulation of the few CUDA built-ins the kernels use, so that their logic (indexing,
// reductions, barriers, the exact float formulas) is tested on machines without a GPU.
//
// One std::thread per CUDA thread; blocks run one after another, so `__shared__` can be a
// plain static; `__syncthreads` is a block-wide barrier and `__shfl_down_sync` exchanges
// through a per-warp buffer between two per-warp barriers. What it cannot show: timing,
// memory-model subtleties across blocks, and anything about performance.
#pragma once
#include <barrier>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>
#include <cstdint>
#include <cstddef>
using std::size_t;
struct dim3 { unsigned x = 1, y = 1, z = 1; };
inline thread_local dim3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
#define __global__
#define __shared__ static
inline std::barrier<>* block_barrier;
inline std::vector<std::unique_ptr<std::barrier<>>> warp_barriers;
inline float warp_buf[64][32];
inline void __syncthreads() { block_barrier->arrive_and_wait(); }
inline float __shfl_down_sync(unsigned, float v, int offset) {
    unsigned t = threadIdx.x + threadIdx.y * blockDim.x;
    unsigned w = t / 32, lane = t % 32;
    warp_buf[w][lane] = v;
    warp_barriers[w]->arrive_and_wait();
    float r = lane + offset < 32 ? warp_buf[w][lane + offset] : v;
    warp_barriers[w]->arrive_and_wait();
    return r;
}
inline float __int_as_float(unsigned v) { float f; std::memcpy(&f, &v, 4); return f; }
using std::isfinite;
inline float expf(float x) { return std::exp(x); }
inline float logf(float x) { return std::log(x); }
inline float sqrtf(float x) { return std::sqrt(x); }

template <class F>
void launch(dim3 grid, dim3 block, F kernel) {
    gridDim = grid; blockDim = block;
    unsigned threads = block.x * block.y * block.z;
    for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
    for (unsigned bx = 0; bx < grid.x; ++bx) {
        std::barrier<> bar(threads);
        block_barrier = &bar;
        warp_barriers.clear();
        for (unsigned w = 0; w < (threads + 31) / 32; ++w)
            warp_barriers.emplace_back(new std::barrier<>(std::min(32u, threads - w * 32)));
        std::vector<std::thread> pool;
        for (unsigned tz = 0; tz < block.z; ++tz)
        for (unsigned ty = 0; ty < block.y; ++ty)
        for (unsigned tx = 0; tx < block.x; ++tx)
            pool.emplace_back([=] {
                threadIdx = {tx, ty, tz};
                blockIdx = {bx, by, bz};
                kernel();
            });
        for (auto& t : pool) t.join();
    }
}
