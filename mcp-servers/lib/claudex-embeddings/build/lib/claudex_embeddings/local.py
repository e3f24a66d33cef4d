"""A sentence-transformers BERT encoder (all-MiniLM-L6-v2 and its kind, from EMBEDDINGS_MODEL_PATH) run in NumPy.

The forward pass is a few matrix products, so NumPy's BLAS is all it needs: no torch, no
onnxruntime, no network. Weights come from `model.safetensors`, the tokenizer from
`tokenizer.json` (Hugging Face `tokenizers`), pooling from `1_Pooling/config.json`.
"""

from __future__ import annotations

import json
import math
import mmap
import threading
from pathlib import Path

import numpy as np

from .errors import EmbeddingError

BATCH = 32
_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16, "I64": np.int64}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a .safetensors file as a float32 (or int64) array."""
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        size = int.from_bytes(mm[:8], "little")
        header = json.loads(mm[8:8 + size])
        base = 8 + size
        tensors = {}
        for name, info in header.items():
            if name == "__metadata__":
                continue
            dtype = _DTYPES.get(info["dtype"])
            if dtype is None:
                raise EmbeddingError(f"{path}: tensor {name} has dtype {info['dtype']}, which is not supported")
            start, end = info["data_offsets"]
            array = np.frombuffer(mm[base + start:base + end], dtype=dtype).reshape(info["shape"])
            if info["dtype"] == "BF16":
                array = (array.astype(np.uint32) << 16).view(np.float32)
            tensors[name] = array.astype(np.float32) if array.dtype != np.int64 else array.copy()
        return tensors


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (absolute error under 1.5e-7): enough for a float32 GELU. NumPy
    # has no erf of its own, and SciPy would be a 40 MB dependency for one function.
    sign = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-a * a))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


class LocalBertProvider:
    """Embeds with a BERT sentence-transformers model folder; loads the weights on first use."""

    def __init__(self, model_dir: str | Path, name: str | None = None) -> None:
        self.model_dir = Path(model_dir).expanduser()
        self.name = name or str(self.model_dir)
        self._lock = threading.Lock()
        self._loaded = False

    # -- loading ---------------------------------------------------------------------------
    def _load(self) -> None:
        if self._loaded:
            return
        folder = self.model_dir
        for needed in ("config.json", "model.safetensors", "tokenizer.json"):
            if not (folder / needed).is_file():
                raise EmbeddingError(f"embedding model folder {folder} has no {needed} (it needs config.json, "
                                     "model.safetensors and tokenizer.json of a BERT sentence-transformers model)")
        config = json.loads((folder / "config.json").read_text())
        if config.get("model_type", "bert") != "bert":
            raise EmbeddingError(f"{folder}: model_type {config.get('model_type')!r} is not supported (only bert)")
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        max_len = int(config.get("max_position_embeddings", 512))
        st_config = folder / "sentence_bert_config.json"
        if st_config.is_file():
            max_len = min(max_len, int(json.loads(st_config.read_text()).get("max_seq_length", max_len)))
        self.pooling = "mean"
        pooling = folder / "1_Pooling" / "config.json"
        if pooling.is_file():
            p = json.loads(pooling.read_text())
            self.pooling = "cls" if p.get("pooling_mode_cls_token") else "mean"

        raw = read_safetensors(folder / "model.safetensors")
        prefix = "bert." if any(k.startswith("bert.") for k in raw) else ""
        try:
            w = {k[len(prefix):]: v for k, v in raw.items() if k.startswith(prefix)}
            self.word = w["embeddings.word_embeddings.weight"]
            self.position = w["embeddings.position_embeddings.weight"]
            self.token_type = w["embeddings.token_type_embeddings.weight"][0]
            self.emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
            self.blocks = []
            for i in range(self.layers):
                p = f"encoder.layer.{i}."
                # Q, K and V in one product: [hidden, 3*hidden], weights transposed once here.
                qkv_w = np.concatenate([w[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")]).T
                qkv_b = np.concatenate([w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")])
                self.blocks.append((
                    np.ascontiguousarray(qkv_w), qkv_b,
                    np.ascontiguousarray(w[p + "attention.output.dense.weight"].T), w[p + "attention.output.dense.bias"],
                    w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"],
                    np.ascontiguousarray(w[p + "intermediate.dense.weight"].T), w[p + "intermediate.dense.bias"],
                    np.ascontiguousarray(w[p + "output.dense.weight"].T), w[p + "output.dense.bias"],
                    w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"],
                ))
        except KeyError as exc:
            raise EmbeddingError(f"{folder}/model.safetensors is not a BERT model: tensor {exc} is missing") from None

        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise EmbeddingError("EMBEDDINGS_MODEL_PATH needs the tokenizers package, which the server's venv does not "
                                 "have: install it there (pip install 'tokenizers>=0.15,<1'), or unset "
                                 "EMBEDDINGS_MODEL_PATH for the bundled model") from None

        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=min(max_len, self.position.shape[0]))
        self._loaded = True

    @property
    def dimension(self) -> int:
        with self._lock:
            self._load()
        return self.hidden

    # -- inference -------------------------------------------------------------------------
    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        batch, length = ids.shape
        h, d = self.heads, self.hidden // self.heads
        # Activations stay 2-D ([batch*length, hidden]) so each linear layer is one GEMM.
        x = (self.word[ids] + self.position[:length] + self.token_type).reshape(batch * length, self.hidden)
        x = _layer_norm(x, *self.emb_ln, self.eps)
        bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)
        scale = 1.0 / math.sqrt(d)
        for qkv_w, qkv_b, o_w, o_b, ln1_w, ln1_b, i_w, i_b, f_w, f_b, ln2_w, ln2_b in self.blocks:
            qkv = (x @ qkv_w + qkv_b).reshape(batch, length, 3, h, d).transpose(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = (q @ k.transpose(0, 1, 3, 2)) * scale + bias
            scores -= scores.max(-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * length, self.hidden)
            x = _layer_norm(x + context @ o_w + o_b, ln1_w, ln1_b, self.eps)
            x = _layer_norm(x + _gelu(x @ i_w + i_b) @ f_w + f_b, ln2_w, ln2_b, self.eps)
        x = x.reshape(batch, length, self.hidden)
        if self.pooling == "cls":
            pooled = x[:, 0]
        else:
            m = mask[:, :, None].astype(np.float32)
            pooled = (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.maximum(norms, 1e-12)

    def embed(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        for text in texts:
            if not isinstance(text, str) or not text.strip():
                raise EmbeddingError("cannot embed an empty text")
        with self._lock:
            self._load()
            encodings = self.tokenizer.encode_batch(list(texts))
            out = np.zeros((len(texts), self.hidden), dtype=np.float32)
            # Similar lengths together, so each batch pads little.
            order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
            for start in range(0, len(order), BATCH):
                chunk = order[start:start + BATCH]
                length = max(len(encodings[i].ids) for i in chunk)
                ids = np.zeros((len(chunk), length), dtype=np.int64)
                mask = np.zeros((len(chunk), length), dtype=np.int64)
                for row, i in enumerate(chunk):
                    n = len(encodings[i].ids)
                    ids[row, :n] = encodings[i].ids
                    mask[row, :n] = 1
                out[chunk] = self._forward(ids, mask)
        return out.tolist()
