"""Entry point for `python -m nrfix` and `torchrun -m nrfix`."""

from nrfix.cli import main

if __name__ == "__main__":
    main()
