"""The renderer on top of the core and its inference path (deoldify_like.inference): photos, GIFs, films and folders."""
import deoldify_like  # noqa: F401,E402  (first: its warning filter must precede any fastai import)
