// Optimizer updates over the flat parameter buffer (every layer's weights and biases in one
// allocation, gradients at the same offsets), one launch per step for the whole model.
// The formulas are Keras 3's, written as the CPU backend writes them (src/optimizer.rs);
// the program is compiled with --fmad=false so that no multiply-add is contracted and each
// operation rounds as it does on the host.

#define GRID_STRIDE(i, n) \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (size_t)gridDim.x * blockDim.x)

// v = rho*v + (1-rho)*g^2; w -= lr*g / sqrt(v + eps)
extern "C" __global__ void rmsprop_update(
    float* __restrict__ w, const float* __restrict__ g, float* __restrict__ v,
    unsigned int n, float lr, float rho, float eps)
{
    const float one_minus_rho = 1.0f - rho;
    GRID_STRIDE(i, n) {
        const float gi = g[i];
        const float nv = rho * v[i] + one_minus_rho * (gi * gi);
        v[i] = nv;
        w[i] -= lr * gi / sqrtf(nv + eps);
    }
}

// As rmsprop_update, then m = momentum*m + step; w -= m
extern "C" __global__ void rmsprop_momentum_update(
    float* __restrict__ w, const float* __restrict__ g, float* __restrict__ v,
    float* __restrict__ m, unsigned int n, float lr, float rho, float eps, float momentum)
{
    const float one_minus_rho = 1.0f - rho;
    GRID_STRIDE(i, n) {
        const float gi = g[i];
        const float nv = rho * v[i] + one_minus_rho * (gi * gi);
        v[i] = nv;
        const float increment = lr * gi / sqrtf(nv + eps);
        const float nm = momentum * m[i] + increment;
        m[i] = nm;
        w[i] -= nm;
    }
}

// w -= lr*g
extern "C" __global__ void sgd_update(
    float* __restrict__ w, const float* __restrict__ g, unsigned int n, float lr)
{
    GRID_STRIDE(i, n) {
        w[i] -= lr * g[i];
    }
}

// m = momentum*m - lr*g; w += momentum*m - lr*g (Nesterov) or w += m
extern "C" __global__ void sgd_momentum_update(
    float* __restrict__ w, const float* __restrict__ g, float* __restrict__ m,
    unsigned int n, float lr, float momentum, int nesterov)
{
    GRID_STRIDE(i, n) {
        const float gi = g[i];
        const float nm = m[i] * momentum - gi * lr;
        m[i] = nm;
        if (nesterov) {
            w[i] += nm * momentum - gi * lr;
        } else {
            w[i] += nm;
        }
    }
}

// m += (g-m)*(1-beta_1); v += (g^2-v)*(1-beta_2); w -= alpha*m / (sqrt(v) + eps), where alpha
// (bias-corrected on the host, exactly as the CPU backend computes it) is alphas[cursor[0]-1]:
// the softmax kernel has already advanced the cursor past the step being applied.
extern "C" __global__ void adam_update(
    float* __restrict__ w, const float* __restrict__ g, float* __restrict__ m,
    float* __restrict__ v, unsigned int n, const float* __restrict__ alphas,
    const unsigned int* __restrict__ cursor, float beta_1, float beta_2, float eps)
{
    const float alpha = alphas[cursor[0] - 1];
    const float b1 = 1.0f - beta_1;
    const float b2 = 1.0f - beta_2;
    GRID_STRIDE(i, n) {
        const float gi = g[i];
        const float nm = m[i] + (gi - m[i]) * b1;
        const float nv = v[i] + (gi * gi - v[i]) * b2;
        m[i] = nm;
        v[i] = nv;
        w[i] -= alpha * nm / (sqrtf(nv) + eps);
    }
}

// a += g^2; w -= lr*g / sqrt(a + eps)
extern "C" __global__ void adagrad_update(
    float* __restrict__ w, const float* __restrict__ g, float* __restrict__ a,
    unsigned int n, float lr, float eps)
{
    GRID_STRIDE(i, n) {
        const float gi = g[i];
        const float na = a[i] + gi * gi;
        a[i] = na;
        w[i] -= lr * gi / sqrtf(na + eps);
    }
}
