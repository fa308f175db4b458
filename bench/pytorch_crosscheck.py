"""Cross-check a Tracemark checkpoint against PyTorch: load the .safetensors file with the
`safetensors` package, put the weights into the same fmnist-cnn built from torch.nn, and compare
the test accuracy with `tracemark eval` on the same file. Needs torch and safetensors.

usage: python3 bench/pytorch_crosscheck.py MODEL.safetensors
"""
import gzip, json, os, subprocess, sys

import numpy as np
import torch
from safetensors import safe_open

sys.path.insert(0, os.path.dirname(__file__))
from torch_peer import fmnist_cnn  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    path = sys.argv[1]
    with safe_open(path, framework="pt") as f:
        metadata = f.metadata()
        tensors = {name: f.get_tensor(name) for name in f.keys()}
    assert metadata["architecture"] == "fmnist-cnn", metadata
    normalization = json.loads(metadata["normalization"])
    model = fmnist_cnn(len(json.loads(metadata["class_names"])))
    state = {name.removeprefix("layers."): value for name, value in tensors.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(name.endswith("num_batches_tracked") for name in missing), (missing, unexpected)
    model.eval()

    folder = "/usr/share/datasets/fashion-mnist"
    with gzip.open(f"{folder}/t10k-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
    with gzip.open(f"{folder}/t10k-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8)
    x = (torch.from_numpy(images) - normalization["mean"][0]) / normalization["std"][0]
    with torch.no_grad():
        predictions = torch.cat([model(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)]).numpy()
    torch_accuracy = float((predictions == labels).mean())
    ours = json.loads(subprocess.run([os.path.join(ROOT, ".build/release/tracemark"), "eval", "--model", path, "--json"],
                                     check=True, capture_output=True, text=True).stdout)
    print(json.dumps({"tensors": len(tensors), "metadata": metadata, "pytorch_test_accuracy": torch_accuracy,
                      "tracemark_test_accuracy": ours["accuracy"],
                      "difference_in_images": round(abs(torch_accuracy - ours["accuracy"]) * len(labels))}, indent=2))


if __name__ == "__main__":
    main()
