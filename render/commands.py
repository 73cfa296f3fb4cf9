"""The renderer's commands, in one place: `python -m render` offers them and the `deoldify-like` console
script includes them. name -> a loader that imports the command's function when it is used (so `--help`
imports no torch)."""


def _render():
    from render.cli import render
    return render


def _evaluate():
    from render.evaluate import evaluate
    return evaluate


def _bench():
    from render.bench import bench
    return bench


def _deflicker():
    from render.deflicker import deflicker
    return deflicker


def _export():
    from render.export import export
    return export


def _serve():
    from render.serve.app import serve
    return serve


COMMANDS = {'render': _render, 'evaluate': _evaluate, 'bench': _bench, 'deflicker': _deflicker, 'export': _export,
            'serve': _serve}
