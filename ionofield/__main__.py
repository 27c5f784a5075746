"""Entry point for `python -m ionofield` and `torchrun -m ionofield`."""

from ionofield.cli import main

if __name__ == "__main__":
    main()
