// Runs every kernel of ../*.cu under cuda_emulation.h against plain host arithmetic.
// Built and run by trainer/tests/cuda_kernel_emulation.rs:
//   g++ -std=c++20 -O1 -ffp-contract=off -pthread check_kernels.cpp -o check_kernels
// -ffp-contract=off matches the kernels' --fmad=false: the optimizer checks are bit-exact.
#include "cuda_emulation.h"

#include <cstdio>
#include <random>

#include "../data.cu"
#include "../dense.cu"
#include "../softmax_ce.cu"
#include "../optimizers.cu"

static int failures = 0;
#define CHECK(cond, ...) do { if (!(cond)) { std::printf("FAIL %s:%d: ", __FILE__, __LINE__); std::printf(__VA_ARGS__); std::printf("\n"); ++failures; } } while (0)

int main() {
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(-1, 1);
    // gather_batch: 3 batches of stride 4 over 10 images of 7 features; check the last (short) one.
    {
        unsigned n = 10, features = 7, stride = 4;
        std::vector<unsigned char> images(n * features), labels(n);
        for (auto& p : images) p = rng() % 256;
        for (unsigned i = 0; i < n; ++i) labels[i] = i % 10;
        std::vector<unsigned> order = {3, 1, 4, 0, 9, 2, 6, 5, 8, 7};
        for (unsigned batch = 0; batch < 3; ++batch) {
            unsigned rows = std::min(stride, n - batch * stride);
            unsigned cursor = batch;
            std::vector<float> x(stride * features, -1);
            std::vector<unsigned char> y(stride, 255);
            launch({rows, (features + 3) / 4, 1}, {4, 1, 1}, [&] {
                gather_batch(images.data(), labels.data(), order.data(), &cursor, stride, rows,
                             features, 1.0f / 255.0f, x.data(), y.data());
            });
            for (unsigned r = 0; r < rows; ++r) {
                unsigned s = order[batch * stride + r];
                CHECK(y[r] == labels[s], "gather label batch %u row %u", batch, r);
                for (unsigned f = 0; f < features; ++f)
                    CHECK(x[r * features + f] == images[s * features + f] * (1.0f / 255.0f), "gather x");
            }
            for (unsigned r = rows; r < stride; ++r) CHECK(y[r] == 255, "gather wrote past rows");
        }
    }
    // gather_features: the same gather of f32 rows, copied as they are.
    {
        unsigned n = 10, features = 7, stride = 4;
        std::vector<float> values(n * features);
        std::vector<unsigned char> labels(n);
        for (auto& v : values) v = u(rng) * 1000.0f;
        for (unsigned i = 0; i < n; ++i) labels[i] = (i * 3) % 10;
        std::vector<unsigned> order = {3, 1, 4, 0, 9, 2, 6, 5, 8, 7};
        for (unsigned batch = 0; batch < 3; ++batch) {
            unsigned rows = std::min(stride, n - batch * stride);
            unsigned cursor = batch;
            std::vector<float> x(stride * features, -1);
            std::vector<unsigned char> y(stride, 255);
            launch({rows, (features + 3) / 4, 1}, {4, 1, 1}, [&] {
                gather_features(values.data(), labels.data(), order.data(), &cursor, stride, rows,
                                features, x.data(), y.data());
            });
            for (unsigned r = 0; r < rows; ++r) {
                unsigned s = order[batch * stride + r];
                CHECK(y[r] == labels[s], "gather_features label batch %u row %u", batch, r);
                for (unsigned f = 0; f < features; ++f)
                    CHECK(x[r * features + f] == values[s * features + f], "gather_features x");
            }
            for (unsigned r = rows; r < stride; ++r) CHECK(y[r] == 255, "gather_features wrote past rows");
        }
    }
    // bias_activation
    {
        unsigned rows = 5, cols = 37;
        std::vector<float> z(rows * cols), bias(cols);
        for (auto& v : z) v = u(rng);
        for (auto& v : bias) v = u(rng);
        for (int relu = 0; relu < 2; ++relu) {
            auto out = z;
            launch({3, 1, 1}, {16, 1, 1}, [&] { bias_activation(out.data(), bias.data(), rows, cols, relu); });
            for (unsigned r = 0; r < rows; ++r) for (unsigned c = 0; c < cols; ++c) {
                float e = z[r * cols + c] + bias[c];
                if (relu && e <= 0) e = 0;
                CHECK(out[r * cols + c] == e, "bias_activation");
            }
        }
    }
    // relu_bias_grad
    {
        unsigned rows = 19, cols = 45;
        std::vector<float> g(rows * cols), h(rows * cols);
        for (auto& v : g) v = u(rng);
        for (auto& v : h) v = u(rng) > 0 ? u(rng) + 1.5f : 0.0f;
        for (int masked = 0; masked < 2; ++masked) {
            auto out = g;
            std::vector<float> db(cols, -7);
            launch({(cols + 31) / 32, 1, 1}, {32, 8, 1}, [&] {
                relu_bias_grad(out.data(), masked ? h.data() : nullptr, db.data(), rows, cols);
            });
            for (unsigned c = 0; c < cols; ++c) {
                double sum = 0;
                for (unsigned r = 0; r < rows; ++r) {
                    float e = (masked && !(h[r * cols + c] > 0)) ? 0.0f : g[r * cols + c];
                    CHECK(out[r * cols + c] == e, "relu mask");
                    sum += e;
                }
                CHECK(std::fabs(db[c] - sum) < 1e-5, "bias grad col %u: %f vs %f", c, db[c], sum);
            }
        }
    }
    // softmax_cross_entropy: train and evaluate passes, rows > threads and < threads
    for (unsigned rows : {7u, 300u}) {
        unsigned classes = 10, stride = rows;
        std::vector<float> z(rows * classes), bias(classes);
        std::vector<unsigned char> labels(rows);
        for (auto& v : z) v = 3 * u(rng);
        for (auto& v : bias) v = u(rng);
        for (auto& l : labels) l = rng() % classes;
        std::vector<float> grad(rows * classes, 9), db(classes, 9);
        double stats[5] = {0, 0, 0, 0, 0};
        unsigned cursor = 0;
        launch({1, 1, 1}, {256, 1, 1}, [&] {
            softmax_cross_entropy(z.data(), bias.data(), labels.data(), rows, classes, grad.data(),
                                  db.data(), nullptr, stride, stats, &cursor);
        });
        double loss = 0; unsigned correct = 0;
        std::vector<double> dbe(classes, 0);
        for (unsigned r = 0; r < rows; ++r) {
            double m = -1e30; unsigned best = 0;
            for (unsigned c = 0; c < classes; ++c) { double v = z[r*classes+c] + bias[c]; if (v > m) { m = v; best = c; } }
            double s = 0; for (unsigned c = 0; c < classes; ++c) s += std::exp(z[r*classes+c] + bias[c] - m);
            loss += std::log(s) - (z[r*classes+labels[r]] + bias[labels[r]] - m);
            correct += best == labels[r];
            for (unsigned c = 0; c < classes; ++c) {
                double p = std::exp(z[r*classes+c] + bias[c] - m) / s;
                double e = (p - (c == labels[r])) / rows;
                CHECK(std::fabs(grad[r*classes+c] - e) < 1e-6, "softmax grad");
                dbe[c] += e;
            }
        }
        for (unsigned c = 0; c < classes; ++c) CHECK(std::fabs(db[c] - dbe[c]) < 1e-5, "softmax db %u", c);
        CHECK(std::fabs(stats[0] - loss) < 1e-4 * loss, "loss %f vs %f", stats[0], loss);
        CHECK(stats[1] == correct && stats[2] == rows && stats[3] == 0, "stats");
        CHECK(cursor == 1, "cursor");
        // Evaluation: second batch position, predictions placed at cursor * stride.
        std::vector<unsigned char> predictions(2 * stride, 77);
        launch({1, 1, 1}, {256, 1, 1}, [&] {
            softmax_cross_entropy(z.data(), bias.data(), labels.data(), rows, classes, nullptr,
                                  nullptr, predictions.data(), stride, stats, &cursor);
        });
        CHECK(cursor == 2 && stats[2] == 2 * rows, "eval cursor/stats");
        for (unsigned r = 0; r < rows; ++r) {
            double m = -1e30; unsigned best = 0;
            for (unsigned c = 0; c < classes; ++c) { double v = z[r*classes+c] + bias[c]; if (v > m) { m = v; best = c; } }
            CHECK(predictions[stride + r] == best && predictions[r] == 77, "prediction");
        }
        // Non-finite: a NaN bias flags batch cursor+1.
        bias[2] = NAN;
        launch({1, 1, 1}, {256, 1, 1}, [&] {
            softmax_cross_entropy(z.data(), bias.data(), labels.data(), rows, classes, grad.data(),
                                  db.data(), nullptr, stride, stats, &cursor);
        });
        CHECK(stats[3] == 3 && !std::isfinite(stats[4]), "nan batch %f", stats[3]);
    }
    // optimizers against the host formulas (same expressions as src/optimizer.rs)
    {
        unsigned n = 1000;
        std::vector<float> w0(n), g(n);
        for (auto& v : w0) v = u(rng);
        for (auto& v : g) v = 0.01f * u(rng);
        dim3 grid{3, 1, 1}, block{64, 1, 1};
        { auto w = w0; std::vector<float> v(n, 0.5f);
          launch(grid, block, [&] { rmsprop_update(w.data(), g.data(), v.data(), n, 1e-3f, 0.9f, 1e-7f); });
          for (unsigned i = 0; i < n; ++i) { float nv = 0.9f * 0.5f + (1.0f - 0.9f) * (g[i] * g[i]); float e = w0[i] - 1e-3f * g[i] / std::sqrt(nv + 1e-7f);
            CHECK(w[i] == e && v[i] == nv, "rmsprop %u", i); } }
        { auto w = w0; std::vector<float> v(n, 0.5f), m(n, 0.25f);
          launch(grid, block, [&] { rmsprop_momentum_update(w.data(), g.data(), v.data(), m.data(), n, 1e-3f, 0.9f, 1e-7f, 0.8f); });
          for (unsigned i = 0; i < n; ++i) { float nv = 0.9f * 0.5f + (1.0f - 0.9f) * (g[i] * g[i]); float inc = 1e-3f * g[i] / std::sqrt(nv + 1e-7f); float nm = 0.8f * 0.25f + inc;
            CHECK(w[i] == w0[i] - nm && m[i] == nm, "rmsprop momentum %u", i); } }
        { auto w = w0;
          launch(grid, block, [&] { sgd_update(w.data(), g.data(), n, 0.1f); });
          for (unsigned i = 0; i < n; ++i) CHECK(w[i] == w0[i] - 0.1f * g[i], "sgd"); }
        for (int nesterov = 0; nesterov < 2; ++nesterov) { auto w = w0; std::vector<float> m(n, 0.3f);
          launch(grid, block, [&] { sgd_momentum_update(w.data(), g.data(), m.data(), n, 0.1f, 0.9f, nesterov); });
          for (unsigned i = 0; i < n; ++i) { float nm = 0.3f * 0.9f - g[i] * 0.1f; float e = nesterov ? w0[i] + (nm * 0.9f - g[i] * 0.1f) : w0[i] + nm;
            CHECK(w[i] == e && m[i] == nm, "sgd momentum %d", nesterov); } }
        { auto w = w0; std::vector<float> m(n, 0.01f), v(n, 0.02f); std::vector<float> alphas = {0.5f, 0.25f, 0.125f}; unsigned cursor = 2;
          launch(grid, block, [&] { adam_update(w.data(), g.data(), m.data(), v.data(), n, alphas.data(), &cursor, 0.9f, 0.999f, 1e-7f); });
          for (unsigned i = 0; i < n; ++i) { float nm = 0.01f + (g[i] - 0.01f) * (1.0f - 0.9f); float nv = 0.02f + (g[i] * g[i] - 0.02f) * (1.0f - 0.999f);
            float e = w0[i] - 0.25f * nm / (std::sqrt(nv) + 1e-7f);
            CHECK(w[i] == e && m[i] == nm && v[i] == nv, "adam %u", i); } }
        { auto w = w0; std::vector<float> a(n, 0.1f);
          launch(grid, block, [&] { adagrad_update(w.data(), g.data(), a.data(), n, 0.05f, 1e-7f); });
          for (unsigned i = 0; i < n; ++i) { float na = 0.1f + g[i] * g[i]; CHECK(w[i] == w0[i] - 0.05f * g[i] / std::sqrt(na + 1e-7f) && a[i] == na, "adagrad"); } }
    }
    std::printf("%s (%d failures)\n", failures ? "FAILED" : "all kernel checks passed", failures);
    return failures != 0;
}
