"""The converter's one error: the model cannot be read or translated."""

from privacy.errors import ModelError


class ConversionError(ModelError):
    """A TensorFlow.js model is malformed or uses an op the translator does not support."""
