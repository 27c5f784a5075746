"""Entry point for `python -m physx4dct` and `torchrun -m physx4dct`."""

from physx4dct.cli import main

if __name__ == "__main__":
    main()
