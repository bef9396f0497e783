// Element-wise parts of a dense layer around the cuBLAS products: the bias (and ReLU) after
// the forward product, and the bias gradient (through the ReLU mask) before the backward ones.

// z[r][c] = act(z[r][c] + bias[c]) in place; `relu` != 0 applies max(0, .).
extern "C" __global__ void bias_activation(
    float* __restrict__ z,
    const float* __restrict__ bias,
    unsigned int rows,
    unsigned int cols,
    int relu)
{
    const size_t n = (size_t)rows * cols;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float v = z[i] + bias[i % cols];
        if (relu && !(v > 0.0f)) {
            v = 0.0f;
        }
        z[i] = v;
    }
}

// The gradient arriving at a ReLU layer's output becomes the gradient of its pre-activation:
// grad[r][c] = 0 where the layer's output h[r][c] is not positive (TensorFlow's ReluGrad uses
// `> 0`), and bias_grad[c] = sum over rows of the masked gradient. `h` may be null (no ReLU).
//
// Block (32, 8): x walks 32 adjacent columns (coalesced), y splits the rows; the eight
// partial sums are added in a fixed order, so the result does not depend on scheduling.
extern "C" __global__ void relu_bias_grad(
    float* __restrict__ grad,
    const float* __restrict__ h,
    float* __restrict__ bias_grad,
    unsigned int rows,
    unsigned int cols)
{
    __shared__ float partial[8][33];
    const unsigned int c = blockIdx.x * 32 + threadIdx.x;
    float sum = 0.0f;
    if (c < cols) {
        for (unsigned int r = threadIdx.y; r < rows; r += 8) {
            const size_t i = (size_t)r * cols + c;
            float g = grad[i];
            if (h != nullptr && !(h[i] > 0.0f)) {
                g = 0.0f;
                grad[i] = 0.0f;
            }
            sum += g;
        }
    }
    partial[threadIdx.y][threadIdx.x] = sum;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        float total = 0.0f;
        for (int k = 0; k < 8; ++k) {
            total += partial[k][threadIdx.x];
        }
        bias_grad[c] = total;
    }
}
