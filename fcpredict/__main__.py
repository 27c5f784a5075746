"""Entry point for `python -m fcpredict` and `torchrun -m fcpredict`."""

from fcpredict.cli import main

if __name__ == "__main__":
    main()
