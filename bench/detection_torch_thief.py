#!/usr/bin/env python3
"""A thief written outside Tracemark, for bench/detection's external row.

  steal  queries a served victim over HTTP with its own Open Inference Protocol v2 client
         (JSON, batches of --batch images, raw pixels in [0, 1]), distils the probability
         vectors at temperature T into a small PyTorch CNN, and saves it;
  serve  hosts that copy with KServe's Python ModelServer (v2 REST: POST
         /v2/models/NAME/infer with one FP32 input [B, 1, 28, 28] or [B, 784], answered with an
         FP32 'probabilities' output) and prints 'listening on http://127.0.0.1:PORT' once it
         answers /v2/health/ready.

Needs torch and kserve (pip install --break-system-packages torch --index-url
https://download.pytorch.org/whl/cpu; pip install --break-system-packages kserve).
"""
import argparse, gzip, json, socket, sys, threading, time, urllib.request

import numpy as np
import torch
from torch import nn

FASHION_MNIST = "/usr/share/datasets/fashion-mnist"
MEAN, STD = 0.2860, 0.3530


class SmallCNN(nn.Module):
    """Raw pixels in [0, 1] in, logits out: the normalisation is part of the model, as it is in a
    Tracemark checkpoint, so the server takes what the probe sends."""

    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, classes))

    def forward(self, x):
        return self.features((x - MEAN) / STD)


def load_images(split):
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(f"{FASHION_MNIST}/{prefix}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
    with gzip.open(f"{FASHION_MNIST}/{prefix}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    return images, labels


def query_victim(url, model, images, batch):
    """The victim's probability vectors for `images`, over v2 JSON, `batch` images per request."""
    answers = []
    endpoint = f"{url.rstrip('/')}/v2/models/{model}/infer"
    for start in range(0, len(images), batch):
        chunk = images[start:start + batch]
        body = {"id": str(start), "inputs": [{"name": "images", "shape": list(chunk.shape), "datatype": "FP32",
                                              "data": [round(float(v), 6) for v in chunk.reshape(-1)]}]}
        request = urllib.request.Request(endpoint, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
        for attempt in range(5):
            try:
                with urllib.request.urlopen(request, timeout=120) as response:
                    answer = json.loads(response.read())
                break
            except OSError:
                if attempt == 4:
                    raise
                time.sleep(2 ** attempt)
        output = next(o for o in answer["outputs"] if o["name"] == "probabilities")
        answers.append(np.asarray(output["data"], dtype=np.float32).reshape(len(chunk), -1))
        if start // batch % 20 == 0:
            print(f"queried {start + len(chunk)}/{len(images)}", file=sys.stderr, flush=True)
    return np.concatenate(answers)


def accuracy(model, images, labels):
    model.eval()
    with torch.no_grad():
        predictions = torch.cat([model(torch.from_numpy(images[i:i + 1000])).argmax(1) for i in range(0, len(images), 1000)])
    return float((predictions.numpy() == labels).mean())


def steal(args):
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    images, _ = load_images("train")
    rng = np.random.default_rng(args.seed)
    queries = images[rng.permutation(len(images))[:args.queries]]
    probabilities = query_victim(args.victim, args.victim_model, queries, args.batch)
    test_images, test_labels = load_images("test")
    # Softened targets p^(1/T), renormalised: softmax(logits / T) of the victim's logits.
    soft = np.power(np.clip(probabilities, 1e-12, 1), 1 / args.temperature)
    soft /= soft.sum(axis=1, keepdims=True)
    x, y = torch.from_numpy(queries), torch.from_numpy(soft)
    model = SmallCNN()
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps = args.epochs * ((len(x) + args.batch_size - 1) // args.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    per_epoch = []
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x))
        for i in range(0, len(x), args.batch_size):
            index = order[i:i + args.batch_size]
            log_p = torch.log_softmax(model(x[index]) / args.temperature, dim=1)
            loss = nn.functional.kl_div(log_p, y[index], reduction="batchmean") * args.temperature ** 2
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        per_epoch.append(accuracy(model, test_images, test_labels))
        print(f"epoch {epoch + 1}/{args.epochs} test {100 * per_epoch[-1]:.2f}%", file=sys.stderr, flush=True)
    torch.save(model.state_dict(), args.out)
    result = {"model": args.out, "test_accuracy": per_epoch[-1], "per_epoch_test_accuracy": per_epoch,
              "details": {"framework": f"torch {torch.__version__}", "queries": len(queries), "temperature": args.temperature,
                          "epochs": args.epochs, "batch": args.batch, "labels": "soft"}}
    print(json.dumps(result, indent=1) if args.json else f"test accuracy {100 * per_epoch[-1]:.2f}% → {args.out}")


def free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def serve(args):
    import kserve

    class Copy(kserve.Model):
        def __init__(self, name, path):
            super().__init__(name)
            self.network = SmallCNN()
            self.network.load_state_dict(torch.load(path, map_location="cpu"))
            self.network.eval()
            self.ready = True

        def predict(self, payload, headers=None):
            tensor = payload.inputs[0]
            images = np.asarray(tensor.as_numpy(), dtype=np.float32).reshape(-1, 1, 28, 28)
            with torch.no_grad():
                probabilities = torch.softmax(self.network(torch.from_numpy(images)), dim=1).numpy()
            output = kserve.InferOutput(name="probabilities", shape=list(probabilities.shape), datatype="FP32", data=probabilities)
            return kserve.InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=[output])

    torch.set_num_threads(1)
    port = args.port or free_port("127.0.0.1")

    def announce():
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"{url}/v2/models/{args.name}/ready", timeout=2) as response:
                    if response.status == 200:
                        print(f"listening on {url} (KServe ModelServer, model '{args.name}')", flush=True)
                        return
            except OSError:
                time.sleep(0.5)
        print("KServe did not become ready", file=sys.stderr, flush=True)

    threading.Thread(target=announce, daemon=True).start()
    kserve.ModelServer(http_port=port, enable_grpc=False, workers=1).start([Copy(args.name, args.model)])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    s = commands.add_parser("steal", help="distil a served victim over HTTP into a PyTorch CNN")
    s.add_argument("--victim", required=True, help="base URL of the victim's v2 server")
    s.add_argument("--victim-model", required=True, help="the victim's model name there")
    s.add_argument("--queries", type=int, default=60000, help="training images sent as queries (at most 60,000)")
    s.add_argument("--batch", type=int, default=256, help="images per HTTP request")
    s.add_argument("--epochs", type=int, default=20)
    s.add_argument("--temperature", type=float, default=7.0)
    s.add_argument("--batch-size", type=int, default=128)
    s.add_argument("--lr", type=float, default=0.05)
    s.add_argument("--threads", type=int, default=2)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--out", required=True, help="where to save the copy's state dict (.pt)")
    s.add_argument("--json", action="store_true", help="print one JSON object with the results")
    v = commands.add_parser("serve", help="host a stolen copy with KServe's ModelServer (v2 protocol)")
    v.add_argument("--model", required=True, help="the .pt written by steal")
    v.add_argument("--name", default="suspect", help="the model's name in the v2 paths")
    v.add_argument("--port", type=int, default=0, help="0: a free port")
    args = parser.parse_args()
    if args.command == "steal":
        if not 1 <= args.queries <= 60000 or args.epochs < 1 or args.batch < 1 or args.temperature <= 0:
            parser.error("--queries 1–60000, --epochs ≥ 1, --batch ≥ 1 and --temperature > 0 please")
        steal(args)
    else:
        serve(args)


if __name__ == "__main__":
    main()
