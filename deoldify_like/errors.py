"""Expected failures. Each carries a one-line message; command-line tools print it without a traceback."""


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
