"""Prompt formats: how a prompt reaches the model, as plain text or through the tokenizer's chat template.

`data.prompt_format` is resolved once per run against the base policy's tokenizer (`resolve_prompt_format`):

- `chat`: every prompt goes through the chat template. Plain texts (PKU-SafeRLHF, HelpSteer2) are wrapped as
  messages when the data is read: a prompt p becomes [{"role": "user", "content": p}], a response c becomes
  [{"role": "assistant", "content": c}]. Plain and conversational files then mix in one sweep, and every consumer
  sees the same turns: TRL's trainers apply the template to conversational data, the reward model scores through
  it, and PAR's references and evaluation render it in `models.generation.render_prompts`;
- `plain`: texts are fed as they are (TRL joins prompt and completion as strings); conversational data is refused,
  since only a chat template can write it;
- `auto`: chat when the tokenizer has a chat template, plain otherwise (the built-in benchmark's word-level
  tokenizer has none, so its runs stay plain).

The resolved format is written into every policy handle of the run (`prompt_format`), and `model_prompt` is the one
function that turns a prompt a user writes into what the model takes: `load_policy`'s policies and the explorer
apply it, so a prompt typed in the explorer reaches a point's model as training prompts did, whatever template the
checkpoint's tokenizer carries (a plain run on a tokenizer with a template generates plain). Handles written before
the option existed carry no format and keep their old behaviour: strings as they are, message lists through the
template. Nothing here imports torch.
"""

from __future__ import annotations

from typing import Any, Literal

from pareto_align.errors import ConfigError

PromptFormat = Literal["chat", "plain"]
Message = dict[str, str]


def has_chat_template(tokenizer: Any) -> bool:
    """Whether `tokenizer` carries a chat template."""
    return bool(getattr(tokenizer, "chat_template", None))


def resolve_prompt_format(requested: str, tokenizer: Any, where: str) -> PromptFormat:
    """`data.prompt_format` (auto | chat | plain) for the base policy's tokenizer (loaded from `where`).

    Raises ConfigError (one line naming the field) for `chat` with a tokenizer without a template.
    """
    if requested == "plain":
        return "plain"
    if requested == "chat" and not has_chat_template(tokenizer):
        raise ConfigError(
            f"data.prompt_format: 'chat' needs a tokenizer with a chat template, and that of {where} has none; "
            "use 'plain' or 'auto'"
        )
    if requested not in ("auto", "chat"):
        raise ValueError(f"unknown prompt format {requested!r} (auto, chat, plain)")
    return "chat" if has_chat_template(tokenizer) else "plain"


def is_conversational(text: Any) -> bool:
    """A message list (conversational), as opposed to a plain string."""
    return not isinstance(text, str)


def message_text(text: str | list[Message]) -> str:
    """A prompt or response as plain text: a string as it is; a message list's contents, one turn per line (for
    a scorer that reads text without a chat template, or a reward server)."""
    if not is_conversational(text):
        return text  # type: ignore[return-value]
    return "\n".join(m["content"] for m in text)  # type: ignore[union-attr]


def as_chat_prompt(prompt: str | list[Message]) -> list[Message]:
    """A prompt as messages: a plain string becomes one user turn; a message list is kept as it is."""
    if is_conversational(prompt):
        return [dict(m) for m in prompt]  # type: ignore[union-attr]
    return [{"role": "user", "content": prompt.strip()}]  # type: ignore[union-attr]


def as_chat_completion(completion: str | list[Message]) -> list[Message]:
    """A response as messages: a plain string becomes one assistant turn (without the leading space plain
    completions carry for TRL's string joining); a message list is kept as it is."""
    if is_conversational(completion):
        return [dict(m) for m in completion]  # type: ignore[union-attr]
    return [{"role": "assistant", "content": completion.strip()}]  # type: ignore[union-attr]


def model_prompt(prompt: str | list[Message], prompt_format: str | None) -> str | list[Message]:
    """The prompt as the model takes it in a run of `prompt_format`: wrapped as a user turn for `chat`, as it is
    otherwise (`plain`, or None for a handle from before the option: message lists still get the template when
    rendered). `models.generation.render_prompts` then writes it into the model's input text."""
    return as_chat_prompt(prompt) if prompt_format == "chat" else prompt
