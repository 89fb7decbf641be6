"""``python -m titans_seq``: the same command line as ``titans-seq``."""

from titans_seq.cli import main

main()
