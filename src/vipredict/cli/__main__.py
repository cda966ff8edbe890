"""``python -m vipredict.cli``: the same commands as the ``vipredict`` entry point."""

from vipredict.cli import app

app()
