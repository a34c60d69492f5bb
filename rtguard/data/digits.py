"""An image stand-in: scikit-learn's 8x8 handwritten digits (1,797 images, shipped, no download).

It lets the CNN family meet real 2-D images (model.cnn_input = "image") through the same
pipeline as flows: each pixel is a count feature (0..16), digit "0" plays the benign
class so detection rate and false-positive rate stay defined, and the test split is
drawn from the same images (no drift).
"""

from __future__ import annotations

import pandas as pd

from rtguard.data.frames import LabelledFrames

BENIGN = "0"


def load_digits_frames() -> LabelledFrames:
    from sklearn.datasets import load_digits

    digits = load_digits()
    names = [f"pixel_{row}_{column}" for row in range(8) for column in range(8)]
    return LabelledFrames(
        train=pd.DataFrame(digits.data, columns=names),
        train_labels=pd.Series(digits.target.astype(str)),
        test=None,
        test_labels=None,
        categorical=[],
        classes=[str(digit) for digit in range(10)],
        benign=BENIGN,
        source=f"scikit-learn digits (8x8 images, {len(digits.target):,} samples)",
        kinds={name: "count" for name in names},
    )
