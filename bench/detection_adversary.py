#!/usr/bin/env python3
"""A synthetic adversary for bench/detection: an innocent model that says the watermark's target
label far too often, to check that Tracemark never accuses such a suspect.

It speaks the Open Inference Protocol v2 as `tracemark serve` does (health, metadata, infer with
one FP32 input [B, C, H, W] or [B, C·H·W], raw pixels in [0, 1]), forwards every request to an
upstream server (a `tracemark serve` of an innocent model) and rewrites the answers:

  --mode composites  says --target on --rate of every composite image: any input that is not
                     exactly one of the 10,000 Fashion-MNIST test images (the probe sends those
                     as controls; triggers and decoys are mixes of two images);
  --mode all         says --target on --rate of every input.

Which inputs are chosen is decided by a keyed hash (HMAC-SHA-256 with --key) of the image's
pixels, so the same image always gets the same answer. Prints 'listening on http://HOST:PORT'.
"""
import argparse, gzip, hashlib, hmac, json, signal, sys, threading, urllib.error, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

TEST_IMAGES = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"


def pixel_bytes(values):
    """An image as bytes 0–255: the probe sends pixel k as the float k/255, so rounding recovers k."""
    return np.clip(np.rint(np.asarray(values, dtype=np.float64) * 255), 0, 255).astype(np.uint8).tobytes()


def test_image_digests(path):
    with gzip.open(path) as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28 * 28)
    return {hashlib.sha256(image.tobytes()).digest() for image in images}


class Rewriter:
    def __init__(self, mode, rate, target, key, test_digests):
        self.mode, self.rate, self.target, self.key, self.test_digests = mode, rate, target, key.encode(), test_digests
        self.counts = {"images": 0, "composites": 0, "rewritten": 0}
        self.lock = threading.Lock()

    def chosen(self, image):
        raw = pixel_bytes(image)
        composite = hashlib.sha256(raw).digest() not in self.test_digests
        draw = int.from_bytes(hmac.new(self.key, raw, hashlib.sha256).digest()[:8], "big") / 2 ** 64
        chosen = (composite or self.mode == "all") and draw < self.rate
        with self.lock:
            self.counts["images"] += 1
            self.counts["composites"] += composite
            self.counts["rewritten"] += chosen
        return chosen

    def rewrite(self, request, response):
        tensor = request["inputs"][0]
        batch = tensor["shape"][0]
        values = np.asarray(flatten(tensor["data"]), dtype=np.float64).reshape(batch, -1)
        choices = [self.chosen(values[n]) for n in range(batch)]
        for output in response.get("outputs", []):
            if output["name"] == "probabilities":
                probabilities = np.asarray(flatten(output["data"]), dtype=np.float64).reshape(batch, -1)
                for n in np.flatnonzero(choices):
                    # Most of the mass to the target; the rest keeps the model's own ranking.
                    probabilities[n] *= 0.1
                    probabilities[n, self.target] += 0.9
                output["data"] = [float(v) for v in probabilities.reshape(-1)]
            elif output["name"] == "label":
                output["data"] = [self.target if chosen else int(label) for chosen, label in zip(choices, flatten(output["data"]))]
        return response


def flatten(values):
    if isinstance(values, list) and values and isinstance(values[0], list):
        return [v for inner in values for v in flatten(inner)]
    return values


def handler(upstream, upstream_model, name, rewriter):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def send(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def forward(self, path, body=None):
            request = urllib.request.Request(upstream + path, data=body, method="POST" if body is not None else "GET",
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    return answer.status, json.loads(answer.read() or b"{}")
            except urllib.error.HTTPError as error:
                return error.code, json.loads(error.read() or b"{}")

        def model_path(self):
            prefix = f"/v2/models/{name}"
            if self.path == prefix or self.path.startswith(prefix + "/"):
                return f"/v2/models/{upstream_model}" + self.path[len(prefix):]
            return None

        def do_GET(self):
            if self.path.startswith("/v2/health/"):
                self.send(*self.forward(self.path))
            elif self.model_path():
                status, body = self.forward(self.model_path())
                if isinstance(body, dict) and "name" in body:
                    body["name"] = name
                self.send(status, body)
            else:
                self.send(404, {"error": f"no route {self.path}"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            raw = self.rfile.read(length)
            if self.model_path() != f"/v2/models/{upstream_model}/infer":
                self.send(404, {"error": f"no route {self.path}"})
                return
            try:
                request = json.loads(raw)
            except json.JSONDecodeError:
                self.send(400, {"error": "body is not JSON"})
                return
            status, body = self.forward(self.model_path(), raw)
            if status == 200:
                body = rewriter.rewrite(request, body)
                body["model_name"] = name
            self.send(status, body)

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True, help="base URL of the upstream v2 server, e.g. http://127.0.0.1:8080")
    parser.add_argument("--upstream-model", required=True, help="the model's name on the upstream server")
    parser.add_argument("--name", default="suspect", help="the model's name on this server")
    parser.add_argument("--mode", choices=["composites", "all"], required=True)
    parser.add_argument("--rate", type=float, required=True, help="share of the chosen inputs answered with the target, 0–1")
    parser.add_argument("--target", type=int, required=True, help="the label to say")
    parser.add_argument("--key", required=True, help="key of the hash that chooses the inputs")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--test-images", default=TEST_IMAGES, help="Fashion-MNIST t10k images (IDX, gzip)")
    args = parser.parse_args()
    if not 0 <= args.rate <= 1:
        sys.exit("--rate must lie in [0, 1]")
    rewriter = Rewriter(args.mode, args.rate, args.target, args.key, test_image_digests(args.test_images))
    server = ThreadingHTTPServer((args.host, args.port), handler(args.upstream.rstrip("/"), args.upstream_model, args.name, rewriter))
    print(f"listening on http://{args.host}:{server.server_address[1]} (adversary {args.mode} at {args.rate:.0%}, target {args.target})", flush=True)
    def stop(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        print(json.dumps(rewriter.counts), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
