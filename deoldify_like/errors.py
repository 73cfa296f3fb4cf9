"""Expected failures. Each carries a one-line message; command-line tools print it without a traceback."""
import contextlib


class DeoldifyLikeError(Exception):
    "Base of every expected, user-facing failure."


class BadInputError(DeoldifyLikeError):
    "An input file that cannot be used: not an image or film, empty, truncated, too small."

    def __init__(self, path, problem):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


class ModelFileError(DeoldifyLikeError):
    "A model or checkpoint file that is missing, damaged or of another kind than expected."


class PretrainedWeightsUnavailable(DeoldifyLikeError):
    "ImageNet weights were asked for but cannot be downloaded or found in the torch hub cache."


class SettingsError(DeoldifyLikeError, ValueError):
    "A command-line setting that cannot work (a missing folder, an unknown name, a device not present): exit 2."


@contextlib.contextmanager
def reraise_as(error=SettingsError, catch=DeoldifyLikeError, prefix=''):
    """The one error-to-one-line wrapper of the command line: an exception of the kinds `catch` raised in the
    block goes on as `error` with the same message (after `prefix`), its chain dropped, so that the command
    prints it as one line with `error`'s exit code (SettingsError: 2, other DeoldifyLikeError: 1)."""
    try:
        yield
    except catch as e:
        raise error(f"{prefix}{e}") from None
