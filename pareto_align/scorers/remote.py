"""A reward model served over HTTP, with OpenRLHF's `remote_rm_url` protocol.

Each batch of `batch_size` responses is one POST of JSON `{"query": [...], "prompts": [...], "responses": [...]}`
(`query` is prompt and response joined, as OpenRLHF sends it), answered by `{"rewards": [...]}`: one number per
response, or one list per response of which `output` picks one. A request that times out, is refused or answers
5xx is tried again `retries` times, waiting 0.5, 1, 2, ... seconds; a 4xx answer or a reply of another shape is
an error at once. Users serve large reward models and LLM judges this way, apart from training.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import torch

from pareto_align.errors import ScorerError
from pareto_align.models.chat import message_text
from pareto_align.scorers.specs import RemoteSpec


class RemoteScorer:
    """(prompts, responses) -> (N, M) raw rewards from a reward server (M = 1, or the length of its lists)."""

    def __init__(self, spec: RemoteSpec, where: str) -> None:
        self.spec, self.where = spec, where
        self.n_outputs: int | None = None

    def _post(self, payload: dict[str, Any]) -> Any:
        body = json.dumps(payload).encode()
        request = urllib.request.Request(
            self.spec.url, data=body, headers={"Content-Type": "application/json"}
        )
        last = ""
        for attempt in range(self.spec.retries + 1):
            if attempt:
                time.sleep(0.5 * 2 ** (attempt - 1))
            try:
                with urllib.request.urlopen(request, timeout=self.spec.timeout) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as err:
                last = f"HTTP {err.code} {err.reason}"
                if err.code < 500:
                    break
            except json.JSONDecodeError as err:
                raise ScorerError(
                    f"{self.where}.url: {self.spec.url} answered with invalid JSON ({err})"
                ) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as err:
                last = str(getattr(err, "reason", None) or err) or type(err).__name__
        tries = self.spec.retries + 1
        raise ScorerError(f"{self.where}.url: no answer from {self.spec.url} after {tries} tries: {last}")

    def _rewards(self, answer: Any, n: int) -> list[float]:
        expected = f'expected {{"rewards": [{n} numbers]}}'
        rewards = answer.get("rewards") if isinstance(answer, dict) else None
        if not isinstance(rewards, list) or len(rewards) != n:
            got = f"{len(rewards)} rewards" if isinstance(rewards, list) else _shape(answer)
            raise ScorerError(
                f"{self.where}.url: {self.spec.url} answered {got} for {n} responses; {expected}"
            )
        rows = []
        for i, r in enumerate(rewards):
            row = r if isinstance(r, list) else [r]
            if not row or not all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in row
            ):
                raise ScorerError(
                    f"{self.where}.url: {self.spec.url} answered {r!r} for response {i}; {expected}"
                )
            rows.append([float(v) for v in row])
        widths = {len(row) for row in rows}
        if len(widths) > 1:
            raise ScorerError(
                f"{self.where}.url: {self.spec.url} answered lists of different lengths {sorted(widths)}"
            )
        return rows

    def score(self, prompts: Sequence, responses: Sequence) -> torch.Tensor:
        prompts, responses = [message_text(p) for p in prompts], [message_text(r) for r in responses]
        rows: list[list[float]] = []
        for start in range(0, len(prompts), self.spec.batch_size):
            p = prompts[start : start + self.spec.batch_size]
            r = responses[start : start + self.spec.batch_size]
            answer = self._post(
                {"query": [a + b for a, b in zip(p, r, strict=True)], "prompts": p, "responses": r}
            )
            rows += self._rewards(answer, len(p))
        if not rows:
            return torch.zeros((0, self.n_outputs or 1))
        scores = torch.tensor(rows, dtype=torch.float32)  # (N, M)
        self.n_outputs = scores.shape[1]
        return scores

    def column(self, output: int | None, where: str) -> int:
        n = self.n_outputs
        if output is None:
            if n is not None and n > 1:
                raise ScorerError(
                    f"{where}.output: {self.spec.url} answers {n} rewards per response; say which one"
                )
            return 0
        if n is not None and output >= n:
            raise ScorerError(
                f"{where}.output: index {output} is out of range: {self.spec.url} answers {n} per response"
            )
        return output


def _shape(answer: Any) -> str:
    if isinstance(answer, dict):
        return f"an object with keys {sorted(answer)}"
    return f"a {type(answer).__name__}"
