"""One module per `textrl` subcommand: `add_arguments(parser)` and `run(args) -> int`.

Command modules import their heavy dependencies (mlx, matplotlib) inside `run`, so building the
parser stays cheap and mlx-free.
"""
