"""The learned colour prior (after Zhang et al. 2017, "Real-Time User-Guided Image Colorization
with Learned Deep Priors"): luma + sparse hint chroma + hint mask in, the chroma of the whole
frame out, plus a distribution over ab bins (suggested colours).

- `net.py`    the network (`PriorNet`) and `Prior`, the inference wrapper (shipped weights,
              reduced working size, luma-guided upsampling, suggestions).
- `data.py`   training data (the licensed photos and videos of ../shared/data/train) and the
              simulated editor hints.
- `train.py`  the training command (`python -m models.prior.train`).
- `eval.py`   automatic-mode check on held-out photos and clip first frames.
"""
