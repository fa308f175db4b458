"""The PyTorch peer for bench/train_throughput: the same fmnist-cnn, batch, optimizer and thread
count, trained on the same Fashion-MNIST images; prints training images/s per run as JSON."""
import argparse, gzip, json, time

import numpy as np
import torch
from torch import nn


def fmnist_cnn(classes=10):
    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    return nn.Sequential(*block(1, 32), *block(32, 32), nn.MaxPool2d(2),
                         *block(32, 64), *block(64, 64), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(3136, 256), nn.ReLU(), nn.Dropout(0.3), nn.Linear(256, classes))


def load(folder, limit):
    with gzip.open(f"{folder}/train-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:limit]
    with gzip.open(f"{folder}/train-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)[:limit]
    x = torch.from_numpy(images.astype(np.float32) / 255.0)
    return (x - 0.2860) / 0.3530, torch.from_numpy(labels.astype(np.int64))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--images", type=int, default=6400)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    x, y = load(args.data, args.images)
    model = fmnist_cnn()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    loss_fn = nn.CrossEntropyLoss()
    model.train()

    def epoch():
        order = torch.randperm(len(x))
        start = time.perf_counter()
        for i in range(0, len(x), args.batch_size):
            index = order[i:i + args.batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x[index]), y[index])
            loss.backward()
            optimizer.step()
        return len(x) / (time.perf_counter() - start)

    epoch()  # warm-up: allocator, oneDNN primitive caches
    rates = [epoch() for _ in range(args.runs)]
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "images_per_second": rates}))


if __name__ == "__main__":
    main()
