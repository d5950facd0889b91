"""``make demo-mnist``: train the seed-004 MNIST CNN, dream all ten digits in one batched run.

Uses a local Keras-format mnist.npz when given (--mnist), else the embedded digits (offline).
Writes under --out: mnist_cnn.keras (+ .labels.txt), dreams.png (a labelled grid), one PNG per
class, and summary.json with each class's target probability.
"""

import os
import sys
import time

from tfam.cli.common import ArgumentParser, import_tensorflow_quietly, run_guarded


def run(args):
    import numpy as np

    from tfam import objectives, outputs
    from tfam import regularizers as reg
    from tfam import transforms as tr
    from tfam.data.digits import CLASS_NAMES, embedded_digits, load_mnist
    from tfam.engine import dream
    from tfam.models.mnist_cnn import mnist_cnn, train_mnist_cnn

    if args.mnist:
        (x, y), (x_test, y_test) = load_mnist(args.mnist)
        data = f"MNIST ({args.mnist})"
    else:
        (x, y), (x_test, y_test) = embedded_digits()
        data = "the embedded digits (scikit-learn's 8x8 digits, enlarged to 28x28)"
    print(f"training the MNIST CNN on {data}: {len(x)} images, {args.epochs} epochs")
    started = time.perf_counter()
    model = mnist_cnn()
    # batch 32 rather than the seed's 128: the embedded set has 1,437 training images
    train_mnist_cnn(model, x, y, epochs=args.epochs, batch_size=32, seed=args.seed, verbose=2)
    accuracy = float(np.mean(model.predict(x_test, verbose=0).argmax(1) == y_test))
    print(f"test accuracy {accuracy:.3f} ({time.perf_counter() - started:.0f} s)")
    model_path = os.path.join(args.out, "mnist_cnn.keras")
    with outputs.atomic_path(model_path) as tmp:
        model.save(tmp)
    with outputs.atomic_write(os.path.join(args.out, "mnist_cnn.labels.txt"), "w") as f:
        f.write("\n".join(CLASS_NAMES) + "\n")

    print("dreaming all ten classes in one batched run")
    result = dream(
        model,
        objectives.class_logit(list(range(10))),
        transforms=[tr.jitter(2)],
        regularizers=[reg.total_variation(0.1), reg.lp_norm(0.1, p=1)],
        steps=args.steps,
        seed=args.seed,
    )
    probability = result.target_probability
    titles = [f"{name}\np={p:.2f}" for name, p in zip(CLASS_NAMES, probability)]
    outputs.write_grid(
        os.path.join(args.out, "dreams.png"),
        result.x,
        titles,
        title="MNIST CNN: each class dreamed (p = the model's probability)",
    )
    for i, name in enumerate(CLASS_NAMES):
        outputs.write_png(os.path.join(args.out, f"dream_{i}_{name}.png"), result.x[i])
    outputs.write_json(
        os.path.join(args.out, "summary.json"),
        {
            "data": data,
            "epochs": args.epochs,
            "test_accuracy": accuracy,
            "dream_steps": args.steps,
            "dream_seconds": round(result.seconds, 3),
            "classes": [
                {"class": i, "name": name, "probability": float(p)}
                for i, (name, p) in enumerate(zip(CLASS_NAMES, probability))
            ],
        },
    )
    print("target probability per class: " + " ".join(f"{p:.2f}" for p in probability))
    print(f"results in {args.out}/: dreams.png (grid), dream_*.png, summary.json, mnist_cnn.keras")


def main(argv=None):
    parser = ArgumentParser(prog="python -m tfam.demos.mnist", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/demo-mnist")
    parser.add_argument("--mnist", default=None, help="path to a Keras-format mnist.npz (optional)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    import_tensorflow_quietly()
    run_guarded(run, args)


if __name__ == "__main__":
    main()
