"""The same MLP, optimizer (Keras's RMSprop: epsilon inside the square root, which is
PyTorch's eps outside it only approximately, so eps=1e-7 either way is used), batch size
and epochs in PyTorch eager mode. Prints one JSON line."""
import argparse
import json
import time

import mnist_idx

parser = argparse.ArgumentParser()
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--data-dir", default="data/mnist")
parser.add_argument("--device", default="cpu")
args = parser.parse_args()

import torch  # noqa: E402

torch.manual_seed(args.seed)
device = torch.device(args.device)
(train_images, train_labels), (test_images, test_labels) = mnist_idx.load(args.data_dir)
x_train = torch.tensor(train_images, dtype=torch.float32, device=device) / 255
y_train = torch.tensor(train_labels, dtype=torch.long, device=device)
x_test = torch.tensor(test_images, dtype=torch.float32, device=device) / 255
y_test = torch.tensor(test_labels, dtype=torch.long, device=device)

model = torch.nn.Sequential(
    torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10)
).to(device)
for layer in (model[0], model[2]):  # Keras defaults: Glorot uniform, zero bias
    torch.nn.init.xavier_uniform_(layer.weight)
    torch.nn.init.zeros_(layer.bias)
# Keras RMSprop: lr 1e-3, rho 0.9, eps 1e-7; PyTorch's alpha is Keras's rho.
optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
loss_fn = torch.nn.CrossEntropyLoss()

start = time.perf_counter()
n = x_train.shape[0]
for epoch in range(args.epochs):
    epoch_start = time.perf_counter()
    order = torch.randperm(n, device=device)
    correct, total_loss = 0, 0.0
    for i in range(0, n, 128):
        idx = order[i : i + 128]
        logits = model(x_train[idx])
        loss = loss_fn(logits, y_train[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.detach() * idx.shape[0]
        correct += (logits.argmax(1) == y_train[idx]).sum()
    print(
        f"epoch {epoch + 1}: {time.perf_counter() - epoch_start:.2f}s "
        f"loss {float(total_loss) / n:.4f} accuracy {int(correct) / n:.4f}",
        flush=True,
    )
if device.type == "cuda":
    torch.cuda.synchronize()
fit_seconds = time.perf_counter() - start
with torch.no_grad():
    logits = model(x_test)
    accuracy = float((logits.argmax(1) == y_test).float().mean())
    test_loss = float(loss_fn(logits, y_test))
print(
    json.dumps(
        {
            "framework": f"pytorch {torch.__version__} ({device})",
            "seed": args.seed,
            "fit_seconds": fit_seconds,
            "test_accuracy": accuracy,
            "test_loss": test_loss,
            "peak_rss_mib": mnist_idx.peak_rss_mib(),
        }
    )
)
