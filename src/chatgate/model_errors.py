"""The model's failures, translated where they enter: what the Agents SDK and the OpenAI client raise
becomes a catalogue error (`chatgate.errors.ModelError` or `MaxTurnsExceededError`, both 502).

Upstream error text can echo prompts or keys: the log gets the exception's type, the user a fixed
sentence.
"""

from __future__ import annotations

import logging

import openai
from agents.exceptions import MaxTurnsExceeded, ModelBehaviorError, ModelTimeoutError

from chatgate.empty_answers import EmptyAnswerError
from chatgate.errors import MaxTurnsExceededError, ModelError

logger = logging.getLogger(__name__)

# What a run can raise because of the model (or the agent's use of it), as opposed to our own failures.
MODEL_FAILURES: tuple[type[Exception], ...] = (
    openai.APIError,
    ModelBehaviorError,
    ModelTimeoutError,
    MaxTurnsExceeded,
)


def model_error(exc: Exception) -> ModelError:
    """The catalogue error for `exc`, one of `MODEL_FAILURES`."""
    logger.warning("model call failed: %s", type(exc).__name__)
    if isinstance(exc, MaxTurnsExceeded):
        return MaxTurnsExceededError()
    if isinstance(exc, EmptyAnswerError):
        return ModelError("The model returned an empty answer.")
    if isinstance(exc, ModelBehaviorError):
        return ModelError("The model returned a response the agent could not use.")
    if isinstance(exc, openai.APIStatusError):
        return ModelError(f"The model endpoint answered with HTTP {exc.status_code}.")
    return ModelError()
