// Fused softmax + categorical cross-entropy for the output layer, forward and backward, in one
// block: the batch is small (128 rows of 10 classes), so one block does the whole step without
// atomics and its sums come out in a fixed order.
//
// For each row r: logits z = z_in[r] + bias; p = softmax(z) computed as exp(z - max) / sum;
// loss_r = log(sum) - (z[label] - max) (the stable log-softmax form); correct when the first
// maximal logit is the label. With `grad` non-null it also writes
// grad[r][c] = (p[c] - [c == label]) / rows (the gradient of the batch-mean loss) and
// bias_grad[c] = sum over rows of grad[r][c]. With `predictions` non-null it stores each row's
// predicted class at its place in the dataset (evaluation visits rows in order).
//
// stats (doubles, so that counts stay exact over an epoch):
//   [0] sum of per-row losses   [1] correct rows   [2] rows seen
//   [3] first batch (from 1) whose mean loss was not finite, 0 if none   [4] that loss
// cursor[0] (the batch number gather_batch reads) advances by one at the end.

#define SOFTMAX_THREADS 256

extern "C" __global__ void softmax_cross_entropy(
    const float* __restrict__ z_in,           // [rows][classes], product without bias
    const float* __restrict__ bias,           // [classes]
    const unsigned char* __restrict__ labels, // [rows]
    unsigned int rows,
    unsigned int classes,
    float* __restrict__ grad,                 // [rows][classes] or null (evaluation)
    float* __restrict__ bias_grad,            // [classes] or null
    unsigned char* __restrict__ predictions,  // [dataset rows] or null: argmax per row
    unsigned int batch_stride,                // rows per full batch (places `predictions`)
    double* __restrict__ stats,
    unsigned int* __restrict__ cursor)
{
    __shared__ double loss_part[SOFTMAX_THREADS];
    __shared__ unsigned int correct_part[SOFTMAX_THREADS];
    const unsigned int tid = threadIdx.x;
    const float inv_rows = 1.0f / (float)rows;
    double loss_sum = 0.0;
    unsigned int correct = 0;

    for (unsigned int r = tid; r < rows; r += blockDim.x) {
        const float* z = z_in + (size_t)r * classes;
        const unsigned int label = labels[r];
        float max = __int_as_float(0xff800000);  // -inf (NVRTC has no math.h macros)
        unsigned int argmax = 0;
        for (unsigned int c = 0; c < classes; ++c) {
            const float v = z[c] + bias[c];
            if (v > max) {
                max = v;
                argmax = c;
            }
        }
        float sum = 0.0f;
        for (unsigned int c = 0; c < classes; ++c) {
            sum += expf(z[c] + bias[c] - max);
        }
        // A label out of range gives a NaN loss (0x7fc00000), which stops training loudly.
        const float label_logit =
            label < classes ? z[label] + bias[label] : __int_as_float(0x7fc00000);
        loss_sum += (double)(logf(sum) - (label_logit - max));
        correct += (argmax == label) ? 1u : 0u;
        if (predictions != nullptr) {
            predictions[(size_t)cursor[0] * batch_stride + r] = (unsigned char)argmax;
        }
        if (grad != nullptr) {
            float* g = grad + (size_t)r * classes;
            for (unsigned int c = 0; c < classes; ++c) {
                const float p = expf(z[c] + bias[c] - max) / sum;
                g[c] = (p - (c == label ? 1.0f : 0.0f)) * inv_rows;
            }
        }
    }

    loss_part[tid] = loss_sum;
    correct_part[tid] = correct;
    // Also makes this block's writes to `grad` visible to the whole block.
    __syncthreads();
    for (unsigned int half = blockDim.x / 2; half > 0; half /= 2) {
        if (tid < half) {
            loss_part[tid] += loss_part[tid + half];
            correct_part[tid] += correct_part[tid + half];
        }
        __syncthreads();
    }

    if (grad != nullptr && bias_grad != nullptr) {
        // One warp per class; lanes stride over rows, then a fixed shuffle tree.
        const unsigned int warp = tid / 32;
        const unsigned int lane = tid % 32;
        for (unsigned int c = warp; c < classes; c += blockDim.x / 32) {
            float s = 0.0f;
            for (unsigned int r = lane; r < rows; r += 32) {
                s += grad[(size_t)r * classes + c];
            }
            for (int offset = 16; offset > 0; offset /= 2) {
                s += __shfl_down_sync(0xffffffffu, s, offset);
            }
            if (lane == 0) {
                bias_grad[c] = s;
            }
        }
    }

    if (tid == 0) {
        const double batch_loss = loss_part[0];
        stats[0] += batch_loss;
        stats[1] += (double)correct_part[0];
        stats[2] += (double)rows;
        // Judged in f32, as the host reports it: a mean too large for f32 also stops training.
        const float mean = (float)(batch_loss / (double)rows);
        if (!isfinite(mean) && stats[3] == 0.0) {
            stats[3] = (double)(cursor[0] + 1);
            stats[4] = mean;
        }
        cursor[0] += 1;
    }
}
