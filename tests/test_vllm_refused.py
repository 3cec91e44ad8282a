"""`method.trl.use_vllm` is refused at config check (issue 19, item 10): TRL builds a vLLM engine inside every
trainer, a sweep builds one trainer per job in one process, and nothing shuts an engine down. Every method section
whose TRL dataclass has the switch refuses it in one line naming the file and the field."""

from __future__ import annotations

import dataclasses
import typing

import pytest
import yaml
from conftest import tiny_sweep_dict

from pareto_align import cli
from pareto_align.methods import METHODS, modpo, morlhf
from pareto_align.methods.base import TRLSection

VLLM = {"use_vllm": True, "vllm_mode": "colocate"}
CASES = {  # method section -> the field the error names
    "morlhf": ({"name": "morlhf", "trl": VLLM}, "method.trl.use_vllm"),
    "morlhf-rloo": ({"name": "morlhf", "trainer": "rloo", "trl": VLLM}, "method.trl.use_vllm"),
    "dynamic_hv": ({"name": "dynamic_hv", "trl": VLLM}, "method.trl.use_vllm"),
    "dynamic_hv-rloo": ({"name": "dynamic_hv", "trainer": "rloo", "trl": VLLM}, "method.trl.use_vllm"),
    "dynamic_grad": ({"name": "dynamic_grad", "trl": VLLM}, "method.trl.use_vllm"),
    "cmorl": ({"name": "cmorl", "trl": VLLM}, "method.trl.use_vllm"),
    "panacea": ({"name": "panacea", "trl": VLLM}, "method.trl.use_vllm"),
    "panacea-rloo": ({"name": "panacea", "trainer": "rloo", "trl": VLLM}, "method.trl.use_vllm"),
    "soups": ({"name": "soups", "specialists": {"name": "morlhf", "trl": VLLM}}, "method.specialists.trl.use_vllm"),
    "mod": ({"name": "mod", "specialists": {"name": "morlhf", "trainer": "rloo", "trl": VLLM}},
            "method.specialists.trl.use_vllm"),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_use_vllm_is_refused_naming_file_and_field(tmp_path, capsys, case):
    method, field = CASES[case]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(tiny_sweep_dict(tmp_path / "cache", method=method)))
    assert cli.main(["sweep", str(path), "--output-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: {field}: not supported: each job would start its own vLLM engine")
    assert "\n" not in err
    assert not (tmp_path / "run").exists()  # refused before any work


def test_use_vllm_false_is_the_default_and_accepted(tmp_path):
    from pareto_align.config import load_config

    path = tmp_path / "config.yaml"
    method = {"name": "morlhf", "trl": {"use_vllm": False}}
    path.write_text(yaml.safe_dump(tiny_sweep_dict(tmp_path / "cache", method=method)))
    args = load_config(path).method.build_trl_config(output_dir=str(tmp_path), reward_weights=[0.5, 0.5])
    assert args.use_vllm is False


def _trl_classes(section_cls: type) -> set[str]:
    """Names of the TRL dataclasses a section class can build, over its `trainer` choices."""
    field = section_cls.model_fields.get("trainer")
    trainers = typing.get_args(field.annotation) if field is not None else (None,)
    sections = [section_cls(**({"trainer": t} if t else {})) for t in trainers]
    return {s.trl_fields_of().__name__ for s in sections if isinstance(s, TRLSection)}


def test_every_section_with_the_switch_is_covered():
    """A method (or its specialists' trainer) whose TRL dataclass has `use_vllm` is among the refusals tested."""
    import trl

    with_switch = {name for name in dir(trl) if name.endswith("Config") and dataclasses.is_dataclass(getattr(trl, name))
                   and "use_vllm" in {f.name for f in dataclasses.fields(getattr(trl, name))}}  # fmt: skip
    tested = {CASES[c][0]["name"] for c in CASES}
    for name, module in METHODS.items():
        classes = _trl_classes(module.INFO.config)
        if "specialists" in module.INFO.config.model_fields:
            classes |= _trl_classes(modpo.MODPOSection) | _trl_classes(morlhf.MORLHFSection)
        if classes & with_switch:
            assert name in tested, name
