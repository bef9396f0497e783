// Batch gather: the training set stays on the device as bytes; each step copies the rows the
// host's shuffled order names into the float input of the first layer, scaled as the CPU
// backend and the tinymlp runtime scale them (`p * (1/255)` in f32), and gathers the labels.
//
// The batch's starting row is not a kernel argument but read from `cursor` (device memory),
// so that one captured CUDA graph replays every step of an epoch: the softmax kernel
// advances the cursor at the end of each step.

extern "C" __global__ void gather_batch(
    const unsigned char* __restrict__ images,  // [rows][features]
    const unsigned char* __restrict__ labels,  // [rows]
    const unsigned int* __restrict__ order,    // shuffled row numbers for this epoch
    const unsigned int* __restrict__ cursor,   // cursor[0]: batch number within the epoch
    unsigned int batch_stride,                 // rows per full batch
    unsigned int rows,                         // rows in this batch (the last may be short)
    unsigned int features,
    float scale,
    float* __restrict__ x,                     // [rows][features]
    unsigned char* __restrict__ y)             // [rows]
{
    // Grid: x = the batch's rows, y = blocks across one row's features.
    const unsigned int row = blockIdx.x;
    if (row >= rows) {
        return;
    }
    const unsigned int source = order[cursor[0] * batch_stride + row];
    const unsigned char* src = images + (size_t)source * features;
    float* dst = x + (size_t)row * features;
    for (unsigned int f = blockIdx.y * blockDim.x + threadIdx.x; f < features;
         f += gridDim.y * blockDim.x) {
        dst[f] = (float)src[f] * scale;
    }
    if (blockIdx.y == 0 && threadIdx.x == 0) {
        y[row] = labels[source];
    }
}

// The same gather for features: the dataset is already the model's f32 values (standardized
// on the host, as the runtime standardizes a blob's raw features), so rows are copied as
// they are.
extern "C" __global__ void gather_features(
    const float* __restrict__ values,          // [rows][features]
    const unsigned char* __restrict__ labels,  // [rows]
    const unsigned int* __restrict__ order,    // shuffled row numbers for this epoch
    const unsigned int* __restrict__ cursor,   // cursor[0]: batch number within the epoch
    unsigned int batch_stride,                 // rows per full batch
    unsigned int rows,                         // rows in this batch (the last may be short)
    unsigned int features,
    float* __restrict__ x,                     // [rows][features]
    unsigned char* __restrict__ y)             // [rows]
{
    const unsigned int row = blockIdx.x;
    if (row >= rows) {
        return;
    }
    const unsigned int source = order[cursor[0] * batch_stride + row];
    const float* src = values + (size_t)source * features;
    float* dst = x + (size_t)row * features;
    for (unsigned int f = blockIdx.y * blockDim.x + threadIdx.x; f < features;
         f += gridDim.y * blockDim.x) {
        dst[f] = src[f];
    }
    if (blockIdx.y == 0 && threadIdx.x == 0) {
        y[row] = labels[source];
    }
}
